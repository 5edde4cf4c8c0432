package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.weights.Activation;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every CPU op against its slow double-precision twin ({@link NaiveOps}) on random inputs of several
 * shapes, edge sizes included. Tolerances: float32 results of double-accurate definitions; the
 * bounds are a few float32 roundings of the result, scaled by the length of the sums involved.
 */
class CpuOpsTest {

    private static CpuOps vector;
    private static CpuOps scalar;

    @BeforeAll
    static void setUp() {
        assertTrue(MatmulKernel.vectorApiAvailable(), "the model tests run with --add-modules jdk.incubator.vector");
        vector = new CpuOps(2, MatmulKernel.VECTOR);
        scalar = new CpuOps(2, MatmulKernel.SCALAR);
    }

    @AfterAll
    static void tearDown() {
        vector.close();
        scalar.close();
    }

    private static CpuOps ops(MatmulKernel kernel) {
        return kernel == MatmulKernel.VECTOR ? vector : scalar;
    }

    private static float[] data(Buffer b) {
        return ((HostBuffer) b).toArray();
    }

    // ---------------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(MatmulKernel.class)
    void matmulMatchesDefinition(MatmulKernel kernel) {
        CpuOps ops = ops(kernel);
        int[][] shapes = {{1, 1, 1}, {3, 5, 7}, {4, 16, 4}, {17, 33, 9}, {64, 64, 64}, {130, 70, 259}, {5, 768, 3},
                {67, 300, 257}, {2, 1000, 1}};
        Rand r = new Rand(1);
        for (int[] s : shapes) {
            int N = s[0], K = s[1], M = s[2];
            float[] x = r.floats(N * K, 1), w = r.floats(M * K, 1), b = r.floats(M, 1);
            for (boolean withBias : new boolean[] {true, false}) {
                Buffer out = ops.allocate((long) N * M);
                ops.matmulForward(out, ops.bufferOf(x), ops.bufferOf(w), withBias ? ops.bufferOf(b) : null, N, K, M);
                Check.close(kernel + " matmul " + Arrays.toString(s) + (withBias ? " +bias" : ""),
                        NaiveOps.matmul(x, w, withBias ? b : null, N, K, M), data(out), new int[] {N, M},
                        1e-6 * Math.sqrt(K), 1e-5);
            }
        }
    }

    @Test
    void matmulWritesIntoAViewWithoutTouchingItsNeighbours() {
        Rand r = new Rand(2);
        int N = 9, K = 13, M = 11;
        float[] x = r.floats(N * K, 1), w = r.floats(M * K, 1);
        Buffer big = vector.allocate(N * M + 10);
        vector.upload(big, r.floats(N * M + 10, 1));
        float[] before = data(big);
        Buffer view = big.view(5, (long) N * M);
        vector.matmulForward(view, vector.bufferOf(x), vector.bufferOf(w), null, N, K, M);
        float[] after = data(big);
        for (int i : new int[] {0, 1, 2, 3, 4, N * M + 5, N * M + 6, N * M + 9}) {
            assertEquals(before[i], after[i], "float " + i + " outside the view changed");
        }
        Check.close("matmul into a view", NaiveOps.matmul(x, w, null, N, K, M), data(view), new int[] {N, M}, 1e-5,
                1e-5);
    }

    @Test
    void scalarAndVectorKernelsAgree() {
        Rand r = new Rand(3);
        int N = 37, K = 771, M = 45;
        float[] x = r.floats(N * K, 1), w = r.floats(M * K, 1);
        Buffer a = vector.allocate(N * M), b = scalar.allocate(N * M);
        vector.matmulForward(a, vector.bufferOf(x), vector.bufferOf(w), null, N, K, M);
        scalar.matmulForward(b, scalar.bufferOf(x), scalar.bufferOf(w), null, N, K, M);
        Check.close("vector vs scalar", data(b), data(a), new int[] {N, M}, 1e-5, 1e-5);
    }

    // ---------------------------------------------------------------------------------------------

    @Test
    void layerNormMatchesDefinition() {
        Rand r = new Rand(4);
        for (int[] s : new int[][] {{1, 1}, {3, 8}, {17, 768}, {200, 33}}) {
            int N = s[0], C = s[1];
            // an offset and spread per row, so the mean matters
            float[] x = r.floats(N * C, 3);
            for (int i = 0; i < x.length; i++) {
                x[i] += 5 * (i / C % 3);
            }
            float[] w = r.floats(C, 0.5, 1.5), b = r.floats(C, 1);
            Buffer out = vector.allocate((long) N * C), mean = vector.allocate(N), rstd = vector.allocate(N);
            vector.layerNormForward(out, mean, rstd, vector.bufferOf(x), vector.bufferOf(w), vector.bufferOf(b), N, C,
                    1e-12f);
            double[] m = new double[N], rs = new double[N];
            double[] expected = NaiveOps.layerNorm(x, w, b, N, C, 1e-12, m, rs);
            Check.close("layer norm " + Arrays.toString(s), expected, data(out), new int[] {N, C}, 1e-6, 1e-5);
            Check.close("layer norm mean", m, data(mean), 1e-6, 1e-6);
            if (C > 1) {
                Check.close("layer norm rstd", rs, data(rstd), 1e-6, 1e-6);
            }
            // in place gives the same values
            Buffer inPlace = vector.bufferOf(x);
            vector.layerNormForward(inPlace, null, null, inPlace, vector.bufferOf(w), vector.bufferOf(b), N, C, 1e-12f);
            assertTrue(Arrays.equals(data(out), data(inPlace)), "in-place layer norm differs");
        }
    }

    @Test
    void residualLayerNormNormalizesTheFloatSum() {
        Rand r = new Rand(5);
        int N = 23, C = 48;
        float[] x = r.floats(N * C, 2), res = r.floats(N * C, 2), w = r.floats(C, 0.5, 1.5), b = r.floats(C, 1);
        float[] bias = r.floats(C, 1);
        float[] sum = new float[N * C];
        for (int i = 0; i < sum.length; i++) {
            sum[i] = (x[i] + bias[i % C]) + res[i];
        }
        Buffer out = vector.allocate((long) N * C), sumOut = vector.allocate((long) N * C);
        Buffer mean = vector.allocate(N), rstd = vector.allocate(N);
        Buffer resBuf = vector.bufferOf(res);
        vector.residualLayerNormForward(out, sumOut, mean, rstd, vector.bufferOf(x), vector.bufferOf(bias), resBuf,
                vector.bufferOf(w), vector.bufferOf(b), N, C, 1e-12f);
        Check.close("residual layer norm", NaiveOps.layerNorm(sum, w, b, N, C, 1e-12, null, null), data(out),
                new int[] {N, C}, 1e-6, 1e-5);
        assertTrue(Arrays.equals(sum, data(sumOut)), "the saved sum is not (inp + bias) + residual");
        // without a bias the sum is inp + residual
        float[] plain = new float[N * C];
        for (int i = 0; i < plain.length; i++) {
            plain[i] = x[i] + res[i];
        }
        vector.residualLayerNormForward(out, sumOut, null, null, vector.bufferOf(x), null, resBuf,
                vector.bufferOf(w), vector.bufferOf(b), N, C, 1e-12f);
        assertTrue(Arrays.equals(plain, data(sumOut)), "the saved sum is not inp + residual");
        // out may alias the residual
        vector.residualLayerNormForward(resBuf, null, null, null, vector.bufferOf(x), null, resBuf,
                vector.bufferOf(w), vector.bufferOf(b), N, C, 1e-12f);
        assertTrue(Arrays.equals(data(out), data(resBuf)), "aliased output differs");
    }

    // ---------------------------------------------------------------------------------------------

    @Test
    void embeddingsGatherWordAndPositionRows() {
        Rand r = new Rand(6);
        int V = 50, P = 20, C = 12, T = 37;
        float[] wte = r.floats(V * C, 1), wpe = r.floats(P * C, 1);
        int[] ids = r.ints(T, V), pos = r.ints(T, P);
        Buffer out = vector.allocate((long) T * C);
        vector.embeddingForward(out, vector.indicesOf(ids), vector.indicesOf(pos), vector.bufferOf(wte),
                vector.bufferOf(wpe), T, C);
        Check.close("embedding", NaiveOps.embedding(ids, pos, wte, wpe, T, C), data(out), new int[] {T, C}, 0, 1e-7);

        float[] embeds = r.floats(T * C, 1);
        Buffer e = vector.bufferOf(embeds);
        vector.positionEmbeddingForward(e, e, vector.indicesOf(pos), vector.bufferOf(wpe), T, C);
        double[] expected = new double[T * C];
        for (int t = 0; t < T; t++) {
            for (int c = 0; c < C; c++) {
                expected[t * C + c] = (double) embeds[t * C + c] + wpe[pos[t] * C + c];
            }
        }
        Check.close("position embedding", expected, data(e), new int[] {T, C}, 0, 1e-7);
    }

    // ---------------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(Activation.class)
    void biasActivationMatchesDefinition(Activation act) {
        Rand r = new Rand(7);
        int N = 31, M = 67;
        float[] x = r.floats(N * M, 8), b = r.floats(M, 1);
        // exact values that matter: 0, the far tails, just around 0
        float[] special = {0f, -0f, 1e-20f, -1e-20f, 30f, -30f, 7.5f, -7.5f, 1e-3f, -1e-3f};
        System.arraycopy(special, 0, x, 0, special.length);
        for (boolean withBias : new boolean[] {true, false}) {
            Buffer out = vector.allocate((long) N * M);
            vector.biasActivationForward(act, out, vector.bufferOf(x), withBias ? vector.bufferOf(b) : null, N, M);
            Check.close(act + (withBias ? " +bias" : ""), NaiveOps.biasActivation(act, x, withBias ? b : null, N, M),
                    data(out), new int[] {N, M}, 1e-12, 2e-7);
        }
        Buffer inPlace = vector.bufferOf(x);
        vector.biasActivationForward(act, inPlace, inPlace, vector.bufferOf(b), N, M);
        Check.close(act + " in place", NaiveOps.biasActivation(act, x, b, N, M), data(inPlace), new int[] {N, M}, 1e-12,
                2e-7);
    }

    @Test
    void erfAgreesWithCommonsMath() {
        for (double x = -30; x <= 30; x += 0.001953125) {
            double expected = org.apache.commons.math3.special.Erf.erf(x);
            assertEquals(expected, Erf.erf(x), 2e-16 + 1e-14 * Math.abs(expected), "erf(" + x + ")");
        }
        for (double x = -6; x <= 27; x += 0.00390625) {
            double expected = org.apache.commons.math3.special.Erf.erfc(x);
            // Commons Math's continued fraction loses a few digits far in the tail (erfc(22.75) ~ 4e-227)
            assertEquals(expected, Erf.erfc(x), 1e-300 + (x < 10 ? 1e-13 : 1e-12) * Math.abs(expected), "erfc(" + x + ")");
        }
    }

    // ---------------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(MatmulKernel.class)
    void attentionOverRaggedPackedSequences(MatmulKernel kernel) {
        CpuOps ops = ops(kernel);
        Rand r = new Rand(8);
        int[][] cases = {{5, 0, 1, 17, 3}, {1}, {64, 63, 2}, {130}};
        for (int[] lens : cases) {
            for (int HS : new int[] {8, 64}) {
                int NH = 3, C = NH * HS;
                int[] cu = new int[lens.length + 1];
                for (int s = 0; s < lens.length; s++) {
                    cu[s + 1] = cu[s] + lens[s];
                }
                int T = cu[lens.length];
                float[] qkv = NaiveOps.qkv(r.floats(T * C, 2), r.floats(T * C, 2), r.floats(T * C, 1), T, C);
                float[] headMask = {1f, 0f, 0.5f};
                for (float[] hm : new float[][] {null, headMask}) {
                    long probsLen = PackedBatch.probsOffsets(cu, null, NH)[lens.length];
                    Buffer out = ops.allocate((long) T * C), probs = ops.allocate(probsLen);
                    ops.attentionForward(out, probs, ops.bufferOf(qkv), hm == null ? null : ops.bufferOf(hm),
                            ops.indicesOf(cu), null, lens.length, T, NH, HS);
                    double[] expectedProbs = new double[(int) probsLen];
                    double[] expected = NaiveOps.attention(qkv, hm, cu, null, NH, HS, expectedProbs);
                    String what = kernel + " attention lens " + Arrays.toString(lens) + " HS " + HS
                            + (hm == null ? "" : " head mask");
                    Check.close(what, expected, data(out), new int[] {T, NH, HS}, 1e-6, 1e-5);
                    Check.close(what + " probs", expectedProbs, data(probs), 1e-7, 1e-5);
                    // the probabilities are optional: without them the output is the same
                    Buffer out2 = ops.allocate((long) T * C);
                    ops.attentionForward(out2, null, ops.bufferOf(qkv), hm == null ? null : ops.bufferOf(hm),
                            ops.indicesOf(cu), null, lens.length, T, NH, HS);
                    Check.close(what + ": output without the probs buffer", data(out), data(out2), new int[] {T, NH, HS}, 0, 0);
                }
            }
        }
    }

    @Test
    void attentionWithQueryOnlyTokensAndAllMaskedRows() {
        Rand r = new Rand(9);
        int NH = 2, HS = 16, C = NH * HS;
        int[] lens = {6, 4, 5, 1};
        int[] keys = {3, 0, 5, 1}; // row 1: every key masked → uniform over its 4 tokens
        int[] cu = {0, 6, 10, 15, 16};
        int T = 16;
        float[] qkv = NaiveOps.qkv(r.floats(T * C, 2), r.floats(T * C, 2), r.floats(T * C, 1), T, C);
        long probsLen = PackedBatch.probsOffsets(cu, keys, NH)[lens.length];
        Buffer out = vector.allocate((long) T * C), probs = vector.allocate(probsLen);
        vector.attentionForward(out, probs, vector.bufferOf(qkv), null, vector.indicesOf(cu), vector.indicesOf(keys),
                lens.length, T, NH, HS);
        double[] expectedProbs = new double[(int) probsLen];
        double[] expected = NaiveOps.attention(qkv, null, cu, keys, NH, HS, expectedProbs);
        Check.close("query-only attention", expected, data(out), new int[] {T, NH, HS}, 1e-6, 1e-5);
        Check.close("query-only attention probs", expectedProbs, data(probs), 1e-7, 1e-5);
        // the uniform row really is 1/4 everywhere
        long base = PackedBatch.probsOffsets(cu, keys, NH)[1];
        for (int i = 0; i < NH * 4 * 4; i++) {
            assertEquals(0.25f, data(probs)[(int) base + i], "uniform probabilities of the all-masked row");
        }
    }

    // ---------------------------------------------------------------------------------------------

    @Test
    void softmaxTopKRanksTheDoubleSoftmaxNaNFirstAndTiesByIndex() {
        int V = 6, K = 4;
        float[] logits = {
            1, 3, 2, 3, -1, 0,                                              // a tie at the top: index order
            Float.NaN, 0, 5, 1, 2, 3,                                       // a NaN: every probability NaN
            Float.NEGATIVE_INFINITY, 0, 0, 0, Float.NEGATIVE_INFINITY, 0}; // exp(-inf) = 0: last
        int N = logits.length / V;
        Buffer probs = vector.allocate(N * K);
        IndexBuffer ids = vector.allocateIndices(N * K);
        vector.softmaxTopKForward(probs, ids, vector.bufferOf(logits), N, V, K);
        double[] e = new double[V];
        double sum = 0;
        for (int j = 0; j < V; j++) {
            e[j] = Math.exp(logits[j] - 3.0);
            sum += e[j];
        }
        assertArrayEquals(new int[] {1, 3, 2, 0, /* NaN row */ 0, 1, 2, 3, /* -inf row */ 1, 2, 3, 5}, vector.downloadIndices(ids));
        float[] p = data(probs);
        assertArrayEquals(new float[] {(float) (e[1] / sum), (float) (e[3] / sum), (float) (e[2] / sum), (float) (e[0] / sum)},
                java.util.Arrays.copyOfRange(p, 0, K));
        for (int r = 0; r < K; r++) {
            assertTrue(Float.isNaN(p[K + r]), "a NaN logit makes every probability NaN");
            assertEquals(0.25f, p[2 * K + r], "four zeros and two -inf: a quarter each");
        }
        IllegalArgumentException x = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> vector.softmaxTopKForward(probs, ids, vector.bufferOf(logits), N, V, V + 1));
        assertEquals("softmax top-k: K = 7 must be in [1, V = 6]", x.getMessage());
    }

    @Test
    void gatherRowsCopiesOrZeroes() {
        Rand r = new Rand(10);
        int C = 7;
        float[] x = r.floats(5 * C, 1);
        int[] rows = {4, -1, 0, 0, 2};
        Buffer out = vector.allocate(rows.length * C);
        vector.upload(out, r.floats(rows.length * C, 1)); // stale values must be overwritten
        vector.gatherRows(out, vector.bufferOf(x), vector.indicesOf(rows), rows.length, C);
        double[] expected = new double[rows.length * C];
        for (int i = 0; i < rows.length; i++) {
            for (int c = 0; c < C; c++) {
                expected[i * C + c] = rows[i] < 0 ? 0 : x[rows[i] * C + c];
            }
        }
        Check.close("gather rows", expected, data(out), new int[] {rows.length, C}, 0, 0);
    }

    @Test
    void crossEntropyPerRowWithIgnoredRows() {
        Rand r = new Rand(11);
        for (int V : new int[] {1, 2, 7, 1000}) {
            int N = 13;
            float[] logits = r.floats(N * V, 10);
            logits[0] = 100f; // large logits stay finite
            int[] targets = r.ints(N, V);
            targets[3] = -100;
            targets[7] = -100;
            Buffer losses = vector.allocate(N);
            vector.crossEntropyForward(losses, vector.bufferOf(logits), vector.indicesOf(targets), N, V, -100);
            double[] expected = new double[N];
            for (int n = 0; n < N; n++) {
                expected[n] = targets[n] == -100 ? 0 : NaiveOps.crossEntropy(logits, n, V, targets[n]);
            }
            Check.close("cross-entropy V " + V, expected, data(losses), 1e-6, 1e-6);
        }
    }

    @Test
    void mseAndBceWithLogits() {
        Rand r = new Rand(12);
        int N = 40;
        float[] x = r.floats(N, 6), y = r.floats(N, 0, 1), t = r.floats(N, 3);
        x[0] = 60f;   // the stable form must not overflow where the naive one would lose digits
        x[1] = -60f;
        Buffer mse = vector.allocate(N), bce = vector.allocate(N);
        vector.mseForward(mse, vector.bufferOf(x), vector.bufferOf(t), N);
        vector.bceWithLogitsForward(bce, vector.bufferOf(x), vector.bufferOf(y), N);
        double[] eMse = new double[N], eBce = new double[N];
        for (int n = 0; n < N; n++) {
            eMse[n] = Math.pow((double) x[n] - t[n], 2);
            double xn = x[n], yn = y[n];
            // exact for large |x|: log(1 + e^-|x|) ~ e^-|x|
            eBce[n] = Math.abs(xn) > 30 ? Math.max(xn, 0) - xn * yn + Math.exp(-Math.abs(xn)) : NaiveOps.bce(xn, yn);
        }
        Check.close("mse", eMse, data(mse), 1e-7, 1e-6);
        Check.close("bce with logits", eBce, data(bce), 1e-6, 1e-6);
    }
}
