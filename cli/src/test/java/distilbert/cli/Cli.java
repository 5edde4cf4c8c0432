package distilbert.cli;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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
}
