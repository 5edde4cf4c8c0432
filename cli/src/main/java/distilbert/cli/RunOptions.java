package distilbert.cli;

import distilbert.model.Device;
import distilbert.model.LengthBatches;
import distilbert.model.Precision;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The options of the commands that run a model over JSONL rows ({@code embed}, {@code score},
 * {@code fill-mask}, {@code ner}, {@code qa}), a picocli mixin: where rows come from and go, how
 * they are batched, where the model runs, and --verbose (for {@link Main}, which asks the mixin).
 * {@link ModelRun} does the work they describe.
 */
final class RunOptions implements Main.Verbose {

    /**
     * What --device names: one device ({@code auto}, {@code cpu}, {@code cuda}, {@code cuda:N}: {@link Device#parse}),
     * several GPUs ({@code cuda:0,1} or {@code cuda:0,cuda:1}) or every GPU that can run the kernels ({@code cuda:all}).
     * With more than one, a model is loaded on each and the rows' chunks run on them at once ({@link ChunkFanout}). A
     * GPU named twice ({@code cuda:0,0}) gets two copies of the model, each with a stream of its own, whose work overlaps.
     *
     * @param text as given, for messages
     * @param devices the devices named; empty for cuda:all
     */
    record Devices(String text, List<Device> devices) {
        static final String ALL = "cuda:all";

        Devices {
            devices = List.copyOf(devices);
        }

        /** One device. */
        static Devices of(Device device) {
            return new Devices(device.toString(), List.of(device));
        }

        /**
         * Parses --device's value.
         *
         * @throws IllegalArgumentException naming the text and what is accepted
         */
        static Devices parse(String text) {
            String t = text.trim();
            if (t.equalsIgnoreCase(ALL)) return new Devices(ALL, List.of());
            if (!t.contains(",")) return new Devices(t, List.of(Device.parse(t)));
            List<Device> gpus = new ArrayList<>();
            for (String item : t.split(",", -1)) {
                String i = item.trim();
                boolean number = !i.isEmpty() && i.chars().allMatch(c -> c >= '0' && c <= '9');
                // a bare number after the first item is cuda:N; the first names its kind
                Device d = !number ? Device.parse(i) : gpus.isEmpty() ? null : Device.parse("cuda:" + i);
                if (d == null || !d.isCuda() || d.ordinal().isEmpty()) {
                    throw new IllegalArgumentException("a list of devices takes GPUs by number (cuda:0,1 or cuda:0,cuda:1), "
                            + "not '" + item + "' in '" + text + "'");
                }
                gpus.add(d);
            }
            return new Devices(t, gpus);
        }

        /**
         * The devices to load a model on: those named, or for cuda:all every GPU the driver sees that can
         * run the kernels.
         *
         * @throws IllegalStateException for cuda:all where no GPU is usable, saying why
         */
        List<Device> resolve() {
            return devices.isEmpty() ? Device.gpus() : devices;
        }

        @Override
        public String toString() {
            return text;
        }
    }

    static final class DeviceConverter implements CommandLine.ITypeConverter<Devices> {
        @Override
        public Devices convert(String s) {
            try {
                return Devices.parse(s);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    static final class PrecisionConverter implements CommandLine.ITypeConverter<Precision> {
        @Override
        public Precision convert(String s) {
            try {
                return Precision.parse(s);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** The command this mixin is part of: for its name and its usage errors. */
    @Spec(Spec.Target.MIXEE)
    CommandSpec spec;

    @Option(names = "--input", paramLabel = "FILE", description = "JSONL to read. Default (or -): stdin.")
    Path input;

    @Option(names = "--output", paramLabel = "FILE", description = "JSONL to write. Default (or -): stdout.")
    Path output;

    @Option(names = "--batch-tokens", paramLabel = "N", defaultValue = "" + LengthBatches.DEFAULT_BATCH_TOKENS,
            description = "Real tokens per batch run through the model (rows are sorted by length first, so batches "
                    + "carry little padding; a longer row runs alone). Default: ${DEFAULT-VALUE}.")
    int batchTokens;

    @Option(names = "--device", paramLabel = "DEVICE", converter = DeviceConverter.class, defaultValue = "auto",
            description = "auto, cpu, cuda, cuda:N, cuda:N,M,... or cuda:all. auto runs on a usable GPU and falls back to "
                    + "the CPU, saying so once; cuda runs on the first GPU that can run the kernels and fails where none can; "
                    + "cuda:N on GPU N (numbered as `distilbert info --device` lists them, after CUDA_VISIBLE_DEVICES); a list, "
                    + "or cuda:all for every GPU that can run the kernels, loads the model on each and runs chunks of rows on "
                    + "them at once, the output still in input order (a GPU named twice, cuda:0,0, holds two copies whose "
                    + "work overlaps). Default: ${DEFAULT-VALUE}.")
    Devices device;

    @Option(names = "--precision", paramLabel = "PRECISION", converter = PrecisionConverter.class,
            description = "On the GPU: fp32, tf32, bf16 (default on sm_80 and newer) or fp16; matrix products always "
                    + "accumulate in float32. The CPU computes in fp32 whatever is asked.")
    Precision precision;

    @Option(names = "--serve", paramLabel = "[HOST:]PORT",
            description = "Answer HTTP requests instead of reading --input: each POST's body is JSONL lines as --input takes "
                    + "them, the response this command's output lines for them (400 naming the line for a bad one); the "
                    + "requests of all clients run together in batches. PORT alone listens on the loopback interface "
                    + "(0.0.0.0:PORT on every one; port 0 picks a free one, printed on stderr). GET /health reports the "
                    + "counts and latency, GET /metrics the same for Prometheus. Runs until stopped (Ctrl-C, SIGTERM), answering the requests it has taken first.")
    String serve;

    @Option(names = "--max-wait", paramLabel = "MS", defaultValue = "0",
            description = "With --serve: how long a batch's first request may wait for others to share it, in milliseconds. "
                    + "Default ${DEFAULT-VALUE}: a batch is what waits when the model is free, so a lone request runs at once "
                    + "and, under load, batches fill by themselves; a wait trades a lone request's latency for larger batches "
                    + "at moderate load.")
    double maxWaitMs;

    @Option(names = "--verbose", description = "Print the stack trace of an error.")
    boolean verbose;

    @Override
    public boolean verbose() {
        return verbose;
    }

    /** The streams of the {@code distilbert} command this one runs under. */
    Main.Io io() {
        return ((Main) spec.root().userObject()).io();
    }

    /** The command's name, e.g. "embed". */
    String command() {
        return spec.name();
    }

    /** --serve's address; null without --serve. */
    JsonlServer.Address serveAddress() {
        if (serve == null) return null;
        try {
            return JsonlServer.Address.parse(serve);
        } catch (IllegalArgumentException e) {
            throw usage("--serve: " + e.getMessage());
        }
    }

    /** --max-wait. */
    Duration maxWait() {
        return Duration.ofNanos(Math.round(maxWaitMs * 1e6));
    }

    /** The checks that need no model: a usage error before anything is loaded. */
    void check(Integer maxLength) {
        if (serve != null) {
            serveAddress();
            if (input != null) throw usage("--serve reads requests, not --input");
            if (output != null) throw usage("--serve answers requests, not to --output");
        }
        if (!(maxWaitMs >= 0 && maxWaitMs <= 60_000)) throw usage("--max-wait must be from 0 to 60000 ms, got " + maxWaitMs);
        if (batchTokens < 1) throw usage("--batch-tokens must be at least 1, got " + batchTokens);
        if (maxLength != null && maxLength < 2) throw usage("--max-length must be at least 2 ([CLS] and [SEP]), got " + maxLength);
        if (input != null && output != null && !input.toString().equals("-") && !output.toString().equals("-")) {
            try {
                if (Files.exists(output) && Files.isSameFile(input, output)) throw usage("--input and --output are the same file");
            } catch (IOException e) {
                // One of them cannot be looked at: opening it says why.
            }
        }
    }

    /** A usage error of the command (exit code 2). */
    ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }
}
