package distilbert.cuda;

/**
 * Launchers for {@code attention_train.cu}: multi-head attention in training mode (the softmax kept,
 * dropout on the probabilities drawn on the device from the Philox stream of
 * {@code distilbert.model.DropoutRng}) and its backward, over a packed ragged batch. The semantics
 * are those of {@code BackwardOps.attentionTrainingForward} and {@code BackwardOps.attentionBackward};
 * the layout of q, k, v (one {@code [T, 3C]} buffer) and of the probabilities is
 * {@link InferenceKernels#attention}'s.
 *
 * <p>Sizes, types and lengths are checked here; the kernels trust what passes. The caller checks the
 * sequences against T on the host (it holds cu_seqlens there) and passes the longest as {@code maxLen}.
 */
public final class AttentionTrainingKernels {

    /**
     * How attention trains: {@link #GEMM} (the default) through cuBLAS's tensor-core products over
     * padded per-head tensors ({@link #forwardGemm}, {@link #backwardGemm}), or {@link #SIMT}, the
     * float32 warp-per-row kernels ({@link #forward}, {@link #backward}). The system property
     * {@value #PROPERTY} ({@code gemm} or {@code simt}) picks it for a new backend.
     */
    public enum Path {
        GEMM, SIMT;

        public static final String PROPERTY = "distilbert.attention.training";

        /** The property's choice, GEMM when unset. */
        public static Path fromSystemProperty() {
            String v = System.getProperty(PROPERTY, "gemm").trim().toLowerCase(java.util.Locale.ROOT);
            return switch (v) {
                case "gemm" -> GEMM;
                case "simt" -> SIMT;
                default -> throw new IllegalArgumentException("-D" + PROPERTY + "=" + v + ": expected gemm or simt");
            };
        }
    }

    /** Rows (warps) per block: attention_train.cu's TRAIN_ROWS. */
    private static final int ROWS_PER_BLOCK = 4;
    private static final int BLOCK = 128;
    private static final int MAX_GRID_YZ = 65_535;

    private final CudaContext context;
    private final KernelModule module;

    public AttentionTrainingKernels(CudaContext context) {
        this.context = context;
        this.module = context.module("attention_train");
    }

    /**
     * The training forward: {@code probs ← softmax(q·kᵀ/√HS)} per (sequence, head), {@code dropped ←
     * dropout(probs)} (when not null), {@code out ← headMask[h] · dropout(probs) · v}.
     *
     * @param out          [T, C]
     * @param probs        the softmax, [Σ NH·len·keys] at {@code probsOffsets}
     * @param dropped      null, or dropout(probs) in the same layout (with p > 0)
     * @param qkv          [T, 3C]
     * @param headMask     [NH] or null
     * @param p            the dropout probability, 0 for none (then seed and offset are not read)
     * @param probsOffsets I64 [numSeqs]
     */
    public void forward(DeviceArray out, DeviceArray probs, DeviceArray dropped, DeviceArray qkv, DeviceArray headMask,
                        long seed, long offset, float p, DeviceArray cuSeqlens, DeviceArray keyLens,
                        DeviceArray probsOffsets, int numSeqs, int T, int maxLen, int NH, int HS) {
        ElementType t = check(qkv, cuSeqlens, keyLens, probsOffsets, headMask, numSeqs, T, NH, HS, p);
        int C = NH * HS;
        require(out, t, (long) T * C, "out");
        require(probs, t, 0, "probs");
        requireNullable(dropped, t, 0, "dropped");
        if (numSeqs == 0 || maxLen == 0) {
            return;
        }
        long q = qkv.address();
        context.launch(module.kernel("attention_train_forward_" + t.suffix()), Math.ceilDiv(maxLen, ROWS_PER_BLOCK), NH,
                numSeqs, BLOCK, 1, new KernelArgs().array(out).array(probs).array(dropped).address(q)
                        .address(q + (long) C * t.bytes()).address(q + 2L * C * t.bytes()).i32(3 * C).array(headMask)
                        .array(cuSeqlens).array(keyLens).array(probsOffsets).i64(seed).i64(offset).f32(p)
                        .f32(keepScale(p)).i32(NH).i32(HS).f32(scale(HS)));
    }

    /** Floats of scratch {@link #backward} needs: one per probability (dS, in float32). */
    public static long backwardScratchLength(long probsTotal) {
        return probsTotal;
    }

    /**
     * The backward: {@code dQkv} [T, 3C] written in full (zeros for the k and v of tokens past a
     * sequence's keys) from {@code dOut} [T, C], the forward's {@code qkv} and {@code probs}, and the
     * forward's mask: {@code dropped} where it was kept, else drawn again from (seed, offset) when
     * {@code redraw}.
     *
     * @param dropped null unless p > 0 and the forward kept it
     * @param redraw  with p > 0 and no {@code dropped}: draw the mask again
     * @param scratch F32, at least {@link #backwardScratchLength}(the probabilities' total); overwritten
     */
    public void backward(DeviceArray dQkv, DeviceArray dOut, DeviceArray qkv, DeviceArray probs, DeviceArray dropped,
                         DeviceArray headMask, boolean redraw, long seed, long offset, float p, DeviceArray cuSeqlens,
                         DeviceArray keyLens, DeviceArray probsOffsets, int numSeqs, int T, int maxLen, int NH, int HS,
                         DeviceArray scratch) {
        ElementType t = check(qkv, cuSeqlens, keyLens, probsOffsets, headMask, numSeqs, T, NH, HS, p);
        int C = NH * HS;
        require(dQkv, t, (long) T * 3 * C, "dqkv");
        require(dOut, t, (long) T * C, "dout");
        require(probs, t, 0, "probs");
        requireNullable(dropped, t, 0, "dropped");
        require(scratch, ElementType.F32, 0, "scratch");
        if (p > 0 && dropped == null && !redraw) {
            throw new IllegalArgumentException("attention backward with dropout " + p
                    + " needs the forward's dropped probabilities or redraw");
        }
        if (numSeqs == 0 || maxLen == 0) {
            return;
        }
        long q = qkv.address(), dq = dQkv.address(), dk = dq + (long) C * t.bytes(), dv = dq + 2L * C * t.bytes();
        int gridX = Math.ceilDiv(maxLen, ROWS_PER_BLOCK);
        float keep = keepScale(p);
        context.launch(module.kernel("attention_train_backward_dq_" + t.suffix()), gridX, NH, numSeqs, BLOCK, 1,
                new KernelArgs().address(dq).array(scratch).array(dOut).address(q).address(q + (long) C * t.bytes())
                        .address(q + 2L * C * t.bytes()).i32(3 * C).array(probs).array(dropped).array(headMask)
                        .array(cuSeqlens).array(keyLens).array(probsOffsets).i64(seed).i64(offset).f32(p).f32(keep)
                        .i32(redraw ? 1 : 0).i32(NH).i32(HS).f32(scale(HS)));
        context.launch(module.kernel("attention_train_backward_dkv_" + t.suffix()), gridX, NH, numSeqs, BLOCK, 1,
                new KernelArgs().address(dk).address(dv).array(scratch).array(dOut).address(q).i32(3 * C).array(probs)
                        .array(dropped).array(headMask).array(cuSeqlens).array(keyLens).array(probsOffsets).i64(seed)
                        .i64(offset).f32(p).f32(keep).i32(redraw ? 1 : 0).i32(NH).i32(HS));
    }

    // ---------------------------------------------------------------------------------------------
    // the matrix-product path: cuBLAS strided-batched GEMMs over a padded [B, NH, Lmax, ·] layout

    /** Elements (of the storage type) of scratch {@link #forwardGemm} needs: q, k, v, the scores and the output, padded. */
    public static long forwardGemmScratchLength(int numSeqs, int maxLen, int NH, int HS) {
        long rows = (long) numSeqs * NH * maxLen;
        return rows * (4L * HS + maxLen);
    }

    /** Elements of scratch {@link #backwardGemm} needs: q, k, v, dO, dQ, dK, dV and two score-sized tensors, padded. */
    public static long backwardGemmScratchLength(int numSeqs, int maxLen, int NH, int HS) {
        long rows = (long) numSeqs * NH * maxLen;
        return rows * (7L * HS + 2L * maxLen);
    }

    /**
     * {@link #forward} through cuBLAS, as HF's eager attention computes it: q, k and v packed into
     * padded [B, NH, Lmax, HS] tensors, S = q·kᵀ/√HS (one strided-batched GEMM over B·NH), the training
     * softmax with dropout (probs and dropped written packed, as {@link #forward} writes them, and
     * dropout(P) padded), O = dropout(P)·(headMask[h]·v) (a second GEMM), unpacked into out.
     * The scores are rounded to the storage type between the product and the softmax (HF's bf16 does
     * too). Same arguments as {@link #forward}, plus cuBLAS and its types, and the scratch.
     *
     * @param scratch of the storage type, at least {@link #forwardGemmScratchLength}; overwritten
     */
    public void forwardGemm(Cublas cublas, Cublas.DataType gemmType, Cublas.Compute compute, DeviceArray out,
                            DeviceArray probs, DeviceArray dropped, DeviceArray qkv, DeviceArray headMask, long seed,
                            long offset, float p, DeviceArray cuSeqlens, DeviceArray keyLens, DeviceArray probsOffsets,
                            int numSeqs, int T, int maxLen, int NH, int HS, DeviceArray scratch) {
        ElementType t = check(qkv, cuSeqlens, keyLens, probsOffsets, headMask, numSeqs, T, NH, HS, p);
        int C = NH * HS, L = maxLen;
        require(out, t, (long) T * C, "out");
        require(probs, t, 0, "probs");
        requireNullable(dropped, t, 0, "dropped");
        require(scratch, t, forwardGemmScratchLength(numSeqs, maxLen, NH, HS), "scratch");
        if (numSeqs == 0 || maxLen == 0) {
            return;
        }
        int rows = rows(numSeqs, NH, L);
        long ph = (long) rows * HS, ps = (long) rows * L;
        DeviceArray q = scratch.view(0, ph), k = scratch.view(ph, ph), v = scratch.view(2 * ph, ph);
        DeviceArray s = scratch.view(3 * ph, ps), o = scratch.view(3 * ph + ps, ph);
        pack(t, q, qkv, 3 * C, 0, null, cuSeqlens, keyLens, NH, HS, L, rows);
        pack(t, k, qkv, 3 * C, C, null, cuSeqlens, keyLens, NH, HS, L, rows);
        pack(t, v, qkv, 3 * C, 2 * C, headMask, cuSeqlens, keyLens, NH, HS, L, rows); // hm·(W·v) as W·(hm·v)
        int batch = numSeqs * NH;
        long mat = (long) L * HS, sq = (long) L * L;
        // S = q·kᵀ/√HS: [L, HS]·[HS, L] per (sequence, head)
        cublas.gemmStridedBatchedRowMajor(false, true, L, L, HS, q.address(), HS, mat, k.address(), HS, mat,
                s.address(), L, sq, batch, gemmType, compute, scale(HS), 0f);
        context.launch(module.kernel("attention_softmax_dropout_" + t.suffix()), Math.ceilDiv(rows, 8), 1, 256, 1,
                new KernelArgs().array(probs).array(p > 0 ? dropped : null).array(s).array(s).array(cuSeqlens)
                        .array(keyLens).array(probsOffsets).i64(seed).i64(offset).f32(p).f32(keepScale(p)).i32(NH).i32(L)
                        .i32(rows));
        // O = W·v: [L, L]·[L, HS]
        cublas.gemmStridedBatchedRowMajor(false, false, L, HS, L, s.address(), L, sq, v.address(), HS, mat,
                o.address(), HS, mat, batch, gemmType, compute, 1f, 0f);
        unpack(t, out, C, 0, o, cuSeqlens, keyLens, NH, HS, L, rows, false);
    }

    /**
     * {@link #backward} through cuBLAS: dO (times the head mask), q, k, v packed as in
     * {@link #forwardGemm}, dW = dO·vᵀ and dV = Wᵀ·dO (W = the forward's dropout(P), padded again),
     * dS from the softmax's backward in place of dW, dQ = dS·k and dK = dSᵀ·q, unpacked into dQkv.
     *
     * @param scratch of the storage type, at least {@link #backwardGemmScratchLength}; overwritten
     */
    public void backwardGemm(Cublas cublas, Cublas.DataType gemmType, Cublas.Compute compute, DeviceArray dQkv,
                             DeviceArray dOut, DeviceArray qkv, DeviceArray probs, DeviceArray dropped,
                             DeviceArray headMask, boolean redraw, long seed, long offset, float p,
                             DeviceArray cuSeqlens, DeviceArray keyLens, DeviceArray probsOffsets, int numSeqs, int T,
                             int maxLen, int NH, int HS, DeviceArray scratch) {
        ElementType t = check(qkv, cuSeqlens, keyLens, probsOffsets, headMask, numSeqs, T, NH, HS, p);
        int C = NH * HS, L = maxLen;
        require(dQkv, t, (long) T * 3 * C, "dqkv");
        require(dOut, t, (long) T * C, "dout");
        require(probs, t, 0, "probs");
        requireNullable(dropped, t, 0, "dropped");
        require(scratch, t, backwardGemmScratchLength(numSeqs, maxLen, NH, HS), "scratch");
        if (p > 0 && dropped == null && !redraw) {
            throw new IllegalArgumentException("attention backward with dropout " + p
                    + " needs the forward's dropped probabilities or redraw");
        }
        if (numSeqs == 0 || maxLen == 0) {
            return;
        }
        int rows = rows(numSeqs, NH, L);
        long ph = (long) rows * HS, ps = (long) rows * L;
        DeviceArray q = scratch.view(0, ph), k = scratch.view(ph, ph), v = scratch.view(2 * ph, ph);
        DeviceArray dO = scratch.view(3 * ph, ph), dq = scratch.view(4 * ph, ph), dk = scratch.view(5 * ph, ph);
        DeviceArray dv = scratch.view(6 * ph, ph), w = scratch.view(7 * ph, ps), g = scratch.view(7 * ph + ps, ps);
        pack(t, q, qkv, 3 * C, 0, null, cuSeqlens, keyLens, NH, HS, L, rows);
        pack(t, k, qkv, 3 * C, C, null, cuSeqlens, keyLens, NH, HS, L, rows);
        pack(t, v, qkv, 3 * C, 2 * C, null, cuSeqlens, keyLens, NH, HS, L, rows);
        pack(t, dO, dOut, C, 0, headMask, cuSeqlens, keyLens, NH, HS, L, rows);
        float keep = keepScale(p);
        context.launch(module.kernel("attention_expand_probs_" + t.suffix()), blocks((long) rows * L), 1, 256, 1,
                new KernelArgs().array(w).array(probs).array(p > 0 ? dropped : null).array(cuSeqlens).array(keyLens)
                        .array(probsOffsets).i64(seed).i64(offset).f32(p).f32(keep).i32(redraw ? 1 : 0).i32(NH).i32(L)
                        .i32(rows));
        int batch = numSeqs * NH;
        long mat = (long) L * HS, sq = (long) L * L;
        // dW = dO·vᵀ: [L, HS]·[HS, L];  dV = Wᵀ·dO: [L, L]ᵀ·[L, HS]
        cublas.gemmStridedBatchedRowMajor(false, true, L, L, HS, dO.address(), HS, mat, v.address(), HS, mat,
                g.address(), L, sq, batch, gemmType, compute, 1f, 0f);
        cublas.gemmStridedBatchedRowMajor(true, false, L, HS, L, w.address(), L, sq, dO.address(), HS, mat,
                dv.address(), HS, mat, batch, gemmType, compute, 1f, 0f);
        context.launch(module.kernel("attention_softmax_backward_" + t.suffix()), Math.ceilDiv(rows, 8), 1, 256, 1,
                new KernelArgs().array(g).array(probs).array(p > 0 ? dropped : null).array(cuSeqlens).array(keyLens)
                        .array(probsOffsets).i64(seed).i64(offset).f32(p).f32(keep).i32(redraw ? 1 : 0).i32(NH).i32(L)
                        .f32(scale(HS)).i32(rows));
        // dQ = dS·k: [L, L]·[L, HS];  dK = dSᵀ·q: [L, L]ᵀ·[L, HS]
        cublas.gemmStridedBatchedRowMajor(false, false, L, HS, L, g.address(), L, sq, k.address(), HS, mat,
                dq.address(), HS, mat, batch, gemmType, compute, 1f, 0f);
        cublas.gemmStridedBatchedRowMajor(true, false, L, HS, L, g.address(), L, sq, q.address(), HS, mat,
                dk.address(), HS, mat, batch, gemmType, compute, 1f, 0f);
        unpack(t, dQkv, 3 * C, 0, dq, cuSeqlens, keyLens, NH, HS, L, rows, false);
        unpack(t, dQkv, 3 * C, C, dk, cuSeqlens, keyLens, NH, HS, L, rows, true);
        unpack(t, dQkv, 3 * C, 2 * C, dv, cuSeqlens, keyLens, NH, HS, L, rows, true);
    }

    private void pack(ElementType t, DeviceArray dst, DeviceArray src, int ld, int col, DeviceArray headMask,
                      DeviceArray cuSeqlens, DeviceArray keyLens, int NH, int HS, int L, int rows) {
        context.launch(module.kernel("attention_pack_heads_" + t.suffix()), blocks((long) rows * HS), 1, 256, 1,
                new KernelArgs().array(dst).array(src).i32(ld).i32(col).array(headMask).array(cuSeqlens).array(keyLens)
                        .i32(NH).i32(HS).i32(L).i32(rows));
    }

    private void unpack(ElementType t, DeviceArray out, int ld, int col, DeviceArray src, DeviceArray cuSeqlens,
                        DeviceArray keyLens, int NH, int HS, int L, int rows, boolean keysOnly) {
        context.launch(module.kernel("attention_unpack_heads_" + t.suffix()), blocks((long) rows * HS), 1, 256, 1,
                new KernelArgs().array(out).i32(ld).i32(col).array(src).array(cuSeqlens).array(keyLens).i32(NH).i32(HS)
                        .i32(L).i32(rows).i32(keysOnly ? 1 : 0));
    }

    /** B·NH·Lmax padded rows, refused past an int (the kernels index rows with one). */
    private static int rows(int numSeqs, int NH, int maxLen) {
        long rows = (long) numSeqs * NH * maxLen;
        if (rows > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(numSeqs + " sequences × " + NH + " heads × " + maxLen
                    + " tokens is more padded rows than one attention launch takes (2^31 - 1): split the batch");
        }
        return (int) rows;
    }

    private static int blocks(long elements) {
        long b = Math.ceilDiv(elements, 256);
        if (b > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(elements + " elements exceed one launch's grid");
        }
        return (int) b;
    }

    private ElementType check(DeviceArray qkv, DeviceArray cuSeqlens, DeviceArray keyLens, DeviceArray probsOffsets,
                              DeviceArray headMask, int numSeqs, int T, int NH, int HS, float p) {
        if (!(p >= 0f && p <= 1f)) {
            throw new IllegalArgumentException("dropout probability must be in [0, 1], got " + p);
        }
        if (NH <= 0 || HS <= 0 || T < 0 || numSeqs < 0) {
            throw new IllegalArgumentException("attention of " + numSeqs + " sequences, " + T + " tokens, " + NH
                    + " heads of " + HS + ": sizes must be positive");
        }
        if (NH > MAX_GRID_YZ || numSeqs > MAX_GRID_YZ) {
            throw new IllegalArgumentException("attention over " + numSeqs + " sequences of " + NH
                    + " heads: at most " + MAX_GRID_YZ + " of each per launch");
        }
        if (!qkv.type().isFloat()) {
            throw new IllegalArgumentException("qkv holds " + qkv.type() + "; the kernels take f32, bf16 or f16");
        }
        ElementType t = qkv.type();
        require(qkv, t, (long) T * 3 * NH * HS, "qkv");
        requireNullable(headMask, t, NH, "head_mask");
        require(cuSeqlens, ElementType.I32, numSeqs + 1L, "cu_seqlens");
        requireNullable(keyLens, ElementType.I32, numSeqs, "key_lens");
        require(probsOffsets, ElementType.I64, numSeqs, "probs_offsets");
        return t;
    }

    /** 1 / sqrt(HS), rounded once to float. */
    private static float scale(int HS) {
        return (float) (1.0 / Math.sqrt(HS));
    }

    /** DropoutRng.scale: 1f / (1f - p), 0 for p = 1. */
    private static float keepScale(float p) {
        return p == 1f ? 0f : 1f / (1f - p);
    }

    private void require(DeviceArray a, ElementType type, long needed, String name) {
        LaunchChecks.require(context, a, type, needed, name);
    }

    private void requireNullable(DeviceArray a, ElementType type, long needed, String name) {
        LaunchChecks.requireNullable(context, a, type, needed, name);
    }
}
