package distilbert.cuda;

/**
 * Launchers for {@code training.cu}: the backward kernels of training other than attention's and the
 * activations' (those are {@link AttentionTrainingKernels} and {@link ActivationKernels}), dropout,
 * and the optimizer's walks over the flat float32 buffers. Semantics are those of the op of the same
 * name in {@code distilbert.model.BackwardOps}; activation arrays are of the storage type (their
 * {@link ElementType} picks {@code _f32}, {@code _bf16} or {@code _f16}), parameter gradients and
 * optimizer state are float32 always.
 *
 * <p>Signatures mirror the kernels and the CPU ops: outputs first, then inputs, then sizes. Gradient
 * convention: parameter gradients accumulate ({@code +=}), activation gradients are written
 * ({@code =}); {@link #scatterAddRows} accumulates (an embedding's gradient, a gather's backward).
 *
 * <p>Sizes, types and lengths are checked here, at the boundary (an out-of-range access inside a
 * kernel is a sticky error that ruins the context); the kernels trust what passes. Index values
 * (token ids, positions, picked rows) are the model's, checked where they enter it.
 *
 * <p>Determinism: everything but {@link #embeddingBackward} gives the same bits on every run (the
 * column sums reduce in a fixed order through a scratch buffer, no atomics); the embedding gradient
 * adds with atomics, so rows that several tokens share may differ in their last bits between runs.
 */
public final class TrainingKernels {

    /** Rows per partial column sum; equals GRAD_CHUNK_ROWS in training.cu. */
    public static final int GRAD_CHUNK_ROWS = 256;
    /** The most blocks {@link #sumOfSquares} launches: one partial double each. */
    public static final int SUM_OF_SQUARES_MAX_BLOCKS = 1024;

    private static final int BLOCK = 256;
    private static final int COLUMN_BLOCK_X = 32;
    private static final int COLUMN_BLOCK_Y = 8;
    private static final int LN_ROWS_PER_BLOCK = BLOCK / 32;
    private static final int MAX_GRID_Y = 65_535;

    /** Elements a thread of adamw_segments_f32 takes (training.cu's ADAMW_RUN). */
    private static final int ADAMW_RUN = 4;

    private final CudaContext context;
    private final KernelModule module;

    public TrainingKernels(CudaContext context) {
        this.context = context;
        this.module = context.module("training");
    }

    // ---------------------------------------------------------------------------------------------
    // embeddings

    /**
     * The groups of a deterministic scatter-add ({@link #scatterAddRows}): the positions of {@code ids}
     * sorted by id, stable (so each group keeps token order), ids equal to {@code skip} left out.
     *
     * @param order  the token indices, grouped by id, in token order within a group
     * @param starts [groups + 1]: group g is order[starts[g] .. starts[g + 1])
     * @param rows   [groups]: the id (the table row) of each group, distinct, ascending
     */
    public record RowGroups(int[] order, int[] starts, int[] rows) {

        /** The groups of the first {@code n} ids; {@code skip} (the padding id, or -1) and negative ids left out. */
        public static RowGroups of(int[] ids, int n, int skip) {
            long[] keyed = new long[n];
            int kept = 0;
            for (int t = 0; t < n; t++) {
                if (ids[t] != skip && ids[t] >= 0) {
                    keyed[kept++] = (long) ids[t] << 32 | t; // ids >= 0: sorting the longs sorts by (id, t)
                }
            }
            java.util.Arrays.sort(keyed, 0, kept);
            int[] order = new int[kept];
            int groups = 0;
            for (int k = 0; k < kept; k++) {
                order[k] = (int) keyed[k];
                if (k == 0 || keyed[k] >>> 32 != keyed[k - 1] >>> 32) {
                    groups++;
                }
            }
            int[] starts = new int[groups + 1], rows = new int[groups];
            for (int k = 0, g = -1; k < kept; k++) {
                if (k == 0 || keyed[k] >>> 32 != keyed[k - 1] >>> 32) {
                    rows[++g] = (int) (keyed[k] >>> 32);
                    starts[g] = k;
                }
            }
            starts[groups] = kept;
            return new RowGroups(order, starts, rows);
        }

        public int groups() {
            return rows.length;
        }
    }

    /**
     * table[rows[g], :] += dOut[order[k], :] for each group g and k in its range, in k's order
     * (an embedding table's gradient: {@link RowGroups} of the ids the forward gathered by).
     * Deterministic, and in float32 the CPU's sums bit for bit.
     *
     * @param table  F32 [V, C] (a parameter's gradient), or of dOut's storage type (an activation's: the
     *               backward of a gather); every rows[g] < V (the caller's ids, validated where they entered)
     * @param dOut   [N, C], storage type
     * @param order  I32, the groups' {@code order}; starts I32 [groups + 1]; rows I32 [groups]
     */
    public void scatterAddRows(DeviceArray table, DeviceArray dOut, DeviceArray order, DeviceArray starts,
                               DeviceArray rows, int groups, int N, int C) {
        checkShape(N, C);
        require(dOut, (long) N * C, "dOut");
        ElementType t = floatType("scatter add", dOut);
        if (table.type() != ElementType.F32 && table.type() != t) {
            throw new IllegalArgumentException("scatter add: the table holds " + table.type() + "; float32 or " + t + " (dOut's)");
        }
        require(table, C, "table");
        requireIndices(starts, groups + 1L, "starts");
        requireIndices(rows, groups, "rows");
        if (groups == 0) {
            return;
        }
        requireIndices(order, 1, "order");
        KernelModule.Kernel kernel = module.kernel((table.type() == ElementType.F32 ? "scatter_add_rows_"
                : "scatter_add_rows_into_") + t.suffix());
        context.launch(kernel, groups, ceilDiv(C, BLOCK), BLOCK, 1,
                new KernelArgs().array(table).array(dOut).array(order).array(starts).array(rows).i32(C));
    }

    // ---------------------------------------------------------------------------------------------
    // layer norm

    /**
     * Floats of scratch {@link #layerNormBackward} needs for [N, C]: the weight and the bias
     * gradient's partial sums, one per column and chunk of {@value #GRAD_CHUNK_ROWS} rows each.
     */
    public static long layerNormBackwardScratchLength(int N, int C) {
        return 2L * ceilDiv(Math.max(N, 0), GRAD_CHUNK_ROWS) * Math.max(C, 0);
    }

    /**
     * x̂ = (inp − mean)·rstd, g = dOut·weight, dInp = rstd·(g − mean(g) − x̂·mean(g·x̂));
     * dWeight += Σ_n dOut·x̂, dBias += Σ_n dOut. dInp may be dOut.
     *
     * @param dWeight F32 [C] or null; dBias F32 [C] or null
     * @param scratch F32, at least {@link #layerNormBackwardScratchLength}; overwritten; must not
     *     overlap the other arguments
     */
    public void layerNormBackward(DeviceArray dInp, DeviceArray dWeight, DeviceArray dBias, DeviceArray dOut,
                                  DeviceArray inp, DeviceArray weight, DeviceArray mean, DeviceArray rstd, int N, int C,
                                  DeviceArray scratch) {
        checkShape(N, C);
        long n = (long) N * C;
        require(dInp, n, "dInp");
        require(dOut, n, "dOut");
        require(inp, n, "inp");
        require(weight, C, "weight");
        requireF32(mean, N, "mean");   // float32 whatever the storage type: layernorm.cu writes them so
        requireF32(rstd, N, "rstd");
        ElementType type = floatType("layer norm backward", dInp, dOut, inp, weight);
        boolean paramGrads = dWeight != null || dBias != null;
        if (dWeight != null) {
            requireF32(dWeight, C, "dWeight");
        }
        if (dBias != null) {
            requireF32(dBias, C, "dBias");
        }
        if (paramGrads) {
            requireF32(scratch, layerNormBackwardScratchLength(N, C), "scratch");
        }
        if (N == 0) {
            return;
        }
        int chunks = chunks(N);
        if (paramGrads) {
            // before the dInp kernel: it may overwrite dOut
            context.launch(module.kernel("layernorm_param_partials_" + type.suffix()), ceilDiv(C, COLUMN_BLOCK_X), chunks,
                    COLUMN_BLOCK_X, COLUMN_BLOCK_Y,
                    new KernelArgs().array(scratch).array(dOut).array(inp).array(mean).array(rstd).i32(N).i32(C));
        }
        context.launch(module.kernel("layernorm_backward_" + type.suffix()), ceilDiv(N, LN_ROWS_PER_BLOCK), 1, BLOCK, 1,
                new KernelArgs().array(dInp).array(dOut).array(inp).array(weight).array(mean).array(rstd).i32(N).i32(C));
        if (dWeight != null) {
            reduce(dWeight, scratch.address(), chunks, C);
        }
        if (dBias != null) {
            reduce(dBias, scratch.address() + (long) chunks * C * Float.BYTES, chunks, C);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // column sums (a linear layer's bias gradient)

    /** Floats of scratch {@link #columnSum} needs for [rows, cols]: one partial per column and chunk of rows. */
    public static long columnSumScratchLength(int rows, int cols) {
        return (long) ceilDiv(Math.max(rows, 0), GRAD_CHUNK_ROWS) * Math.max(cols, 0);
    }

    /**
     * out[c] += Σ_r x[r, c], in a fixed order (deterministic).
     *
     * @param out     F32 [cols]
     * @param x       [rows, cols], storage type
     * @param scratch F32, at least {@link #columnSumScratchLength}; overwritten; must not overlap the others
     */
    public void columnSum(DeviceArray out, DeviceArray x, int rows, int cols, DeviceArray scratch) {
        checkShape(rows, cols);
        requireF32(out, cols, "out");
        require(x, (long) rows * cols, "x");
        requireF32(scratch, columnSumScratchLength(rows, cols), "scratch");
        ElementType type = floatType("column sum", x);
        if (rows == 0) {
            return;
        }
        int chunks = chunks(rows);
        context.launch(module.kernel("column_sum_partials_" + type.suffix()), ceilDiv(cols, COLUMN_BLOCK_X), chunks,
                COLUMN_BLOCK_X, COLUMN_BLOCK_Y, new KernelArgs().array(scratch).array(x).i32(rows).i32(cols));
        reduce(out, scratch.address(), chunks, cols);
    }

    /** out[c] += Σ_k partial[k, c] over chunks k in order; partial at a device address, [chunks, cols] floats. */
    private void reduce(DeviceArray out, long partial, int chunks, int cols) {
        context.launch(module.kernel("grad_reduce_f32"), ceilDiv(cols, BLOCK), 1, BLOCK, 1,
                new KernelArgs().array(out).address(partial).i32(chunks).i32(cols));
    }

    // ---------------------------------------------------------------------------------------------
    // dropout

    /**
     * out[i] = keep(i) ? inp[i]·scale : 0 for i in [0, n), keep and scale as philox.cuh (the site at
     * (seed, offset)); out may be inp. Forward and backward are the same map.
     */
    public void dropout(DeviceArray out, DeviceArray inp, long seed, long offset, float p, long n) {
        if (!(p >= 0f && p <= 1f)) {
            throw new IllegalArgumentException("dropout probability must be in [0, 1], got " + p);
        }
        int count = checkCount(n);
        require(out, n, "out");
        require(inp, n, "inp");
        ElementType type = floatType("dropout", out, inp);
        if (n == 0) {
            return;
        }
        long philoxBlocks = Math.ceilDiv(n, 4);
        context.launch(module.kernel("dropout_" + type.suffix()), elementGrid(philoxBlocks), 1, BLOCK, 1,
                new KernelArgs().array(out).array(inp).i64(seed).i64(offset).f32(p).i32(count));
    }

    // ---------------------------------------------------------------------------------------------
    // data movement

    /** out[i] = value (rounded to out's type) for i in [0, n). */
    public void fill(DeviceArray out, float value, long n) {
        int count = checkCount(n);
        require(out, n, "out");
        ElementType type = floatType("fill", out);
        if (n == 0) {
            return;
        }
        context.launch(module.kernel("fill_" + type.suffix()), elementGrid(n), 1, BLOCK, 1,
                new KernelArgs().array(out).f32(value).i32(count));
    }

    /**
     * out[i] = master[i] rounded to out's storage type, for i in [0, n): mixed-precision training's
     * 16-bit parameters from the float32 master weights.
     *
     * @param master F32 [n]
     */
    public void storeParameters(DeviceArray out, DeviceArray master, long n) {
        int count = checkCount(n);
        require(out, n, "out");
        requireF32(master, n, "master");
        ElementType type = floatType("store parameters", out);
        if (n == 0) {
            return;
        }
        context.launch(module.kernel("store_parameters_" + type.suffix()), elementGrid(n), 1, BLOCK, 1,
                new KernelArgs().array(out).array(master).i32(count));
    }

    // ---------------------------------------------------------------------------------------------
    // losses

    /** dLogits[n, :] = scale·(softmax(logits[n, :]) − onehot(targets[n])), 0 where targets[n] == ignoreIndex. */
    public void crossEntropyBackward(DeviceArray dLogits, DeviceArray logits, DeviceArray targets, int N, int V,
                                     int ignoreIndex, float scale) {
        checkShape(N, V);
        require(dLogits, (long) N * V, "dLogits");
        require(logits, (long) N * V, "logits");
        requireIndices(targets, N, "targets");
        ElementType type = floatType("cross-entropy backward", dLogits, logits);
        if (N == 0) {
            return;
        }
        context.launch(module.kernel("cross_entropy_backward_" + type.suffix()), N, 1, BLOCK, 1,
                new KernelArgs().array(dLogits).array(logits).array(targets).i32(N).i32(V).i32(ignoreIndex).f32(scale));
    }

    /** dPredictions[n] = scale·2·(predictions[n] − targets[n]). */
    public void mseBackward(DeviceArray dPredictions, DeviceArray predictions, DeviceArray targets, int N, float scale) {
        elementLoss("mse_backward_", dPredictions, predictions, targets, N, scale);
    }

    /** dLogits[n] = scale·(σ(logits[n]) − targets[n]). */
    public void bceWithLogitsBackward(DeviceArray dLogits, DeviceArray logits, DeviceArray targets, int N, float scale) {
        elementLoss("bce_with_logits_backward_", dLogits, logits, targets, N, scale);
    }

    private void elementLoss(String kernel, DeviceArray d, DeviceArray x, DeviceArray y, int N, float scale) {
        if (N < 0) {
            throw new IllegalArgumentException("N must be >= 0, got " + N);
        }
        require(d, N, "gradient");
        require(x, N, "input");
        require(y, N, "targets");
        ElementType type = floatType(kernel + "*", d, x, y);
        if (N == 0) {
            return;
        }
        context.launch(module.kernel(kernel + type.suffix()), elementGrid(N), 1, BLOCK, 1,
                new KernelArgs().array(d).array(x).array(y).i32(N).f32(scale));
    }

    // ---------------------------------------------------------------------------------------------
    // optimizer (float32 arrays)

    /**
     * One AdamW step over n elements with the per-step float32 scalars of
     * {@code distilbert.model.AdamW.Scalars}, the same bits as AdamW.update's loop.
     */
    public void adamW(DeviceArray params, DeviceArray grads, DeviceArray m, DeviceArray v, long n, boolean decays,
                      float decay, boolean smallW1, float w1, float b2, float w2, float bc2Sqrt, float eps,
                      float negStepSize) {
        int count = checkCount(n);
        requireF32(params, n, "params");
        requireF32(grads, n, "grads");
        requireF32(m, n, "m");
        requireF32(v, n, "v");
        if (n == 0) {
            return;
        }
        context.launch(module.kernel("adamw_f32"), elementGrid(n), 1, BLOCK, 1,
                new KernelArgs().array(params).array(grads).array(m).array(v).i32(count).i32(decays ? 1 : 0).f32(decay)
                        .i32(smallW1 ? 1 : 0).f32(w1).f32(b2).f32(w2).f32(bc2Sqrt).f32(eps).f32(negStepSize));
    }

    /**
     * {@link #adamW} over the whole slab in one launch: segment s is elements [ends[s-1], ends[s])
     * (from 0; the last end is n), with weight decay where {@code decays[s]} is 1. Each element gets
     * exactly {@link #adamW}'s arithmetic.
     *
     * @param segmentEnds   I32 [nseg], ascending, the last n
     * @param segmentDecays I32 [nseg], 0 or 1
     */
    public void adamWSegments(DeviceArray params, DeviceArray grads, DeviceArray m, DeviceArray v, DeviceArray segmentEnds,
                              DeviceArray segmentDecays, int nseg, long n, float decay, boolean smallW1, float w1,
                              float b2, float w2, float bc2Sqrt, float eps, float negStepSize) {
        int count = checkCount(n);
        requireF32(params, n, "params");
        requireF32(grads, n, "grads");
        requireF32(m, n, "m");
        requireF32(v, n, "v");
        if (nseg < 1) {
            throw new IllegalArgumentException("AdamW over segments needs at least one, got " + nseg);
        }
        requireIndices(segmentEnds, nseg, "segment ends");
        requireIndices(segmentDecays, nseg, "segment decays");
        if (n == 0) {
            return;
        }
        context.launch(module.kernel("adamw_segments_f32"), elementGrid(Math.ceilDiv(n, ADAMW_RUN)), 1, BLOCK, 1,
                new KernelArgs().array(params).array(grads).array(m).array(v).array(segmentEnds).array(segmentDecays)
                        .i32(nseg).i32(count).f32(decay).i32(smallW1 ? 1 : 0).f32(w1).f32(b2).f32(w2).f32(bc2Sqrt).f32(eps)
                        .f32(negStepSize));
    }

    /** Floats of scratch {@link #sumOfSquares} needs: 2 per block (a double each), at least one block. */
    public static long sumOfSquaresScratchLength(long n) {
        return 2L * sumOfSquaresBlocks(n);
    }

    private static int sumOfSquaresBlocks(long n) {
        return (int) Math.max(1, Math.min(Math.ceilDiv(Math.max(n, 0), BLOCK), SUM_OF_SQUARES_MAX_BLOCKS));
    }

    /**
     * Σ g[i]² over n float32 elements, in double: a partial sum per block on the device, added on
     * the host in block order (deterministic: the grid depends on n only). Waits for the device.
     *
     * @param scratch F32, at least {@link #sumOfSquaresScratchLength}; holds the partial doubles
     */
    public double sumOfSquares(DeviceArray g, long n, DeviceArray scratch) {
        int count = checkCount(n);
        requireF32(g, n, "g");
        int blocks = sumOfSquaresBlocks(n);
        requireF32(scratch, 2L * blocks, "scratch");
        if (n == 0) {
            return 0;
        }
        context.launch(module.kernel("sum_of_squares_f32"), blocks, 1, BLOCK, 1,
                new KernelArgs().array(scratch).array(g).i32(count));
        // the doubles' bits, read as int pairs (little-endian: the low word first), never through a float
        int[] words = new DeviceArray(context, ElementType.I32, scratch.address(), 2L * blocks, null, false)
                .downloadInts();
        double sum = 0;
        for (int b = 0; b < blocks; b++) {
            long bits = (words[2 * b] & 0xffff_ffffL) | (long) words[2 * b + 1] << 32;
            sum += Double.longBitsToDouble(bits);
        }
        return sum;
    }

    /** g[i] *= factor over n float32 elements. */
    public void scale(DeviceArray g, float factor, long n) {
        int count = checkCount(n);
        requireF32(g, n, "g");
        if (n == 0) {
            return;
        }
        context.launch(module.kernel("scale_f32"), elementGrid(n), 1, BLOCK, 1,
                new KernelArgs().array(g).f32(factor).i32(count));
    }

    // ---------------------------------------------------------------------------------------------
    // checks

    /** The storage type shared by {@code arrays} (a float type). */
    private static ElementType floatType(String op, DeviceArray... arrays) {
        ElementType type = null;
        for (DeviceArray a : arrays) {
            if (!a.type().isFloat() || type != null && a.type() != type) {
                throw new IllegalArgumentException(op + " needs float arrays of one type, got " + a.type()
                        + (type == null ? "" : " and " + type));
            }
            type = a.type();
        }
        return type;
    }

    private void require(DeviceArray buffer, long needed, String name) {
        if (buffer == null) {
            throw new IllegalArgumentException(name + " is null");
        }
        if (buffer.context() != context) {
            throw new IllegalArgumentException(name + " belongs to another CUDA context");
        }
        if (buffer.length() < needed) {
            throw new IllegalArgumentException(name + " holds " + buffer.length() + " elements, needs " + needed);
        }
        buffer.ensureOpen();
    }

    /** A float32 array: a parameter gradient, optimizer state, scratch. */
    private void requireF32(DeviceArray buffer, long needed, String name) {
        require(buffer, needed, name);
        if (buffer.type() != ElementType.F32) {
            throw new IllegalArgumentException(name + " is float32 (parameter gradients, optimizer state and scratch"
                    + " are), got " + buffer.type());
        }
    }

    private void requireIndices(DeviceArray buffer, long needed, String name) {
        require(buffer, needed, name);
        if (buffer.type() != ElementType.I32) {
            throw new IllegalArgumentException(name + " holds int32 indices, got " + buffer.type());
        }
    }

    private static void checkShape(int rows, int cols) {
        if (rows < 0 || cols <= 0) {
            throw new IllegalArgumentException("shape [" + rows + ", " + cols + "]: rows must be >= 0, cols > 0");
        }
    }

    /** An element count as the kernels take it: 0 to 2^31 − 1 (the CPU backend's float[] buffers hold as many). */
    private static int checkCount(long n) {
        if (n < 0 || n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("element count must be in [0, 2^31 - 1], got " + n);
        }
        return (int) n;
    }

    /** Chunks of {@value #GRAD_CHUNK_ROWS} rows of a column reduction: grid.y of its first phase. */
    private static int chunks(int rows) {
        int chunks = ceilDiv(rows, GRAD_CHUNK_ROWS);
        if (chunks > MAX_GRID_Y) {
            throw new IllegalArgumentException(rows + " rows exceed a column reduction's grid (at most "
                    + (long) MAX_GRID_Y * GRAD_CHUNK_ROWS + ")");
        }
        return chunks;
    }

    /** grid.x for one thread per item, {@value #BLOCK} a block. */
    private static int elementGrid(long items) {
        long blocks = Math.ceilDiv(items, BLOCK);
        if (blocks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(items + " elements exceed one launch's grid");
        }
        return (int) blocks;
    }

    private static int ceilDiv(int a, int b) {
        return Math.ceilDiv(a, b);
    }
}
