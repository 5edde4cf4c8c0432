package distilbert.model;

import distilbert.weights.Activation;

/**
 * The operations of training: the backward pass of every forward op DistilBERT uses, training-mode
 * dropout, and the optimizer's walk over the flat parameter buffer. Both backends implement it: the
 * CPU reference ({@link CpuOps}) and {@link CudaOps} (kernels-cu's {@code training.cu},
 * {@code attention_train.cu} and {@code activation.cu}, cuBLAS for the matrix products). The CUDA
 * backend trains in fp32, tf32, bf16 and fp16: parameter gradients and optimizer state are float32
 * buffers whatever the storage type ({@link Ops#allocateFloat32}), in bf16 and fp16 the trainer keeps
 * float32 master weights ({@link #storesFloat32}), and in fp16 it scales the loss
 * ({@link #needsLossScaling}).
 *
 * <h2>Conventions</h2> (beside {@link Ops}'s)
 * <ul>
 *   <li>A gradient has the shape of what it is the gradient of, and is named {@code dX} for X.</li>
 *   <li>Activation gradients are written ({@code =}) unless the op says it accumulates; parameter
 *       gradients are always accumulated ({@code +=}), so a tied or shared parameter and gradient
 *       accumulation over micro-batches need nothing special. A null parameter gradient is not
 *       computed.</li>
 *   <li>A backward op reads what its forward saved (layer norm mean and rstd, the pre-activation,
 *       the softmax) rather than recomputing it, except dropout masks, which are drawn again from the
 *       same {@link DropoutRng} position.</li>
 * </ul>
 */
public sealed interface BackwardOps extends Ops permits CpuOps, CudaOps {

    // ---------------------------------------------------------------------------------------------
    // embeddings

    /**
     * The backward of {@link #embeddingForward} / {@link #positionEmbeddingForward}: scatter-adds
     * {@code dOut[t, :]} into {@code dWordEmbeddings[tokenIds[t], :]} and
     * {@code dPositionEmbeddings[positionIds[t], :]} (a token seen twice adds twice), except that
     * tokens equal to {@code paddingIdx} add nothing to the word embeddings (torch's
     * {@code nn.Embedding(padding_idx=…)}, as HF builds DistilBERT's from pad_token_id).
     *
     * @param dWordEmbeddings     [V, C] or null (inputs_embeds, or frozen)
     * @param dPositionEmbeddings [P, C] or null (frozen)
     * @param dOut                [T, C]
     * @param tokenIds            [T]; may be null when {@code dWordEmbeddings} is
     */
    void embeddingBackward(Buffer dWordEmbeddings, Buffer dPositionEmbeddings, Buffer dOut, IndexBuffer tokenIds,
                           IndexBuffer positionIds, int paddingIdx, int T, int C);

    // ---------------------------------------------------------------------------------------------
    // layer norm

    /**
     * The backward of {@link #layerNormForward} from its saved statistics:
     * {@code x̂ = (inp − mean)·rstd}, {@code g = dOut·weight},
     * {@code dInp = rstd·(g − mean(g) − x̂·mean(g·x̂))}; {@code dWeight += Σ_n dOut·x̂},
     * {@code dBias += Σ_n dOut}. Row sums in double.
     *
     * @param dInp    [N, C], written; may be {@code dOut}
     * @param dWeight [C] or null
     * @param dBias   [C] or null
     * @param dOut    [N, C]
     * @param inp     [N, C] the forward's input (for the residual variant, its {@code sum})
     * @param mean    [N] and {@code rstd} [N]: what the forward wrote
     */
    void layerNormBackward(Buffer dInp, Buffer dWeight, Buffer dBias, Buffer dOut, Buffer inp, Buffer weight,
                           Buffer mean, Buffer rstd, int N, int C);

    // ---------------------------------------------------------------------------------------------
    // linear layers

    /**
     * The backward of {@link #matmulForward} ({@code out = inp·weightᵀ + bias}):
     * {@code dInp (=, or += when accumulate) dOut·weight}, {@code dWeight += dOutᵀ·inp},
     * {@code dBias += Σ_n dOut}. Float accumulation, as the forward's.
     *
     * @param dInp       [N, K] or null (the input is not trained: the first layer's ids)
     * @param dWeight    [M, K] or null
     * @param dBias      [M] or null
     * @param dOut       [N, M]; must not overlap {@code dInp}
     * @param inp        [N, K]
     * @param weight     [M, K]
     * @param accumulate add into {@code dInp} instead of overwriting it (a tensor read by two ops)
     */
    void matmulBackward(Buffer dInp, Buffer dWeight, Buffer dBias, Buffer dOut, Buffer inp, Buffer weight, int N,
                        int K, int M, boolean accumulate);

    /**
     * The backward of {@link #biasActivationForward} ({@code out = act(inp + bias)}):
     * {@code dInp = dOut · act'(inp + bias)}, {@code dBias += Σ_n dInp}. The derivatives, in double:
     * GELU {@code Φ(x) + x·φ(x)}; GELU_NEW the tanh form's; ReLU 1 for x > 0 else 0 (torch's); SiLU
     * {@code σ(x)·(1 + x·(1 − σ(x)))}.
     *
     * @param dInp [N, M], written; may be {@code dOut}
     * @param inp  [N, M] the forward's input (before the bias)
     * @param bias [M] or null, with {@code dBias} [M] or null
     */
    void biasActivationBackward(Activation act, Buffer dInp, Buffer dBias, Buffer dOut, Buffer inp, Buffer bias,
                                int N, int M);

    // ---------------------------------------------------------------------------------------------
    // dropout

    /**
     * Training-mode dropout: {@code out[i] = keep(i) ? inp[i] / (1 − p) : 0}, the mask drawn from
     * {@code rng} (element i of the site uses {@link DropoutRng#uniform}(i)).
     *
     * @param out [N], may be {@code inp}
     */
    void dropoutForward(Buffer out, Buffer inp, DropoutRng rng, float p, long N);

    /** The backward of {@link #dropoutForward}: the same mask and scale applied to {@code dOut}; {@code dInp} may be {@code dOut}. */
    void dropoutBackward(Buffer dInp, Buffer dOut, DropoutRng rng, float p, long N);

    // ---------------------------------------------------------------------------------------------
    // attention

    /**
     * {@link #attentionForward} in training mode: HF's order, softmax, then dropout on the
     * probabilities, then the head mask, then {@code · v}. {@code probs} receives the softmax itself
     * (before dropout and head mask), laid out as {@link #attentionForward}'s: what the backward reads.
     * The dropout site is the probabilities in that layout, element i being {@code probs[i]}.
     *
     * @param probs   not null: [Σ_b NH·len_b·keys_b]
     * @param dropped null, or (with p > 0) receives {@code dropout(P)} in the same layout, so that the
     *                backward need not draw the mask again
     * @param dropout the site's rng, or null with p = 0
     */
    void attentionTrainingForward(Buffer out, Buffer probs, Buffer dropped, Buffer qkv, Buffer headMask,
                                  DropoutRng dropout, float p, IndexBuffer cuSeqlens, IndexBuffer keyLens, int numSeqs,
                                  int T, int NH, int HS);

    /**
     * The backward of {@link #attentionTrainingForward}, per sequence and head, with
     * {@code W = dropout(P)·headMask[h]}:
     * <pre>
     *   dV = Wᵀ·dOut_h            dW = dOut_h·Vᵀ           dP = dropout(dW)·headMask[h]
     *   dS = P ∘ (dP − rowsum(dP ∘ P))                     dQ = dS·K / sqrt(HS)     dK = dSᵀ·Q / sqrt(HS)
     * </pre>
     * Tokens past a sequence's keys get no key or value gradient; a sequence whose keys are all
     * masked (uniform attention) passes no gradient to q and k.
     *
     * @param dQkv    [T, 3C], written in full
     * @param dOut    [T, C]
     * @param dropped null (the mask is drawn again from {@code dropout}), or what the forward wrote
     *                there: then {@code dropout(dW)} keeps dW where {@code dropped} is not 0 (where it
     *                is 0 but the element was kept, P is 0 and so is dS)
     */
    void attentionBackward(Buffer dQkv, Buffer dOut, Buffer qkv, Buffer probs, Buffer dropped, Buffer headMask,
                           DropoutRng dropout, float p, IndexBuffer cuSeqlens, IndexBuffer keyLens, int numSeqs, int T,
                           int NH, int HS);

    // ---------------------------------------------------------------------------------------------
    // data movement

    /**
     * The backward of {@link #gatherRows}: {@code dInp[rows[n], :] += dOut[n, :]} where {@code rows[n] ≥ 0}
     * (accumulates: a row picked twice adds twice; clear {@code dInp} first).
     */
    void gatherRowsBackward(Buffer dInp, Buffer dOut, IndexBuffer rows, int N, int C);

    /** {@code out[i] = value} for i in [0, N). */
    void fill(Buffer out, float value, long N);

    // ---------------------------------------------------------------------------------------------
    // losses: d(scale · Σ_n losses[n]) / dlogits; the model passes scale = 1 / (rows counted)

    /**
     * The backward of {@link #crossEntropyForward}:
     * {@code dLogits[n, :] = scale·(softmax(logits[n, :]) − onehot(targets[n]))}, zeros where the
     * target is {@code ignoreIndex}.
     */
    void crossEntropyBackward(Buffer dLogits, Buffer logits, IndexBuffer targets, int N, int V, int ignoreIndex,
                              float scale);

    /** {@code dPredictions[n] = scale·2·(predictions[n] − targets[n])}. */
    void mseBackward(Buffer dPredictions, Buffer predictions, Buffer targets, int N, float scale);

    /** {@code dLogits[n] = scale·(σ(logits[n]) − targets[n])}. */
    void bceWithLogitsBackward(Buffer dLogits, Buffer logits, Buffer targets, int N, float scale);

    // ---------------------------------------------------------------------------------------------
    // optimizer: over views of the flat parameter, gradient and moment buffers

    /**
     * One AdamW step over {@code n} elements, exactly torch.optim.AdamW's float32 single-tensor
     * algorithm ({@link AdamW#update}); the hyperparameters in double, as torch keeps them (0.9f is not 0.9).
     *
     * @param step the optimizer step, from 1
     */
    void adamWUpdate(Buffer params, Buffer grads, Buffer m, Buffer v, long n, double lr, double beta1, double beta2,
                     double eps, double weightDecay, long step);

    /**
     * {@link #adamWUpdate} over a whole slab in one walk (DESIGN.md: one optimizer kernel over the flat
     * buffer): segment s is elements {@code [segmentEnds[s-1], segmentEnds[s])} (from 0; the last end is
     * the slab's length), updated with {@code weightDecay} where {@code segmentDecays[s]} and without it
     * elsewhere. Each element gets exactly {@link #adamWUpdate}'s arithmetic. A gap between parameters
     * (alignment padding: zero parameters, gradients and moments) is a segment like any other; it stays 0.
     */
    void adamWUpdate(Buffer params, Buffer grads, Buffer m, Buffer v, int[] segmentEnds, boolean[] segmentDecays,
                     double lr, double beta1, double beta2, double eps, double weightDecay, long step);

    /** {@code Σ g²} over {@code n} elements, in double (global-norm clipping). */
    double sumOfSquares(Buffer g, long n);

    /** {@code g[i] *= factor}. */
    void scale(Buffer g, float factor, long n);

    // ---------------------------------------------------------------------------------------------
    // mixed precision

    /**
     * Whether this backend stores parameters (and activations) in float32: then the optimizer updates
     * the model's parameters in place. False for a GPU backend in bf16, whose {@link Trainer} keeps
     * float32 master weights, updates those, and writes the 16-bit copy the forward reads with
     * {@link #storeParameters} (as torch's autocast keeps float32 weights and runs the matrix
     * products in bf16).
     */
    boolean storesFloat32();

    /**
     * Whether activations and their gradients are stored in float16, whose 5-bit exponent flushes
     * small gradients to zero: then the {@link Trainer} scales the loss up before the backward and the
     * gradients down before the update, as torch's GradScaler does under HF's {@code --fp16}.
     */
    boolean needsLossScaling();

    /**
     * {@code params[i] = master[i]} rounded to the storage type, for i in [0, n): the model's 16-bit
     * parameters from float32 master weights (a copy where the storage is float32).
     *
     * @param master a float32 buffer ({@link #allocateFloat32})
     */
    void storeParameters(Buffer params, Buffer master, long n);
}
