package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ProgressTest {
    static final long SECOND = 1_000_000_000L;

    @Test
    void drawsRowsRatesShareAndEta() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream err = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        long[] now = {0};
        long[] read = {0};
        Progress p = new Progress(err, "tokenize", 1000, () -> read[0], () -> now[0]);
        now[0] = 100_000_000L; // too soon to draw
        read[0] = 100;
        p.advance(10, 100);
        assertEquals("", bytes.toString(StandardCharsets.UTF_8));
        now[0] = 2 * SECOND;
        read[0] = 250;
        p.advance(1990, 49_900);
        String first = "tokenize: 2,000 rows, 1.00k rows/s, 25.0k tokens/s, 25%, ETA 0:06";
        assertEquals("\r" + first, bytes.toString(StandardCharsets.UTF_8));
        bytes.reset();
        now[0] = 4 * SECOND;
        read[0] = 1000;
        p.close();
        // The shorter final line is padded with spaces over the longer one before it.
        String last = "tokenize: 2,000 rows, 500 rows/s, 12.5k tokens/s, 0:04";
        assertEquals("\r" + last + " ".repeat(first.length() - last.length()) + "\n", bytes.toString(StandardCharsets.UTF_8));
    }

    @Test
    void unknownSizeHasNoShareOrEta() {
        long[] now = {0};
        Progress p = new Progress(null, "score", -1, () -> 0, () -> now[0]);
        now[0] = SECOND;
        p.advance(5, 50);
        assertEquals("score: 5 rows, 5 rows/s, 50 tokens/s", p.line(now[0], false));
        assertEquals(5, p.rows());
        assertEquals(50, p.tokens());
    }

    @Test
    void offPrintsNothing() {
        Progress p = Progress.off();
        p.advance(3, 30);
        p.close();
        assertEquals(3, p.rows());
    }

    @Test
    void ratesAndDurations() {
        assertEquals("0", Progress.rate(0));
        assertEquals("999", Progress.rate(999));
        assertEquals("1.23k", Progress.rate(1234));
        assertEquals("12.3k", Progress.rate(12_345));
        assertEquals("123k", Progress.rate(123_456));
        assertEquals("1.23M", Progress.rate(1_234_567));
        assertEquals("0:07", Progress.duration(7));
        assertEquals("12:34", Progress.duration(754));
        assertEquals("1:02:03", Progress.duration(3723));
    }
}
