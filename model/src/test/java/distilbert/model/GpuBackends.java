package distilbert.model;

import distilbert.cuda.GpuTests;
import java.util.EnumMap;
import java.util.Map;
import org.junit.jupiter.api.Assertions;

/**
 * The CUDA backends of the GPU tests, one per precision, opened on first use and kept for the test
 * JVM (opening a context and loading the kernels costs more than most tests). Where no GPU is usable
 * the test is skipped with the probe's reason; {@code -Ddistilbert.requireGpu=true} (set by
 * {@code ./dev gpu-test} and {@code bin/gpu-test}) turns the skip into a failure.
 */
final class GpuBackends {

    private static final Map<Precision, CudaOps> OPEN = new EnumMap<>(Precision.class);

    private GpuBackends() {
    }

    /** The CUDA backend at {@code precision}, or the calling test skipped (failed, if required) saying why. */
    static synchronized CudaOps cudaOrSkip(Precision precision) {
        GpuTests.skipUnlessUsable();
        return OPEN.computeIfAbsent(precision, CudaOps::create);
    }

    /**
     * Relative L2 bound of one op against the CPU op on the same (storage-rounded) inputs: the
     * issue's per-precision bounds. fp32: float32 accumulation in another order (‖δ‖/‖y‖ ~ 1e-7·√K).
     * tf32: matrix inputs rounded to 10 mantissa bits (2^-11 ≈ 4.9e-4 each). bf16/fp16: the output
     * rounded once to 8/11 mantissa bits (2^-9 ≈ 2e-3, 2^-12 ≈ 2.4e-4) on top of those.
     */
    static double opBound(Precision p) {
        return switch (p) {
            case FP32 -> 1e-5;
            case TF32 -> 1e-3;
            case BF16, FP16 -> 1e-2;
        };
    }

    /**
     * Relative L2 bound of a whole forward pass against the CPU model (float32 throughout): the op
     * errors above compound over the ~12 ops of a layer and the layers; LayerNorm keeps them from
     * growing with depth. fp32: 1e-5 per op over a few dozen ops, in quadrature, stays below 1e-4.
     * tf32: each matrix product loses ~5e-4, about a dozen of them feed the output: 5e-3. fp16: ~2.4e-4
     * per stored tensor, ~40 stores: below 1e-2 with room for the weights' amplification. bf16: eight
     * times fp16's rounding: 3e-2 (HF's own bf16 forward is as far from its fp32 one).
     */
    static double modelBound(Precision p) {
        return switch (p) {
            case FP32 -> 1e-4;
            case TF32 -> 5e-3;
            case FP16 -> 1e-2;
            case BF16 -> 3e-2;
        };
    }

    /**
     * ‖actual − expected‖ / ‖expected‖ (the plain norm of the difference where expected is zero).
     * Fails at once where {@code actual} has a NaN that {@code expected} does not (an element the GPU
     * did not write: outputs are poisoned with NaN); elements NaN in both are skipped.
     */
    static double relativeL2(String what, float[] expected, float[] actual) {
        Assertions.assertEquals(expected.length, actual.length, what + ": length");
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.length; i++) {
            if (Float.isNaN(actual[i]) != Float.isNaN(expected[i])) {
                Assertions.fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i]
                        + " (NaN: not written, or computed as NaN)");
            }
            if (Float.isNaN(expected[i])) {
                continue;
            }
            double d = (double) actual[i] - expected[i];
            diff += d * d;
            norm += (double) expected[i] * expected[i];
        }
        return norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
    }

    static synchronized void closeAll() {
        for (CudaOps ops : OPEN.values()) {
            try {
                ops.close();
            } catch (RuntimeException e) {
                System.err.println("closing a CUDA backend: " + e.getMessage());
            }
        }
        OPEN.clear();
    }
}
