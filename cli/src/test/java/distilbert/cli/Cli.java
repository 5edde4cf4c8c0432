package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Runs the command line in-process on byte streams. */
final class Cli {
    private Cli() {}

    record Result(int code, String out, String err) {
        /** The output lines; each line, the last included, must end with a newline. */
        List<String> lines() {
            if (!out.isEmpty() && !out.endsWith("\n")) throw new AssertionError("output does not end with a newline: " + out);
            return out.lines().toList();
        }
    }

    static Result run(String stdin, String... args) {
        return run(stdin.getBytes(StandardCharsets.UTF_8), false, args);
    }

    static Result run(byte[] stdin, boolean errIsTerminal, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            InputStream in = new ByteArrayInputStream(stdin);
            code = Main.run(args, in, o, e, errIsTerminal);
        }
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** bert-base-uncased's tokenizer.json (from the all-MiniLM-L6-v2 jar on the test classpath), copied into {@code dir}. */
    static Path bertBaseUncased(Path dir) throws IOException {
        Path p = dir.resolve("tokenizer.json");
        if (!Files.exists(p)) {
            try (InputStream in = Cli.class.getResourceAsStream("/all-minilm-l6-v2-tokenizer.json")) {
                if (in == null) throw new IllegalStateException("all-minilm-l6-v2-tokenizer.json is not on the test classpath");
                Files.copy(in, p);
            }
        }
        return p;
    }

    /** One {"text": ...} line per text. */
    static String rows(String... texts) {
        ObjectMapper json = new ObjectMapper();
        StringBuilder s = new StringBuilder();
        for (String t : texts) s.append(json.createObjectNode().put("text", t)).append('\n');
        return s.toString();
    }

    /** Runs {@code distilbert COMMAND ARGS} on one input row and checks that it is the usage error {@code message} (exit 2). */
    static void assertUsageError(String command, String message, String... args) {
        List<String> all = new ArrayList<>(List.of(command));
        all.addAll(List.of(args));
        Result r = run(rows("x"), all.toArray(String[]::new));
        assertEquals(2, r.code(), String.join(" ", args) + ": " + r.err());
        assertEquals("", r.out());
        List<String> lines = r.err().lines().toList();
        assertEquals("distilbert " + command + ": " + message, lines.get(0));
        assertEquals("Try 'distilbert " + command + " --help' for more information.", lines.getLast());
    }

    /**
     * Runs {@code distilbert COMMAND ARGS} on {@code stdin} with stderr a terminal and not: a progress
     * line "COMMAND: N rows, ..." only on the terminal, the same output either way.
     */
    static void assertProgressOnlyOnATerminal(String command, String stdin, int rows, String... args) {
        List<String> all = new ArrayList<>(List.of(command));
        all.addAll(List.of(args));
        String[] argv = all.toArray(String[]::new);
        Result terminal = run(stdin.getBytes(StandardCharsets.UTF_8), true, argv), pipe = run(stdin, argv);
        assertEquals(0, terminal.code(), terminal.err());
        assertTrue(terminal.err().startsWith("\r" + command + ": " + rows + " rows, "), terminal.err());
        assertTrue(terminal.err().endsWith("\n") && terminal.err().contains(" tokens/s, "), terminal.err());
        assertEquals(pipe.out(), terminal.out());
        assertEquals("", pipe.err(), "quiet in a pipe");
    }

    /** Where no GPU is usable, {@code --device cuda} is a one-line error naming the option (exit 1). */
    static void assertCudaRefusedWithoutGpu(String command, String... args) {
        org.junit.jupiter.api.Assumptions.assumeFalse(distilbert.cuda.GpuProbe.status().usable(), "this machine has a usable GPU");
        List<String> all = new ArrayList<>(List.of(command));
        all.addAll(List.of(args));
        all.addAll(List.of("--device", "cuda"));
        Result r = run(rows("x"), all.toArray(String[]::new));
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("distilbert " + command + ": --device cuda: "), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
    }
}
