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
public final class CpuOps implements Ops {

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
    public void meanRowsForward(Buffer out, Buffer inp, IndexBuffer cuSeqlens, IndexBuffer keyLens, int B, int C) {
        HostBuffer o = host(out), x = host(inp);
        HostIndexBuffer cu = host(cuSeqlens), kl = keyLens == null ? null : host(keyLens);
        forRows(B, C, b -> {
            int first = cu.data()[cu.offset() + b];
            int n = kl != null ? kl.data()[kl.offset() + b] : cu.data()[cu.offset() + b + 1] - first;
            double[] sum = new double[C];
            for (int r = 0; r < n; r++) {
                int row = x.offset() + (first + r) * C;
                for (int c = 0; c < C; c++) {
                    sum[c] += x.data()[row + c];
                }
            }
            int ob = o.offset() + b * C;
            for (int c = 0; c < C; c++) {
                o.data()[ob + c] = n > 0 ? (float) (sum[c] / n) : 0f;
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
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < V; j++) {
                max = Math.max(max, z.data()[zb + j]);
            }
            double sum = 0;
            for (int j = 0; j < V; j++) {
                sum += Math.exp(z.data()[zb + j] - max);
            }
            l.data()[l.offset() + n] = (float) (Math.log(sum) + max - z.data()[zb + target]);
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
    // helpers

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
