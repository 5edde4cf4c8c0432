package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class Utf8LinesTest {
    static String decode(String hex) {
        byte[] b = HexFormat.of().parseHex(hex.replace(" ", ""));
        return Utf8Lines.decode(b, 0, b.length);
    }

    @Test
    void maximalSubpartsAsTheUnicodeStandardShowsThem() {
        // The Unicode Standard, chapter 3, table 3-8 (U+FFFD for maximal subparts).
        assertEquals("a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd", decode("61 F1 80 80 E1 80 C2 62 80 63 80 BF 64"));
        assertEquals("\uFFFD(", decode("C3 28"));
        assertEquals("\uFFFD", decode("FF"));
        assertEquals("\uFFFD\uFFFD", decode("C0 AF")); // overlong '/'
        assertEquals("\uFFFD\uFFFD\uFFFD", decode("ED A0 80")); // the surrogate U+D800, encoded: one per byte
        assertEquals("\uFFFDA", decode("E2 82 41")); // a three-byte sequence cut short
        assertEquals("\uFFFD\uFFFD\uFFFD\uFFFD", decode("F4 90 80 80")); // past U+10FFFF
        assertEquals("\uFFFD", decode("F0 9F 99")); // an emoji cut short at the end
        assertEquals("🙂€é", decode("F0 9F 99 82 E2 82 AC C3 A9"));
    }

    @Test
    void agreesWithJavaWhereJavaFollowsTheStandard() {
        // Java's decoder differs only on an encoded surrogate (ED A0..BF): compare on bytes without ED.
        Random random = new Random(42);
        for (int n = 0; n < 50_000; n++) {
            byte[] b = new byte[1 + random.nextInt(8)];
            for (int i = 0; i < b.length; i++) {
                int x = switch (random.nextInt(4)) {
                    case 0 -> random.nextInt(0x80);
                    case 1 -> 0x80 + random.nextInt(0x40);
                    default -> 0xC0 + random.nextInt(0x40);
                };
                b[i] = (byte) (x == 0xED ? 0xEC : x);
            }
            assertEquals(new String(b, StandardCharsets.UTF_8), Utf8Lines.decode(b, 0, b.length), HexFormat.of().formatHex(b));
        }
    }

    @Test
    void validTextRoundTrips() {
        Random random = new Random(7);
        for (int n = 0; n < 2_000; n++) {
            StringBuilder s = new StringBuilder();
            for (int i = 0; i < 20; i++) {
                int cp = random.nextInt(Character.MAX_CODE_POINT + 1);
                if (Character.getType(cp) != Character.SURROGATE) s.appendCodePoint(cp);
            }
            byte[] b = s.toString().getBytes(StandardCharsets.UTF_8);
            assertEquals(s.toString(), Utf8Lines.decode(b, 0, b.length));
        }
    }

    @Test
    void linesEndAtNewlineOrCrLf() throws IOException {
        String text = "one\r\ntwo\n\nthree\rstill three\n" + "x".repeat(200_000) + "\nlast";
        Utf8Lines lines = new Utf8Lines(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)));
        List<String> got = new ArrayList<>();
        for (String l; (l = lines.readLine()) != null; ) got.add(l);
        assertEquals(List.of("one", "two", "", "three\rstill three", "x".repeat(200_000), "last"), got);
        assertNull(lines.readLine());
        assertEquals(text.length(), lines.bytesRead());
    }

    @Test
    void aSequenceSplitAcrossReadsIsDecodedWhole() throws IOException {
        // 65,535 ASCII bytes, then a four-byte emoji across the buffer boundary.
        String text = "a".repeat((1 << 16) - 1) + "🙂\n";
        Utf8Lines lines = new Utf8Lines(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)));
        assertEquals(text.strip(), lines.readLine());
        assertNull(lines.readLine());
    }
}
