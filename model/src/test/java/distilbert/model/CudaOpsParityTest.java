package distilbert.model;

import static distilbert.model.GpuBackends.compare;
import static distilbert.model.GpuBackends.cumulative;
import static distilbert.model.GpuBackends.lengths;
import static distilbert.model.GpuBackends.p;
import static distilbert.model.GpuBackends.poisoned;
import static distilbert.model.GpuBackends.round;
import static distilbert.model.GpuBackends.storage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.cuda.AttentionKernel;
import distilbert.weights.Activation;
import java.util.Arrays;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every op of {@link CudaOps} against the same op of {@link CpuOps}, on fresh random inputs, in
 * every precision, with the bounds of {@link GpuBackends#opBound}: ‖gpu − cpu‖ / ‖cpu‖.
 *
 * <p>The inputs are rounded to the precision's storage type before either backend sees them, so the
 * comparison measures the op and not the upload. GPU outputs are poisoned (NaN) before the op, so an
 * element the kernel does not write fails the comparison. Shapes are ragged and odd on purpose.
 */
@Tag("gpu")
final class CudaOpsParityTest {

    private final CpuOps cpu = new CpuOps(2, MatmulKernel.best());

    // ---------------------------------------------------------------------------------------------
    // embeddings and layer norm

    @ParameterizedTest
    @EnumSource(Precision.class)
    void embeddings(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(11);
        int T = 77, C = 96, V = 50, P = 40;
        float[] wte = round(p, r.floats(V * C, 1)), wpe = round(p, r.floats(P * C, 1));
        float[] w = round(p, r.floats(C, 0.5, 1.5)), b = round(p, r.floats(C, 0.3));
        int[] ids = r.ints(T, V), pos = r.ints(T, P);

        Buffer expected = cpu.allocate((long) T * C);
        cpu.embeddingForward(expected, cpu.indicesOf(ids), cpu.indicesOf(pos), cpu.bufferOf(wte), cpu.bufferOf(wpe), T, C);
        Buffer out = poisoned(gpu, (long) T * C);
        gpu.embeddingForward(out, gpu.indicesOf(ids), gpu.indicesOf(pos), gpu.bufferOf(wte), gpu.bufferOf(wpe), T, C);
        compare("embedding " + p, p, cpu.download(expected), gpu.download(out), T, C);

        // the fused embedding + layer norm, against the two CPU ops (the sum rounded to storage between them)
        float[] sum = round(p, cpu.download(expected));
        Buffer normed = cpu.allocate((long) T * C);
        cpu.layerNormForward(normed, null, null, cpu.bufferOf(sum), cpu.bufferOf(w), cpu.bufferOf(b), T, C, 1e-12f);
        Buffer fused = poisoned(gpu, (long) T * C);
        gpu.embeddingLayerNormForward(fused, gpu.indicesOf(ids), gpu.indicesOf(pos), gpu.bufferOf(wte),
                gpu.bufferOf(wpe), gpu.bufferOf(w), gpu.bufferOf(b), T, C, 1e-12f);
        compare("embedding layer norm " + p, p, cpu.download(normed), gpu.download(fused), T, C);

        // inputs_embeds + positions, in place
        float[] embeds = round(p, r.floats(T * C, 1));
        Buffer cpuX = cpu.bufferOf(embeds);
        cpu.positionEmbeddingForward(cpuX, cpuX, cpu.indicesOf(pos), cpu.bufferOf(wpe), T, C);
        Buffer gpuX = gpu.bufferOf(embeds);
        gpu.positionEmbeddingForward(gpuX, gpuX, gpu.indicesOf(pos), gpu.bufferOf(wpe), T, C);
        compare("position embedding " + p, p, cpu.download(cpuX), gpu.download(gpuX), T, C);
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void layerNorm(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(12);
        for (int[] shape : new int[][] {{1, 32}, {45, 384}, {130, 768}, {7, 1000}}) {
            int N = shape[0], C = shape[1];
            // an offset mean and a wide spread: two-pass variance matters
            float[] x = round(p, r.floats(N * C, 3, 9)), w = round(p, r.floats(C, 0.5, 1.5));
            float[] b = round(p, r.floats(C, 0.3));
            Buffer expected = cpu.allocate((long) N * C);
            Buffer mean = cpu.allocate(N), rstd = cpu.allocate(N);
            cpu.layerNormForward(expected, mean, rstd, cpu.bufferOf(x), cpu.bufferOf(w), cpu.bufferOf(b), N, C, 1e-12f);
            // the statistics in float32 whatever the precision (what the backward reads)
            Buffer out = poisoned(gpu, (long) N * C), gMean = GpuBackends.poisonedF32(gpu, N), gRstd = GpuBackends.poisonedF32(gpu, N);
            gpu.layerNormForward(out, gMean, gRstd, gpu.bufferOf(x), gpu.bufferOf(w), gpu.bufferOf(b), N, C, 1e-12f);
            String what = "layer norm [" + N + ", " + C + "] " + p;
            compare(what, p, cpu.download(expected), gpu.download(out), N, C);
            compare(what + " mean", p, cpu.download(mean), gpu.download(gMean));
            compare(what + " rstd", p, cpu.download(rstd), gpu.download(gRstd));
            // in place
            Buffer inPlace = gpu.bufferOf(x);
            gpu.layerNormForward(inPlace, null, null, inPlace, gpu.bufferOf(w), gpu.bufferOf(b), N, C, 1e-12f);
            compare(what + " in place", p, cpu.download(expected), gpu.download(inPlace), N, C);
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void residualLayerNorm(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(13);
        for (int[] shape : new int[][] {{3, 32}, {129, 768}, {50, 200}}) {
            int N = shape[0], C = shape[1];
            float[] x = round(p, r.floats(N * C, 2)), res = round(p, r.floats(N * C, 2));
            float[] bias = round(p, r.floats(C, 0.5));
            float[] w = round(p, r.floats(C, 0.5, 1.5)), b = round(p, r.floats(C, 0.3));
            for (boolean withBias : new boolean[] {true, false}) {
                // the CPU op on the storage-rounded sums, as the kernel rounds them
                float[] sum = new float[N * C];
                for (int i = 0; i < sum.length; i++) {
                    float v = withBias ? p(p, x[i] + bias[i % C]) : x[i];
                    sum[i] = p(p, v + res[i]);
                }
                Buffer expected = cpu.allocate((long) N * C);
                cpu.layerNormForward(expected, null, null, cpu.bufferOf(sum), cpu.bufferOf(w), cpu.bufferOf(b), N, C,
                        1e-12f);
                Buffer out = poisoned(gpu, (long) N * C), gSum = poisoned(gpu, (long) N * C);
                Buffer gRes = gpu.bufferOf(res);
                gpu.residualLayerNormForward(out, gSum, null, null, gpu.bufferOf(x), withBias ? gpu.bufferOf(bias) : null,
                        gRes, gpu.bufferOf(w), gpu.bufferOf(b), N, C, 1e-12f);
                String what = "residual layer norm [" + N + ", " + C + "] bias=" + withBias + " " + p;
                compare(what, p, cpu.download(expected), gpu.download(out), N, C);
                compare(what + " sum", p, sum, gpu.download(gSum), N, C);
                // out aliasing the residual, as the model runs it
                gpu.residualLayerNormForward(gRes, null, null, null, gpu.bufferOf(x), withBias ? gpu.bufferOf(bias)
                        : null, gRes, gpu.bufferOf(w), gpu.bufferOf(b), N, C, 1e-12f);
                compare(what + " aliased", p, cpu.download(expected), gpu.download(gRes), N, C);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // linear layers and activations

    @ParameterizedTest
    @EnumSource(Precision.class)
    void matmul(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(14);
        for (int[] shape : new int[][] {{1, 32, 32}, {37, 48, 100}, {128, 768, 3072}, {300, 3072, 768}, {5, 768, 2}}) {
            int N = shape[0], K = shape[1], M = shape[2];
            float[] x = round(p, r.floats(N * K, 1)), w = round(p, r.floats(M * K, 0.1));
            float[] b = round(p, r.floats(M, 0.5));
            for (boolean withBias : new boolean[] {true, false}) {
                Buffer expected = cpu.allocate((long) N * M);
                cpu.matmulForward(expected, cpu.bufferOf(x), cpu.bufferOf(w), withBias ? cpu.bufferOf(b) : null, N, K, M);
                Buffer out = poisoned(gpu, (long) N * M);
                gpu.matmulForward(out, gpu.bufferOf(x), gpu.bufferOf(w), withBias ? gpu.bufferOf(b) : null, N, K, M);
                compare("matmul [" + N + ", " + K + "] x [" + M + ", " + K + "]ᵀ bias=" + withBias + " " + p, p,
                        cpu.download(expected), gpu.download(out), N, M);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void biasActivation(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(15);
        int N = 67, M = 300;
        float[] x = round(p, r.floats(N * M, 4)), b = round(p, r.floats(M, 1));
        for (Activation act : Activation.values()) {
            for (boolean withBias : new boolean[] {true, false}) {
                Buffer expected = cpu.allocate((long) N * M);
                cpu.biasActivationForward(act, expected, cpu.bufferOf(x), withBias ? cpu.bufferOf(b) : null, N, M);
                Buffer out = poisoned(gpu, (long) N * M);
                gpu.biasActivationForward(act, out, gpu.bufferOf(x), withBias ? gpu.bufferOf(b) : null, N, M);
                compare(act + " bias=" + withBias + " " + p, p, cpu.download(expected), gpu.download(out), N, M);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // attention

    /** Head sizes of every kernel variant, at and between the variant sizes. */
    private static final int[][] HEADS = {{12, 64}, {12, 32}, {6, 16}, {4, 48}, {2, 80}, {2, 128}, {1, 200}};

    @ParameterizedTest
    @EnumSource(Precision.class)
    void attentionOnRaggedSequences(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(16);
        // an empty sequence, a single token, lengths around the SIMT kernel's 32-query tile and the
        // tensor-core kernel's 16-query warp tile and 64-query/64-key tiles, a long one
        int[] lens = {5, 0, 1, 17, 31, 32, 33, 130, 64, 65};
        int[] cu = cumulative(lens);
        for (AttentionKernel kernel : kernelsOf(p)) {
            withKernel(gpu, kernel, () -> {
                for (int[] heads : HEADS) {
                    int NH = heads[0], HS = heads[1];
                    runAttentionOrRefusal(p, gpu, r, cu, null, NH, HS, null, false);
                    runAttention(p, gpu, r, cu, null, NH, HS, round(p, r.floats(NH, 0, 2)), true);
                }
            });
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void attentionWithQueryOnlyTokens(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(17);
        // COMPUTE mode: every row has L tokens, its first keys[b] are keys; 0 keys attends uniformly
        int L = 70;
        int[] lens = {L, L, L, L, L};
        int[] keys = {L, 17, 0, 1, 66};
        int[] cu = cumulative(lens);
        for (AttentionKernel kernel : kernelsOf(p)) {
            withKernel(gpu, kernel, () -> {
                for (int[] heads : new int[][] {{12, 64}, {4, 48}}) {
                    runAttention(p, gpu, r, cu, keys, heads[0], heads[1], null, false);
                    runAttention(p, gpu, r, cu, keys, heads[0], heads[1], round(p, r.floats(heads[0], 0, 2)),
                            false);
                    runAttention(p, gpu, r, cu, keys, heads[0], heads[1], round(p, r.floats(heads[0], 0, 2)), true);
                }
            });
        }
    }

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"BF16", "FP16"})
    void autoTakesTheTensorCoresWhereTheyRun(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(19);
        int[] cu = cumulative(new int[] {40, 9});
        withKernel(gpu, AttentionKernel.AUTO, () -> {
            for (int HS : new int[] {64, 200}) {
                gpu.startProfile();
                try (Ops.Scope scope = gpu.scope()) {
                    runAttention(p, gpu, r, cu, null, 2, HS, null, false);
                }
                java.util.Set<String> labels = gpu.stopProfile().calls().keySet();
                String want = HS == 64 ? "attention (tensor cores) 49x2x64" : "attention 49x2x200";
                assertTrue(labels.contains(want), "HS " + HS + ": want " + want + " among " + labels);
            }
        });
    }

    /** The kernels to compare with the CPU: both for 16-bit storage, the SIMT one for float32. */
    private static AttentionKernel[] kernelsOf(Precision p) {
        return p == Precision.BF16 || p == Precision.FP16
                ? new AttentionKernel[] {AttentionKernel.SIMT, AttentionKernel.TENSOR_CORES}
                : new AttentionKernel[] {AttentionKernel.SIMT};
    }

    private static void withKernel(CudaOps gpu, AttentionKernel kernel, Runnable body) {
        AttentionKernel before = gpu.attentionKernel();
        gpu.attentionKernel(kernel);
        try {
            body.run();
        } finally {
            gpu.attentionKernel(before);
        }
    }

    /** runAttention without probs; where the forced tensor-core kernel cannot run, its refusal instead. */
    private void runAttentionOrRefusal(Precision p, CudaOps gpu, Rand r, int[] cu, int[] keys, int NH, int HS,
                                       float[] headMask, boolean withProbs) {
        if (gpu.attentionKernel() == AttentionKernel.TENSOR_CORES && (HS > 128 || HS % 8 != 0)) {
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> runAttention(p, gpu, r, cu, keys, NH, HS, headMask, withProbs));
            assertTrue(e.getMessage().contains("head size " + HS), e.getMessage());
            return;
        }
        runAttention(p, gpu, r, cu, keys, NH, HS, headMask, withProbs);
    }

    private void runAttention(Precision p, CudaOps gpu, Rand r, int[] cu, int[] keys, int NH, int HS, float[] headMask,
                              boolean withProbs) {
        int S = cu.length - 1, T = cu[S], C = NH * HS;
        // the fused projection's output [T, 3C]: q, k, v side by side in every row, row stride 3C
        float[] qkv = round(p, NaiveOps.qkv(r.floats(T * C, 1.5), r.floats(T * C, 1.5), r.floats(T * C, 1), T, C));
        long probsLength = PackedBatch.probsOffsets(cu, keys, NH)[S];
        Buffer expected = cpu.allocate((long) T * C);
        Buffer cpuProbs = withProbs ? cpu.allocate(probsLength) : null;
        cpu.attentionForward(expected, cpuProbs, cpu.bufferOf(qkv), headMask == null ? null : cpu.bufferOf(headMask),
                cpu.indicesOf(cu), keys == null ? null : cpu.indicesOf(keys), S, T, NH, HS);
        Buffer out = poisoned(gpu, (long) T * C);
        Buffer gpuProbs = withProbs ? poisoned(gpu, probsLength) : null;
        gpu.attentionForward(out, gpuProbs, gpu.bufferOf(qkv), headMask == null ? null : gpu.bufferOf(headMask),
                gpu.indicesOf(cu), keys == null ? null : gpu.indicesOf(keys), S, T, NH, HS);
        String what = "attention (" + gpu.attentionKernel().cliName() + ") NH=" + NH + " HS=" + HS + " lens="
                + Arrays.toString(lengths(cu))
                + (keys == null ? "" : " keys=" + Arrays.toString(keys)) + (headMask == null ? "" : " head mask")
                + (withProbs ? " with probs" : "") + " " + p;
        compare(what, p, cpu.download(expected), gpu.download(out), T, NH, HS);
        if (withProbs) {
            compare(what + " (probs)", p, cpu.download(cpuProbs), gpu.download(gpuProbs));
        }
    }

    // ---------------------------------------------------------------------------------------------
    // rows and losses

    @ParameterizedTest
    @EnumSource(Precision.class)
    void gatherRows(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(18);
        int rowsIn = 50, C = 96;
        float[] x = round(p, r.floats(rowsIn * C, 1));
        int[] rows = {0, 49, -1, 7, 7, 3, -1};
        Buffer expected = cpu.allocate((long) rows.length * C);
        cpu.gatherRows(expected, cpu.bufferOf(x), cpu.indicesOf(rows), rows.length, C);
        Buffer out = poisoned(gpu, (long) rows.length * C);
        gpu.gatherRows(out, gpu.bufferOf(x), gpu.indicesOf(rows), rows.length, C);
        float[] got = gpu.download(out);
        compare("gather rows " + p, p, cpu.download(expected), got);
        for (int c = 0; c < C; c++) {
            assertEquals(0f, got[2 * C + c], "row -1 must be zeros");
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void poolRows(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(23);
        // sequences of 0 to 130 rows (0: zeros, or -inf for max); C = 384 spans two column blocks, the second partial
        int[] lengths = {5, 0, 1, 130, 64, 17};
        int B = lengths.length, C = 384;
        int[] cu = new int[B + 1], keyLens = new int[B];
        for (int b = 0; b < B; b++) {
            keyLens[b] = Math.max(0, lengths[b] - 3);   // with keyLens: the last 3 rows of a sequence are masked
            cu[b + 1] = cu[b] + lengths[b];
        }
        int[] positions = new int[cu[B]];
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < lengths[b]; t++) {
                positions[cu[b] + t] = t + (b % 2 == 1 ? t / 3 : 0);   // odd sequences: holes in the mask
            }
        }
        float[] x = round(p, r.floats(cu[B] * C, 2));
        for (Ops.RowPooling mode : Ops.RowPooling.values()) {
            for (int skip : new int[] {0, 4}) {
                for (int[] kl : new int[][] {null, keyLens}) {
                    String what = "pool rows " + mode + " skip " + skip + (kl == null ? "" : " with key_lens") + " " + p;
                    Buffer expected = cpu.allocate((long) B * C);
                    cpu.poolRowsForward(mode, expected, cpu.bufferOf(x), cpu.indicesOf(cu),
                            kl == null ? null : cpu.indicesOf(kl), cpu.indicesOf(positions), B, C, skip);
                    Buffer out = poisoned(gpu, (long) B * C);
                    gpu.poolRowsForward(mode, out, gpu.bufferOf(x), gpu.indicesOf(cu),
                            kl == null ? null : gpu.indicesOf(kl), gpu.indicesOf(positions), B, C, skip);
                    float[] want = cpu.download(expected), got = gpu.download(out);
                    float empty = mode == Ops.RowPooling.MAX ? Float.NEGATIVE_INFINITY : 0f;
                    boolean oneLeft = skip == 0 && kl == null;     // sequence 2 has one row: masked, or skipped
                    for (int c = 0; c < C; c++) {
                        assertEquals(empty, got[C + c], what + ": an empty sequence");
                        if (!oneLeft) assertEquals(empty, got[2 * C + c], what + ": a sequence with its one row skipped or masked");
                    }
                    compare(what, p, want, got);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void softmaxTopK(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(29);
        for (int[] vk : new int[][] {{1, 1}, {7, 7}, {300, 5}, {30522, 5}, {30522, 64}}) {
            int N = 13, V = vk[0], K = vk[1];
            float[] logits = round(p, r.floats(N * V, 4));
            for (int j = 0; j < V; j += 3) {
                logits[V + j] = 1.5f;                     // row 1: a third of the row ties (exact in every precision)
            }
            String what = "softmax top-k V=" + V + " K=" + K + " " + p;
            Buffer expected = cpu.allocate((long) N * K);
            IndexBuffer expectedIds = cpu.allocateIndices((long) N * K);
            cpu.softmaxTopKForward(expected, expectedIds, cpu.bufferOf(logits), N, V, K);
            Buffer probs = poisoned(gpu, (long) N * K);
            IndexBuffer ids = gpu.allocateIndices((long) N * K);
            gpu.uploadIndices(ids, new int[N * K]);  // stale values must be overwritten
            gpu.softmaxTopKForward(probs, ids, gpu.bufferOf(logits), N, V, K);
            compare(what, p, cpu.download(expected), gpu.download(probs));
            // the ranking: a float32 softmax and the CPU's double one round apart only where two
            // probabilities are within a rounding, which these logits (spread 4, or exact ties) do not have
            assertArrayEquals(cpu.downloadIndices(expectedIds), gpu.downloadIndices(ids), what + ": ids");
        }
    }

    /** Fill-mask's targets: the softmax over the whole row at K columns, K beyond the block's 256 threads too. */
    @ParameterizedTest
    @EnumSource(Precision.class)
    void softmaxGather(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(31);
        for (int[] vk : new int[][] {{1, 1}, {7, 3}, {300, 5}, {30522, 2}, {30522, 300}}) {
            int N = 13, V = vk[0], K = vk[1];
            float[] logits = round(p, r.floats(N * V, 4));
            int[] targets = r.ints(K, V);
            targets[K - 1] = V - 1;                       // the last column, and a repeated one
            if (K > 1) targets[0] = targets[K - 1];
            String what = "softmax gather V=" + V + " K=" + K + " " + p;
            Buffer expected = cpu.allocate((long) N * K);
            cpu.softmaxGatherForward(expected, cpu.bufferOf(logits), cpu.indicesOf(targets), N, V, K);
            Buffer probs = poisoned(gpu, (long) N * K);
            gpu.softmaxGatherForward(probs, gpu.bufferOf(logits), gpu.indicesOf(targets), N, V, K);
            compare(what, p, cpu.download(expected), gpu.download(probs));
        }
        // a target outside the row: NaN, and nothing read outside it
        Buffer probs = poisoned(gpu, 2);
        gpu.softmaxGatherForward(probs, gpu.bufferOf(new float[] {0f, 1f}), gpu.indicesOf(new int[] {2, -1}), 1, 2, 2);
        float[] got = gpu.download(probs);
        assertTrue(Float.isNaN(got[0]) && Float.isNaN(got[1]), java.util.Arrays.toString(got));
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void losses(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(19);
        for (int V : new int[] {2, 7, 30522}) {
            int N = 37;
            float[] logits = round(p, r.floats(N * V, 6));
            int[] targets = r.ints(N, V);
            targets[3] = -100;
            targets[N - 1] = -100;
            Buffer expected = cpu.allocate(N);
            cpu.crossEntropyForward(expected, cpu.bufferOf(logits), cpu.indicesOf(targets), N, V, -100);
            Buffer out = poisoned(gpu, N);
            gpu.crossEntropyForward(out, gpu.bufferOf(logits), gpu.indicesOf(targets), N, V, -100);
            float[] got = gpu.download(out);
            compare("cross-entropy V=" + V + " " + p, p, cpu.download(expected), got);
            assertEquals(0f, got[3], "an ignored row's loss is 0");
        }
        int N = 301;
        float[] x = round(p, r.floats(N, 8)), y = round(p, r.floats(N, 0, 1));
        Buffer mse = cpu.allocate(N), bce = cpu.allocate(N);
        cpu.mseForward(mse, cpu.bufferOf(x), cpu.bufferOf(y), N);
        cpu.bceWithLogitsForward(bce, cpu.bufferOf(x), cpu.bufferOf(y), N);
        Buffer gMse = poisoned(gpu, N), gBce = poisoned(gpu, N);
        gpu.mseForward(gMse, gpu.bufferOf(x), gpu.bufferOf(y), N);
        gpu.bceWithLogitsForward(gBce, gpu.bufferOf(x), gpu.bufferOf(y), N);
        compare("mse " + p, p, cpu.download(mse), gpu.download(gMse));
        compare("bce with logits " + p, p, cpu.download(bce), gpu.download(gBce));
    }
}
