package distilbert.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;

/**
 * Every Unicode scalar value, classified by HuggingFace tokenizers 0.23.2
 * (tokenizer/parity/unicode-sweep.js), against our tables: what clean-text removes or turns into
 * a space, what the pre-tokenizer splits on, and what bert-base-uncased's normalizer makes of it.
 */
class UnicodeSweepTest {
    private static final BertNormalizer CLEAN_ONLY = new BertNormalizer(true, false, false, false);

    @Test
    void everyCodePointIsClassifiedAsHuggingFaceDoes() throws IOException {
        List<String> mismatches = new ArrayList<>();
        int checked = 0;
        try (var in = new BufferedReader(new InputStreamReader(new GZIPInputStream(
                UnicodeSweepTest.class.getResourceAsStream("/parity/unicode-sweep.tsv.gz")), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                String[] f = line.split("\t");
                int first = Integer.parseInt(f[0], 16), last = Integer.parseInt(f[1], 16);
                for (int c = first; c <= last; c++) {
                    if (c >= 0xD800 && c <= 0xDFFF) continue;
                    checked++;
                    String clean = cleanClass(c), pre = preClass(c), norm = normClass(c);
                    if (!clean.equals(f[2]) || !pre.equals(f[3]) || !norm.equals(f[4])) {
                        mismatches.add(String.format("U+%04X %s: expected clean=%s pre=%s norm=%s, got clean=%s pre=%s norm=%s",
                                c, Character.getName(c), f[2], f[3], f[4], clean, pre, norm));
                    }
                }
            }
        }
        assertEquals(0x110000 - 0x800, checked, "the sweep covers every scalar value");
        assertTrue(mismatches.isEmpty(), mismatches.size() + " code points differ from HuggingFace, first ones:\n"
                + String.join("\n", mismatches.subList(0, Math.min(80, mismatches.size()))));
    }

    private static String cleanClass(int c) {
        int[] m = CLEAN_ONLY.map(c);
        if (m.length == 0) return "R";
        if (m.length == 1 && m[0] == c) return "K";
        if (m.length == 1 && m[0] == ' ') return "W";
        return "?" + hex(m);
    }

    private static String preClass(int c) {
        if (CharClasses.isWhitespace(c)) return "S";
        return CharClasses.isPunctuation(c) ? "P" : "N";
    }

    private static String normClass(int c) {
        int[] m = BertNormalizer.UNCASED.map(c);
        if (m.length == 0) return "-";
        if (m.length == 1 && m[0] == c) return "=";
        if (Arrays.equals(m, new int[] {' ', c, ' '})) return "C";
        return hex(m);
    }

    private static String hex(int[] m) {
        return String.join(".", Arrays.stream(m).mapToObj(Integer::toHexString).toList());
    }
}
