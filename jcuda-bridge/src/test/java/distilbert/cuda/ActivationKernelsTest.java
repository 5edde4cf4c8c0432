package distilbert.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * activation.cu against {@link ActivationReference} on fresh random inputs (the seed is in every
 * failure message). Outputs are poisoned with NaN first and followed by a poisoned guard region, so
 * an element the kernel skipped or wrote out of bounds shows; bias and dbias are views at an odd
 * offset into a larger allocation, so view addressing is exercised too.
 *
 * <p>Tolerances (fp32): out and dinp within 1e-6 + 1e-5·|ref|; the absolute part covers results
 * near zero that come from cancellation (gelu' crosses zero near z = -0.75). dbias is a sum of up
 * to thousands of float32 terms, so its absolute tolerance is 1e-5·Σ|terms| (a bound on float32
 * summation error over the kernel's at most ~50-deep sums), plus the same 1e-5·|ref|.
 */
@Tag("gpu")
final class ActivationKernelsTest {

    private static final double RTOL = 1e-5;
    private static final double ATOL = 1e-6;
    private static final double SUM_ATOL_PER_ABS_TERM = 1e-5;
    /** Floats after each output that must stay NaN. */
    private static final int GUARD = 37;
    /** Offset of bias/dbias views inside their allocation: odd, so misaligned from the allocation. */
    private static final int VIEW_OFFSET = 3;
    private static final float POISON = Float.NaN;

    private static CudaContext context;
    private static ActivationKernels kernels;

    /**
     * Every test starts here, not in a @BeforeAll: a skip there would report zero tests run, while
     * this reports each test as skipped, with the reason.
     */
    @BeforeEach
    void openOnce() {
        if (context == null) {
            context = GpuTests.openOrSkip();
            kernels = new ActivationKernels(context);
        }
    }

    @AfterAll
    static void close() {
        if (context != null) {
            context.close();
        }
    }

    /** Odd sizes, sizes at and across the 256-row chunk boundary, and DistilBERT's FFN width. */
    static Stream<Arguments> cases() {
        int[][] shapes = {{1, 1}, {1, 768}, {3, 7}, {31, 33}, {256, 64}, {257, 100}, {1000, 129}, {130, 3072}};
        return Stream.of(Activation.values())
                .flatMap(act -> Stream.of(shapes).map(s -> Arguments.of(act, s[0], s[1])));
    }

    @ParameterizedTest(name = "{0} [{1}, {2}]")
    @MethodSource("cases")
    void forwardMatchesCpu(Activation act, int rows, int cols) {
        Inputs in = Inputs.random(rows, cols, System.nanoTime());
        int n = rows * cols;
        double[] expected = new double[n];
        ActivationReference.forward(act, expected, in.inp, in.bias, rows, cols);

        try (DeviceArray out = context.allocate(ElementType.F32, n + GUARD, "test");
             DeviceArray inp = upload(in.inp);
             DeviceArray biasSlab = context.allocate(ElementType.F32, VIEW_OFFSET + cols + GUARD, "test")) {
            DeviceArray bias = biasSlab.view(VIEW_OFFSET, cols);
            bias.upload(in.bias);
            out.fill(POISON);
            kernels.forward(act, out, inp, bias, rows, cols);
            context.synchronize();
            float[] actual = out.downloadFloats();
            Compare.assertClose("out", actual, expected, cols, ATOL, RTOL, in.describe(act));
            Compare.assertUntouched("out", actual, n, n + GUARD, POISON, in.describe(act));
        }
    }

    @ParameterizedTest(name = "{0} [{1}, {2}]")
    @MethodSource("cases")
    void backwardMatchesCpu(Activation act, int rows, int cols) {
        Inputs in = Inputs.random(rows, cols, System.nanoTime());
        int n = rows * cols;
        double[] expectedDinp = new double[n];
        double[] expectedDbias = new double[cols];
        for (int c = 0; c < cols; c++) {
            expectedDbias[c] = in.dbiasStart[c];
        }
        ActivationReference.backward(act, expectedDinp, expectedDbias, in.dout, in.inp, in.bias, rows, cols);

        try (DeviceArray dinp = context.allocate(ElementType.F32, n + GUARD, "test");
             DeviceArray dbiasSlab = context.allocate(ElementType.F32, VIEW_OFFSET + cols + GUARD, "test");
             DeviceArray dout = upload(in.dout);
             DeviceArray inp = upload(in.inp);
             DeviceArray biasSlab = context.allocate(ElementType.F32, VIEW_OFFSET + cols, "test");
             DeviceArray scratch = context.allocate(ElementType.F32, ActivationKernels.backwardScratchLength(rows, cols), "test")) {
            DeviceArray bias = biasSlab.view(VIEW_OFFSET, cols);
            bias.upload(in.bias);
            DeviceArray dbias = dbiasSlab.view(VIEW_OFFSET, cols);
            dinp.fill(POISON);
            dbiasSlab.fill(POISON);
            scratch.fill(POISON);
            dbias.upload(in.dbiasStart);

            kernels.backward(act, dinp, dbias, dout, inp, bias, rows, cols, scratch);
            context.synchronize();

            float[] actualDinp = dinp.downloadFloats();
            Compare.assertClose("dinp", actualDinp, expectedDinp, cols, ATOL, RTOL, in.describe(act));
            Compare.assertUntouched("dinp", actualDinp, n, n + GUARD, POISON, in.describe(act));

            float[] slab = dbiasSlab.downloadFloats();
            float[] actualDbias = new float[cols];
            System.arraycopy(slab, VIEW_OFFSET, actualDbias, 0, cols);
            Compare.assertClose("dbias", actualDbias, expectedDbias, cols,
                    sumTolerance(expectedDinp, in.dbiasStart, rows, cols), RTOL, in.describe(act));
            Compare.assertUntouched("dbias (before the view)", slab, 0, VIEW_OFFSET, POISON, in.describe(act));
            Compare.assertUntouched("dbias", slab, VIEW_OFFSET + cols, slab.length, POISON, in.describe(act));
        }
    }

    /** out may be inp: each element is read before the same thread writes it. */
    @ParameterizedTest
    @EnumSource(Activation.class)
    void forwardInPlace(Activation act) {
        int rows = 300;
        int cols = 77;
        Inputs in = Inputs.random(rows, cols, System.nanoTime());
        double[] expected = new double[rows * cols];
        ActivationReference.forward(act, expected, in.inp, in.bias, rows, cols);
        try (DeviceArray x = upload(in.inp); DeviceArray bias = upload(in.bias)) {
            kernels.forward(act, x, x, bias, rows, cols);
            Compare.assertClose("out (in place)", x.downloadFloats(), expected, cols, ATOL, RTOL, in.describe(act));
        }
    }

    /** dinp may be dout. */
    @ParameterizedTest
    @EnumSource(Activation.class)
    void backwardInPlace(Activation act) {
        int rows = 300;
        int cols = 77;
        Inputs in = Inputs.random(rows, cols, System.nanoTime());
        double[] expectedDinp = new double[rows * cols];
        double[] expectedDbias = new double[cols];
        ActivationReference.backward(act, expectedDinp, expectedDbias, in.dout, in.inp, in.bias, rows, cols);
        try (DeviceArray grad = upload(in.dout);
             DeviceArray inp = upload(in.inp);
             DeviceArray bias = upload(in.bias);
             DeviceArray dbias = context.allocate(ElementType.F32, cols, "test");
             DeviceArray scratch = context.allocate(ElementType.F32, ActivationKernels.backwardScratchLength(rows, cols), "test")) {
            dbias.fill(0f);
            kernels.backward(act, grad, dbias, grad, inp, bias, rows, cols, scratch);
            Compare.assertClose("dinp (in place)", grad.downloadFloats(), expectedDinp, cols, ATOL, RTOL, in.describe(act));
            Compare.assertClose("dbias", dbias.downloadFloats(), expectedDbias, cols,
                    sumTolerance(expectedDinp, new float[cols], rows, cols), RTOL, in.describe(act));
        }
    }

    /** The bias-gradient sum has a fixed order: two runs agree to the bit. */
    @Test
    void backwardIsBitwiseReproducible() {
        int rows = 1000;
        int cols = 3072;
        Inputs in = Inputs.random(rows, cols, System.nanoTime());
        float[][] dinpRuns = new float[2][];
        float[][] dbiasRuns = new float[2][];
        try (DeviceArray dinp = context.allocate(ElementType.F32, (long) rows * cols, "test");
             DeviceArray dbias = context.allocate(ElementType.F32, cols, "test");
             DeviceArray dout = upload(in.dout);
             DeviceArray inp = upload(in.inp);
             DeviceArray bias = upload(in.bias);
             DeviceArray scratch = context.allocate(ElementType.F32, ActivationKernels.backwardScratchLength(rows, cols), "test")) {
            for (int run = 0; run < 2; run++) {
                dbias.fill(0f);
                kernels.backward(Activation.GELU, dinp, dbias, dout, inp, bias, rows, cols, scratch);
                dinpRuns[run] = dinp.downloadFloats();
                dbiasRuns[run] = dbias.downloadFloats();
            }
        }
        assertArrayEquals(dinpRuns[0], dinpRuns[1], "dinp differs between runs [" + in.describe(Activation.GELU) + "]");
        assertArrayEquals(dbiasRuns[0], dbiasRuns[1], "dbias differs between runs [" + in.describe(Activation.GELU) + "]");
    }

    private static DeviceArray upload(float[] values) {
        DeviceArray buffer = context.allocate(ElementType.F32, values.length, "test");
        buffer.upload(values);
        return buffer;
    }

    /** Per column: the start value's magnitude plus Σ_r |dinp[r, c]|, scaled by the float32 bound. */
    private static double[] sumTolerance(double[] dinp, float[] start, int rows, int cols) {
        double[] tol = new double[cols];
        for (int c = 0; c < cols; c++) {
            double sumAbs = Math.abs(start[c]);
            for (int r = 0; r < rows; r++) {
                sumAbs += Math.abs(dinp[r * cols + c]);
            }
            tol[c] = ATOL + SUM_ATOL_PER_ABS_TERM * sumAbs;
        }
        return tol;
    }

    /** One draw of inputs. z = inp + bias is exactly 0 at every 16th element, ReLU's kink. */
    private record Inputs(int rows, int cols, long seed, float[] inp, float[] bias, float[] dout, float[] dbiasStart) {

        static Inputs random(int rows, int cols, long seed) {
            Random random = new Random(seed);
            int n = rows * cols;
            float[] bias = gaussian(random, cols, 1.0);
            // Scale 3 reaches the tails (|z| ~ 10) where naive 1 + erf or 1 + tanh would cancel.
            float[] inp = gaussian(random, n, 3.0);
            for (int i = 0; i < n; i += 16) {
                inp[i] = -bias[i % cols];
            }
            return new Inputs(rows, cols, seed, inp, bias, gaussian(random, n, 1.0), gaussian(random, cols, 1.0));
        }

        String describe(Activation act) {
            return act.hfName() + " [" + rows + ", " + cols + "], seed " + seed;
        }

        private static float[] gaussian(Random random, int n, double scale) {
            float[] values = new float[n];
            for (int i = 0; i < n; i++) {
                values[i] = (float) (random.nextGaussian() * scale);
            }
            return values;
        }
    }
}
