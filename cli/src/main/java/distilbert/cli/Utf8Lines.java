package distilbert.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

/**
 * Reads lines of UTF-8 text from bytes, turning ill-formed bytes into U+FFFD, one per maximal
 * subpart: the WHATWG Encoding Standard's UTF-8 decoder, which is Unicode's recommended practice
 * (chapter 3, "U+FFFD Substitution of Maximal Subparts") and what Python's
 * {@code bytes.decode("utf-8", "replace")} does.
 *
 * <p>Written by hand because Java's decoder differs in one case: it replaces an encoded surrogate
 * ({@code ED A0..BF xx}) with a single U+FFFD where the standard gives one per byte. Lines end at
 * {@code \n} (a {@code \r} before it is dropped); a lone {@code \r} stays in the line.
 */
final class Utf8Lines {
    private final InputStream in;
    private final byte[] buf = new byte[1 << 16];
    private int pos;
    private int limit;
    private volatile long consumed;  // read by the progress line on another thread
    private byte[] line = new byte[256];
    private boolean eof;

    Utf8Lines(InputStream in) {
        this.in = in;
    }

    /** Bytes read from the stream so far (ahead of the lines returned by up to one buffer). */
    long bytesRead() {
        return consumed;
    }

    /** The next line without its line ending, or null at the end of the input. */
    String readLine() throws IOException {
        int n = 0;
        boolean any = false;
        while (true) {
            if (pos == limit) {
                if (eof || !fill()) {
                    if (!any) return null;
                    break;
                }
            }
            any = true;
            int start = pos, nl = -1;
            for (int i = pos; i < limit; i++) {
                if (buf[i] == '\n') {
                    nl = i;
                    break;
                }
            }
            int end = nl < 0 ? limit : nl;
            if (n + end - start > line.length) line = Arrays.copyOf(line, Math.max(2 * line.length, n + end - start));
            System.arraycopy(buf, start, line, n, end - start);
            n += end - start;
            pos = nl < 0 ? limit : nl + 1;
            if (nl >= 0) break;
        }
        if (n > 0 && line[n - 1] == '\r') n--;
        return decode(line, 0, n);
    }

    private boolean fill() throws IOException {
        int r;
        do r = in.read(buf, 0, buf.length); while (r == 0);
        if (r < 0) {
            eof = true;
            return false;
        }
        pos = 0;
        limit = r;
        consumed += r;
        return true;
    }

    /** UTF-8 to a String, U+FFFD for each maximal ill-formed subpart (WHATWG's decoder, step for step). */
    static String decode(byte[] b, int off, int len) {
        char[] out = new char[len]; // never more UTF-16 units than bytes
        int o = 0, needed = 0, seen = 0, cp = 0, lower = 0x80, upper = 0xBF;
        for (int i = off, end = off + len; i < end; i++) {
            int x = b[i] & 0xFF;
            if (needed == 0) {
                if (x < 0x80) {
                    out[o++] = (char) x;
                } else if (x >= 0xC2 && x <= 0xDF) {
                    needed = 1;
                    cp = x & 0x1F;
                } else if (x >= 0xE0 && x <= 0xEF) {
                    if (x == 0xE0) lower = 0xA0; // no overlong forms
                    if (x == 0xED) upper = 0x9F; // no surrogates
                    needed = 2;
                    cp = x & 0x0F;
                } else if (x >= 0xF0 && x <= 0xF4) {
                    if (x == 0xF0) lower = 0x90; // no overlong forms
                    if (x == 0xF4) upper = 0x8F; // nothing past U+10FFFF
                    needed = 3;
                    cp = x & 0x07;
                } else {
                    out[o++] = '\uFFFD';
                }
                continue;
            }
            if (x < lower || x > upper) {
                // The sequence so far is one maximal subpart; this byte starts afresh.
                needed = seen = cp = 0;
                lower = 0x80;
                upper = 0xBF;
                out[o++] = '\uFFFD';
                i--;
                continue;
            }
            lower = 0x80;
            upper = 0xBF;
            cp = cp << 6 | x & 0x3F;
            if (++seen == needed) {
                o += Character.toChars(cp, out, o);
                needed = seen = cp = 0;
            }
        }
        if (needed != 0) out[o++] = '\uFFFD';
        return new String(out, 0, o);
    }
}
