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
import java.util.Random;

/**
 * Runs the command line in-process on byte streams, and the checks that every command running a
 * model ({@code embed}, {@code score}, {@code fill-mask}, {@code ner}, {@code qa}) must pass alike.
 */
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

    /** A test's way to run its command on stdin with more arguments, e.g. {@code ScoreCommandTest::score}. */
    @FunctionalInterface
    interface Command {
        Result run(String stdin, String... args);
    }

    /** Runs {@code distilbert COMMAND --model MODEL --device cpu ARGS} on {@code stdin}. */
    static Result onCpu(String command, Path model, String stdin, String... args) {
        List<String> all = new ArrayList<>(List.of(command, "--model", model.toString(), "--device", "cpu"));
        all.addAll(List.of(args));
        return run(stdin, all.toArray(String[]::new));
    }

    /** The output lines of a run that must succeed. */
    static List<String> ok(Result r) {
        assertEquals(0, r.code(), r.err());
        return r.lines();
    }

    /** {@code n} texts of 1 to 30 of {@code words} (space-separated), drawn with seed 3: rows of many lengths to batch. */
    static String[] randomTexts(String words, int n) {
        Random random = new Random(3);
        String[] w = words.split(" ");
        String[] texts = new String[n];
        for (int i = 0; i < texts.length; i++) {
            StringBuilder t = new StringBuilder();
            for (int k = random.nextInt(30); k >= 0; k--) t.append(w[random.nextInt(w.length)]).append(' ');
            texts[i] = t.toString().strip();
        }
        return texts;
    }

    /** {@code --batch-tokens} 1 (a row per batch), 7, 64 and 100000 write the same {@code rows} lines. */
    static void assertBatchingChangesNothing(Command command, String stdin, int rows, String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--batch-tokens", "1"));
        String alone = command.run(stdin, all.toArray(String[]::new)).out();
        assertEquals(rows, alone.lines().count());
        for (String batchTokens : List.of("7", "64", "100000")) {
            all.set(all.size() - 1, batchTokens);
            assertEquals(alone, command.run(stdin, all.toArray(String[]::new)).out(), "--batch-tokens " + batchTokens);
        }
    }

    /**
     * {@code --input} and {@code --output} files get what stdin and stdout would; an empty input
     * writes nothing; a missing input file is a one-line error naming it.
     */
    static void assertFilesAndEmptyInput(String command, Command run, Path dir, String stdin) throws IOException {
        Path in = Files.writeString(dir.resolve("in.jsonl"), stdin), out = dir.resolve("out.jsonl");
        Result r = run.run("", "--input", in.toString(), "--output", out.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.out());
        assertEquals(run.run(stdin).out(), Files.readString(out));
        r = run.run("");
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.out());
        Path missing = dir.resolve("missing.jsonl");
        r = run.run("", "--input", missing.toString());
        assertEquals(1, r.code());
        assertEquals("distilbert " + command + ": " + missing + ": no such file or directory\n", r.err());
    }

    /**
     * A model directory of another class ({@code other}, a {@code otherClass}) is a one-line error
     * naming the class {@code command} needs and the one config.json names, with nothing written; a
     * missing directory beside it is one too.
     */
    static void assertNeedsClass(String command, String neededClass, Path other, String otherClass, String stdin) {
        Result r = onCpu(command, other, stdin);
        assertEquals(1, r.code());
        assertEquals("distilbert " + command + ": " + other + ": " + command + " needs a " + neededClass + " model, but config.json's "
                + "architectures is [" + otherClass + "]\n", r.err());
        assertEquals("", r.out());
        Path missing = other.resolveSibling("no-such-model");
        r = onCpu(command, missing, stdin);
        assertEquals(1, r.code());
        assertEquals("distilbert " + command + ": " + missing + ": no such directory\n", r.err());
    }

    /**
     * The usage errors of the {@link RunOptions} every model command has (with {@code model}, a
     * {@link TinyModels} directory): no --model, --batch-tokens, --device, the same file as input and
     * output (left untouched); with {@code maxLength}, --max-length below 2 and beyond the 64 positions.
     */
    static void assertRunOptionsUsageErrors(String command, Path model, Path dir, boolean maxLength) throws IOException {
        String m = "--model=" + model;
        assertUsageError(command, "Missing required option: '--model=DIR'");
        assertUsageError(command, "--batch-tokens must be at least 1, got 0", m, "--batch-tokens", "0");
        assertUsageError(command, "Invalid value for option '--device': unknown device 'gpu': expected cpu, cuda, cuda:N (a GPU number, "
                + "0 for the first) or auto", m, "--device", "gpu");
        if (maxLength) {
            assertUsageError(command, "--max-length must be at least 2 ([CLS] and [SEP]), got 1", m, "--max-length", "1");
            assertUsageError(command, "--max-length 65 is more than the model takes: " + model + "/config.json has max_position_embeddings 64",
                    m, "--max-length", "65");
        }
        Path f = Files.writeString(dir.resolve("same.jsonl"), rows("x"));
        assertUsageError(command, "--input and --output are the same file", m, "--input", f.toString(), "--output", f.toString());
        assertEquals(rows("x"), Files.readString(f), "the input is untouched");
    }

    /**
     * {@code distilbert COMMAND --help}: exit 0, each of {@code options} named, the command listed by
     * {@code distilbert --help}. Returns the help's words, runs of whitespace as one space.
     */
    static String helpWords(String command, String... options) {
        Result r = run("", command, "--help");
        assertEquals(0, r.code());
        for (String option : options) assertTrue(r.out().contains(option), option);
        assertTrue(run("", "--help").out().contains(command), "listed among the commands");
        return r.out().replaceAll("\\s+", " ");
    }
}
