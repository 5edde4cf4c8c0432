package distilbert.cuda;

/**
 * Launchers for the forward kernels of {@code layernorm.cu}, {@code attention.cu}, {@code attention_tc.cu}
 * and {@code misc.cu}
 * (and {@code activation.cu}'s forward, through {@link ActivationKernels}), in every storage type (the arrays' {@link ElementType} picks the
 * kernel: {@code _f32}, {@code _bf16}, {@code _f16}).
 *
 * <p>Signatures mirror the kernels and the CPU ops (outputs first, then inputs, then sizes); the
 * semantics of each are those of the op of the same name in {@code distilbert.model.Ops}. Nullable
 * arrays are marked. Sizes, types and array lengths are checked here, at the boundary, because an
 * out-of-range access inside a kernel is a sticky error that ruins the context; the kernels trust
 * what passes. Index values (token ids, positions, row numbers) are the caller's to validate.
 */
public final class InferenceKernels {

    private static final int BLOCK = 256;
    /** Rows per block of the layer norm family: one warp per row. */
    private static final int LN_ROWS_PER_BLOCK = 8;
    private static final int ATTENTION_QUERIES_PER_BLOCK = 32;
    private static final int ATTENTION_BLOCK = 128;
    private static final int PROBS_QUERIES_PER_BLOCK = 4;
    /** attention_tc.cu: 4 warps of 16 queries. */
    private static final int TC_QUERIES_PER_BLOCK = 64;
    /** Head sizes the tensor-core kernel is built for. */
    private static final int[] TC_HEAD_SIZE_VARIANTS = {32, 64, 128};
    private static final int MAX_GRID_YZ = 65_535;
    /** Head sizes the attention kernel is built for (the smallest one at least HS is used). */
    private static final int[] HEAD_SIZE_VARIANTS = {32, 64, 128, 256};

    private final CudaContext context;
    private final KernelModule layernorm;
    private final KernelModule attention;
    private final KernelModule attentionTc;
    private final KernelModule misc;
    private final ActivationKernels activation;
    private volatile AttentionKernel attentionKernel = AttentionKernel.fromSystemProperty();

    public InferenceKernels(CudaContext context) {
        this.context = context;
        this.layernorm = context.module("layernorm");
        this.attention = context.module("attention");
        this.attentionTc = context.module("attention_tc");
        this.misc = context.module("misc");
        this.activation = new ActivationKernels(context);
    }

    // ---------------------------------------------------------------------------------------------
    // embeddings and layer norm

    /** out[t] = wte[ids[t]] + wpe[pos[t]]. */
    public void embedding(DeviceArray out, DeviceArray tokenIds, DeviceArray positionIds, DeviceArray wte,
                          DeviceArray wpe, int N, int C) {
        ElementType t = floatType(out);
        long n = (long) N * C;
        require(out, t, n, "out");
        require(tokenIds, ElementType.I32, N, "token_ids");
        require(positionIds, ElementType.I32, N, "position_ids");
        require(wte, t, C, "word_embeddings");
        require(wpe, t, C, "position_embeddings");
        if (n == 0) {
            return;
        }
        launch1d(layernorm, "embedding_forward", t, n, new KernelArgs().array(out).array(tokenIds).array(positionIds)
                .array(wte).array(wpe).i32(N).i32(C));
    }

    /** out[t] = inp[t] + wpe[pos[t]]; out may be inp. */
    public void positionEmbedding(DeviceArray out, DeviceArray inp, DeviceArray positionIds, DeviceArray wpe,
                                  int N, int C) {
        ElementType t = floatType(out);
        long n = (long) N * C;
        require(out, t, n, "out");
        require(inp, t, n, "inputs_embeds");
        require(positionIds, ElementType.I32, N, "position_ids");
        require(wpe, t, C, "position_embeddings");
        if (n == 0) {
            return;
        }
        launch1d(layernorm, "position_embedding_forward", t, n, new KernelArgs().array(out).array(inp)
                .array(positionIds).array(wpe).i32(N).i32(C));
    }

    /** out = LayerNorm(wte[ids] + wpe[pos]). */
    public void embeddingLayerNorm(DeviceArray out, DeviceArray tokenIds, DeviceArray positionIds, DeviceArray wte,
                                   DeviceArray wpe, DeviceArray weight, DeviceArray bias, int N, int C, float eps) {
        ElementType t = floatType(out);
        require(out, t, (long) N * C, "out");
        require(tokenIds, ElementType.I32, N, "token_ids");
        require(positionIds, ElementType.I32, N, "position_ids");
        require(wte, t, C, "word_embeddings");
        require(wpe, t, C, "position_embeddings");
        require(weight, t, C, "weight");
        require(bias, t, C, "bias");
        launchRows("embedding_layernorm_forward", t, N, new KernelArgs().array(out).array(tokenIds)
                .array(positionIds).array(wte).array(wpe).array(weight).array(bias).i32(N).i32(C).f32(eps));
    }

    /** out = LayerNorm(inp); mean, rstd nullable, float32 whatever the storage type; out may be inp. */
    public void layerNorm(DeviceArray out, DeviceArray mean, DeviceArray rstd, DeviceArray inp, DeviceArray weight,
                          DeviceArray bias, int N, int C, float eps) {
        ElementType t = floatType(out);
        require(out, t, (long) N * C, "out");
        requireNullable(mean, ElementType.F32, N, "mean");
        requireNullable(rstd, ElementType.F32, N, "rstd");
        require(inp, t, (long) N * C, "inp");
        require(weight, t, C, "weight");
        require(bias, t, C, "bias");
        launchRows("layernorm_forward", t, N, new KernelArgs().array(out).array(mean).array(rstd).array(inp)
                .array(weight).array(bias).i32(N).i32(C).f32(eps));
    }

    /** out = LayerNorm(inp + bias + residual); sum, mean, rstd (float32), bias nullable; out may be inp or residual. */
    public void residualLayerNorm(DeviceArray out, DeviceArray sum, DeviceArray mean, DeviceArray rstd,
                                  DeviceArray inp, DeviceArray bias, DeviceArray residual, DeviceArray weight,
                                  DeviceArray lnBias, int N, int C, float eps) {
        ElementType t = floatType(out);
        require(out, t, (long) N * C, "out");
        requireNullable(sum, t, (long) N * C, "sum");
        requireNullable(mean, ElementType.F32, N, "mean");
        requireNullable(rstd, ElementType.F32, N, "rstd");
        require(inp, t, (long) N * C, "inp");
        requireNullable(bias, t, C, "bias");
        require(residual, t, (long) N * C, "residual");
        require(weight, t, C, "weight");
        require(lnBias, t, C, "ln_bias");
        launchRows("residual_layernorm_forward", t, N, new KernelArgs().array(out).array(sum).array(mean).array(rstd)
                .array(inp).array(bias).array(residual).array(weight).array(lnBias).i32(N).i32(C).f32(eps));
    }

    // ---------------------------------------------------------------------------------------------
    // bias + activation

    /** out[n, m] = act(inp[n, m] + bias[m]); bias nullable; out may be inp. */
    public void biasActivation(Activation act, DeviceArray out, DeviceArray inp, DeviceArray bias, int N, int M) {
        activation.forward(act, out, inp, bias, N, M);
    }

    // ---------------------------------------------------------------------------------------------
    // attention

    /** Which kernel {@link #attention} uses without probabilities (default: {@link AttentionKernel#fromSystemProperty}). */
    public void attentionKernel(AttentionKernel kernel) {
        this.attentionKernel = java.util.Objects.requireNonNull(kernel, "kernel");
    }

    public AttentionKernel attentionKernel() {
        return attentionKernel;
    }

    /**
     * Multi-head attention over a packed batch (see {@code Ops.attentionForward}), reading q, k and v
     * from the output of the fused q/k/v projection: the kernels get three pointers into {@code qkv}
     * (columns 0, C and 2C of row 0) and the row stride {@code ld = 3C}.
     *
     * @param out          [T, C]
     * @param probs        null, or the probabilities, laid out per sequence at {@code probsOffsets}
     * @param qkv          [T, 3C]: row t is {@code [q_t | k_t | v_t]}
     * @param headMask     [NH] or null
     * @param cuSeqlens    I32 [numSeqs + 1]
     * @param keyLens      I32 [numSeqs] or null
     * @param probsOffsets I64 [numSeqs], required with {@code probs}
     * @param maxLen       the longest sequence (grid size; the caller knows it from the host copy)
     * @return the kernel that ran (its entry point's name), or null when there was nothing to do
     * @throws IllegalArgumentException for {@link AttentionKernel#TENSOR_CORES} where they cannot run
     *     (without probs), saying why
     */
    public String attention(DeviceArray out, DeviceArray probs, DeviceArray qkv, DeviceArray headMask,
                            DeviceArray cuSeqlens, DeviceArray keyLens, DeviceArray probsOffsets, int numSeqs, int T,
                            int maxLen, int NH, int HS) {
        ElementType t = floatType(out);
        int C = NH * HS, ld = 3 * C;
        require(out, t, (long) T * C, "out");
        require(qkv, t, (long) T * ld, "qkv");
        requireNullable(headMask, t, NH, "head_mask");
        require(cuSeqlens, ElementType.I32, numSeqs + 1L, "cu_seqlens");
        requireNullable(keyLens, ElementType.I32, numSeqs, "key_lens");
        if (NH > MAX_GRID_YZ || numSeqs > MAX_GRID_YZ) {
            throw new IllegalArgumentException("attention over " + numSeqs + " sequences of " + NH
                    + " heads: at most " + MAX_GRID_YZ + " of each per launch");
        }
        AttentionKernel choice = attentionKernel;
        // with probs, the probabilities kernel runs whatever the choice (it writes them as it goes)
        String unusable = probs == null ? tensorCoresUnusable(t, HS, ld, qkv.address(), out.address()) : null;
        if (probs == null && choice == AttentionKernel.TENSOR_CORES && unusable != null) {
            throw new IllegalArgumentException("the tensor-core attention kernel cannot run here: " + unusable);
        }
        if (numSeqs == 0 || maxLen == 0) {
            return null;
        }
        float scale = (float) (1.0 / Math.sqrt(HS));
        long q = qkv.address(), k = q + (long) C * t.bytes(), v = q + 2L * C * t.bytes();
        KernelModule.Kernel kernel;
        if (probs != null) {
            require(probs, t, 0, "probs");
            require(probsOffsets, ElementType.I64, numSeqs, "probs_offsets");
            kernel = attention.kernel("attention_probs_forward_" + t.suffix());
            context.launch(kernel, Math.ceilDiv(maxLen, PROBS_QUERIES_PER_BLOCK), NH, numSeqs, ATTENTION_BLOCK, 1,
                    new KernelArgs().array(out).array(probs).address(q).address(k).address(v).i32(ld)
                            .array(headMask).array(cuSeqlens).array(keyLens).array(probsOffsets).i32(numSeqs).i32(NH)
                            .i32(HS).f32(scale));
        } else if (choice != AttentionKernel.SIMT && unusable == null) {
            kernel = attentionTc.kernel("attention_tc_forward_hs" + variant(TC_HEAD_SIZE_VARIANTS, HS) + "_"
                    + t.suffix());
            context.launch(kernel, Math.ceilDiv(maxLen, TC_QUERIES_PER_BLOCK), NH, numSeqs, ATTENTION_BLOCK, 1,
                    new KernelArgs().array(out).address(q).address(k).address(v).i32(ld).array(headMask)
                            .array(cuSeqlens).array(keyLens).i32(numSeqs).i32(NH).i32(HS).f32(scale));
        } else {
            kernel = attention.kernel("attention_forward_hs" + headSizeVariant(HS) + "_" + t.suffix());
            context.launch(kernel, Math.ceilDiv(maxLen, ATTENTION_QUERIES_PER_BLOCK), NH, numSeqs, ATTENTION_BLOCK,
                    1, new KernelArgs().array(out).address(q).address(k).address(v).i32(ld).array(headMask)
                            .array(cuSeqlens).array(keyLens).i32(numSeqs).i32(NH).i32(HS).f32(scale));
        }
        return kernel.name();
    }

    /**
     * Why {@code attention_tc.cu} cannot run attention of this shape, or null when it can: it needs
     * bf16 or f16 storage (the mma's operands), a head size that is a multiple of 8 up to 128, a row
     * stride that is a multiple of 8 elements and q/k/v 16 bytes aligned (the K/V tiles are staged
     * with 16-byte loads), and out 4 bytes aligned (it is written in pairs).
     *
     * @param ld         the row stride of q, k and v, in elements
     * @param qkvAddress the device address of q (k and v follow at C and 2C elements)
     * @param outAddress the device address of out
     */
    public static String tensorCoresUnusable(ElementType t, int HS, int ld, long qkvAddress, long outAddress) {
        if (t != ElementType.BF16 && t != ElementType.F16) {
            return "storage " + t + " (the tensor-core kernel is bf16 or f16)";
        }
        if (HS > 128 || HS % 8 != 0) {
            return "head size " + HS + " (the tensor-core kernel takes multiples of 8 up to 128)";
        }
        if (ld % 8 != 0) {
            return "row stride " + ld + " (a multiple of 8 elements is needed for 16-byte loads)";
        }
        if (qkvAddress % 16 != 0 || outAddress % 4 != 0) {
            return "alignment (q/k/v at 0x" + Long.toHexString(qkvAddress) + " need 16 bytes, out at 0x"
                    + Long.toHexString(outAddress) + " 4 bytes)";
        }
        return null;
    }

    /** The attention kernel variant for head size {@code HS}: the smallest of 32, 64, 128, 256 at least HS. */
    public static int headSizeVariant(int HS) {
        return variant(HEAD_SIZE_VARIANTS, HS);
    }

    private static int variant(int[] variants, int HS) {
        for (int v : variants) {
            if (HS <= v) {
                return v;
            }
        }
        throw new IllegalArgumentException("head size " + HS + " (dim / n_heads) is larger than the attention"
                + " kernels support (" + variants[variants.length - 1] + ")");
    }

    // ---------------------------------------------------------------------------------------------
    // rows and losses

    /** out[n] = inp[rows[n]], or zeros where rows[n] < 0. */
    public void gatherRows(DeviceArray out, DeviceArray inp, DeviceArray rows, int N, int C) {
        ElementType t = floatType(out);
        long n = (long) N * C;
        require(out, t, n, "out");
        require(inp, t, 0, "inp");
        require(rows, ElementType.I32, N, "rows");
        if (n == 0) {
            return;
        }
        launch1d(misc, "gather_rows", t, n, new KernelArgs().array(out).array(inp).array(rows).i32(N).i32(C));
    }

    /**
     * sentence-transformers' pooling of packed sequences: out[b] pools inp's rows
     * [cuSeqlens[b], cuSeqlens[b] + n_b) whose position is at least skip, n_b = keyLens[b] or,
     * without keyLens, the sequence's length. {@code mode} 0 mean, 1 mean_sqrt_len_tokens,
     * 2 weightedmean (weights: the position + 1), each summed in double and rounded once, 0 where
     * no row is left; 3 max (NaN first, -inf where no row is left).
     *
     * @param out       [B, C]
     * @param inp       [T, C] packed rows
     * @param cuSeqlens I32 [B + 1]
     * @param keyLens   I32 [B] or null
     * @param positions I32 [T] each packed row's index in its unpacked row
     * @param skip      rows at positions below it are left out (a prompt's tokens), at least 0
     */
    public void poolRows(DeviceArray out, DeviceArray inp, DeviceArray cuSeqlens, DeviceArray keyLens,
                         DeviceArray positions, int B, int C, int mode, int skip) {
        ElementType t = floatType(out);
        require(out, t, (long) B * C, "out");
        require(inp, t, 0, "inp");
        require(cuSeqlens, ElementType.I32, B + 1L, "cu_seqlens");
        requireNullable(keyLens, ElementType.I32, B, "key_lens");
        require(positions, ElementType.I32, 0, "positions");
        if (mode < 0 || mode > 3) throw new IllegalArgumentException("pool_rows: mode " + mode + " is not in [0, 3]");
        if (skip < 0) throw new IllegalArgumentException("pool_rows: skip " + skip + " is negative");
        if (B == 0 || C == 0) {
            return;
        }
        long blocks = (long) B * Math.ceilDiv(C, BLOCK);
        if (blocks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("pool_rows: " + B + " sequences of " + C + " columns need " + blocks
                    + " blocks; at most " + Integer.MAX_VALUE + " per launch");
        }
        context.launch(misc.kernel("pool_rows_" + t.suffix()), (int) blocks, 1, BLOCK, 1,
                new KernelArgs().array(out).array(inp).array(cuSeqlens).array(keyLens).array(positions).i32(B).i32(C)
                        .i32(mode).i32(skip));
    }

    /**
     * Per row of logits: the softmax over the row and its K most probable entries in rank order
     * (larger first, NaN first, ties by smaller index): probs[n, r] and ids[n, r].
     *
     * @param probs  [N, K], the logits' type
     * @param ids    I32 [N, K]
     * @param logits [N, V]
     */
    public void softmaxTopK(DeviceArray probs, DeviceArray ids, DeviceArray logits, int N, int V, int K) {
        ElementType t = floatType(probs);
        if (K < 1 || K > V) {
            throw new IllegalArgumentException("softmax_top_k: K = " + K + " must be in [1, V = " + V + "]");
        }
        require(probs, t, (long) N * K, "probs");
        require(ids, ElementType.I32, (long) N * K, "ids");
        require(logits, t, (long) N * V, "logits");
        if (N == 0) {
            return;
        }
        context.launch(misc.kernel("softmax_top_k_" + t.suffix()), N, 1, 1, BLOCK, 1,
                new KernelArgs().array(probs).array(ids).array(logits).i32(N).i32(V).i32(K));
    }

    /**
     * Per row of logits, the softmax over the row at the K target columns: probs[n, k] =
     * softmax(logits[n])[targets[k]] (the values {@link #softmaxTopK} gives them); NaN for a target
     * outside [0, V).
     *
     * @param probs   [N, K], the logits' type
     * @param logits  [N, V]
     * @param targets I32 [K]
     */
    public void softmaxGather(DeviceArray probs, DeviceArray logits, DeviceArray targets, int N, int V, int K) {
        ElementType t = floatType(probs);
        if (K < 1) {
            throw new IllegalArgumentException("softmax_gather: K = " + K + " must be at least 1");
        }
        require(probs, t, (long) N * K, "probs");
        require(logits, t, (long) N * V, "logits");
        require(targets, ElementType.I32, K, "targets");
        if (N == 0) {
            return;
        }
        context.launch(misc.kernel("softmax_gather_" + t.suffix()), N, 1, 1, BLOCK, 1,
                new KernelArgs().array(probs).array(logits).array(targets).i32(N).i32(V).i32(K));
    }

    /** losses[n] = logsumexp(logits[n]) − logits[n, targets[n]], 0 where the target is ignoreIndex. */
    public void crossEntropy(DeviceArray losses, DeviceArray logits, DeviceArray targets, int N, int V,
                             int ignoreIndex) {
        ElementType t = floatType(losses);
        require(losses, t, N, "losses");
        require(logits, t, (long) N * V, "logits");
        require(targets, ElementType.I32, N, "targets");
        if (N == 0) {
            return;
        }
        context.launch(misc.kernel("cross_entropy_forward_" + t.suffix()), N, 1, 1, BLOCK, 1,
                new KernelArgs().array(losses).array(logits).array(targets).i32(N).i32(V).i32(ignoreIndex));
    }

    /** losses[n] = (predictions[n] − targets[n])². */
    public void mse(DeviceArray losses, DeviceArray predictions, DeviceArray targets, int N) {
        elementwiseLoss("mse_forward", losses, predictions, targets, N);
    }

    /** Binary cross-entropy on logits, per element. */
    public void bceWithLogits(DeviceArray losses, DeviceArray logits, DeviceArray targets, int N) {
        elementwiseLoss("bce_with_logits_forward", losses, logits, targets, N);
    }

    private void elementwiseLoss(String name, DeviceArray losses, DeviceArray x, DeviceArray y, int N) {
        ElementType t = floatType(losses);
        require(losses, t, N, "losses");
        require(x, t, N, "inputs");
        require(y, t, N, "targets");
        if (N == 0) {
            return;
        }
        launch1d(misc, name, t, N, new KernelArgs().array(losses).array(x).array(y).i32(N));
    }

    // ---------------------------------------------------------------------------------------------
    // helpers

    private void launchRows(String name, ElementType t, int N, KernelArgs args) {
        if (N == 0) {
            return;
        }
        context.launch(layernorm.kernel(name + "_" + t.suffix()), Math.ceilDiv(N, LN_ROWS_PER_BLOCK), 1, 1, BLOCK, 1,
                args);
    }

    private void launch1d(KernelModule module, String name, ElementType t, long n, KernelArgs args) {
        long blocks = Math.ceilDiv(n, BLOCK);
        if (blocks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(name + " over " + n + " elements exceeds one launch's grid");
        }
        context.launch(module.kernel(name + "_" + t.suffix()), (int) blocks, 1, 1, BLOCK, 1, args);
    }

    private static ElementType floatType(DeviceArray out) {
        if (!out.type().isFloat()) {
            throw new IllegalArgumentException("output holds " + out.type() + "; the kernels write f32, bf16 or f16");
        }
        return out.type();
    }

    private void require(DeviceArray a, ElementType type, long needed, String name) {
        LaunchChecks.require(context, a, type, needed, name);
    }

    private void requireNullable(DeviceArray a, ElementType type, long needed, String name) {
        LaunchChecks.requireNullable(context, a, type, needed, name);
    }
}
