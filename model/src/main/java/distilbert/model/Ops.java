package distilbert.model;

import distilbert.weights.Activation;

/**
 * The operations DistilBERT is written against. One model, two backends: {@link CpuOps} (plain
 * Java, the oracle) and {@link CudaOps}; {@code DistilBertModel} calls these in order and nothing
 * else touches numbers.
 *
 * <h2>Conventions</h2>
 * <ul>
 *   <li><b>Mirrored signatures:</b> outputs first, then inputs, then sizes. The CUDA kernel and its
 *       launcher take the same arguments in the same order.</li>
 *   <li><b>Row-major</b> tensors, shapes in the fixed alphabet: T tokens of a packed batch (or N rows
 *       in general), C model dim, NH heads, HS head size ({@code C = NH·HS}), F FFN dim, V vocab.</li>
 *   <li><b>Linear layers in HF layout:</b> a weight is {@code [out, in]}; {@code y = x·Wᵀ + b}.</li>
 *   <li><b>Packed batches:</b> a batch is the concatenation of its sequences' tokens;
 *       {@code cuSeqlens [numSeqs + 1]} holds the offsets (sequence b is tokens
 *       {@code [cuSeqlens[b], cuSeqlens[b+1])}). Only attention looks at sequence boundaries; every
 *       other op works row by row on {@code [T, ·]}.</li>
 *   <li><b>Nullable buffers</b> are marked; a null output is simply not written (inference needs no
 *       saved statistics), a null input means "absent" as documented per op.</li>
 *   <li><b>Trust inside:</b> sizes and indices are validated where data enters the model
 *       (STYLE habit 12); an op may assume its buffers are large enough and its indices in range.</li>
 *   <li><b>Backward</b> ops live in {@link BackwardOps}, the training half of the contract, as
 *       {@code xxxBackward} beside each {@code xxxForward}: activation gradients written with
 *       {@code =}, parameter gradients accumulated with {@code +=}; the outputs a backward needs
 *       (layer norm mean/rstd, the residual sum) are optional outputs of the forward ops.</li>
 * </ul>
 *
 * <p>An {@code Ops} owns its execution resources (threads here, a context and stream on a GPU) and
 * is closed when done.
 */
public sealed interface Ops extends AutoCloseable permits BackwardOps {

    /** A short description for messages and benchmarks, e.g. "cpu (2 threads, Vector API)". */
    String describe();

    // ---------------------------------------------------------------------------------------------
    // memory

    /**
     * Opens a step: buffers allocated until the scope closes are scratch, taken back when it does (on
     * a GPU, a bump arena that stops allocating once it has seen the largest step). Every forward pass
     * runs inside one; buffers allocated outside any scope (parameters) live until {@link #close}.
     * Scopes nest and close in reverse order, on the thread that opened them; on the CUDA backend a
     * scope also holds the backend for its thread, so concurrent forwards take turns.
     */
    default Scope scope() {
        return Scope.NONE;
    }

    /** See {@link #scope()}. */
    interface Scope extends AutoCloseable {
        /** The scope of a backend whose buffers are garbage-collected. */
        Scope NONE = () -> { };

        @Override
        void close();
    }

    /**
     * Elements by which the parameters (and the packed q/k/v groups) start in the slab ({@link
     * distilbert.weights.DistilBertParameters#table(distilbert.weights.DistilBertConfig,
     * distilbert.weights.Head, int)}): 1 on the CPU; on a GPU enough for 256-byte alignment, which
     * cuBLAS's fastest kernels want.
     */
    default int parameterAlignment() {
        return 1;
    }

    /**
     * A new zero-filled buffer of {@code length} floats: for a buffer read before it is written in
     * full (a parameter slab filled piece by piece). Costs a fill on a GPU; see
     * {@link #allocateUninitialized}.
     */
    Buffer allocate(long length);

    /**
     * A new buffer of {@code length} floats whose contents are unspecified: on a GPU whatever the
     * memory held before (an earlier step's activations), on the CPU zeros. For a buffer that the
     * next op writes in full before anything reads it (every activation of a forward pass, the
     * output of an op, the target of an upload): it saves a memset per buffer per step on a GPU.
     * The zero-filled {@link #allocate} is the default because forgetting to use this costs a
     * memset, while using it for a buffer that is read first gives wrong values on the GPU only.
     */
    Buffer allocateUninitialized(long length);

    /**
     * A new zero-filled buffer of {@code length} float32 values whatever the backend's storage type:
     * for parameter gradients, optimizer state and the float32 master weights of mixed-precision
     * training. {@link #allocate} where the storage is float32 (the CPU, the GPU in fp32 and tf32).
     */
    Buffer allocateFloat32(long length);

    /** A new zero-filled buffer of {@code length} ints. */
    IndexBuffer allocateIndices(long length);

    /** A new buffer of {@code length} ints whose contents are unspecified (as {@link #allocateUninitialized}). */
    IndexBuffer allocateIndicesUninitialized(long length);

    /** Copies {@code src} into the first {@code src.length} floats of {@code dst}. */
    void upload(Buffer dst, float[] src);

    /** Copies {@code src} into the first {@code src.length} ints of {@code dst}. */
    void uploadIndices(IndexBuffer dst, int[] src);

    /** Copies the first {@code dst.length} floats of {@code src} into {@code dst}. */
    void download(float[] dst, Buffer src);

    /** The indices of {@code src} (host ← backend), all of them: what an op wrote there. */
    int[] downloadIndices(IndexBuffer src);

    /** The whole buffer as a new array. */
    default float[] download(Buffer src) {
        float[] dst = new float[HostBuffer.checkedLength(src.length())];
        download(dst, src);
        return dst;
    }

    /** A new buffer holding {@code src}. */
    default Buffer bufferOf(float[] src) {
        Buffer b = allocateUninitialized(src.length);
        upload(b, src);
        return b;
    }

    /** A new index buffer holding {@code src}. */
    default IndexBuffer indicesOf(int[] src) {
        IndexBuffer b = allocateIndicesUninitialized(src.length);
        uploadIndices(b, src);
        return b;
    }

    // ---------------------------------------------------------------------------------------------
    // embeddings

    /**
     * {@code out[t, :] = wordEmbeddings[tokenIds[t], :] + positionEmbeddings[positionIds[t], :]}.
     *
     * @param out                [T, C]
     * @param tokenIds           [T], each in [0, V)
     * @param positionIds        [T], each in [0, max_position_embeddings): a token's index in its
     *                           unpacked row, as HF uses arange(L) whatever the mask
     * @param wordEmbeddings     [V, C]
     * @param positionEmbeddings [P, C]
     */
    void embeddingForward(Buffer out, IndexBuffer tokenIds, IndexBuffer positionIds, Buffer wordEmbeddings,
                          Buffer positionEmbeddings, int T, int C);

    /**
     * {@code out[t, :] = inputsEmbeds[t, :] + positionEmbeddings[positionIds[t], :]}: the embedding
     * step when the caller supplies {@code inputs_embeds} instead of token ids.
     *
     * @param out          [T, C], may be {@code inputsEmbeds}
     * @param inputsEmbeds [T, C]
     */
    void positionEmbeddingForward(Buffer out, Buffer inputsEmbeds, IndexBuffer positionIds,
                                  Buffer positionEmbeddings, int T, int C);

    /**
     * {@code out = LayerNorm(wordEmbeddings[tokenIds] + positionEmbeddings[positionIds])}: the embedding
     * step and its norm, one kernel on a GPU. The sum is rounded to the storage type before the norm,
     * as torch adds the two embeddings before its LayerNorm.
     *
     * @param out [T, C]
     */
    default void embeddingLayerNormForward(Buffer out, IndexBuffer tokenIds, IndexBuffer positionIds,
                                           Buffer wordEmbeddings, Buffer positionEmbeddings, Buffer weight,
                                           Buffer bias, int T, int C, float eps) {
        embeddingForward(out, tokenIds, positionIds, wordEmbeddings, positionEmbeddings, T, C);
        layerNormForward(out, null, null, out, weight, bias, T, C, eps);
    }

    // ---------------------------------------------------------------------------------------------
    // layer norm

    /**
     * {@code out[n, :] = (inp[n, :] − mean) · rstd · weight + bias}, with {@code mean} and the biased
     * variance taken over the row and {@code rstd = 1 / sqrt(var + eps)} (torch's LayerNorm).
     *
     * @param out    [N, C], may be {@code inp}
     * @param mean   [N] or null; a float32 buffer ({@link #allocateFloat32}) whatever the storage type
     * @param rstd   [N] or null; float32 as mean
     * @param inp    [N, C]
     * @param weight [C]
     * @param bias   [C]
     */
    void layerNormForward(Buffer out, Buffer mean, Buffer rstd, Buffer inp, Buffer weight, Buffer bias,
                          int N, int C, float eps);

    /**
     * {@code out = LayerNorm((inp + bias) + residual)}: the bias of the preceding Linear and the "add
     * and norm" that closes each sub-block, fused. Each sum is rounded to the storage type, as torch
     * rounds the Linear's output and then the residual sum.
     *
     * @param out      [N, C], may be {@code inp} or {@code residual}
     * @param sum      [N, C] or null: receives {@code inp + bias + residual} (what the backward pass needs)
     * @param mean     [N] or null; float32 ({@link #allocateFloat32})
     * @param rstd     [N] or null; float32
     * @param inp      [N, C]
     * @param bias     [C] or null (no bias)
     * @param residual [N, C]
     * @param weight   [C] the norm's scale
     * @param lnBias   [C] the norm's shift
     */
    void residualLayerNormForward(Buffer out, Buffer sum, Buffer mean, Buffer rstd, Buffer inp, Buffer bias,
                                  Buffer residual, Buffer weight, Buffer lnBias, int N, int C, float eps);

    // ---------------------------------------------------------------------------------------------
    // linear layers

    /**
     * {@code out = inp · weightᵀ + bias}: a Linear layer in HF layout.
     *
     * @param out    [N, M], must not overlap {@code inp}
     * @param inp    [N, K]
     * @param weight [M, K]
     * @param bias   [M] or null (no bias)
     */
    void matmulForward(Buffer out, Buffer inp, Buffer weight, Buffer bias, int N, int K, int M);

    /**
     * {@code out[n, m] = act(inp[n, m] + bias[m])}: the bias and activation after a bias-free matmul,
     * fused as the CUDA kernel fuses them. GELU is the exact erf form, GELU_NEW the tanh form.
     *
     * @param out  [N, M], may be {@code inp}
     * @param inp  [N, M]
     * @param bias [M] or null (no bias)
     */
    void biasActivationForward(Activation act, Buffer out, Buffer inp, Buffer bias, int N, int M);

    // ---------------------------------------------------------------------------------------------
    // attention

    /**
     * Multi-head self-attention over a packed batch, per sequence and head:
     * <pre>
     *   scores = q_h · k_hᵀ / sqrt(HS)              (len, keys)
     *   probs  = softmax(scores, over keys) · headMask[h]
     *   out_h  = probs · v_h                        (len, HS)
     * </pre>
     * q, k and v come in one buffer, the output of the fused q_lin/k_lin/v_lin projection (one matrix
     * product with the {@code [3C, C]} weight of {@link distilbert.weights.DistilBertParameters#QKV_WEIGHT}):
     * row t is {@code [q_t | k_t | v_t]}, so head h of token t reads {@code qkv[t·3C + h·HS + d]} (q),
     * {@code qkv[t·3C + C + h·HS + d]} (k) and {@code qkv[t·3C + 2C + h·HS + d]} (v).
     *
     * <p>The keys of sequence b are its first {@code keys_b} tokens, where {@code keys_b = keyLens[b]}
     * (or {@code len_b} when {@code keyLens} is null); tokens after them are queries only. This is how
     * masked positions can still be computed exactly as HF does (they attend, nobody attends to them).
     * A sequence with {@code keyLens[b] == 0} but {@code len_b > 0} attends uniformly to all its
     * {@code len_b} tokens: that is what HF's softmax gives when every score of a row is
     * {@code finfo.min}.
     *
     * @param out       [T, C]: heads side by side, {@code out[t, h·HS + d]}; must not overlap {@code qkv}
     * @param probs     null, or the probabilities after the head mask: sequence b's block
     *                  {@code [NH, len_b, keys_b]} starts at {@code NH · Σ_{b'<b} len_b'·keys_b'}
     *                  (see {@link PackedBatch#probsOffsets})
     * @param qkv       [T, 3C]: q at columns [0, C), k at [C, 2C), v at [2C, 3C) of each row
     * @param headMask  [NH] or null: multiplies the probabilities of head h (HF: after softmax and
     *                  dropout, so it also scales the returned attentions)
     * @param cuSeqlens [numSeqs + 1]
     * @param keyLens   [numSeqs] or null
     */
    void attentionForward(Buffer out, Buffer probs, Buffer qkv, Buffer headMask, IndexBuffer cuSeqlens,
                          IndexBuffer keyLens, int numSeqs, int T, int NH, int HS);

    // ---------------------------------------------------------------------------------------------
    // data movement

    /**
     * {@code out[i, :] = inp[rows[i], :]}, or zeros where {@code rows[i] < 0}. Picks the [CLS] and last tokens' rows
     * for pooling and the requested positions for the MLM head.
     *
     * @param out  [N, C]
     * @param inp  [*, C]
     * @param rows [N]
     */
    void gatherRows(Buffer out, Buffer inp, IndexBuffer rows, int N, int C);

    /** The pooling modes of {@link #poolRowsForward}: sentence-transformers' that reduce over tokens. */
    enum RowPooling {
        /** The mean ({@code mean}). */
        MEAN,
        /** The sum over the square root of the count ({@code mean_sqrt_len_tokens}). */
        MEAN_SQRT_LEN,
        /** The mean weighted by the position + 1 ({@code weightedmean}). */
        WEIGHTED_MEAN,
        /** The largest value per column ({@code max}). */
        MAX
    }

    /**
     * sentence-transformers' pooling of packed sequences: {@code out[b, :]} pools the rows
     * {@code inp[cuSeqlens[b] + r]}, {@code r} in {@code [0, n_b)}, whose position {@code p} (the
     * token's index in its padded row) is at least {@code skip}; {@code n_b} is {@code keyLens[b]}
     * (a sequence's unmasked tokens lead it) or, when keyLens is null, the sequence's length, and
     * {@code skip} leaves out a prompt's leading tokens (include_prompt false). MEAN, MEAN_SQRT_LEN
     * and WEIGHTED_MEAN (weights {@code p + 1}, sentence-transformers' {@code arange(1, L + 1)}) are
     * summed in double in row order, divided and rounded once, on every backend, and are zeros where
     * no row is left (the mask's sum clamped to 1e-9); MAX is NaN where any value is, and -inf where
     * no row is left.
     *
     * @param out       [B, C]
     * @param inp       [T, C] packed rows
     * @param cuSeqlens [B + 1]
     * @param keyLens   [B] or null
     * @param positions [T] each packed row's position
     * @param skip      at least 0
     */
    void poolRowsForward(RowPooling mode, Buffer out, Buffer inp, IndexBuffer cuSeqlens, IndexBuffer keyLens,
                         IndexBuffer positions, int B, int C, int skip);

    /**
     * The fill-mask pipeline's postprocessing on the backend, so that only [N, K] comes back: per row
     * of {@code logits}, the softmax over the row and its K most probable entries in rank order
     * (larger probability first, NaN before any number, equal ones by smaller index: the order of
     * the pipelines' ranking). The CPU backend computes the softmax in double and rounds once to
     * float32, as the pipelines do on the host; the CUDA one in float32.
     *
     * @param probs  [N, K] the probabilities, in rank order
     * @param ids    [N, K] their indices in the row
     * @param logits [N, V]
     * @param K      in [1, V]
     */
    void softmaxTopKForward(Buffer probs, IndexBuffer ids, Buffer logits, int N, int V, int K);

    /**
     * The fill-mask pipeline's postprocessing with targets on the backend, so that only [N, K] comes
     * back: per row of {@code logits}, the softmax over the whole row (as HF's pipeline computes it)
     * at the K target columns, {@code probs[n, k] = softmax(logits[n])[targets[k]]}, the values
     * {@link #softmaxTopKForward} gives those columns (not renormalised over the targets).
     *
     * @param probs   [N, K]
     * @param logits  [N, V]
     * @param targets [K] column indices, each in [0, V) (the CPU backend refuses others; the CUDA one
     *                writes NaN for them)
     * @param K       at least 1
     */
    void softmaxGatherForward(Buffer probs, Buffer logits, IndexBuffer targets, int N, int V, int K);

    // ---------------------------------------------------------------------------------------------
    // losses: one value per row; the model averages them (in double) as torch's reduction="mean"

    /**
     * Softmax cross-entropy per row: {@code losses[n] = logsumexp(logits[n, :]) − logits[n, targets[n]]},
     * or 0 where {@code targets[n] == ignoreIndex}.
     *
     * @param losses  [N]
     * @param logits  [N, V]
     * @param targets [N], each in [0, V) or equal to {@code ignoreIndex}
     */
    void crossEntropyForward(Buffer losses, Buffer logits, IndexBuffer targets, int N, int V, int ignoreIndex);

    /** {@code losses[n] = (predictions[n] − targets[n])²}. All [N]. */
    void mseForward(Buffer losses, Buffer predictions, Buffer targets, int N);

    /**
     * Binary cross-entropy on logits, per element, in torch's stable form:
     * {@code max(x, 0) − x·y + log(1 + exp(−|x|))}. All [N].
     */
    void bceWithLogitsForward(Buffer losses, Buffer logits, Buffer targets, int N);

    /** Releases threads or device resources; buffers of a closed backend must not be used. */
    @Override
    void close();
}
