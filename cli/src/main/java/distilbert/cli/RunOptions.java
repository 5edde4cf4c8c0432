package distilbert.cli;

import distilbert.model.Device;
import distilbert.model.LengthBatches;
import distilbert.model.Precision;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
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

    /** --device. */
    enum DeviceChoice {
        AUTO(Device.AUTO), CPU(Device.CPU), CUDA(Device.CUDA);

        final Device device;

        DeviceChoice(Device device) {
            this.device = device;
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    static final class DeviceConverter implements CommandLine.ITypeConverter<DeviceChoice> {
        @Override
        public DeviceChoice convert(String s) {
            return TokenizeCommand.choice(DeviceChoice.values(), s);
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
            description = "${COMPLETION-CANDIDATES}. auto runs on a usable GPU and falls back to the CPU, saying so once; "
                    + "cuda fails where it cannot run. Default: ${DEFAULT-VALUE}.")
    DeviceChoice device;

    @Option(names = "--precision", paramLabel = "PRECISION", converter = PrecisionConverter.class,
            description = "On the GPU: fp32, tf32, bf16 (default on sm_80 and newer) or fp16; matrix products always "
                    + "accumulate in float32. The CPU computes in fp32 whatever is asked.")
    Precision precision;

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

    /** The checks that need no model: a usage error before anything is loaded. */
    void check(Integer maxLength) {
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
