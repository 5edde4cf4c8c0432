package distilbert.model;

/**
 * How the CUDA backend stores activations and weights and runs its matrix products. Accumulation is
 * float32 in every mode; the CPU backend always computes in float32 ({@link #FP32}).
 *
 * <p>In {@link #BF16} and {@link #FP16} every tensor on the device (parameters included) is held in
 * the 16-bit type, as HF's {@code model.to(torch.bfloat16)} holds it; element-wise kernels compute in
 * float32 and round once when they store.
 */
public enum Precision {
    /** float32 storage, float32 matrix products (no TF32). */
    FP32("fp32"),
    /** float32 storage, matrix products on TF32 tensor cores (10-bit mantissa inputs, float32 accumulation). */
    TF32("tf32"),
    /** bfloat16 storage and matrix products, float32 accumulation: the default on sm_80 and newer. */
    BF16("bf16"),
    /** float16 storage and matrix products, float32 accumulation. */
    FP16("fp16");

    private final String cliName;

    Precision(String cliName) {
        this.cliName = cliName;
    }

    /** The name the CLI and the benchmarks use: fp32, tf32, bf16, fp16. */
    public String cliName() {
        return cliName;
    }

    /** Whether tensors are stored in a 16-bit type. */
    public boolean halfStorage() {
        return this == BF16 || this == FP16;
    }

    /**
     * The precision called {@code name} (fp32, tf32, bf16, fp16; any case).
     *
     * @throws IllegalArgumentException listing the names when there is none
     */
    public static Precision parse(String name) {
        for (Precision p : values()) {
            if (p.cliName.equalsIgnoreCase(name) || p.name().equalsIgnoreCase(name)) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown precision '" + name + "': use fp32, tf32, bf16 or fp16");
    }
}
