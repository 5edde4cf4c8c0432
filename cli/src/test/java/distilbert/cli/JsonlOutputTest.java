package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JsonlOutputTest {

    private static void number(com.fasterxml.jackson.core.JsonGenerator gen, Integer n) throws IOException {
        gen.writeStartObject();
        gen.writeNumberField("n", n);
        gen.writeEndObject();
    }

    @Test
    void batchesAreWrittenInOrderByClose(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("out.jsonl");
        List<String> expected = new ArrayList<>();
        try (JsonlOutput out = JsonlOutput.open(file, System.out)) {
            for (int batch = 0; batch < 50; batch++) {
                List<Integer> items = IntStream.range(batch * 100, batch * 100 + 1 + batch % 7 * 20).boxed().toList();
                for (int n : items) expected.add("{\"n\":" + n + "}");
                out.write(items, JsonlOutputTest::number, n -> 16);
            }
        }
        assertEquals(expected, Files.readAllLines(file));
    }

    @Test
    void writeReturnsBeforeTheBatchIsWritten() throws InterruptedException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        CountDownLatch release = new CountDownLatch(1);
        try (PrintStream stdout = new PrintStream(bytes, true, StandardCharsets.UTF_8);
             JsonlOutput out = JsonlOutput.open(null, stdout)) {
            out.write(List.of(1, 2), (gen, n) -> {
                try {
                    // A write that waited for its batch would never get here: the test releases it after write returns.
                    if (!release.await(10, TimeUnit.SECONDS)) throw new IOException("write waited for its own batch");
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
                number(gen, n);
            }, n -> 16);
            assertEquals("", bytes.toString(StandardCharsets.UTF_8));
            release.countDown();
        }
        assertEquals("{\"n\":1}\n{\"n\":2}\n", bytes.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aFailedWriteIsReportedByTheNextWriteOrByClose() {
        OutputStream broken = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("Broken pipe");
            }
        };
        PrintStream stdout = new PrintStream(broken, false, StandardCharsets.UTF_8);
        JsonlOutput out = JsonlOutput.open(null, stdout);
        out.write(List.of(1), JsonlOutputTest::number, n -> 16);
        CliException e = assertThrows(CliException.class, () -> out.write(List.of(2), JsonlOutputTest::number, n -> 16));
        assertEquals("cannot write stdout (closed by the reader?)", e.getMessage());

        JsonlOutput again = JsonlOutput.open(null, new PrintStream(broken, false, StandardCharsets.UTF_8));
        again.write(List.of(1), JsonlOutputTest::number, n -> 16);
        e = assertThrows(CliException.class, again::close);
        assertTrue(e.getMessage().startsWith("cannot write stdout"), e.getMessage());
    }
}
