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
