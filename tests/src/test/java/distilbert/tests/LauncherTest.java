package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The real {@code ./distilbert} launcher, as a user runs it, on the jars that {@code package} laid out in cli/target/lib. */
class LauncherTest {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    @TempDir
    static Path tmp;

    static Path tokenizerJson;

    @BeforeAll
    static void needsTheCliLaidOut() throws IOException {
        // Without the jars the launcher would start a build of its own: that is ./dev build's job, not a test's.
        Assumptions.assumeTrue(Files.isRegularFile(ROOT.resolve("cli/target/lib/cli.jar")),
                "cli/target/lib/cli.jar is missing: run the tests through `./dev test` (mvn install), which packages cli first");
        tokenizerJson = tmp.resolve("tokenizer.json");
        try (InputStream in = LauncherTest.class.getResourceAsStream("/all-minilm-l6-v2-tokenizer.json")) {
            Files.copy(in, tokenizerJson);
        }
    }

    record Run(int code, String out, String err) {}

    static Run distilbert(String stdin, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(ROOT.resolve("distilbert").toString()));
        command.addAll(List.of(args));
        Path out = tmp.resolve("stdout"), err = tmp.resolve("stderr"), in = tmp.resolve("stdin");
        Files.writeString(in, stdin);
        Process p = new ProcessBuilder(command).directory(tmp.toFile())
                .redirectInput(in.toFile()).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("./distilbert " + String.join(" ", args) + " did not finish in 120 s");
        }
        return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    }

    @Test
    void tokenizesStdinToStdout() throws Exception {
        Run r = distilbert("{\"text\": \"Hello world!\"}\n{\"text\": \"Héllo\", \"text_pair\": \"wörld 🙂\"}\n",
                "tokenize", "--tokenizer", tokenizerJson.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.err(), "no progress line when stderr is not a terminal");
        Tokenizer tok = Tokenizer.fromPretrained(tokenizerJson);
        assertEquals(List.of(
                "{\"input_ids\":[101,7592,2088,999,102],\"token_type_ids\":[0,0,0,0,0],\"attention_mask\":[1,1,1,1,1],"
                        + "\"special_tokens_mask\":[1,0,0,0,1],\"offsets\":[[0,0],[0,5],[6,11],[11,12],[0,0]]}",
                line(tok, "Héllo", "wörld 🙂")), r.out().lines().toList());
    }

    private static String line(Tokenizer tok, String text, String pair) {
        var e = tok.encode(text, pair);
        StringBuilder offsets = new StringBuilder();
        for (int[] o : e.codePointOffsets()) offsets.append(offsets.isEmpty() ? "" : ",").append("[").append(o[0]).append(",").append(o[1]).append("]");
        return "{\"input_ids\":" + ints(e.ids()) + ",\"token_type_ids\":" + ints(e.typeIds()) + ",\"attention_mask\":" + ints(e.attentionMask())
                + ",\"special_tokens_mask\":" + ints(e.specialTokensMask()) + ",\"offsets\":[" + offsets + "]}";
    }

    private static String ints(int[] a) {
        return java.util.Arrays.toString(a).replace(" ", "");
    }

    @Test
    void helpExitsZero() throws Exception {
        Run r = distilbert("", "tokenize", "--help");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("Usage: distilbert tokenize"), r.out());
        Run top = distilbert("", "--help");
        assertEquals(0, top.code(), top.err());
        assertTrue(top.out().contains("tokenize"), top.out());
    }

    @Test
    void exitCodesReachTheShell() throws Exception {
        Run usage = distilbert("", "tokenize", "--tokenizer", tokenizerJson.toString(), "--padding", "max_length");
        assertEquals(2, usage.code());
        assertTrue(usage.err().startsWith("distilbert tokenize: --padding max_length needs --max-length\n"), usage.err());
        Run bad = distilbert("{\"text\": \"fine\"}\nnot json\n", "tokenize", "--tokenizer", tokenizerJson.toString());
        assertEquals(1, bad.code());
        assertEquals(1, bad.out().lines().count(), "the line before the bad one was written");
        assertTrue(bad.err().startsWith("distilbert tokenize: stdin line 2: not valid JSON"), bad.err());
        assertEquals(1, bad.err().lines().count(), "one line, no stack trace: " + bad.err());
    }
}
