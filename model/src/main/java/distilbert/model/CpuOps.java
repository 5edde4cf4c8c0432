package distilbert.model;

import distilbert.weights.Activation;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ForkJoinPool;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/**
 * The CPU reference backend: plain Java loops over float32 arrays, the oracle for every CUDA kernel.
 *
 * <p>Precision: storage and matrix-product accumulation in float (as cuBLAS's fp32 path); row
 * statistics (layer norm mean and variance, softmax and log-sum-exp sums) and the activations in
 * double, rounded once to float. Parallelism: a fork-join pool of its own, split over rows, over
 * (row block, column block) tiles of a matrix product, and over (sequence, head) pairs in
 * attention. The matrix products use {@link MatmulKernel}.
 */
public final class CpuOps implements BackwardOps {

    /** Below this many multiply-adds a matrix product runs on the calling thread. */
    private static final long SERIAL_FLOPS = 1L << 16;
    private static final int ROW_BLOCK = 64;
    /** Columns of a matrix-product task: a multiple of every kernel's panel width (4, 8, 16, 32). */
    private static final int COL_BLOCK = 128;
    /** Rows of a row-wise op handled by one task: enough elements to outweigh the fork. */
    private static final int ELEMENTS_PER_TASK = 1 << 15;

    private final ForkJoinPool pool;
    private final int threads;
    private final MatmulKernel kernel;
    /** Test mode: uninitialised allocations hold NaN (floats) and {@link Integer#MIN_VALUE} (ints). */
    private final boolean poisonUninitialized;
    /** Linear weights packed for {@link #kernel}, see {@link #packedWeight}. */
    private final ConcurrentHashMap<PackKey, float[]> packed = new ConcurrentHashMap<>();

    /** @param threads worker threads (≥ 1) */
    public CpuOps(int threads, MatmulKernel kernel) {
        this(threads, kernel, false);
    }

    private CpuOps(int threads, MatmulKernel kernel, boolean poisonUninitialized) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        this.threads = threads;
        this.kernel = kernel;
        this.poisonUninitialized = poisonUninitialized;
        this.pool = new ForkJoinPool(threads);
    }

    /**
     * For tests: a backend whose {@link #allocateUninitialized} buffers start as NaN and whose
     * {@link #allocateIndicesUninitialized} buffers start as {@link Integer#MIN_VALUE}, so that a
     * read before the write (what a GPU would answer with an earlier step's leftovers) shows as NaN
     * in the results or as an index out of range. Otherwise computes exactly as {@link #CpuOps}.
     */
    static CpuOps poisoningUninitialized(int threads, MatmulKernel kernel) {
        return new CpuOps(threads, kernel, true);
    }

    /**
     * One thread per available processor and the fastest kernel this JVM has. Without the Vector API
     * it says once on stderr how to get it.
     */
    public static CpuOps create() {
        MatmulKernel k = MatmulKernel.best();
        if (k == MatmulKernel.SCALAR) {
            Notices.once("vector-api", "distilbert: the JVM was started without --add-modules jdk.incubator.vector;"
                    + " CPU matrix products use the scalar kernel (about 10x slower)");
        }
        return new CpuOps(Runtime.getRuntime().availableProcessors(), k);
    }

    public MatmulKernel kernel() {
        return kernel;
    }

    public int threads() {
        return threads;
    }

    @Override
    public String describe() {
        return "cpu (" + threads + (threads == 1 ? " thread, " : " threads, ")
                + (kernel == MatmulKernel.VECTOR ? "Vector API" : "scalar") + " matmul)";
    }

    @Override
    public void close() {
        pool.shutdown();
    }

    /** Whether {@link #close} was called (for tests of what closes backends). */
    boolean closed() {
        return pool.isShutdown();
    }

    // ---------------------------------------------------------------------------------------------
    // memory

    @Override
    public HostBuffer allocate(long length) {
        return HostBuffer.allocate(length);
    }

    /** The CPU stores float32: {@link #allocate}. */
    @Override
    public HostBuffer allocateFloat32(long length) {
        return allocate(length);
    }

    /** Zeros, as a Java array starts (NaN in the {@link #poisoningUninitialized} test mode). */
    @Override
    public HostBuffer allocateUninitialized(long length) {
        HostBuffer b = HostBuffer.allocate(length);
        if (poisonUninitialized) {
            Arrays.fill(b.data(), Float.NaN);
        }
        return b;
    }

    @Override
    public HostIndexBuffer allocateIndices(long length) {
        return new HostIndexBuffer(new int[HostBuffer.checkedLength(length)], 0, (int) length);
    }

    /** Zeros ({@link Integer#MIN_VALUE} in the {@link #poisoningUninitialized} test mode). */
    @Override
    public HostIndexBuffer allocateIndicesUninitialized(long length) {
        HostIndexBuffer b = allocateIndices(length);
        if (poisonUninitialized) {
            Arrays.fill(b.data(), Integer.MIN_VALUE);
        }
        return b;
    }

    @Override
    public void upload(Buffer dst, float[] src) {
        HostBuffer d = host(dst);
        checkFits(src.length, d.len(), "upload");
        System.arraycopy(src, 0, d.data(), d.offset(), src.length);
        if (!packed.isEmpty()) {
            packed.keySet().removeIf(key -> key.data() == d.data()); // the weights may have changed
        }
    }

    @Override
    public void uploadIndices(IndexBuffer dst, int[] src) {
        HostIndexBuffer d = host(dst);
        checkFits(src.length, d.len(), "upload");
        System.arraycopy(src, 0, d.data(), d.offset(), src.length);
    }

    @Override
    public void download(float[] dst, Buffer src) {
        HostBuffer s = host(src);
        checkFits(dst.length, s.len(), "download");
        System.arraycopy(s.data(), s.offset(), dst, 0, dst.length);
    }

    @Override
    public int[] downloadIndices(IndexBuffer src) {
        HostIndexBuffer s = host(src);
        return Arrays.copyOfRange(s.data(), s.offset(), s.offset() + s.len());
    }

    // ---------------------------------------------------------------------------------------------
    // embeddings

    @Override
    public void embeddingForward(Buffer out, IndexBuffer tokenIds, IndexBuffer positionIds, Buffer wordEmbeddings,
                                 Buffer positionEmbeddings, int T, int C) {
        HostBuffer o = host(out), wte = host(wordEmbeddings), wpe = host(positionEmbeddings);
        HostIndexBuffer ids = host(tokenIds), pos = host(positionIds);
        float[] od = o.data(), wd = wte.data(), pd = wpe.data();
        forRows(T, C, t -> {
            int ob = o.offset() + t * C;
            int wb = wte.offset() + ids.data()[ids.offset() + t] * C;
            int pb = wpe.offset() + pos.data()[pos.offset() + t] * C;
            for (int c = 0; c < C; c++) {
                od[ob + c] = wd[wb + c] + pd[pb + c];
            }
        });
    }

    @Override
    public void positionEmbeddingForward(Buffer out, Buffer inputsEmbeds, IndexBuffer positionIds,
                                         Buffer positionEmbeddings, int T, int C) {
        HostBuffer o = host(out), x = host(inputsEmbeds), wpe = host(positionEmbeddings);
        HostIndexBuffer pos = host(positionIds);
        float[] od = o.data(), xd = x.data(), pd = wpe.data();
        forRows(T, C, t -> {
            int ob = o.offset() + t * C;
            int xb = x.offset() + t * C;
            int pb = wpe.offset() + pos.data()[pos.offset() + t] * C;
            for (int c = 0; c < C; c++) {
                od[ob + c] = xd[xb + c] + pd[pb + c];
            }
        });
    }

    // ---------------------------------------------------------------------------------------------
    // layer norm

    @Override
    public void layerNormForward(Buffer out, Buffer mean, Buffer rstd, Buffer inp, Buffer weight, Buffer bias,
                                 int N, int C, float eps) {
        HostBuffer o = host(out), x = host(inp), w = host(weight), b = host(bias);
        HostBuffer m = hostOrNull(mean), r = hostOrNull(rstd);
        forRows(N, C, n -> normalizeRow(o.data(), o.offset() + n * C, x.data(), x.offset() + n * C, w, b, C, eps,
                m, r, n));
    }

    @Override
    public void residualLayerNormForward(Buffer out, Buffer sum, Buffer mean, Buffer rstd, Buffer inp, Buffer bias,
                                         Buffer residual, Buffer weight, Buffer lnBias, int N, int C, float eps) {
        HostBuffer o = host(out), x = host(inp), res = host(residual), w = host(weight), b = host(lnBias);
        HostBuffer lb = hostOrNull(bias);
        HostBuffer s = hostOrNull(sum), m = hostOrNull(mean), r = hostOrNull(rstd);
        forRows(N, C, n -> {
            // Each sum is rounded to float, as torch adds the bias (in the Linear) and then the residual
            // in float before the norm.
            float[] row = new float[C];
            int xb = x.offset() + n * C, rb = res.offset() + n * C;
            for (int c = 0; c < C; c++) {
                float v = lb == null ? x.data()[xb + c] : x.data()[xb + c] + lb.data()[lb.offset() + c];
                row[c] = v + res.data()[rb + c];
            }
            if (s != null) {
                System.arraycopy(row, 0, s.data(), s.offset() + n * C, C);
            }
            normalizeRow(o.data(), o.offset() + n * C, row, 0, w, b, C, eps, m, r, n);
        });
    }

    /** One row of layer norm, statistics in double; {@code dst} may be {@code src}. */
    private static void normalizeRow(float[] dst, int db, float[] src, int sb, HostBuffer w, HostBuffer b, int C,
                                     float eps, HostBuffer mean, HostBuffer rstd, int n) {
        double s = 0;
        for (int c = 0; c < C; c++) {
            s += src[sb + c];
        }
        double mu = s / C;
        double ss = 0;
        for (int c = 0; c < C; c++) {
            double d = src[sb + c] - mu;
            ss += d * d;
        }
        double rs = 1.0 / Math.sqrt(ss / C + eps);
        float[] wd = w.data(), bd = b.data();
        int wo = w.offset(), bo = b.offset();
        for (int c = 0; c < C; c++) {
            dst[db + c] = (float) ((src[sb + c] - mu) * rs * wd[wo + c] + bd[bo + c]);
        }
        if (mean != null) {
            mean.data()[mean.offset() + n] = (float) mu;
        }
        if (rstd != null) {
            rstd.data()[rstd.offset() + n] = (float) rs;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // linear layers

    @Override
    public void matmulForward(Buffer out, Buffer inp, Buffer weight, Buffer bias, int N, int K, int M) {
        HostBuffer o = host(out), x = host(inp), b = hostOrNull(bias);
        float[] packed = packedWeight(host(weight), M, K);
        float[] bd = b == null ? null : b.data();
        int bo = b == null ? 0 : b.offset();
        int rowBlocks = ceilDiv(N, ROW_BLOCK);
        int colBlocks = ceilDiv(M, COL_BLOCK);
        int nr = kernel.panelWidth();
        IntConsumer tile = t -> {
            int r0 = (t / colBlocks) * ROW_BLOCK, c0 = (t % colBlocks) * COL_BLOCK;
            int rows = Math.min(ROW_BLOCK, N - r0), cols = Math.min(COL_BLOCK, M - c0);
            kernel.gemm(o.data(), o.offset() + r0 * M + c0, M, x.data(), x.offset() + r0 * K, K,
                    packed, c0 * K, nr, K, bd, bo + c0, rows, cols, K);
        };
        if ((long) N * K * M <= SERIAL_FLOPS) {
            for (int t = 0; t < rowBlocks * colBlocks; t++) {
                tile.accept(t);
            }
        } else {
            parallelFor(rowBlocks * colBlocks, tile);
        }
    }

    /**
     * A Linear weight {@code [M, K]} packed into the kernel's panels ({@link MatmulKernel#packRows}),
     * packed on first use and cached, keyed by the weight's array, offset and shape: parameters are
     * constant during inference. Anything that writes a weight in place without {@link #upload} (a
     * later optimizer step) must call {@link #clearPackedWeights()} afterwards; {@link #upload} drops
     * the packings of the array it writes. The cache holds one packed copy of every weight used.
     */
    private float[] packedWeight(HostBuffer w, int M, int K) {
        return packed.computeIfAbsent(new PackKey(w.data(), w.offset(), M, K), key -> {
            float[] p = new float[kernel.packedSize(M, K)];
            kernel.packRows(p, 0, w.data(), w.offset(), K, M, K);
            return p;
        });
    }

    /** Forgets every packed weight (see {@link #packedWeight}): call after writing weights in place. */
    public void clearPackedWeights() {
        packed.clear();
    }

    /** Identity of a packed weight: the array (by identity: arrays do not override equals), offset and shape. */
    private record PackKey(float[] data, int offset, int m, int k) {
    }

    @Override
    public void biasActivationForward(Activation act, Buffer out, Buffer inp, Buffer bias, int N, int M) {
        HostBuffer o = host(out), x = host(inp), b = hostOrNull(bias);
        if (act == Activation.GELU && kernel == MatmulKernel.VECTOR) {
            forRows(N, M, n -> VectorRows.biasGelu(o.data(), o.offset() + n * M, x.data(), x.offset() + n * M,
                    b == null ? null : b.data(), b == null ? 0 : b.offset(), M)); // only loaded here
            return;
        }
        forRows(N, M, n -> {
            int ob = o.offset() + n * M, xb = x.offset() + n * M;
            for (int m = 0; m < M; m++) {
                float v = x.data()[xb + m] + (b == null ? 0f : b.data()[b.offset() + m]);
                o.data()[ob + m] = ActivationFunctions.apply(act, v);
            }
        });
    }

    // ---------------------------------------------------------------------------------------------
    // attention

    @Override
    public void attentionForward(Buffer out, Buffer probs, Buffer qkv, Buffer headMask, IndexBuffer cuSeqlens,
                                 IndexBuffer keyLens, int numSeqs, int T, int NH, int HS) {
        HostBuffer o = host(out), x = host(qkv);
        HostBuffer pb = hostOrNull(probs), hm = hostOrNull(headMask);
        int[] cu = copy(host(cuSeqlens), numSeqs + 1);
        int[] keys = keyLens == null ? null : copy(host(keyLens), numSeqs);
        long[] probOffsets = PackedBatch.probsOffsets(cu, keys, NH);
        int C = NH * HS, ld = 3 * C; // row stride of q, k and v in qkv
        float[] xd = x.data();
        double scale = 1.0 / Math.sqrt(HS);
        parallelFor(numSeqs * NH, task -> {
            int s = task / NH, h = task % NH;
            int start = cu[s], len = cu[s + 1] - start;
            if (len == 0) {
                return;
            }
            int nk = keys == null ? len : keys[s];
            boolean uniform = nk == 0; // every key masked: HF's softmax of equal scores
            if (uniform) {
                nk = len;
            }
            float headScale = hm == null ? 1f : hm.data()[hm.offset() + h];
            float[] p;
            int po;
            if (pb != null) {
                p = pb.data();
                po = pb.offset() + Math.toIntExact(probOffsets[s] + (long) h * len * nk);
            } else {
                p = new float[len * nk];
                po = 0;
            }
            int outOffset = o.offset() + start * C + h * HS;
            int qOffset = x.offset() + start * ld + h * HS, kOffset = qOffset + C, vOffset = qOffset + 2 * C;
            int nr = kernel.panelWidth();
            if (uniform) {
                Arrays.fill(p, po, po + len * nk, (float) (1.0 / nk) * headScale);
            } else {
                // scores (len, nk) = q_h · k_hᵀ: k_h packed so that the keys are the output columns
                float[] kp = new float[kernel.packedSize(nk, HS)];
                kernel.packRows(kp, 0, xd, kOffset, ld, nk, HS);
                kernel.gemm(p, po, nk, xd, qOffset, ld, kp, 0, nr, HS, null, 0, len, nk, HS);
                for (int i = 0; i < len; i++) {
                    if (kernel == MatmulKernel.VECTOR) {
                        VectorRows.softmaxRow(p, po + i * nk, nk, scale, headScale); // only loaded here
                    } else {
                        softmaxRow(p, po + i * nk, nk, scale, headScale);
                    }
                }
            }
            // out_h (len, HS) = probs · v_h, v_h (nk, HS) k-major already: read in place when HS fills
            // whole panels, else packed
            if (HS % nr == 0) {
                kernel.gemm(o.data(), outOffset, C, p, po, nk, xd, vOffset, ld, 1, null, 0, len, HS, nk);
            } else {
                float[] vp = new float[kernel.packedSize(HS, nk)];
                kernel.packColumns(vp, 0, xd, vOffset, ld, HS, nk);
                kernel.gemm(o.data(), outOffset, C, p, po, nk, vp, 0, nr, nk, null, 0, len, HS, nk);
            }
        });
    }

    /** Row of scores → softmax(scale · row) · headScale, in place; sums in double. */
    private static void softmaxRow(float[] row, int ro, int n, double scale, float headScale) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            max = Math.max(max, row[ro + j] * scale);
        }
        double sum = 0;
        for (int j = 0; j < n; j++) {
            float e = (float) Math.exp(row[ro + j] * scale - max);
            row[ro + j] = e;
            sum += e;
        }
        double norm = headScale / sum;
        for (int j = 0; j < n; j++) {
            row[ro + j] = (float) (row[ro + j] * norm);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // data movement

    @Override
    public void gatherRows(Buffer out, Buffer inp, IndexBuffer rows, int N, int C) {
        HostBuffer o = host(out), x = host(inp);
        HostIndexBuffer r = host(rows);
        for (int n = 0; n < N; n++) {
            int src = r.data()[r.offset() + n];
            int ob = o.offset() + n * C;
            if (src < 0) {
                Arrays.fill(o.data(), ob, ob + C, 0f);
            } else {
                System.arraycopy(x.data(), x.offset() + src * C, o.data(), ob, C);
            }
        }
    }

    @Override
    public void poolRowsForward(RowPooling mode, Buffer out, Buffer inp, IndexBuffer cuSeqlens, IndexBuffer keyLens,
                                IndexBuffer positions, int B, int C, int skip) {
        if (skip < 0) throw new IllegalArgumentException("pool rows: skip " + skip + " is negative");
        HostBuffer o = host(out), x = host(inp);
        HostIndexBuffer cu = host(cuSeqlens), kl = keyLens == null ? null : host(keyLens), pos = host(positions);
        forRows(B, C, b -> {
            int first = cu.data()[cu.offset() + b];
            int n = kl != null ? kl.data()[kl.offset() + b] : cu.data()[cu.offset() + b + 1] - first;
            int ob = o.offset() + b * C;
            if (mode == RowPooling.MAX) {
                Arrays.fill(o.data(), ob, ob + C, Float.NEGATIVE_INFINITY);
                for (int r = 0; r < n; r++) {
                    if (pos.data()[pos.offset() + first + r] < skip) continue;
                    int row = x.offset() + (first + r) * C;
                    for (int c = 0; c < C; c++) {
                        float v = x.data()[row + c], m = o.data()[ob + c];
                        o.data()[ob + c] = v != v || v > m ? v : m;                      // NaN once seen stays
                    }
                }
                return;
            }
            double[] sum = new double[C];
            double weights = 0;
            for (int r = 0; r < n; r++) {
                int p = pos.data()[pos.offset() + first + r];
                if (p < skip) continue;
                double w = mode == RowPooling.WEIGHTED_MEAN ? p + 1 : 1;
                int row = x.offset() + (first + r) * C;
                for (int c = 0; c < C; c++) {
                    sum[c] += w * x.data()[row + c];
                }
                weights += w;
            }
            double divisor = mode == RowPooling.MEAN_SQRT_LEN ? Math.sqrt(weights) : weights;
            for (int c = 0; c < C; c++) {
                o.data()[ob + c] = weights > 0 ? (float) (sum[c] / divisor) : 0f;
            }
        });
    }

    @Override
    public void softmaxTopKForward(Buffer probs, IndexBuffer ids, Buffer logits, int N, int V, int K) {
        if (K < 1 || K > V) {
            throw new IllegalArgumentException("softmax top-k: K = " + K + " must be in [1, V = " + V + "]");
        }
        HostBuffer p = host(probs), x = host(logits);
        HostIndexBuffer out = host(ids);
        forRows(N, V, n -> {
            float[] row = TextClassification.Function.SOFTMAX.apply(x.data(), x.offset() + n * V, V);
            int[] top = Ranking.top(row, K);
            for (int r = 0; r < K; r++) {
                p.data()[p.offset() + n * K + r] = row[top[r]];
                out.data()[out.offset() + n * K + r] = top[r];
            }
        });
    }

    @Override
    public void softmaxGatherForward(Buffer probs, Buffer logits, IndexBuffer targets, int N, int V, int K) {
        if (K < 1) {
            throw new IllegalArgumentException("softmax gather: K = " + K + " must be at least 1");
        }
        HostBuffer p = host(probs), x = host(logits);
        HostIndexBuffer t = host(targets);
        for (int k = 0; k < K; k++) {
            int column = t.data()[t.offset() + k];
            if (column < 0 || column >= V) {
                throw new IllegalArgumentException("softmax gather: target " + k + " is column " + column + ", not in [0, V = " + V + ")");
            }
        }
        forRows(N, V, n -> {
            float[] row = TextClassification.Function.SOFTMAX.apply(x.data(), x.offset() + n * V, V);
            for (int k = 0; k < K; k++) {
                p.data()[p.offset() + n * K + k] = row[t.data()[t.offset() + k]];
            }
        });
    }

    // ---------------------------------------------------------------------------------------------
    // losses

    @Override
    public void crossEntropyForward(Buffer losses, Buffer logits, IndexBuffer targets, int N, int V, int ignoreIndex) {
        HostBuffer l = host(losses), z = host(logits);
        HostIndexBuffer y = host(targets);
        forRows(N, V, n -> {
            int target = y.data()[y.offset() + n];
            if (target == ignoreIndex) {
                l.data()[l.offset() + n] = 0f;
                return;
            }
            int zb = z.offset() + n * V;
            l.data()[l.offset() + n] = (float) (logSumExp(z.data(), zb, V) - z.data()[zb + target]);
        });
    }

    @Override
    public void mseForward(Buffer losses, Buffer predictions, Buffer targets, int N) {
        HostBuffer l = host(losses), p = host(predictions), t = host(targets);
        for (int n = 0; n < N; n++) {
            double d = (double) p.data()[p.offset() + n] - t.data()[t.offset() + n];
            l.data()[l.offset() + n] = (float) (d * d);
        }
    }

    @Override
    public void bceWithLogitsForward(Buffer losses, Buffer logits, Buffer targets, int N) {
        HostBuffer l = host(losses), z = host(logits), t = host(targets);
        for (int n = 0; n < N; n++) {
            double x = z.data()[z.offset() + n], y = t.data()[t.offset() + n];
            l.data()[l.offset() + n] = (float) (Math.max(x, 0) - x * y + Math.log1p(Math.exp(-Math.abs(x))));
        }
    }

    // ---------------------------------------------------------------------------------------------
    // backward (BackwardOps): gradients of the ops above; reductions over rows in double

    @Override
    public void embeddingBackward(Buffer dWordEmbeddings, Buffer dPositionEmbeddings, Buffer dOut, IndexBuffer tokenIds,
                                  IndexBuffer positionIds, int paddingIdx, int T, int C) {
        HostBuffer g = host(dOut), dw = hostOrNull(dWordEmbeddings), dp = hostOrNull(dPositionEmbeddings);
        HostIndexBuffer ids = dw == null ? null : host(tokenIds), pos = host(positionIds);
        // serial: two tokens may share a row
        for (int t = 0; t < T; t++) {
            int gb = g.offset() + t * C;
            int id = dw == null ? paddingIdx : ids.data()[ids.offset() + t];
            if (id != paddingIdx) {
                addRow(dw.data(), dw.offset() + id * C, g.data(), gb, C);
            }
            if (dp != null) {
                addRow(dp.data(), dp.offset() + pos.data()[pos.offset() + t] * C, g.data(), gb, C);
            }
        }
    }

    @Override
    public void layerNormBackward(Buffer dInp, Buffer dWeight, Buffer dBias, Buffer dOut, Buffer inp, Buffer weight,
                                  Buffer mean, Buffer rstd, int N, int C) {
        HostBuffer dx = host(dInp), g = host(dOut), x = host(inp), w = host(weight), mu = host(mean), rs = host(rstd);
        HostBuffer dw = hostOrNull(dWeight), db = hostOrNull(dBias);
        double[] sums = columnSums(N, 2 * C, (n, acc) -> {
            int gb = g.offset() + n * C, xb = x.offset() + n * C;
            double m = mu.data()[mu.offset() + n], r = rs.data()[rs.offset() + n];
            double sumG = 0, sumGx = 0;
            double[] xhat = new double[C], gw = new double[C];
            for (int c = 0; c < C; c++) {
                double go = g.data()[gb + c];
                xhat[c] = (x.data()[xb + c] - m) * r;
                gw[c] = go * w.data()[w.offset() + c];
                sumG += gw[c];
                sumGx += gw[c] * xhat[c];
                acc[c] += go * xhat[c];  // dWeight
                acc[C + c] += go;        // dBias
            }
            double meanG = sumG / C, meanGx = sumGx / C;
            int db0 = dx.offset() + n * C;
            for (int c = 0; c < C; c++) {
                dx.data()[db0 + c] = (float) (r * (gw[c] - meanG - xhat[c] * meanGx));
            }
        });
        addSums(dw, sums, 0, C);
        addSums(db, sums, C, C);
    }

    @Override
    public void matmulBackward(Buffer dInp, Buffer dWeight, Buffer dBias, Buffer dOut, Buffer inp, Buffer weight, int N,
                               int K, int M, boolean accumulate) {
        HostBuffer g = host(dOut);
        if (dInp != null) {
            // dInp (N, K) = dOut (N, M) · weight (M, K), the weight read k-major
            HostBuffer dx = host(dInp), w = host(weight);
            if (accumulate) {
                float[] tmp = new float[N * K];
                product(tmp, 0, K, g.data(), g.offset(), M, w.data(), w.offset(), K, N, K, M);
                addRow(dx.data(), dx.offset(), tmp, 0, N * K);
            } else {
                product(dx.data(), dx.offset(), K, g.data(), g.offset(), M, w.data(), w.offset(), K, N, K, M);
            }
        }
        if (dWeight != null) {
            // dWeight (M, K) += dOutᵀ (M, N) · inp (N, K)
            HostBuffer dw = host(dWeight), x = host(inp);
            float[] gt = new float[M * N];
            for (int n = 0; n < N; n++) {
                for (int m = 0; m < M; m++) {
                    gt[m * N + n] = g.data()[g.offset() + n * M + m];
                }
            }
            float[] tmp = new float[M * K];
            product(tmp, 0, K, gt, 0, N, x.data(), x.offset(), K, M, K, N);
            addRow(dw.data(), dw.offset(), tmp, 0, M * K);
        }
        if (dBias != null) {
            addSums(host(dBias), columnSums(N, M, (n, acc) -> {
                for (int m = 0; m < M; m++) {
                    acc[m] += g.data()[g.offset() + n * M + m];
                }
            }), 0, M);
        }
    }

    @Override
    public void biasActivationBackward(Activation act, Buffer dInp, Buffer dBias, Buffer dOut, Buffer inp, Buffer bias,
                                       int N, int M) {
        HostBuffer dx = host(dInp), g = host(dOut), x = host(inp), b = hostOrNull(bias), db = hostOrNull(dBias);
        double[] sums = columnSums(N, M, (n, acc) -> {
            int gb = g.offset() + n * M, xb = x.offset() + n * M, ob = dx.offset() + n * M;
            if (act == Activation.GELU && kernel == MatmulKernel.VECTOR) {
                VectorRows.biasGeluBackward(dx.data(), ob, g.data(), gb, x.data(), xb, b == null ? null : b.data(),
                        b == null ? 0 : b.offset(), M, acc); // only loaded here
                return;
            }
            for (int m = 0; m < M; m++) {
                float pre = x.data()[xb + m] + (b == null ? 0f : b.data()[b.offset() + m]); // as the forward rounds it
                float d = (float) (g.data()[gb + m] * ActivationFunctions.derivative(act, pre));
                dx.data()[ob + m] = d;
                acc[m] += d;
            }
        });
        addSums(db, sums, 0, M);
    }

    @Override
    public void dropoutForward(Buffer out, Buffer inp, DropoutRng rng, float p, long N) {
        HostBuffer o = host(out), x = host(inp);
        applyDropout(rng, o.data(), o.offset(), x.data(), x.offset(), Math.toIntExact(N), p, false);
    }

    @Override
    public void dropoutBackward(Buffer dInp, Buffer dOut, DropoutRng rng, float p, long N) {
        HostBuffer dx = host(dInp), g = host(dOut);
        applyDropout(rng, dx.data(), dx.offset(), g.data(), g.offset(), Math.toIntExact(N), p, true);
    }

    @Override
    public void attentionTrainingForward(Buffer out, Buffer probs, Buffer dropped, Buffer qkv, Buffer headMask,
                                         DropoutRng dropout, float p, IndexBuffer cuSeqlens, IndexBuffer keyLens,
                                         int numSeqs, int T, int NH, int HS) {
        AttentionShape a = attentionShape(cuSeqlens, keyLens, numSeqs, NH);
        HostBuffer o = host(out), x = host(qkv), pb = host(probs), hm = hostOrNull(headMask);
        int C = NH * HS, ld = 3 * C, nr = kernel.panelWidth();
        double scale = 1.0 / Math.sqrt(HS);
        float[] xd = x.data(), P = pb.data();
        // 1. P = softmax(q·kᵀ / sqrt(HS)) per (sequence, head): the scores a matrix product, the softmax in double
        parallelFor(numSeqs * NH, task -> {
            int s = task / NH, h = task % NH, start = a.cu[s], len = a.cu[s + 1] - start, nk = a.keys(s);
            int po = pb.offset() + a.probOffset(s, h);
            if (len == 0) {
                return;
            }
            if (a.uniform(s)) {
                Arrays.fill(P, po, po + len * nk, (float) (1.0 / nk));
                return;
            }
            int q = x.offset() + start * ld + h * HS;
            float[] kp = new float[kernel.packedSize(nk, HS)];
            kernel.packRows(kp, 0, xd, q + C, ld, nk, HS);                                      // keys as output columns
            kernel.gemm(P, po, nk, xd, q, ld, kp, 0, nr, HS, null, 0, len, nk, HS);             // (len, nk) q·kᵀ
            for (int i = 0; i < len; i++) {
                if (kernel == MatmulKernel.VECTOR) {
                    VectorRows.softmaxRow(P, po + i * nk, nk, scale, 1f); // only loaded here
                } else {
                    softmaxRow(P, po + i * nk, nk, scale, 1f);
                }
            }
        });
        // 2. W = dropout(P), over the whole site at once (element i is probs[i]), kept for the backward when asked
        HostBuffer w = droppedProbs(pb, a.total, dropout, p, hostOrNull(dropped));
        // 3. out_h = (W · v_h) · headMask[h]
        parallelFor(numSeqs * NH, task -> {
            int s = task / NH, h = task % NH, start = a.cu[s], len = a.cu[s + 1] - start, nk = a.keys(s);
            if (len == 0) {
                return;
            }
            int ob = o.offset() + start * C + h * HS;
            KMajor v = kMajor(xd, x.offset() + start * ld + 2 * C + h * HS, ld, HS, nk);        // (nk, HS)
            kernel.gemm(o.data(), ob, C, w.data(), w.offset() + a.probOffset(s, h), nk, v.data(), v.offset(), v.ldb(), v.ps(), null,
                    0, len, HS, nk);
            scaleBlock(o.data(), ob, C, len, HS, hm == null ? 1f : hm.data()[hm.offset() + h]);
        });
    }

    @Override
    public void attentionBackward(Buffer dQkv, Buffer dOut, Buffer qkv, Buffer probs, Buffer dropped, Buffer headMask,
                                  DropoutRng dropout, float p, IndexBuffer cuSeqlens, IndexBuffer keyLens, int numSeqs,
                                  int T, int NH, int HS) {
        AttentionShape a = attentionShape(cuSeqlens, keyLens, numSeqs, NH);
        HostBuffer dx = host(dQkv), g = host(dOut), x = host(qkv), pb = host(probs), hm = hostOrNull(headMask);
        int C = NH * HS, ld = 3 * C, nr = kernel.panelWidth();
        double scale = 1.0 / Math.sqrt(HS);
        float[] xd = x.data(), gd = g.data(), dxd = dx.data();
        Arrays.fill(dxd, dx.offset(), dx.offset() + T * ld, 0f);   // rows past the keys get no k, v gradient
        boolean drops = dropout != null && p > 0;
        HostBuffer w = drops && dropped != null ? host(dropped) : droppedProbs(pb, a.total, dropout, p, null);
        float[] dW = new float[a.total];
        // 1. per (sequence, head): dW = hm·dOut_h·v_hᵀ and dV = hm·Wᵀ·dOut_h, matrix products
        parallelFor(numSeqs * NH, task -> {
            int s = task / NH, h = task % NH, start = a.cu[s], len = a.cu[s + 1] - start, nk = a.keys(s);
            if (len == 0) {
                return;
            }
            float hs = hm == null ? 1f : hm.data()[hm.offset() + h];
            int go = a.probOffset(s, h), wo = w.offset() + go;
            int gb = g.offset() + start * C + h * HS, vb = x.offset() + start * ld + 2 * C + h * HS;
            float[] vp = new float[kernel.packedSize(nk, HS)];
            kernel.packRows(vp, 0, xd, vb, ld, nk, HS);                                        // values as output columns
            kernel.gemm(dW, go, nk, gd, gb, C, vp, 0, nr, HS, null, 0, len, nk, HS);            // (len, nk) dOut·vᵀ
            scaleBlock(dW, go, nk, len, nk, hs);
            float[] wt = transpose(w.data(), wo, len, nk);                                      // (nk, len)
            KMajor dOutH = kMajor(gd, gb, C, HS, len);                                          // (len, HS)
            int dvb = dx.offset() + start * ld + 2 * C + h * HS;
            kernel.gemm(dxd, dvb, ld, wt, 0, len, dOutH.data(), dOutH.offset(), dOutH.ldb(), dOutH.ps(), null, 0, nk, HS, len);
            scaleBlock(dxd, dvb, ld, nk, HS, hs);
        });
        // 2. dP = dropout(dW): the forward's mask, read from W where the forward kept it, else drawn again
        if (drops && dropped != null) {
            float keep = DropoutRng.scale(p);
            float[] wd = w.data();
            int wo = w.offset();
            int chunk = ELEMENTS_PER_TASK * 4;
            parallelFor(ceilDiv(a.total, chunk), t -> {
                for (int i = t * chunk, end = Math.min(a.total, (t + 1) * chunk); i < end; i++) {
                    dW[i] = wd[wo + i] != 0f ? dW[i] * keep : 0f;
                }
            });
        } else if (drops) {
            applyDropout(dropout, dW, 0, dW, 0, a.total, p, true);
        }
        // 3. dS = P ∘ (dP − rowsum(dP ∘ P)) / sqrt(HS); dQ = dS·k, dK = dSᵀ·q
        parallelFor(numSeqs * NH, task -> {
            int s = task / NH, h = task % NH, start = a.cu[s], len = a.cu[s + 1] - start, nk = a.keys(s);
            if (len == 0 || a.uniform(s)) {
                return; // constant probabilities: nothing flows to q and k
            }
            int po = pb.offset() + a.probOffset(s, h), go = a.probOffset(s, h);
            float[] dS = new float[len * nk];
            for (int i = 0; i < len; i++) {
                double dot = 0;
                for (int j = 0; j < nk; j++) {
                    dot += (double) dW[go + i * nk + j] * pb.data()[po + i * nk + j];
                }
                for (int j = 0; j < nk; j++) {
                    dS[i * nk + j] = (float) (pb.data()[po + i * nk + j] * (dW[go + i * nk + j] - dot) * scale);
                }
            }
            int q = x.offset() + start * ld + h * HS, dq = dx.offset() + start * ld + h * HS;
            KMajor k = kMajor(xd, q + C, ld, HS, nk);                                            // (nk, HS)
            kernel.gemm(dxd, dq, ld, dS, 0, nk, k.data(), k.offset(), k.ldb(), k.ps(), null, 0, len, HS, nk);
            KMajor qs = kMajor(xd, q, ld, HS, len);                                              // (len, HS)
            kernel.gemm(dxd, dq + C, ld, transpose(dS, 0, len, nk), 0, len, qs.data(), qs.offset(), qs.ldb(), qs.ps(), null, 0, nk,
                    HS, len);
        });
    }

    /** A k-major operand as {@link MatmulKernel#gemm} reads it: in place when its width fills whole panels, else packed. */
    private record KMajor(float[] data, int offset, int ldb, int ps) {
    }

    /** {@code b[bo + p·ldb + j]} for p < k, j < m, as gemm's B: b itself when m is a multiple of the panel width. */
    private KMajor kMajor(float[] b, int bo, int ldb, int m, int k) {
        int nr = kernel.panelWidth();
        if (m % nr == 0) {
            return new KMajor(b, bo, ldb, 1);
        }
        float[] packed = new float[kernel.packedSize(m, k)];
        kernel.packColumns(packed, 0, b, bo, ldb, m, k);
        return new KMajor(packed, 0, nr, k);
    }

    /** {@code a[ao + i·cols + j]} (rows × cols) transposed into a new (cols × rows) array. */
    private static float[] transpose(float[] a, int ao, int rows, int cols) {
        float[] t = new float[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                t[j * rows + i] = a[ao + i * cols + j];
            }
        }
        return t;
    }

    /** Multiplies a (rows × cols) block with row stride ld by {@code f} (nothing when f is 1). */
    private static void scaleBlock(float[] c, int co, int ld, int rows, int cols, float f) {
        if (f == 1f) {
            return;
        }
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                c[co + i * ld + j] *= f;
            }
        }
    }

    /** Sequence boundaries and key counts of an attention call, and where each (sequence, head) block of probabilities starts. */
    private record AttentionShape(int[] cu, int[] keyLens, long[] offsets, int NH, int total) {
        /** The keys sequence s attends to: its key count, or all its tokens (also when all are masked: uniform). */
        int keys(int s) {
            int len = cu[s + 1] - cu[s];
            return keyLens == null || keyLens[s] == 0 ? len : keyLens[s];
        }

        boolean uniform(int s) {
            return keyLens != null && keyLens[s] == 0;
        }

        int probOffset(int s, int h) {
            return Math.toIntExact(offsets[s] + (long) h * (cu[s + 1] - cu[s]) * keys(s));
        }
    }

    private AttentionShape attentionShape(IndexBuffer cuSeqlens, IndexBuffer keyLens, int numSeqs, int NH) {
        int[] cu = copy(host(cuSeqlens), numSeqs + 1);
        int[] keys = keyLens == null ? null : copy(host(keyLens), numSeqs);
        long[] offsets = PackedBatch.probsOffsets(cu, keys, NH);
        return new AttentionShape(cu, keys, offsets, NH, Math.toIntExact(offsets[numSeqs]));
    }

    /** dropout(probs) as a new buffer, or probs itself when nothing is dropped. */
    /** dropout(probs) into {@code into} (or a new buffer when null), or probs itself when nothing is dropped. */
    private HostBuffer droppedProbs(HostBuffer probs, int total, DropoutRng rng, float p, HostBuffer into) {
        if (rng == null || p == 0f) {
            return probs;
        }
        HostBuffer w = into != null ? into : HostBuffer.wrap(new float[total]);
        applyDropout(rng, w.data(), w.offset(), probs.data(), probs.offset(), total, p, false);
        return w;
    }

    /**
     * {@link DropoutRng#apply} (or its backward) over n elements of a site, in parallel chunks: a chunk
     * starting at element {@code from} (a multiple of 4) is the site advanced by {@code from}, so the
     * masks are the serial call's.
     */
    private void applyDropout(DropoutRng rng, float[] out, int oo, float[] in, int io, int n, float p, boolean backward) {
        int chunk = ELEMENTS_PER_TASK * 4;
        parallelFor(ceilDiv(n, chunk), t -> {
            int from = t * chunk, len = Math.min(chunk, n - from);
            DropoutRng site = rng.advance(from);
            if (backward) {
                site.applyBackward(out, oo + from, in, io + from, len, p);
            } else {
                site.apply(out, oo + from, in, io + from, len, p);
            }
        });
    }

    @Override
    public void gatherRowsBackward(Buffer dInp, Buffer dOut, IndexBuffer rows, int N, int C) {
        HostBuffer dx = host(dInp), g = host(dOut);
        HostIndexBuffer r = host(rows);
        for (int n = 0; n < N; n++) {
            int src = r.data()[r.offset() + n];
            if (src >= 0) {
                addRow(dx.data(), dx.offset() + src * C, g.data(), g.offset() + n * C, C);
            }
        }
    }

    @Override
    public void fill(Buffer out, float value, long N) {
        HostBuffer o = host(out);
        Arrays.fill(o.data(), o.offset(), o.offset() + Math.toIntExact(N), value);
    }

    @Override
    public void crossEntropyBackward(Buffer dLogits, Buffer logits, IndexBuffer targets, int N, int V, int ignoreIndex,
                                     float scale) {
        HostBuffer d = host(dLogits), z = host(logits);
        HostIndexBuffer y = host(targets);
        forRows(N, V, n -> {
            int target = y.data()[y.offset() + n];
            int zb = z.offset() + n * V, db = d.offset() + n * V;
            if (target == ignoreIndex) {
                Arrays.fill(d.data(), db, db + V, 0f);
                return;
            }
            double lse = logSumExp(z.data(), zb, V);
            for (int j = 0; j < V; j++) {
                double pj = Math.exp(z.data()[zb + j] - lse);
                d.data()[db + j] = (float) (scale * (pj - (j == target ? 1.0 : 0.0)));
            }
        });
    }

    @Override
    public void mseBackward(Buffer dPredictions, Buffer predictions, Buffer targets, int N, float scale) {
        HostBuffer d = host(dPredictions), p = host(predictions), t = host(targets);
        for (int n = 0; n < N; n++) {
            double diff = (double) p.data()[p.offset() + n] - t.data()[t.offset() + n];
            d.data()[d.offset() + n] = (float) (scale * 2.0 * diff);
        }
    }

    @Override
    public void bceWithLogitsBackward(Buffer dLogits, Buffer logits, Buffer targets, int N, float scale) {
        HostBuffer d = host(dLogits), z = host(logits), t = host(targets);
        for (int n = 0; n < N; n++) {
            double x = z.data()[z.offset() + n];
            double sigmoid = x >= 0 ? 1.0 / (1.0 + Math.exp(-x)) : Math.exp(x) / (1.0 + Math.exp(x));
            d.data()[d.offset() + n] = (float) (scale * (sigmoid - t.data()[t.offset() + n]));
        }
    }

    @Override
    public void adamWUpdate(Buffer params, Buffer grads, Buffer m, Buffer v, long n, double lr, double beta1, double beta2,
                            double eps, double weightDecay, long step) {
        HostBuffer p = host(params), g = host(grads), mm = host(m), vv = host(v);
        AdamW.Scalars s = AdamW.Scalars.of(lr, beta1, beta2, eps, weightDecay, step);
        int count = Math.toIntExact(n);
        int chunk = ELEMENTS_PER_TASK * 4;
        parallelFor(ceilDiv(count, chunk), t -> {
            int from = t * chunk, len = Math.min(chunk, count - from);
            if (kernel == MatmulKernel.VECTOR) {
                VectorRows.adamW(s, p.data(), p.offset() + from, g.data(), g.offset() + from, mm.data(), mm.offset() + from,
                        vv.data(), vv.offset() + from, len); // only loaded here
            } else {
                AdamW.update(s, p.data(), p.offset() + from, g.data(), g.offset() + from, mm.data(), mm.offset() + from,
                        vv.data(), vv.offset() + from, len);
            }
        });
        clearPackedWeights(); // the weights changed in place
    }

    /** Segment by segment through {@link #adamWUpdate(Buffer, Buffer, Buffer, Buffer, long, double, double, double, double, double, long)}. */
    @Override
    public void adamWUpdate(Buffer params, Buffer grads, Buffer m, Buffer v, int[] segmentEnds, boolean[] segmentDecays,
                            double lr, double beta1, double beta2, double eps, double weightDecay, long step) {
        int from = 0;
        for (int s = 0; s < segmentEnds.length; s++) {
            int n = segmentEnds[s] - from;
            adamWUpdate(params.view(from, n), grads.view(from, n), m.view(from, n), v.view(from, n), n, lr, beta1, beta2,
                    eps, segmentDecays[s] ? weightDecay : 0.0, step);
            from = segmentEnds[s];
        }
    }

    @Override
    public double sumOfSquares(Buffer g, long n) {
        HostBuffer b = host(g);
        int count = Math.toIntExact(n), chunk = ELEMENTS_PER_TASK * 4, tasks = ceilDiv(count, chunk);
        double[] partial = new double[tasks];
        parallelFor(tasks, t -> partial[t] = AdamW.sumOfSquares(b.data(), b.offset() + t * chunk,
                Math.min(chunk, count - t * chunk)));
        double s = 0;
        for (double x : partial) {
            s += x; // in task order: the same sum whatever the threads
        }
        return s;
    }

    @Override
    public boolean storesFloat32() {
        return true;
    }

    /** Float32 everywhere: no loss scaling. */
    @Override
    public boolean needsLossScaling() {
        return false;
    }

    /** The CPU stores float32: a copy. */
    @Override
    public void storeParameters(Buffer params, Buffer master, long n) {
        HostBuffer p = host(params), m = host(master);
        System.arraycopy(m.data(), m.offset(), p.data(), p.offset(), Math.toIntExact(n));
    }

    @Override
    public void scale(Buffer g, float factor, long n) {
        HostBuffer b = host(g);
        int count = Math.toIntExact(n), chunk = ELEMENTS_PER_TASK * 4;
        parallelFor(ceilDiv(count, chunk), t -> AdamW.scale(b.data(), b.offset() + t * chunk,
                Math.min(chunk, count - t * chunk), factor));
    }

    /** {@code c[n, m] = Σ_p a[n, p]·b[p, m]}, written: a row-major [n, k], b k-major [k, m] (row stride ldb). */
    private void product(float[] c, int co, int ldc, float[] a, int ao, int lda, float[] b, int bo, int ldb, int n,
                         int m, int k) {
        int nr = kernel.panelWidth();
        float[] bp = new float[kernel.packedSize(m, k)];
        kernel.packColumns(bp, 0, b, bo, ldb, m, k);
        int rowBlocks = ceilDiv(n, ROW_BLOCK), colBlocks = ceilDiv(m, COL_BLOCK);
        IntConsumer tile = t -> {
            int r0 = (t / colBlocks) * ROW_BLOCK, c0 = (t % colBlocks) * COL_BLOCK;
            int rows = Math.min(ROW_BLOCK, n - r0), cols = Math.min(COL_BLOCK, m - c0);
            kernel.gemm(c, co + r0 * ldc + c0, ldc, a, ao + r0 * lda, lda, bp, c0 * k, nr, k, null, 0, rows, cols, k);
        };
        if ((long) n * m * k <= SERIAL_FLOPS) {
            for (int t = 0; t < rowBlocks * colBlocks; t++) {
                tile.accept(t);
            }
        } else {
            parallelFor(rowBlocks * colBlocks, tile);
        }
    }

    /** A row's contribution to per-column sums: {@code acc} is the task's [width] accumulator. */
    @FunctionalInterface
    private interface RowSum {
        void accept(int row, double[] acc);
    }

    /** Runs {@code body} over rows [0, N) in parallel tasks and returns the sum of their accumulators, in double. */
    private double[] columnSums(int N, int width, RowSum body) {
        int rowsPerTask = Math.max(1, ELEMENTS_PER_TASK / Math.max(1, width));
        int tasks = ceilDiv(N, rowsPerTask);
        double[][] partial = new double[tasks][];
        parallelFor(tasks, t -> {
            double[] acc = new double[width];
            for (int n = t * rowsPerTask, end = Math.min(N, (t + 1) * rowsPerTask); n < end; n++) {
                body.accept(n, acc);
            }
            partial[t] = acc;
        });
        double[] total = new double[width];
        for (double[] p : partial) {
            for (int i = 0; i < width; i++) {
                total[i] += p[i];
            }
        }
        return total;
    }

    /** {@code dst[i] += sums[from + i]} for a parameter gradient; nothing when dst is null. */
    private static void addSums(HostBuffer dst, double[] sums, int from, int n) {
        if (dst == null) {
            return;
        }
        for (int i = 0; i < n; i++) {
            dst.data()[dst.offset() + i] += (float) sums[from + i];
        }
    }

    private static void addRow(float[] dst, int d, float[] src, int s, int n) {
        for (int i = 0; i < n; i++) {
            dst[d + i] += src[s + i];
        }
    }

    // ---------------------------------------------------------------------------------------------
    // helpers

    /** {@code log Σ_j exp(z[zb + j])} over V values, in double, shifted by the maximum. */
    private static double logSumExp(float[] z, int zb, int V) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < V; j++) {
            max = Math.max(max, z[zb + j]);
        }
        double sum = 0;
        for (int j = 0; j < V; j++) {
            sum += Math.exp(z[zb + j] - max);
        }
        return Math.log(sum) + max;
    }

    /** Runs {@code body(i)} for i in [0, tasks) on the pool, or inline when there is one task or thread. */
    private void parallelFor(int tasks, IntConsumer body) {
        if (tasks <= 1 || threads == 1) {
            for (int i = 0; i < tasks; i++) {
                body.accept(i);
            }
            return;
        }
        pool.submit(() -> IntStream.range(0, tasks).parallel().forEach(body)).join();
    }

    /** Runs {@code body(row)} for every row of an [N, width] op, in tasks of a few thousand elements. */
    private void forRows(int N, int width, IntConsumer body) {
        int rowsPerTask = Math.max(1, ELEMENTS_PER_TASK / Math.max(1, width));
        int tasks = ceilDiv(N, rowsPerTask);
        parallelFor(tasks, t -> {
            int end = Math.min(N, (t + 1) * rowsPerTask);
            for (int n = t * rowsPerTask; n < end; n++) {
                body.accept(n);
            }
        });
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    private static int[] copy(HostIndexBuffer b, int n) {
        return Arrays.copyOfRange(b.data(), b.offset(), b.offset() + n);
    }

    private static void checkFits(int n, int capacity, String what) {
        if (n > capacity) {
            throw new IndexOutOfBoundsException(what + " of " + n + " values into a buffer of " + capacity);
        }
    }

    private static HostBuffer host(Buffer b) {
        if (b instanceof HostBuffer h) {
            return h;
        }
        throw new IllegalArgumentException("the CPU backend was given a buffer of another backend: " + b);
    }

    private static HostBuffer hostOrNull(Buffer b) {
        return b == null ? null : host(b);
    }

    private static HostIndexBuffer host(IndexBuffer b) {
        if (b instanceof HostIndexBuffer h) {
            return h;
        }
        throw new IllegalArgumentException("the CPU backend was given an index buffer of another backend: " + b);
    }
}
