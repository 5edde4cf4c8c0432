package distilbert.cuda;

import java.util.Arrays;
import java.util.Locale;

/**
 * Which kernel runs attention without probabilities (the probabilities, for {@code output_attentions},
 * always come from {@code attention.cu}'s warp-per-query kernel).
 *
 * <ul>
 *   <li>{@link #SIMT}: {@code attention.cu}'s {@code attention_forward}, float32 on the CUDA cores, any
 *       storage type, head sizes up to 256.
 *   <li>{@link #TENSOR_CORES}: {@code attention_tc.cu}, both products as bf16/f16 mma instructions with
 *       float32 accumulation; bf16 and f16 storage, head size a multiple of 8 up to 128, aligned rows
 *       ({@link InferenceKernels#tensorCoresUnusable} says what stands in the way).
 *   <li>{@link #AUTO}: the tensor cores where they can run, SIMT otherwise.
 * </ul>
 * The default is {@link #AUTO}, or what the system property {@value #PROPERTY} names
 * ({@code auto}, {@code simt}, {@code tensor-cores}).
 */
public enum AttentionKernel {
    AUTO("auto"),
    SIMT("simt"),
    TENSOR_CORES("tensor-cores");

    /** The system property that sets the default. */
    public static final String PROPERTY = "distilbert.attention";

    private final String cliName;

    AttentionKernel(String cliName) {
        this.cliName = cliName;
    }

    public String cliName() {
        return cliName;
    }

    /**
     * The kernel called {@code name} ({@code auto}, {@code simt}, {@code tensor-cores}; case-insensitive).
     *
     * @throws IllegalArgumentException naming the accepted values
     */
    public static AttentionKernel parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        return Arrays.stream(values()).filter(k -> k.cliName.equals(n)).findFirst().orElseThrow(() ->
                new IllegalArgumentException("unknown attention kernel '" + name + "'; expected auto, simt or"
                        + " tensor-cores"));
    }

    /** {@link #PROPERTY}'s value, or {@link #AUTO} when it is not set. */
    public static AttentionKernel fromSystemProperty() {
        String v = System.getProperty(PROPERTY);
        if (v == null || v.isBlank()) {
            return AUTO;
        }
        try {
            return parse(v);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("-D" + PROPERTY + "=" + v + ": " + e.getMessage(), e);
        }
    }
}
