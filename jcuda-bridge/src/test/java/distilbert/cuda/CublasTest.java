package distilbert.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.cuda.Cublas.Compute;
import distilbert.cuda.Cublas.DataType;
import distilbert.cuda.Cublas.Route;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * cuBLAS through {@link Cublas} against double-precision references on the CPU, in every precision
 * the model runs: inputs are rounded to the storage type on the host first, so the reference sees
 * exactly what the GPU multiplies. Outputs are poisoned with NaN and followed by a NaN guard region,
 * so an element cuBLAS skipped or wrote out of bounds shows.
 *
 * <p>Two checks per output. Element-wise, {@code |gpu - ref| <= rtol·|ref| + acc·S} with {@code S}
 * the sum of the absolute terms ({@code Σ|x·w| + |b|}): rtol is the storage type's rounding of the
 * result, acc bounds float32 accumulation (and, for TF32, the inputs' rounding to 10-bit mantissas,
 * as if truncated, the worst case). And relative L2, {@code ‖gpu - ref‖ / ‖ref‖}: 1e-5 for F32,
 * 1e-3 for TF32, 1e-2 for BF16 and F16, on outputs of at least {@value #MIN_L2_ELEMENTS} elements: on
 * a handful, one element where the bias cancels the product makes the ratio meaningless (TF32 rounds
 * the inputs, so its error is relative to the terms, not to their sum); the element-wise bound
 * covers those.
 */
@Tag("gpu")
final class CublasTest {

    /** The model's precisions as cuBLAS calls. */
    enum Mode {
        F32(ElementType.F32, DataType.F32, Compute.FP32, 1e-6, 1e-5, 1e-5),
        TF32(ElementType.F32, DataType.F32, Compute.TF32, 1e-6, 2.5e-3, 1e-3),
        BF16(ElementType.BF16, DataType.BF16, Compute.FP32, 4e-3, 1e-5, 1e-2),
        F16(ElementType.F16, DataType.F16, Compute.FP32, 5e-4, 1e-5, 1e-2);

        final ElementType storage;
        final DataType type;
        final Compute compute;
        /** Rounding of the result to the storage type (unit roundoff: 2^-24, 2^-8, 2^-11). */
        final double rtol;
        /** Per unit of Σ|terms|: accumulation in float32, and TF32's input rounding. */
        final double acc;
        final double relL2;

        Mode(ElementType storage, DataType type, Compute compute, double rtol, double acc, double relL2) {
            this.storage = storage;
            this.type = type;
            this.compute = compute;
            this.rtol = rtol;
            this.acc = acc;
            this.relL2 = relL2;
        }
    }

    private static final int GUARD = 29;
    private static final int MIN_L2_ELEMENTS = 64;

    private static CudaContext context;
    private static Cublas cublas;
    private final List<DeviceArray> arrays = new ArrayList<>();

    /** As ActivationKernelsTest: a skip here reports each test as skipped, with the reason. */
    @BeforeEach
    void openOnce() {
        if (context == null) {
            context = GpuTests.openOrSkip();
            cublas = Cublas.create(context);
        }
    }

    @AfterEach
    void freeArrays() {
        if (cublas != null) {
            cublas.forceGemmEx(false);
        }
        arrays.forEach(DeviceArray::close);
        arrays.clear();
    }

    @AfterAll
    static void close() {
        if (cublas != null) {
            cublas.close();
        }
        if (context != null) {
            context.close();
        }
    }

    /** Odd sizes (not multiples of 8, 1), DistilBERT's layers, a classifier head. */
    static final int[][] SHAPES = {
        {1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {31, 100, 9}, {8, 16, 24},
        {128, 768, 768}, {64, 768, 3072}, {100, 3072, 768}, {13, 768, 2}};

    static Stream<Arguments> linearCases() {
        List<Arguments> cases = new ArrayList<>();
        for (Mode mode : Mode.values()) {
            for (int[] s : SHAPES) {
                for (boolean bias : new boolean[] {true, false}) {
                    for (Route route : Route.values()) {
                        cases.add(Arguments.of(mode, s[0], s[1], s[2], bias, route));
                    }
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} N={1} K={2} M={3} bias={4} {5}")
    @MethodSource("linearCases")
    void linearMatchesCpu(Mode mode, int N, int K, int M, boolean withBias, Route route) {
        long seed = System.nanoTime();
        Random random = new Random(seed);
        float[] x = rounded(mode, gaussian(random, N * K, 1.0));
        float[] w = rounded(mode, gaussian(random, M * K, 1.0 / Math.sqrt(K)));
        float[] b = withBias ? rounded(mode, gaussian(random, M, 1.0)) : null;
        double[] expected = GemmReference.linear(GemmReference.toDouble(x), GemmReference.toDouble(w),
                b == null ? null : GemmReference.toDouble(b), N, K, M);
        double[] sumAbs = GemmReference.linear(GemmReference.abs(GemmReference.toDouble(x)),
                GemmReference.abs(GemmReference.toDouble(w)),
                b == null ? null : GemmReference.abs(GemmReference.toDouble(b)), N, K, M);
        String what = mode + " linear N=" + N + " K=" + K + " M=" + M + (withBias ? " +bias" : "") + " " + route
                + ", seed " + seed;

        DeviceArray out = allocate(mode, N * M + GUARD);
        DeviceArray inp = upload(mode, x);
        DeviceArray weight = upload(mode, w);
        DeviceArray bias = b == null ? null : upload(mode, b);
        out.fill(Float.NaN);
        cublas.forceGemmEx(route == Route.GEMM_EX);
        Route used = cublas.linear(out.address(), inp.address(), weight.address(), bias == null ? 0 : bias.address(),
                N, K, M, mode.type, mode.compute);
        if (route == Route.GEMM_EX) {
            assertEquals(Route.GEMM_EX, used, what);
        } else if (N % 8 == 0 && K % 8 == 0 && M % 8 == 0) {
            // 256-byte aligned allocations and aligned shapes: cuBLASLt must have an algorithm.
            assertEquals(Route.LT, used, what);
        }
        float[] actual = out.downloadFloats();
        check("out", actual, expected, sumAbs, M, null, mode, what);
        assertGuardIsNaN(actual, N * M, what);
    }

    /** Views at odd element offsets: the heuristic must pick kernels for the actual alignment. */
    @ParameterizedTest
    @EnumSource(Mode.class)
    void linearOnMisalignedViews(Mode mode) {
        int N = 24;
        int K = 64;
        int M = 40;
        Random random = new Random(5);
        float[] x = rounded(mode, gaussian(random, N * K, 1.0));
        float[] w = rounded(mode, gaussian(random, M * K, 0.125));
        float[] b = rounded(mode, gaussian(random, M, 1.0));
        double[] expected = GemmReference.linear(GemmReference.toDouble(x), GemmReference.toDouble(w),
                GemmReference.toDouble(b), N, K, M);
        double[] sumAbs = GemmReference.linear(GemmReference.abs(GemmReference.toDouble(x)),
                GemmReference.abs(GemmReference.toDouble(w)), GemmReference.abs(GemmReference.toDouble(b)), N, K, M);
        DeviceArray slab = allocate(mode, 4 * 4096);
        DeviceArray out = slab.view(1, N * M + GUARD);
        DeviceArray inp = slab.view(3 + N * M + GUARD, N * K);
        DeviceArray weight = slab.view(5 + N * M + GUARD + N * K, M * K);
        DeviceArray bias = slab.view(7 + N * M + GUARD + N * K + M * K, M);
        inp.upload(x);
        weight.upload(w);
        bias.upload(b);
        out.fill(Float.NaN);
        Route used = cublas.linear(out.address(), inp.address(), weight.address(), bias.address(), N, K, M,
                mode.type, mode.compute);
        float[] actual = out.downloadFloats();
        check("out", actual, expected, sumAbs, M, null, mode, mode + " misaligned views, " + used);
        assertGuardIsNaN(actual, N * M, mode + " misaligned views");
    }

    /**
     * A repeated shape reuses its cached plan and gives the same bits; a different bias buffer on the
     * same plan is the one added (the descriptor's bias pointer follows the call).
     */
    @ParameterizedTest
    @EnumSource(Mode.class)
    void cachedPlansAreReproducibleAndFollowTheBiasPointer(Mode mode) {
        int N = 32;
        int K = 96;
        int M = 64;
        Random random = new Random(11);
        float[] x = rounded(mode, gaussian(random, N * K, 1.0));
        float[] w = rounded(mode, gaussian(random, M * K, 0.1));
        float[] b1 = rounded(mode, gaussian(random, M, 1.0));
        float[] b2 = rounded(mode, gaussian(random, M, 1.0));
        DeviceArray out = allocate(mode, N * M);
        DeviceArray inp = upload(mode, x);
        DeviceArray weight = upload(mode, w);
        DeviceArray bias1 = upload(mode, b1);
        DeviceArray bias2 = upload(mode, b2);
        float[][] runs = new float[3][];
        long[] biases = {bias1.address(), bias1.address(), bias2.address()};
        for (int run = 0; run < 3; run++) {
            out.fill(Float.NaN);
            assertEquals(Route.LT, cublas.linear(out.address(), inp.address(), weight.address(), biases[run],
                    N, K, M, mode.type, mode.compute));
            runs[run] = out.downloadFloats();
        }
        assertArrayEquals(runs[0], runs[1], mode + ": the same call twice differs");
        double[] expected = GemmReference.linear(GemmReference.toDouble(x), GemmReference.toDouble(w),
                GemmReference.toDouble(b2), N, K, M);
        double[] sumAbs = GemmReference.linear(GemmReference.abs(GemmReference.toDouble(x)),
                GemmReference.abs(GemmReference.toDouble(w)), GemmReference.abs(GemmReference.toDouble(b2)), N, K, M);
        check("out with the second bias", runs[2], expected, sumAbs, M, null, mode, mode + " second bias");
    }

    /** Attention's two products per (sequence, head): scores = α·Q·Kᵀ and context = P·V, row-major. */
    static Stream<Arguments> attentionCases() {
        int[][] shapes = {{1, 1, 1}, {3, 7, 5}, {24, 33, 64}, {24, 128, 64}}; // batch (B·NH), T, HS
        return Stream.of(Mode.values()).flatMap(mode -> Stream.of(shapes)
                .map(s -> Arguments.of(mode, s[0], s[1], s[2])));
    }

    @ParameterizedTest(name = "{0} batch={1} T={2} HS={3}")
    @MethodSource("attentionCases")
    void rowMajorStridedBatchedComputesAttentionProducts(Mode mode, int batch, int T, int HS) {
        long seed = System.nanoTime();
        Random random = new Random(seed);
        float[] q = rounded(mode, gaussian(random, batch * T * HS, 1.0));
        float[] k = rounded(mode, gaussian(random, batch * T * HS, 1.0));
        float[] p = rounded(mode, gaussian(random, batch * T * T, 1.0 / T));
        float[] v = rounded(mode, gaussian(random, batch * T * HS, 1.0));
        float scale = (float) (1 / Math.sqrt(HS));
        String what = mode + " batch=" + batch + " T=" + T + " HS=" + HS + ", seed " + seed;

        // scores[T×T] = scale · Q[T×HS] · K[T×HS]ᵀ
        stridedRowMajorCase("scores", mode, false, true, T, T, HS, q, HS, (long) T * HS, k, HS, (long) T * HS,
                T, (long) T * T, batch, scale, what);
        // context[T×HS] = P[T×T] · V[T×HS]
        stridedRowMajorCase("context", mode, false, false, T, HS, T, p, T, (long) T * T, v, HS, (long) T * HS,
                HS, (long) T * HS, batch, 1f, what);
    }

    /**
     * The column-major call in every transpose combination, with padded leading dimensions, gaps
     * between the batch's matrices and beta ≠ 0: C's padding and gaps keep their sentinel, and C's
     * old values count with beta.
     */
    @ParameterizedTest(name = "{0} transA={1} transB={2}")
    @MethodSource("transposeCases")
    void columnMajorStridedBatchedWithPaddingAndBeta(Mode mode, boolean transA, boolean transB) {
        int m = 13;
        int n = 9;
        int k = 11;
        int batch = 3;
        int aRows = transA ? k : m;
        int aCols = transA ? m : k;
        int bRows = transB ? n : k;
        int bCols = transB ? k : n;
        int lda = aRows + 3;
        int ldb = bRows + 1;
        int ldc = m + 2;
        long strideA = (long) lda * aCols + 5;
        long strideB = (long) ldb * bCols;
        long strideC = (long) ldc * n + 7;
        float sentinel = 1000f; // exact in every type
        Random random = new Random(3);
        // A's and B's padding holds values too: read by mistake, they would change the result.
        float[] a = rounded(mode, gaussian(random, (int) strideA * batch, 1.0));
        float[] b = rounded(mode, gaussian(random, (int) strideB * batch, 1.0));
        float[] c = new float[(int) strideC * batch];
        boolean[] inC = new boolean[c.length];
        java.util.Arrays.fill(c, sentinel);
        for (int i = 0; i < batch; i++) {
            for (int j = 0; j < n; j++) {
                for (int r = 0; r < m; r++) {
                    c[(int) (i * strideC) + r + j * ldc] = (float) random.nextGaussian();
                    inC[(int) (i * strideC) + r + j * ldc] = true;
                }
            }
        }
        c = rounded(mode, c);
        float alpha = 0.5f;
        float beta = -1.5f;
        double[] expected = GemmReference.toDouble(c);
        double[] sumAbs = GemmReference.abs(GemmReference.toDouble(c));
        double[] ad = GemmReference.toDouble(a);
        double[] bd = GemmReference.toDouble(b);
        for (int i = 0; i < batch; i++) {
            int ca = (int) (i * strideA);
            int cb = (int) (i * strideB);
            int cc = (int) (i * strideC);
            GemmReference.columnMajor(transA, transB, m, n, k, alpha, ad, ca, lda, bd, cb, ldb, beta, expected, cc, ldc);
            GemmReference.columnMajor(transA, transB, m, n, k, Math.abs(alpha), GemmReference.abs(ad), ca, lda,
                    GemmReference.abs(bd), cb, ldb, Math.abs(beta), sumAbs, cc, ldc);
        }
        DeviceArray dA = upload(mode, a);
        DeviceArray dB = upload(mode, b);
        DeviceArray dC = upload(mode, c);
        cublas.gemmStridedBatched(transA, transB, m, n, k, dA.address(), lda, strideA, dB.address(), ldb, strideB,
                dC.address(), ldc, strideC, batch, mode.type, mode.compute, alpha, beta);
        float[] actual = dC.downloadFloats();
        // Padding and gaps: expected still holds the sentinel there. Element [j, r] of the report is column j, row r.
        check("C", actual, expected, sumAbs, ldc, inC, mode,
                mode + " column-major transA=" + transA + " transB=" + transB);
    }

    static Stream<Arguments> transposeCases() {
        return Stream.of(Mode.values()).flatMap(mode -> Stream.of(
                Arguments.of(mode, false, false), Arguments.of(mode, false, true),
                Arguments.of(mode, true, false), Arguments.of(mode, true, true)));
    }

    @Test
    void tf32IsRefusedFor16BitData() {
        DeviceArray x = allocate(Mode.BF16, 64);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cublas.linear(
                x.address(), x.address(), x.address(), 0, 4, 4, 4, DataType.BF16, Compute.TF32));
        assertTrue(e.getMessage().contains("TF32"), e.getMessage());
    }

    @Test
    void theVersionIsTheProbes() {
        GpuStatus.Usable usable = (GpuStatus.Usable) GpuProbe.status();
        assertEquals(usable.cublasVersion(), cublas.version());
        System.out.println("cuBLAS " + cublas.version() + " on " + usable.device().describe());
    }

    private void stridedRowMajorCase(String name, Mode mode, boolean transA, boolean transB, int m, int n, int k,
                                     float[] a, int lda, long strideA, float[] b, int ldb, long strideB,
                                     int ldc, long strideC, int batch, float alpha, String what) {
        double[] expected = new double[(int) strideC * batch];
        double[] sumAbs = new double[expected.length];
        double[] ad = GemmReference.toDouble(a);
        double[] bd = GemmReference.toDouble(b);
        for (int i = 0; i < batch; i++) {
            GemmReference.rowMajor(transA, transB, m, n, k, alpha, ad, (int) (i * strideA), lda,
                    bd, (int) (i * strideB), ldb, 0, expected, (int) (i * strideC), ldc);
            GemmReference.rowMajor(transA, transB, m, n, k, Math.abs(alpha), GemmReference.abs(ad), (int) (i * strideA),
                    lda, GemmReference.abs(bd), (int) (i * strideB), ldb, 0, sumAbs, (int) (i * strideC), ldc);
        }
        DeviceArray dA = upload(mode, a);
        DeviceArray dB = upload(mode, b);
        DeviceArray dC = allocate(mode, expected.length + GUARD);
        dC.fill(Float.NaN);
        cublas.gemmStridedBatchedRowMajor(transA, transB, m, n, k, dA.address(), lda, strideA, dB.address(), ldb,
                strideB, dC.address(), ldc, strideC, batch, mode.type, mode.compute, alpha, 0f);
        float[] actual = dC.downloadFloats();
        check(name, actual, expected, sumAbs, ldc, null, mode, name + " " + what);
        assertGuardIsNaN(actual, expected.length, name + " " + what);
    }

    /**
     * Element-wise and relative-L2 checks of {@code actual[0, expected.length)}; the norm counts the
     * elements of {@code counted} (null: all), the element-wise check all.
     */
    private static void check(String tensor, float[] actual, double[] expected, double[] sumAbs, int cols,
                              boolean[] counted, Mode mode, String what) {
        double[] atol = new double[expected.length];
        double diff = 0;
        double norm = 0;
        int elements = 0;
        for (int i = 0; i < expected.length; i++) {
            atol[i] = mode.acc * sumAbs[i] + 1e-30;
            if (counted == null || counted[i]) {
                double d = actual[i] - expected[i];
                diff += d * d;
                norm += expected[i] * expected[i];
                elements++;
            }
        }
        float[] head = java.util.Arrays.copyOf(actual, expected.length);
        Compare.assertClose(tensor, head, expected, cols, atol, mode.rtol, what);
        if (elements >= MIN_L2_ELEMENTS) {
            double relL2 = Math.sqrt(diff / norm);
            assertTrue(relL2 <= mode.relL2,
                    tensor + ": relative L2 error " + relL2 + " > " + mode.relL2 + " [" + what + "]");
        }
    }

    private static void assertGuardIsNaN(float[] actual, int from, String what) {
        for (int i = from; i < actual.length; i++) {
            assertTrue(Float.isNaN(actual[i]), "element " + i + " past the end (" + from + ") was written: "
                    + actual[i] + " [" + what + "]");
        }
    }

    private DeviceArray allocate(Mode mode, int length) {
        DeviceArray array = context.allocate(mode.storage, length, "test");
        arrays.add(array);
        return array;
    }

    private DeviceArray upload(Mode mode, float[] values) {
        DeviceArray array = allocate(mode, values.length);
        array.upload(values);
        return array;
    }

    /** {@code values} as the device stores them in the mode's type (round to nearest even). */
    private static float[] rounded(Mode mode, float[] values) {
        float[] r = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            r[i] = mode.storage.round(values[i]);
        }
        return r;
    }

    private static float[] gaussian(Random random, int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (random.nextGaussian() * scale);
        }
        return x;
    }
}
