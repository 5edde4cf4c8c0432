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
        return OPEN.computeIfAbsent(precision, GpuBackends::create);
    }

    /** A new CUDA backend on the tests' GPU ({@code -Ddistilbert.gpu}, GpuTests#ordinal), the caller's to close. */
    static CudaOps create(Precision precision) {
        int ordinal = GpuTests.ordinal();
        CudaOps ops = ordinal < 0 ? CudaOps.create(precision) : CudaOps.create(ordinal, precision);
        if (ordinal >= 0 && ops.context().device().ordinal() != ordinal) {
            ops.close();
            Assertions.fail("-Ddistilbert.gpu=cuda:" + ordinal + " opened " + ops.describe());
        }
        return ops;
    }

    /**
     * Relative L2 bound of one op against the CPU op on the same (storage-rounded) inputs: the
     * issue's per-precision bounds. fp32: float32 accumulation in another order (‖δ‖/‖y‖ ~ 1e-7·√K).
     * tf32: matrix inputs rounded to 11 significant bits (at most 2^-11 ≈ 4.9e-4 each). bf16/fp16: the
     * output rounded once to 8/11 significant bits (at most 2^-8 ≈ 3.9e-3, 2^-11 ≈ 4.9e-4) on top of those.
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
     * tf32: each matrix product loses ~5e-4, about a dozen of them feed the output: 5e-3. fp16 and bf16
     * are bounded by what HuggingFace's own forward loses in that precision on the same kind of model:
     * tests/golden/precision_sensitivity.py builds HF DistilBertModels with the weights of
     * {@link TestModels#checkpoint} (uniform ±0.35 matrices: each layer amplifies rounding errors) in
     * the shapes of these tests, and measures the relative L2 distance of their bf16 and fp16 forwards
     * from their float32 forward: bf16 0.008 to 0.038, fp16 0.001 to 0.005 (4 seeds, 3 shapes, GELU
     * and ReLU, torch 2.13 on the CPU). Our forward rounds the same tensors to the same type in a
     * different order, so it is held to 1.3 times HF's worst in bf16 (5e-2) and twice it in fp16 (1e-2).
     */
    static double modelBound(Precision p) {
        return switch (p) {
            case FP32 -> 1e-4;
            case TF32 -> 5e-3;
            case FP16 -> 1e-2;
            case BF16 -> 5e-2;
        };
    }

    /** Half an ulp of the storage type, relative: the error of rounding one value to it. */
    static double unitRoundoff(Precision p) {
        return switch (p) {
            case FP32, TF32 -> 0x1p-24;
            case FP16 -> 0x1p-11;
            case BF16 -> 0x1p-8;
        };
    }

    /** Whether the kernels run in the host emulator (kernels-cu/src/test/emu) rather than on a GPU. */
    static boolean emulated() {
        String dir = System.getenv("FAKE_CUDA_EMULATE");
        return dir != null && !dir.isEmpty();
    }

    /**
     * ‖actual − expected‖ / ‖expected‖ (the plain norm of the difference where expected is zero).
     * Fails at once where {@code actual} has a NaN that {@code expected} does not (an element the GPU
     * did not write: outputs are poisoned with NaN); elements NaN in both are skipped.
     */
    static double relativeL2(String what, float[] expected, float[] actual) {
        Assertions.assertEquals(expected.length, actual.length, what + ": length");
        int nanMismatches = 0, first = -1, last = -1;
        for (int i = 0; i < expected.length; i++) {
            if (Float.isNaN(actual[i]) != Float.isNaN(expected[i])) {
                nanMismatches++;
                last = i;
                if (first < 0) {
                    first = i;
                }
            }
        }
        if (nanMismatches > 0) {
            // how many tells a kernel that wrote nothing (all) from one that missed a tail or a tile
            Assertions.fail(what + ": element " + first + " is " + actual[first] + ", expected " + expected[first]
                    + " (NaN: not written, or computed as NaN); " + nanMismatches + " of " + expected.length
                    + " elements so, from " + first + " to " + last);
        }
        for (int i = 0; i < expected.length; i++) {
            if (Float.isInfinite(expected[i]) != Float.isInfinite(actual[i])
                    || Float.isInfinite(expected[i]) && expected[i] != actual[i]) {
                // an infinity is a value of its own (max pooling over no token is -inf): the same one, where it is
                Assertions.fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i]);
            }
        }
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.length; i++) {
            if (Float.isNaN(expected[i]) || Float.isInfinite(expected[i])) {
                continue;
            }
            double d = (double) actual[i] - expected[i];
            diff += d * d;
            norm += (double) expected[i] * expected[i];
        }
        return norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
    }

    /**
     * {@link #relativeL2} within {@code bound}, or a failure that says where the error is, so that one
     * GPU run is enough to tell a wrong region (a sequence, a head, a tile edge, a column block) from an
     * error spread thinly everywhere: the worst elements with their indices in {@code shape}, how the
     * squared error splits over the tensor's first dimension (or eighths of it, for a flat one), and the
     * share of it in the five worst last-dimension columns.
     */
    static void assertWithin(String what, double bound, float[] expected, float[] actual, int... shape) {
        double rel = relativeL2(what, expected, actual);
        if (rel <= bound) {
            return;
        }
        Assertions.fail(what + ": relative L2 error " + rel + " > " + bound + "\n" + whereTheErrorIs(expected, actual, shape));
    }

    /** The error's whereabouts, for a failure message (see {@link #assertWithin}). */
    static String whereTheErrorIs(float[] expected, float[] actual, int... shape) {
        int n = expected.length;
        int[] dims = shape.length == 0 || java.util.Arrays.stream(shape).asLongStream().reduce(1, (a, b) -> a * b) != n
                ? new int[] {n} : shape;
        double[] sq = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++) {
            double d = Float.isNaN(expected[i]) ? 0 : (double) actual[i] - expected[i];
            sq[i] = d * d;
            total += sq[i];
        }
        StringBuilder out = new StringBuilder();
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (a, b) -> Double.compare(sq[b], sq[a]));
        out.append("  worst elements:");
        for (int k = 0; k < Math.min(6, n); k++) {
            int i = order[k];
            out.append(String.format(" %s %.6g vs %.6g;", index(i, dims), actual[i], expected[i]));
        }
        // the split over the first dimension (rows, sequences, layers), in at most 16 groups
        int outer = dims.length > 1 ? dims[0] : Math.min(8, n), groups = Math.min(outer, 16);
        long per = (long) n / outer;
        double[] share = new double[groups];
        for (int i = 0; i < n; i++) {
            share[(int) Math.min(groups - 1, (i / per) * groups / outer)] += sq[i];
        }
        out.append(String.format("%n  squared error by %s:", dims.length > 1 ? "first index (" + outer + " in " + groups + " groups)"
                : "eighths of the tensor"));
        for (double s : share) {
            out.append(String.format(" %.0f%%", total == 0 ? 0 : 100 * s / total));
        }
        if (dims.length > 1) {
            int cols = dims[dims.length - 1];
            double[] byCol = new double[cols];
            for (int i = 0; i < n; i++) {
                byCol[i % cols] += sq[i];
            }
            Integer[] colOrder = new Integer[cols];
            for (int c = 0; c < cols; c++) {
                colOrder[c] = c;
            }
            java.util.Arrays.sort(colOrder, (a, b) -> Double.compare(byCol[b], byCol[a]));
            double top = 0;
            StringBuilder which = new StringBuilder();
            for (int k = 0; k < Math.min(5, cols); k++) {
                top += byCol[colOrder[k]];
                which.append(k == 0 ? "" : ", ").append(colOrder[k]);
            }
            out.append(String.format("%n  the 5 worst of %d last-index columns (%s) hold %.0f%% of it", cols, which,
                    total == 0 ? 0 : 100 * top / total));
        }
        return out.toString();
    }

    private static String index(int flat, int[] shape) {
        int[] idx = new int[shape.length];
        for (int d = shape.length - 1; d >= 0; d--) {
            idx[d] = flat % shape[d];
            flat /= shape[d];
        }
        return java.util.Arrays.toString(idx);
    }

    // ---------------------------------------------------------------------------------------------
    // what the parity tests share

    /** A buffer of NaN: an element the op under test does not write stays NaN and fails the comparison. */
    static Buffer poisoned(CudaOps gpu, long length) {
        CudaBuffer b = gpu.allocateUninitialized(length);
        b.array().fill(Float.NaN);
        return b;
    }

    /** {@link #poisoned} of float32 whatever the precision (layer norm statistics, gradients). */
    static Buffer poisonedF32(CudaOps gpu, long length) {
        CudaBuffer b = gpu.allocateFloat32(length);
        b.array().fill(Float.NaN);
        return b;
    }

    /** The element type a precision stores activations and parameters in. */
    static distilbert.cuda.ElementType storage(Precision p) {
        return switch (p) {
            case FP32, TF32 -> distilbert.cuda.ElementType.F32;
            case BF16 -> distilbert.cuda.ElementType.BF16;
            case FP16 -> distilbert.cuda.ElementType.F16;
        };
    }

    /** A value as the precision's storage keeps it. */
    static float p(Precision p, float v) {
        return storage(p).round(v);
    }

    /** Values as the precision's storage keeps them. */
    static float[] round(Precision p, float[] v) {
        distilbert.cuda.ElementType t = storage(p);
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = t.round(v[i]);
        }
        return out;
    }

    /** cu_seqlens of sequences of these lengths. */
    static int[] cumulative(int[] lens) {
        int[] cu = new int[lens.length + 1];
        for (int i = 0; i < lens.length; i++) {
            cu[i + 1] = cu[i] + lens[i];
        }
        return cu;
    }

    /** The lengths of cu_seqlens' sequences. */
    static int[] lengths(int[] cu) {
        int[] lens = new int[cu.length - 1];
        for (int i = 0; i < lens.length; i++) {
            lens[i] = cu[i + 1] - cu[i];
        }
        return lens;
    }

    /** Within the precision's op bound, no unwritten (NaN) element; a failure locates the error in {@code shape}. */
    static void compare(String what, Precision p, float[] expected, float[] actual, int... shape) {
        assertWithin(what, opBound(p), expected, actual, shape);
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
