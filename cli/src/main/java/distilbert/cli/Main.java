package distilbert.cli;

import distilbert.tokenizer.TokenizerException;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The {@code distilbert} command. Exit codes: 0 done, 1 the work failed (bad input, unreadable
 * file, ...), 2 the command line is wrong. An error is one line on stderr, {@code distilbert
 * <command>: <message>}; {@code --verbose} adds the stack trace.
 *
 * <p>{@link #run(String[], InputStream, PrintStream, PrintStream)} runs a command in-process on
 * the streams given, which is how the tests call it.
 */
@Command(name = "distilbert", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        subcommands = {TokenizeCommand.class, EmbedCommand.class, SearchCommand.class, ScoreCommand.class, ZeroShotCommand.class, FillMaskCommand.class, NerCommand.class, QaCommand.class, MultipleChoiceCommand.class, RerankCommand.class, TrainCommand.class, InfoCommand.class, ConvertCommand.class, BenchCommand.class},
        description = "DistilBERT on NVIDIA GPUs: HuggingFace checkpoints in, JSONL in and out.",
        synopsisSubcommandLabel = "COMMAND",
        footer = {"", "Run 'distilbert COMMAND --help' for the options of a command."})
public final class Main implements Callable<Integer> {
    public static final int OK = 0;
    public static final int FAILED = 1;
    public static final int USAGE = 2;

    /** The streams a command reads and writes; {@code errIsTerminal} turns the progress line on. */
    record Io(InputStream in, PrintStream out, PrintStream err, boolean errIsTerminal) {}

    private final Io io;

    @Spec
    private CommandSpec spec;

    private Main(Io io) {
        this.io = io;
    }

    Io io() {
        return io;
    }

    public static void main(String[] args) {
        int code = run(args, System.in, System.out, System.err, Terminal.stderrIsTerminal());
        System.out.flush();
        System.exit(code);
    }

    /** Runs one command line on the given streams, with no progress line; returns the exit code. */
    public static int run(String[] args, InputStream in, PrintStream out, PrintStream err) {
        return run(args, in, out, err, false);
    }

    static int run(String[] args, InputStream in, PrintStream out, PrintStream err, boolean errIsTerminal) {
        PrintWriter outWriter = new PrintWriter(out, true, out.charset());
        PrintWriter errWriter = new PrintWriter(err, true, err.charset());
        CommandLine cl = new CommandLine(new Main(new Io(in, out, err, errIsTerminal)));
        cl.setOut(outWriter);
        cl.setErr(errWriter);
        cl.setParameterExceptionHandler(Main::usageError);
        cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> failure(e, commandLine));
        try {
            return cl.execute(args);
        } finally {
            outWriter.flush();
            errWriter.flush();
        }
    }

    /** {@code distilbert} with no command. */
    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "missing a command (" + String.join(", ", spec.subcommands().keySet()) + ")");
    }

    private static int usageError(ParameterException e, String[] args) {
        CommandLine cl = e.getCommandLine();
        PrintWriter err = cl.getErr();
        String name = cl.getCommandSpec().qualifiedName();
        err.println(name + ": " + oneLine(e.getMessage()));
        if (e instanceof CommandLine.UnmatchedArgumentException u) {
            var suggestions = u.getSuggestions();
            if (!suggestions.isEmpty()) err.println("Did you mean: " + String.join(", ", suggestions) + "?");
        }
        err.println("Try '" + name + " --help' for more information.");
        err.flush();
        return USAGE;
    }

    private static int failure(Exception e, CommandLine cl) {
        // search's inner embed run failed and has said why: its exit code, nothing more
        if (e instanceof SearchCommand.Embedding inner) return inner.code;
        PrintWriter err = cl.getErr();
        String name = cl.getCommandSpec().qualifiedName();
        boolean verbose = verbose(cl.getCommand())
                || cl.getCommandSpec().mixins().values().stream().anyMatch(m -> verbose(m.userObject()));
        String message = switch (e) {
            case CliException c -> c.getMessage();
            case TokenizerException t -> t.getMessage();
            case distilbert.weights.CheckpointException c -> c.getMessage();
            case distilbert.cuda.GpuOutOfMemoryException g -> g.getMessage();
            case UncheckedIOException u -> describe(u.getCause());
            case IOException io -> describe(io);
            default -> "internal error: " + e + (verbose ? "" : " (--verbose shows the stack trace)");
        };
        err.println(name + ": " + oneLine(message));
        if (verbose) e.printStackTrace(err);
        err.flush();
        return FAILED;
    }

    /** An I/O failure in words: Java's messages for these are often only the path. */
    static String describe(IOException e) {
        return switch (e) {
            case java.nio.file.NoSuchFileException n -> n.getFile() + ": no such file or directory";
            case java.nio.file.AccessDeniedException a -> a.getFile() + ": permission denied";
            case java.nio.file.FileSystemException f when f.getReason() != null -> f.getFile() + ": " + f.getReason();
            default -> e.getMessage() == null ? e.toString() : e.getMessage();
        };
    }

    /**
     * A message about a file of model directory {@code dir}, with the directory in front unless it
     * is there already (the weights module names files by their base name: "model.safetensors: ...").
     */
    static String inDirectory(Path dir, String message) {
        String m = message == null ? "" : message;
        return m.startsWith(dir.toString()) ? m : dir + ": " + m;
    }

    static String oneLine(String s) {
        return s == null ? "" : s.strip().replaceAll("\\s*\\R\\s*", " ");
    }

    /** A command (or a mixin of one: {@link RunOptions}) with a {@code --verbose} flag: its failures print their stack trace. */
    interface Verbose {
        boolean verbose();
    }

    private static boolean verbose(Object command) {
        return command instanceof Verbose v && v.verbose();
    }

    /** The project version, from the filtered resource version.properties. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() throws IOException {
            Properties p = new Properties();
            try (InputStream in = Main.class.getResourceAsStream("version.properties")) {
                if (in != null) p.load(in);
            }
            return new String[] {"distilbert " + p.getProperty("version", "(unknown version)"),
                    "Java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")"};
        }
    }

    /** Whether stderr is a terminal, for the progress line. */
    static final class Terminal {
        private Terminal() {}

        static boolean stderrIsTerminal() {
            // Linux tells about fd 2 itself; System.console() only looks at stdin and stdout, so
            // `distilbert tokenize < in > out` on a terminal would get no progress line from it.
            try {
                String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
                return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
            } catch (IOException | UnsupportedOperationException | SecurityException e) {
                java.io.Console c = System.console();
                return c != null && c.isTerminal();
            }
        }
    }
}
