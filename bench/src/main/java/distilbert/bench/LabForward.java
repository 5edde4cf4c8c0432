package distilbert.bench;

import distilbert.model.Buffer;
import distilbert.model.CpuOps;
import distilbert.model.DistilBertModel;
import distilbert.model.HostBuffer;
import distilbert.model.IndexBuffer;
import distilbert.model.MaskedPositions;
import distilbert.model.MatmulKernel;
import distilbert.model.PackedBatch;
import distilbert.model.ParameterSlab;
import distilbert.weights.Activation;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import java.util.concurrent.ForkJoinPool;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/**
 * The encoder's forward (DistilBertModel.encode, inference, no head mask or optional outputs) with
 * {@link LabKernels} for the matrix products, the GELU and attention, on the loaded model's own
 * parameter slab: what the shipped forward would cost with those kernels moved into CpuOps. The
 * embeddings and layer norms are the shipped {@link CpuOps} ops. Weights are packed once, here.
 *
 * <p>A lab prototype for ForwardBenchmark's {@code javaLab}, not a second model: the same packing
 * (PackedBatch, SKIP), the same op order, the same parameters.
 */
final class LabForward implements AutoCloseable {
    private static final float EPS = DistilBertConfig.LAYER_NORM_EPS;
    private static final int ROW_BLOCK = 64;
    private static final int COL_BLOCK = 4 * LabKernels.NR;

    private final int C, NH, HS, F, threads;
    private final CpuOps ops;
    private final ForkJoinPool pool;
    private final HostBuffer wte, wpe, embLnW, embLnB;
    private final Layer[] layers;

    /** Packed weights (LabKernels.packRows) and the views of the slab that stay as they are. */
    private record Layer(float[] q, float[] k, float[] v, float[] out, float[] lin1, float[] lin2, HostBuffer qB,
                         HostBuffer kB, HostBuffer vB, HostBuffer outB, HostBuffer lin1B, HostBuffer lin2B,
                         HostBuffer saLnW, HostBuffer saLnB, HostBuffer outLnW, HostBuffer outLnB) {
    }

    LabForward(DistilBertModel model, int threads) {
        DistilBertConfig cfg = model.config();
        if (cfg.activation() != Activation.GELU) throw new IllegalArgumentException("the lab forward does GELU only");
        C = cfg.dim();
        NH = cfg.nHeads();
        HS = cfg.headSize();
        F = cfg.hiddenDim();
        this.threads = threads;
        ops = new CpuOps(threads, MatmulKernel.best());
        pool = new ForkJoinPool(threads);
        ParameterSlab p = model.parameters();
        wte = host(p.get(DistilBertParameters.WORD_EMBEDDINGS));
        wpe = host(p.get(DistilBertParameters.POSITION_EMBEDDINGS));
        embLnW = host(p.get("embeddings.LayerNorm.weight"));
        embLnB = host(p.get("embeddings.LayerNorm.bias"));
        layers = new Layer[cfg.nLayers()];
        for (int i = 0; i < layers.length; i++) {
            String l = "transformer.layer." + i + ".";
            layers[i] = new Layer(pack(p, l + "attention.q_lin.weight", C, C), pack(p, l + "attention.k_lin.weight", C, C),
                    pack(p, l + "attention.v_lin.weight", C, C), pack(p, l + "attention.out_lin.weight", C, C),
                    pack(p, l + "ffn.lin1.weight", F, C), pack(p, l + "ffn.lin2.weight", C, F),
                    host(p.get(l + "attention.q_lin.bias")), host(p.get(l + "attention.k_lin.bias")),
                    host(p.get(l + "attention.v_lin.bias")), host(p.get(l + "attention.out_lin.bias")),
                    host(p.get(l + "ffn.lin1.bias")), host(p.get(l + "ffn.lin2.bias")),
                    host(p.get(l + "sa_layer_norm.weight")), host(p.get(l + "sa_layer_norm.bias")),
                    host(p.get(l + "output_layer_norm.weight")), host(p.get(l + "output_layer_norm.bias")));
        }
    }

    /** last_hidden_state [B·L·C], zeros at masked positions (as the shipped forward under SKIP). */
    float[] forward(int B, int L, int[] ids, int[] mask) {
        PackedBatch pk = PackedBatch.pack(B, L, ids, mask, MaskedPositions.SKIP);
        int T = pk.tokens();
        int[] cu = pk.cuSeqlens();
        float[] x = new float[T * C], q = new float[T * C], k = new float[T * C], v = new float[T * C];
        float[] ctx = new float[T * C], sa = new float[T * C], h = new float[T * F];
        float[] ffn = q;
        IndexBuffer tokenIds = ops.indicesOf(pk.tokenIds()), positionIds = ops.indicesOf(pk.positionIds());
        ops.embeddingForward(wrap(x), tokenIds, positionIds, wte, wpe, T, C);
        ops.layerNormForward(wrap(x), null, null, wrap(x), embLnW, embLnB, T, C, EPS);
        for (Layer w : layers) {
            linear(q, x, w.q(), w.qB(), T, C, C);                                  // (T, C)
            linear(k, x, w.k(), w.kB(), T, C, C);                                  // (T, C)
            linear(v, x, w.v(), w.vB(), T, C, C);                                  // (T, C)
            attention(ctx, q, k, v, cu, B);                                        // (T, C)
            linear(sa, ctx, w.out(), w.outB(), T, C, C);                           // (T, C)
            ops.residualLayerNormForward(wrap(sa), null, null, null, wrap(sa), wrap(x), w.saLnW(), w.saLnB(), T, C, EPS);
            linear(h, sa, w.lin1(), null, T, C, F);                                // (T, F)
            gelu(h, w.lin1B(), T);                                                 // (T, F)
            linear(ffn, h, w.lin2(), w.lin2B(), T, F, C);                          // (T, C)
            ops.residualLayerNormForward(wrap(x), null, null, null, wrap(ffn), wrap(sa), w.outLnW(), w.outLnB(), T, C, EPS);
        }
        return pk.scatter(x, C, null);
    }

    /** out (N, M) = inp (N, K) · Wᵀ + bias, W packed; tiles of 64 rows × 4 panels split over the pool. */
    private void linear(float[] out, float[] inp, float[] packed, HostBuffer bias, int N, int K, int M) {
        int rowBlocks = (N + ROW_BLOCK - 1) / ROW_BLOCK, colBlocks = (M + COL_BLOCK - 1) / COL_BLOCK;
        float[] bd = bias == null ? null : bias.data();
        int bo = bias == null ? 0 : bias.offset();
        parallelFor(rowBlocks * colBlocks, t -> {
            int r0 = (t / colBlocks) * ROW_BLOCK, c0 = (t % colBlocks) * COL_BLOCK;
            int rows = Math.min(ROW_BLOCK, N - r0), cols = Math.min(COL_BLOCK, M - c0);
            LabKernels.gemm(out, r0 * M + c0, M, inp, r0 * K, K, packed, c0 * K, bd, bo + c0, rows, cols, K);
        });
    }

    private void gelu(float[] h, HostBuffer bias, int T) {
        int rowsPerTask = Math.max(1, (1 << 15) / F), tasks = (T + rowsPerTask - 1) / rowsPerTask;
        parallelFor(tasks, t -> {
            int r0 = t * rowsPerTask, rows = Math.min(rowsPerTask, T - r0);
            LabKernels.biasGelu(h, r0 * F, h, r0 * F, bias.data(), bias.offset(), rows, F);
        });
    }

    private void attention(float[] ctx, float[] q, float[] k, float[] v, int[] cu, int B) {
        parallelFor(B * NH, task -> {
            int s = task / NH, hd = task % NH;
            int start = cu[s], len = cu[s + 1] - start;
            if (len == 0) return;
            float[] scratch = new float[LabKernels.packedSize(len, HS) + len * len + LabKernels.packedSize(HS, len)];
            LabKernels.attentionHead(ctx, q, k, v, start * C + hd * HS, C, len, HS, scratch);
        });
    }

    private void parallelFor(int tasks, IntConsumer body) {
        if (tasks <= 1 || threads == 1) {
            for (int i = 0; i < tasks; i++) body.accept(i);
            return;
        }
        pool.submit(() -> IntStream.range(0, tasks).parallel().forEach(body)).join();
    }

    private static float[] pack(ParameterSlab p, String name, int m, int k) {
        HostBuffer w = host(p.get(name));
        float[] out = new float[LabKernels.packedSize(m, k)];
        LabKernels.packRows(out, 0, w.data(), w.offset(), k, m, k);
        return out;
    }

    private static HostBuffer host(Buffer b) {
        return (HostBuffer) b;
    }

    private static HostBuffer wrap(float[] a) {
        return HostBuffer.wrap(a);
    }

    @Override
    public void close() {
        pool.shutdown();
        ops.close();
    }
}
