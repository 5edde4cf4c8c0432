package distilbert.tokenizer;

import java.text.Normalizer;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * BERT text normalization as HuggingFace's {@code BertNormalizer} does it, in this order:
 * clean text (drop NUL, U+FFFD and control characters, map whitespace to ' '), pad CJK
 * ideographs with spaces, strip accents (NFD, then drop Mn), lowercase (full Unicode mapping,
 * one code point at a time, so no final-sigma context).
 *
 * <p>Each step maps one code point to zero or more code points, and every output code point
 * keeps the span of the input code point it came from: that is the alignment HuggingFace
 * reports offsets from. So the whole normalizer is a per-code-point table, built once per
 * configuration for the Basic Multilingual Plane and computed on demand above it.
 *
 * @param stripAccents {@code null} follows {@code lowercase}, as in BERT
 */
public record BertNormalizer(boolean cleanText, boolean handleChineseChars, Boolean stripAccents, boolean lowercase) {

    /** bert-base-uncased's settings. */
    public static final BertNormalizer UNCASED = new BertNormalizer(true, true, null, true);

    /** A {@code Lowercase} normalizer alone: no cleaning, no CJK spacing, accents kept. */
    public static final BertNormalizer LOWERCASE_ONLY = new BertNormalizer(false, false, false, true);

    private static final int[] REMOVED = new int[0];
    private static final Map<BertNormalizer, Table> TABLES = new ConcurrentHashMap<>();

    public boolean stripsAccents() {
        return stripAccents != null ? stripAccents : lowercase;
    }

    /** The normalized code points for one input code point; an empty array when it is removed. */
    public int[] map(int c) {
        if (cleanText) {
            if (c == 0 || c == 0xFFFD || CharClasses.isControl(c)) return REMOVED;
            if (CharClasses.isWhitespace(c)) return new int[] {' '};
        }
        if (handleChineseChars && CharClasses.isChineseChar(c)) {
            int[] inner = accentsAndCase(c);
            int[] out = new int[inner.length + 2];
            out[0] = ' ';
            System.arraycopy(inner, 0, out, 1, inner.length);
            out[out.length - 1] = ' ';
            return out;
        }
        return accentsAndCase(c);
    }

    private int[] accentsAndCase(int c) {
        String s = Character.toString(c);
        if (stripsAccents()) {
            String nfd = CharClasses.in(CharClasses.NO_DECOMPOSITION, c) ? s : Normalizer.normalize(s, Normalizer.Form.NFD);
            StringBuilder kept = new StringBuilder(nfd.length());
            nfd.codePoints().filter(cp -> !CharClasses.isNonspacingMark(cp)).forEach(kept::appendCodePoint);
            s = kept.toString();
        }
        if (lowercase) {
            StringBuilder lower = new StringBuilder(s.length());
            // One code point at a time: Rust's char::to_lowercase has no final-sigma rule.
            s.codePoints().forEach(cp -> {
                int newer = CharClasses.lowercaseUnicode17(cp);
                lower.append(newer >= 0 ? Character.toString(newer) : Character.toString(cp).toLowerCase(Locale.ROOT));
            });
            s = lower.toString();
        }
        return s.codePoints().toArray();
    }

    /**
     * Appends the normalization of {@code text[from, to)} to {@code out}, each output code point
     * carrying the UTF-16 span of its source code point in {@code text}.
     */
    void normalize(String text, int from, int to, NormalizedText out) {
        Table table = TABLES.computeIfAbsent(this, Table::new);
        for (int i = from; i < to; ) {
            int c = text.codePointAt(i);
            int next = i + Character.charCount(c);
            if (c < 0x10000) {
                char single = table.single[c];
                if (single != Table.MULTI) out.add(single, i, next);
                else for (int m : table.multi.get(c)) out.add(m, i, next);
            } else {
                for (int m : map(c)) out.add(m, i, next);
            }
            i = next;
        }
    }

    /** BMP lookup: {@code single[c]} is the one code point c maps to, or MULTI to look in {@code multi}. */
    private static final class Table {
        static final char MULTI = 0xFFFF;
        final char[] single = new char[0x10000];
        final Map<Integer, int[]> multi = new java.util.HashMap<>();

        Table(BertNormalizer n) {
            for (int c = 0; c < 0x10000; c++) {
                if (c >= Character.MIN_SURROGATE && c <= Character.MAX_SURROGATE) {
                    // A lone surrogate only reaches us from a malformed Java string: treat it as U+FFFD.
                    single[c] = MULTI;
                    multi.put(c, n.map(0xFFFD));
                    continue;
                }
                int[] m = n.map(c);
                if (m.length == 1 && m[0] < 0x10000 && m[0] != MULTI) single[c] = (char) m[0];
                else {
                    single[c] = MULTI;
                    multi.put(c, m);
                }
            }
        }
    }
}
