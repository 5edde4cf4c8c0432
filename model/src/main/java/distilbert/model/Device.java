package distilbert.model;

import distilbert.cuda.DeviceInfo;
import distilbert.cuda.GpuProbe;
import distilbert.cuda.GpuStatus;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * Where {@link DistilBert#load} runs the model: {@link #CPU}, {@link #CUDA} (the default GPU),
 * {@link #cuda(int) cuda(n)} (GPU {@code n}, as PyTorch's {@code torch.device("cuda:1")}) or
 * {@link #AUTO}. Written and parsed as {@code cpu}, {@code cuda}, {@code cuda:1}, {@code auto}.
 *
 * <p>GPU numbers are the driver's: after {@code CUDA_VISIBLE_DEVICES}, as {@code nvidia-smi} numbers
 * them only when that variable is unset ({@code distilbert info --device} lists what this process sees).
 */
public final class Device {

    /** What kind of backend. */
    public enum Kind {
        /** The plain-Java backend ({@link CpuOps}). */
        CPU,
        /** The CUDA backend; an error where it cannot run. */
        CUDA,
        /** CUDA on the default GPU where a usable one is present, else the CPU, saying so once on stderr. */
        AUTO
    }

    /** The plain-Java backend. */
    public static final Device CPU = new Device(Kind.CPU, -1);
    /** The CUDA backend on the default GPU (the first that can run the kernels); an error where none can. */
    public static final Device CUDA = new Device(Kind.CUDA, -1);
    /** The default GPU where a usable one is present, else the CPU, saying so once on stderr. */
    public static final Device AUTO = new Device(Kind.AUTO, -1);

    private final Kind kind;
    private final int ordinal;

    private Device(Kind kind, int ordinal) {
        this.kind = kind;
        this.ordinal = ordinal;
    }

    /**
     * The CUDA backend on GPU {@code ordinal}.
     *
     * @throws IllegalArgumentException for a negative ordinal
     */
    public static Device cuda(int ordinal) {
        if (ordinal < 0) {
            throw new IllegalArgumentException("a GPU number is 0 or more, not " + ordinal);
        }
        return new Device(Kind.CUDA, ordinal);
    }

    /**
     * {@code cpu}, {@code cuda}, {@code cuda:N} or {@code auto} (any case).
     *
     * @throws IllegalArgumentException naming the text and what is accepted
     */
    public static Device parse(String text) {
        Objects.requireNonNull(text, "text");
        String s = text.trim().toLowerCase(Locale.ROOT);
        switch (s) {
            case "cpu":
                return CPU;
            case "cuda":
                return CUDA;
            case "auto":
                return AUTO;
            default:
                break;
        }
        if (s.startsWith("cuda:")) {
            String n = s.substring("cuda:".length());
            if (!n.isEmpty() && n.length() <= 4 && n.chars().allMatch(c -> c >= '0' && c <= '9')) {
                return cuda(Integer.parseInt(n));
            }
        }
        throw new IllegalArgumentException("unknown device '" + text + "': expected cpu, cuda, cuda:N (a GPU number, "
                + "0 for the first) or auto");
    }

    /**
     * Every GPU the driver sees that can run the kernels, in order ({@code cuda:0}, {@code cuda:1},
     * ...): what to give {@link Replicas#load} for a model on each GPU.
     *
     * @throws IllegalStateException where no GPU is usable, saying why (no driver, no device, no cuBLAS, too old)
     */
    public static List<Device> gpus() {
        return switch (GpuProbe.status()) {
            case GpuStatus.Usable u -> u.devices().stream().filter(DeviceInfo::supported).map(d -> cuda(d.ordinal())).toList();
            case GpuStatus.Unusable u -> throw new IllegalStateException(u.describe());
        };
    }

    public Kind kind() {
        return kind;
    }

    /** The GPU's number for {@code cuda:N}; empty for the default GPU, the CPU and auto. */
    public OptionalInt ordinal() {
        return ordinal < 0 ? OptionalInt.empty() : OptionalInt.of(ordinal);
    }

    /** True for {@link #CUDA} and {@code cuda:N}. */
    public boolean isCuda() {
        return kind == Kind.CUDA;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Device d && d.kind == kind && d.ordinal == ordinal;
    }

    @Override
    public int hashCode() {
        return kind.hashCode() * 31 + ordinal;
    }

    /** {@code cpu}, {@code cuda}, {@code cuda:N} or {@code auto}: what {@link #parse} reads back. */
    @Override
    public String toString() {
        String name = kind.name().toLowerCase(Locale.ROOT);
        return ordinal < 0 ? name : name + ":" + ordinal;
    }
}
