package distilbert.model;

import distilbert.cuda.GpuOutOfMemoryException;
import distilbert.cuda.GpuProbe;
import distilbert.cuda.GpuStatus;
import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * A DistilBERT model loaded from a HuggingFace model directory, on a backend: the entry point.
 *
 * <pre>{@code
 * try (DistilBert db = DistilBert.load(Path.of("distilbert-base-uncased-finetuned-sst-2-english"), Device.AUTO)) {
 *     var classifier = db.as(DistilBertForSequenceClassification.class);
 *     SequenceClassifierOutput out = classifier.forward(ModelInput.ofIds(ids, mask));
 * }
 * }</pre>
 *
 * The model class is the first DistilBERT entry of config.json's {@code architectures}
 * (DistilBertModel when there is none), as HF's AutoModel picks it.
 */
public final class DistilBert implements AutoCloseable {

    private final Architecture architecture;
    private final Checkpoint checkpoint;

    private DistilBert(Architecture architecture, Checkpoint checkpoint) {
        this.architecture = architecture;
        this.checkpoint = checkpoint;
    }

    /**
     * Reads {@code config.json} and the weights of {@code modelDir} (safetensors, sharded or
     * pytorch_model.bin) and builds the model class its config names.
     *
     * @throws distilbert.weights.CheckpointException naming the file and field when the directory is unusable
     * @throws IllegalStateException for {@link Device#CUDA} where no GPU is usable, or for {@code cuda:N} where
     *     there is no GPU N or it cannot run the kernels, saying why
     * @throws GpuOutOfMemoryException for {@link Device#CUDA} where the model does not fit in the GPU's
     *     free memory ({@link Device#AUTO} then runs it on the CPU, saying so once on stderr)
     */
    public static DistilBert load(Path modelDir, Device device) throws IOException {
        return load(modelDir, device, null);
    }

    /**
     * {@link #load(Path, Device)} with the CUDA backend's precision; null picks the default (bf16 on
     * sm_80 and newer). The CPU backend computes in float32 whatever is asked.
     */
    public static DistilBert load(Path modelDir, Device device, Precision precision) throws IOException {
        Checkpoint checkpoint = ModelDirectory.load(modelDir);
        try {
            return of(checkpoint, backend(device, precision));   // of closes the backend if it fails
        } catch (GpuOutOfMemoryException e) {
            if (device != Device.AUTO) {
                throw e;
            }
            // AUTO takes the GPU where the model fits: one that is full (other models, other processes)
            // leaves it on the CPU, saying why, as a GPU that is not usable does
            Notices.once("auto-cpu-oom", "distilbert: " + e.reason() + "; running on the CPU");
            return of(checkpoint, CpuOps.create());
        }
    }

    /** A model over already loaded (or freshly initialised) parameters; the model owns {@code ops} from now on. */
    public static DistilBert of(Checkpoint checkpoint, Ops ops) {
        try {
            DistilBertConfig config = checkpoint.config();
            Head head = checkpoint.head();
            DistilBertParameters.Table table = DistilBertParameters.table(config, head, ops.parameterAlignment());
            float[] values = checkpoint.toSlab(table);
            // The CPU backend takes the array as its slab; another backend copies it to its memory.
            Buffer slab = ops instanceof CpuOps ? HostBuffer.wrap(values) : ops.bufferOf(values);
            ParameterSlab params = ParameterSlab.over(slab, table);
            return new DistilBert(Architecture.create(head, config, ops, params), checkpoint);
        } catch (RuntimeException e) {
            ops.close();
            throw e;
        }
    }

    /** The backend for {@code device} at its default precision. */
    public static Ops backend(Device device) {
        return backend(device, null);
    }

    /** The backend for {@code device}; {@code precision} as in {@link #load(Path, Device, Precision)}. */
    public static Ops backend(Device device, Precision precision) {
        return switch (Objects.requireNonNull(device, "device").kind()) {
            case CPU -> CpuOps.create();
            case CUDA -> device.ordinal().isPresent() ? CudaOps.create(device.ordinal().getAsInt(), precision)
                    : CudaOps.create(precision);
            case AUTO -> {
                GpuStatus status = GpuProbe.status();
                if (status instanceof GpuStatus.Usable) {
                    yield CudaOps.create(precision);
                }
                Notices.once("auto-cpu", "distilbert: " + status.describe() + "; running on the CPU");
                yield CpuOps.create();
            }
        };
    }

    /** The float32 values the model was made from, in {@code table}'s layout (mixed-precision master weights). */
    float[] checkpointValues(DistilBertParameters.Table table) {
        return checkpoint.toSlab(table);
    }

    /** The model class, to switch over. */
    public Architecture architecture() {
        return architecture;
    }

    /**
     * The model as {@code type}.
     *
     * @throws IllegalStateException naming both classes when the directory holds another one
     */
    public <T extends Architecture> T as(Class<T> type) {
        if (!type.isInstance(architecture)) {
            throw new IllegalStateException("the model is a " + architecture.hfClass() + ", not a " + type.getSimpleName()
                    + " (config.json architectures: " + config().architectures() + ")");
        }
        return type.cast(architecture);
    }

    public DistilBertConfig config() {
        return architecture.config();
    }

    public Head head() {
        return architecture.head();
    }

    /** The backend the model runs on. */
    public Ops ops() {
        return architecture.ops();
    }

    /** Where the weights came from, e.g. "model.safetensors". */
    public String source() {
        return checkpoint.source();
    }

    /** Notes from loading: parameters initialised because the checkpoint lacked them, tensors not used. */
    public List<String> warnings() {
        return checkpoint.warnings();
    }

    @Override
    public void close() {
        architecture.ops().close();
    }
}
