package distilbert.model;

import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.Head;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The DistilBERT encoder (HF's {@code DistilBertModel}): embeddings, then n_layers transformer
 * blocks, written once as a straight list of {@link Ops} calls on a packed batch.
 *
 * <p>Shapes: B rows of padded length L; T packed tokens; C = dim; NH heads of HS = C / NH; F = hidden_dim.
 *
 * <p>The heads hold one of these as {@code distilbert}, as HF's do. Each forward allocates its
 * activations (one arena per call), so concurrent forwards on the CPU backend do not share state.
 */
public final class DistilBertModel implements Architecture {

    /** Every LayerNorm of DistilBERT (hard-coded 1e-12 in HF, not a config field). */
    static final float EPS = DistilBertConfig.LAYER_NORM_EPS;

    private final DistilBertConfig config;
    private final Ops ops;
    private final ParameterSlab params;
    private final Buffer wordEmbeddings;      // (V, C)
    private final Buffer positionEmbeddings;  // (P, C)
    private final Buffer embLnWeight;         // (C)
    private final Buffer embLnBias;           // (C)
    private final Layer[] layers;
    /** "" for the bare encoder, "distilbert." inside a head: the prefix of the parameter names. */
    private final String prefix;

    /**
     * One transformer block's parameter views, named as HF names them, except {@code qkvW} (3C, C) and
     * {@code qkvB} (3C): q_lin, k_lin and v_lin stacked, one view over the three in the slab
     * ({@link DistilBertParameters#QKV_WEIGHT}), so that one matrix product computes all three.
     */
    private record Layer(Buffer qkvW, Buffer qkvB, Buffer outW, Buffer outB, Buffer saLnW, Buffer saLnB,
                         Buffer lin1W, Buffer lin1B, Buffer lin2W, Buffer lin2B, Buffer outLnW, Buffer outLnB) {
    }

    /** The bare encoder over a slab laid out for {@link Head#BASE} (names without a prefix). */
    public DistilBertModel(DistilBertConfig config, Ops ops, ParameterSlab params) {
        this(config, ops, params, "");
    }

    /** The encoder inside a head: its parameters carry {@code prefix} ("distilbert."). */
    DistilBertModel(DistilBertConfig config, Ops ops, ParameterSlab params, String prefix) {
        this.config = config;
        this.ops = ops;
        this.params = params;
        this.prefix = prefix;
        this.wordEmbeddings = params.get(prefix + DistilBertParameters.WORD_EMBEDDINGS);
        this.positionEmbeddings = params.get(prefix + DistilBertParameters.POSITION_EMBEDDINGS);
        this.embLnWeight = params.get(prefix + "embeddings.LayerNorm.weight");
        this.embLnBias = params.get(prefix + "embeddings.LayerNorm.bias");
        this.layers = new Layer[config.nLayers()];
        for (int i = 0; i < layers.length; i++) {
            String l = prefix + "transformer.layer." + i + ".";
            layers[i] = new Layer(
                    params.group(l + DistilBertParameters.QKV_WEIGHT), params.group(l + DistilBertParameters.QKV_BIAS),
                    params.get(l + "attention.out_lin.weight"), params.get(l + "attention.out_lin.bias"),
                    params.get(l + "sa_layer_norm.weight"), params.get(l + "sa_layer_norm.bias"),
                    params.get(l + "ffn.lin1.weight"), params.get(l + "ffn.lin1.bias"),
                    params.get(l + "ffn.lin2.weight"), params.get(l + "ffn.lin2.bias"),
                    params.get(l + "output_layer_norm.weight"), params.get(l + "output_layer_norm.bias"));
        }
    }

    @Override
    public Head head() {
        return Head.BASE;
    }

    @Override
    public DistilBertConfig config() {
        return config;
    }

    @Override
    public Ops ops() {
        return ops;
    }

    @Override
    public ParameterSlab parameters() {
        return params;
    }

    @Override
    public DistilBertModel distilbert() {
        return this;
    }

    /** HF's {@code DistilBertModel.forward}. */
    public BaseModelOutput forward(ModelInput input) {
        try (Ops.Scope scope = ops.scope()) {
            Encoded e = encode(input);
            // with hidden states, the last of them is last_hidden_state (one tensor, as HF returns it):
            // brought back once, not twice
            Tensor last = e.hiddenStates() != null ? e.hiddenStates().getLast() : e.unpackHidden(ops, e.hidden(), config.dim());
            return new BaseModelOutput(last, e.hiddenStates(), e.attentions());
        }
    }

    /**
     * A training step of the bare encoder: the training forward (dropout from {@code input.dropout()}
     * where set), then the backward of a loss whose gradient with respect to the last hidden state is
     * {@code dLastHiddenState}, every parameter's gradient added into {@code grads}. For a loss
     * {@code sum(last_hidden_state * probe)}, pass the probe.
     *
     * @param dLastHiddenState [B, L, C]; positions not computed (masked ones under
     *                         {@link MaskedPositions#SKIP}) contribute nothing
     * @param grads            a slab of this model's layout ({@code ParameterSlab.allocate(ops,
     *                         parameters().table())}), added into; the incoming gradient is multiplied by its
     *                         {@link ParameterSlab#lossScale()} (a trainer's fp16 loss scale) first
     * @return the last hidden state of the training forward [B, L, C]
     */
    public Tensor backward(ModelInput input, Tensor dLastHiddenState, ParameterSlab grads) {
        BackwardOps bops = Training.backwardOps(ops);
        Training.checkGradients(grads, params);
        int C = config.dim();
        if (dLastHiddenState.rank() != 3 || dLastHiddenState.dim(0) != input.batch()
                || dLastHiddenState.dim(1) != input.length() || dLastHiddenState.dim(2) != C) {
            throw new IllegalArgumentException("the gradient of last_hidden_state must be [B, L, C] = [" + input.batch()
                    + ", " + input.length() + ", " + C + "], got " + Arrays.toString(dLastHiddenState.shape()));
        }
        try (Ops.Scope scope = ops.scope()) {
            Trace tr = encodeTraining(input, bops);
            PackedBatch pk = tr.packed();
            Tensor last = Tensor.of(pk.scatter(ops.download(tr.hidden()), C, null), pk.batch(), pk.length(), C);
            float[] dLast = pk.gather(dLastHiddenState.data(), C);
            float scale = grads.lossScale();   // a trainer's fp16 loss scale: the incoming gradient scaled as a loss's
            if (scale != 1f) {
                for (int i = 0; i < dLast.length; i++) {
                    dLast[i] *= scale;
                }
            }
            backward(tr, ops.bufferOf(dLast), grads, bops);
            return last;
        }
    }

    /**
     * One vector per row, pooled on the backend from the last hidden state, so that only [B, C]
     * comes back: sentence-transformers' pooling ({@link SentenceEmbeddings}).
     *
     * @return [B, C]: per row, the pooling of the hidden states of its tokens whose attention mask is
     *         1 ({@link SentenceEmbeddings.Pooling}; with CLS, the hidden state of token 0)
     */
    public Tensor pool(ModelInput input, SentenceEmbeddings.Pooling pooling) {
        return pool(input, List.of(pooling), 0);
    }

    /**
     * Several poolings of the last hidden state side by side, as sentence-transformers concatenates
     * its pooling modes, computed on the backend so that only [B, k·C] comes back.
     *
     * @param modes  k modes, in the order their vectors are wanted
     * @param prompt tokens at positions below it are left out, as sentence-transformers leaves out a
     *               prompt's tokens (include_prompt false; CLS then takes the first token after
     *               them); 0 pools every token
     * @return [B, k·C]: per row, mode after mode, the pooling of the hidden states of its tokens
     *         whose attention mask is 1 and whose position is at least {@code prompt}. CLS is the
     *         first such token (token 0 where there is none), LASTTOKEN the last (zeros where none);
     *         MEAN, MEAN_SQRT_LEN_TOKENS and WEIGHTEDMEAN are zeros, MAX -inf, where there is none
     */
    public Tensor pool(ModelInput input, List<SentenceEmbeddings.Pooling> modes, int prompt) {
        if (modes.isEmpty()) throw new IllegalArgumentException("pooling: no mode given");
        if (prompt < 0) throw new IllegalArgumentException("pooling: the prompt's length " + prompt + " is negative");
        try (Ops.Scope scope = ops.scope()) {
            Encoded e = encode(input);
            PackedBatch pk = e.packed();
            int B = pk.batch(), L = pk.length(), C = config.dim(), k = modes.size();
            int[] mask = input.attentionMask();
            float[] out = new float[B * k * C];
            IndexBuffer cu = null, keyLens = null, positions = null;
            for (int m = 0; m < k; m++) {
                Buffer pooled = ops.allocateUninitialized((long) B * C);                 // (B, C)
                SentenceEmbeddings.Pooling mode = modes.get(m);
                switch (mode) {
                    case CLS, LASTTOKEN -> {
                        int[] rows = new int[B];
                        for (int b = 0; b < B; b++) {
                            int p = mode == SentenceEmbeddings.Pooling.CLS ? firstUnmasked(mask, b, L, prompt, 0)
                                    : lastUnmasked(mask, b, L, prompt);
                            rows[b] = p < 0 ? -1 : pk.packedIndex()[b * L + p];           // −1: a zero row
                        }
                        ops.gatherRows(pooled, e.hidden(), ops.indicesOf(rows), B, C);
                    }
                    default -> {
                        if (cu == null) {
                            cu = ops.indicesOf(pk.cuSeqlens());
                            keyLens = pk.keyLens() == null ? null : ops.indicesOf(pk.keyLens());
                            positions = ops.indicesOf(pk.positionIds());
                        }
                        ops.poolRowsForward(mode.rowPooling(), pooled, e.hidden(), cu, keyLens, positions, B, C, prompt);
                    }
                }
                float[] v = ops.download(pooled);
                for (int b = 0; b < B; b++) {
                    System.arraycopy(v, b * C, out, (b * k + m) * C, C);
                }
            }
            return Tensor.of(out, B, k * C);
        }
    }

    /** sentence-transformers' CLS token: the first unmasked position from {@code from} on, else {@code none}. */
    private static int firstUnmasked(int[] mask, int b, int L, int from, int none) {
        for (int p = from; p < L; p++) {
            if (mask == null || mask[b * L + p] != 0) return p;
        }
        return none;
    }

    /** sentence-transformers' last token: the last unmasked position from {@code from} on, else −1 (a zero row). */
    private static int lastUnmasked(int[] mask, int b, int L, int from) {
        for (int p = L - 1; p >= from; p--) {
            if (mask == null || mask[b * L + p] != 0) return p;
        }
        return -1;
    }

    /**
     * The encoder's result, still packed: what a head continues from.
     *
     * @param packed       the packing of the batch
     * @param hidden       [T, C] last hidden state, on the backend
     * @param hiddenStates host copies as HF returns them, or null
     * @param attentions   host copies as HF returns them, or null
     */
    record Encoded(ModelInput input, PackedBatch packed, Buffer hidden, List<Tensor> hiddenStates,
                   List<Tensor> attentions) {

        /** A packed [T, width] buffer as a host tensor [B, L, width], zeros where nothing was packed. */
        Tensor unpackHidden(Ops ops, Buffer packedRows, int width) {
            float[] rows = ops.download(packedRows);
            return Tensor.of(packed.scatter(rows, width, null), packed.batch(), packed.length(), width);
        }
    }

    /** Validates the input against the config, packs it, and runs embeddings and every layer. */
    Encoded encode(ModelInput in) {
        validate(in);
        boolean outputAttentions = in.outputAttentions() != null ? in.outputAttentions() : config.outputAttentions();
        boolean outputHiddenStates = in.outputHiddenStates() != null ? in.outputHiddenStates()
                : config.outputHiddenStates();
        int B = in.batch(), L = in.length();
        int C = config.dim(), NH = config.nHeads(), HS = config.headSize(), F = config.hiddenDim();
        PackedBatch pk = PackedBatch.pack(B, L, in.inputIds(), in.attentionMask(), in.maskedPositions());
        int T = pk.tokens();

        // inputs and activations; every activation is written in full by the op that produces it
        // before anything reads it, so none needs zeros (UninitializedBuffersTest checks that)
        IndexBuffer positionIds = ops.indicesOf(pk.positionIds());                     // (T)
        IndexBuffer cuSeqlens = ops.indicesOf(pk.cuSeqlens());                         // (B + 1)
        IndexBuffer keyLens = pk.keyLens() == null ? null : ops.indicesOf(pk.keyLens()); // (B)
        long tc = (long) T * C;
        Buffer x = ops.allocateUninitialized(tc);            // (T, C) residual stream, layer input and output
        Buffer qkv = ops.allocateUninitialized(3 * tc);      // (T, 3C) rows [q | k | v]
        Buffer ctx = ops.allocateUninitialized(tc);          // (T, C) attention context, heads side by side
        Buffer sa = ops.allocateUninitialized(tc);           // (T, C) attention output, then sa_layer_norm output
        Buffer h = ops.allocateUninitialized((long) T * F);  // (T, F) FFN hidden
        Buffer ffn = qkv.view(0, tc);                        // (T, C) FFN output; qkv is free by then
        // (NH, len, keys) per sequence
        Buffer probs = outputAttentions ? ops.allocateUninitialized(pk.probsOffsets(NH)[B]) : null;
        Buffer headMask = headMaskBuffer(in.headMask());                               // (n_layers, NH) or null
        List<Tensor> hiddenStates = outputHiddenStates ? new ArrayList<>() : null;
        List<Tensor> attentions = outputAttentions ? new ArrayList<>() : null;
        Encoded result = new Encoded(in, pk, x, hiddenStates, attentions);

        // embeddings: word (or inputs_embeds) + position, LayerNorm; dropout is the identity in eval
        if (pk.tokenIds() != null) {
            IndexBuffer tokenIds = ops.indicesOf(pk.tokenIds());                        // (T)
            ops.embeddingLayerNormForward(x, tokenIds, positionIds, wordEmbeddings, positionEmbeddings, embLnWeight,
                    embLnBias, T, C, EPS);                                              // (T, C)
        } else {
            ops.upload(x, pk.gather(in.inputsEmbeds(), C));
            ops.positionEmbeddingForward(x, x, positionIds, positionEmbeddings, T, C);
            ops.layerNormForward(x, null, null, x, embLnWeight, embLnBias, T, C, EPS);  // (T, C)
        }

        for (int i = 0; i < layers.length; i++) {
            Layer w = layers[i];
            if (hiddenStates != null) {
                hiddenStates.add(result.unpackHidden(ops, x, C));
            }
            // multi-head self-attention: q_lin, k_lin, v_lin as one product with their stacked weights
            ops.matmulForward(qkv, x, w.qkvW(), w.qkvB(), T, C, 3 * C);               // (T, 3C)
            Buffer layerHeadMask = headMask == null ? null : headMask.view((long) i * NH, NH);
            ops.attentionForward(ctx, probs, qkv, layerHeadMask, cuSeqlens, keyLens, B, T, NH, HS); // (T, C)
            ops.matmulForward(sa, ctx, w.outW(), null, T, C, C);                       // (T, C)
            ops.residualLayerNormForward(sa, null, null, null, sa, w.outB(), x, w.saLnW(), w.saLnB(), T, C, EPS);
            // feed-forward
            ops.matmulForward(h, sa, w.lin1W(), null, T, C, F);                        // (T, F)
            ops.biasActivationForward(config.activation(), h, h, w.lin1B(), T, F);     // (T, F)
            ops.matmulForward(ffn, h, w.lin2W(), null, T, F, C);                       // (T, C)
            ops.residualLayerNormForward(x, null, null, null, ffn, w.lin2B(), sa, w.outLnW(), w.outLnB(), T, C, EPS);
            if (attentions != null) {
                float[] p = pk.scatterAttentions(ops.download(probs), NH);
                attentions.add(Tensor.of(p, B, NH, L, L));
            }
        }
        if (hiddenStates != null) {
            hiddenStates.add(result.unpackHidden(ops, x, C));
        }
        return result;
    }

    // ---------------------------------------------------------------------------------------------
    // training: the forward that keeps what the backward reads, and the backward

    /** What one layer's training forward saved for its backward. */
    private record LayerTrace(Buffer input, Buffer qkv, Buffer probs, Buffer dropped, Buffer ctx, Buffer saSum, Buffer saMean,
                              Buffer saRstd, Buffer saOut, Buffer hPre, Buffer hAct, Buffer outSum, Buffer outMean,
                              Buffer outRstd, DropoutRng attentionRng, DropoutRng ffnRng) {
    }

    /**
     * The encoder's training forward: its output, and everything its backward reads.
     *
     * @param hidden  [T, C] the last hidden state, packed
     * @param headRng the dropout stream past the encoder's sites, for the head's own dropout (null in eval mode)
     */
    record Trace(PackedBatch packed, Buffer hidden, IndexBuffer tokenIds, IndexBuffer positionIds,
                 IndexBuffer cuSeqlens, IndexBuffer keyLens, Buffer headMask, Buffer embSum, Buffer embMean,
                 Buffer embRstd, DropoutRng embRng, LayerTrace[] layers, DropoutRng headRng) {
    }

    /**
     * The training forward (HF's {@code model.train()}): as {@link #encode}, with dropout drawn from
     * {@code input.dropout()} where it is set (its sites in order: embeddings [T, C], then per layer
     * the attention probabilities and the FFN output [T, C]; each site advances the stream past its
     * elements), and every activation the backward needs kept. Hidden states and attentions are not
     * returned here. Runs inside the caller's scope; the trace lives as long as it.
     */
    Trace encodeTraining(ModelInput in, BackwardOps bops) {
        validateTraining(in);
        int B = in.batch(), L = in.length();
        int C = config.dim(), NH = config.nHeads(), HS = config.headSize(), F = config.hiddenDim();
        PackedBatch pk = PackedBatch.pack(B, L, in.inputIds(), in.attentionMask(), in.maskedPositions());
        int T = pk.tokens();
        long tc = (long) T * C;
        DropoutRng rng = in.dropout();
        float pHidden = rng == null ? 0f : (float) config.dropout();
        float pAttention = rng == null ? 0f : (float) config.attentionDropout();
        IndexBuffer positionIds = ops.indicesOf(pk.positionIds());
        IndexBuffer cuSeqlens = ops.indicesOf(pk.cuSeqlens());
        IndexBuffer keyLens = pk.keyLens() == null ? null : ops.indicesOf(pk.keyLens());
        IndexBuffer tokenIds = pk.tokenIds() == null ? null : ops.indicesOf(pk.tokenIds());
        Buffer headMask = headMaskBuffer(in.headMask());
        long probsSize = pk.probsOffsets(NH)[B];

        // embeddings: word (or inputs_embeds) + position → LayerNorm → dropout
        // layer norm statistics in float32 whatever the storage type (as autocast keeps layer norm)
        Buffer embSum = ops.allocateUninitialized(tc), embMean = ops.allocateFloat32(T);
        Buffer embRstd = ops.allocateFloat32(T);
        if (tokenIds != null) {
            ops.embeddingForward(embSum, tokenIds, positionIds, wordEmbeddings, positionEmbeddings, T, C);
        } else {
            ops.upload(embSum, pk.gather(in.inputsEmbeds(), C));
            ops.positionEmbeddingForward(embSum, embSum, positionIds, positionEmbeddings, T, C);
        }
        Buffer x = ops.allocateUninitialized(tc);
        ops.layerNormForward(x, embMean, embRstd, embSum, embLnWeight, embLnBias, T, C, EPS);
        DropoutRng embRng = rng;
        if (pHidden > 0) {
            bops.dropoutForward(x, x, embRng, pHidden, tc);
        }
        rng = advance(rng, tc);

        LayerTrace[] traces = new LayerTrace[layers.length];
        for (int i = 0; i < layers.length; i++) {
            Layer w = layers[i];
            Buffer qkv = ops.allocateUninitialized(3 * tc), probs = ops.allocateUninitialized(probsSize);
            Buffer dropped = pAttention > 0 ? ops.allocateUninitialized(probsSize) : null; // dropout(probs), for the backward
            Buffer ctx = ops.allocateUninitialized(tc), saLin = ops.allocateUninitialized(tc);
            Buffer saSum = ops.allocateUninitialized(tc), saOut = ops.allocateUninitialized(tc);
            Buffer saMean = ops.allocateFloat32(T), saRstd = ops.allocateFloat32(T);
            Buffer hPre = ops.allocateUninitialized((long) T * F), hAct = ops.allocateUninitialized((long) T * F);
            Buffer ffn = ops.allocateUninitialized(tc), outSum = ops.allocateUninitialized(tc);
            Buffer outMean = ops.allocateFloat32(T), outRstd = ops.allocateFloat32(T);
            Buffer next = ops.allocateUninitialized(tc);
            DropoutRng attentionRng = rng;
            rng = advance(rng, probsSize);
            DropoutRng ffnRng = rng;
            rng = advance(rng, tc);

            ops.matmulForward(qkv, x, w.qkvW(), w.qkvB(), T, C, 3 * C);                             // (T, 3C)
            Buffer layerHeadMask = headMask == null ? null : headMask.view((long) i * NH, NH);
            bops.attentionTrainingForward(ctx, probs, dropped, qkv, layerHeadMask, attentionRng, pAttention, cuSeqlens, keyLens,
                    B, T, NH, HS);                                                                  // (T, C)
            ops.matmulForward(saLin, ctx, w.outW(), null, T, C, C);                                 // (T, C)
            ops.residualLayerNormForward(saOut, saSum, saMean, saRstd, saLin, w.outB(), x, w.saLnW(), w.saLnB(), T, C,
                    EPS);
            ops.matmulForward(hPre, saOut, w.lin1W(), null, T, C, F);                               // (T, F)
            ops.biasActivationForward(config.activation(), hAct, hPre, w.lin1B(), T, F);            // (T, F)
            ops.matmulForward(ffn, hAct, w.lin2W(), w.lin2B(), T, F, C);                            // (T, C)
            if (pHidden > 0) {
                bops.dropoutForward(ffn, ffn, ffnRng, pHidden, tc);
            }
            ops.residualLayerNormForward(next, outSum, outMean, outRstd, ffn, null, saOut, w.outLnW(), w.outLnB(), T, C,
                    EPS);
            traces[i] = new LayerTrace(x, qkv, probs, dropped, ctx, saSum, saMean, saRstd, saOut, hPre, hAct, outSum, outMean,
                    outRstd, attentionRng, ffnRng);
            x = next;
        }
        return new Trace(pk, x, tokenIds, positionIds, cuSeqlens, keyLens, headMask, embSum, embMean, embRstd, embRng,
                traces, rng);
    }

    /**
     * The encoder's backward: from {@code dHidden}, the gradient of the loss with respect to the
     * last hidden state [T, C] (consumed: overwritten), adds the gradient of every encoder parameter
     * into {@code grads} (a slab of this model's table; the encoder's names carry the same prefix as
     * here). The position table gets its gradient whether learned or sinusoidal: transformers 5
     * keeps the sinusoidal table a parameter with requires_grad (4.x froze it).
     */
    void backward(Trace tr, Buffer dHidden, ParameterSlab grads, BackwardOps bops) {
        PackedBatch pk = tr.packed();
        int B = pk.batch(), T = pk.tokens();
        int C = config.dim(), NH = config.nHeads(), HS = config.headSize(), F = config.hiddenDim();
        long tc = (long) T * C;
        boolean training = tr.embRng() != null;
        float pHidden = training ? (float) config.dropout() : 0f;
        float pAttention = training ? (float) config.attentionDropout() : 0f;
        Buffer dx = dHidden;                                   // (T, C) gradient of the current layer's output
        Buffer df = ops.allocateUninitialized(tc);             // (T, C)
        Buffer dh = ops.allocateUninitialized((long) T * F);   // (T, F)
        Buffer dsa = ops.allocateUninitialized(tc);            // (T, C)
        Buffer dctx = ops.allocateUninitialized(tc);           // (T, C)
        Buffer dqkv = ops.allocateUninitialized(3 * tc);       // (T, 3C)
        for (int i = layers.length - 1; i >= 0; i--) {
            Layer w = layers[i];
            LayerTrace t = tr.layers()[i];
            String l = prefix + "transformer.layer." + i + ".";
            // output_layer_norm(dropout(lin2(act(lin1(sa)))) + sa)
            bops.layerNormBackward(dsa, grads.get(l + "output_layer_norm.weight"), grads.get(l + "output_layer_norm.bias"),
                    dx, t.outSum(), w.outLnW(), t.outMean(), t.outRstd(), T, C);          // dsa = d(sum), also the residual's
            Buffer dffn = dsa;
            if (pHidden > 0) {
                bops.dropoutBackward(df, dsa, t.ffnRng(), pHidden, tc);
                dffn = df;
            }
            bops.matmulBackward(dh, grads.get(l + "ffn.lin2.weight"), grads.get(l + "ffn.lin2.bias"), dffn, t.hAct(),
                    w.lin2W(), T, F, C, false);
            bops.biasActivationBackward(config.activation(), dh, grads.get(l + "ffn.lin1.bias"), dh, t.hPre(), w.lin1B(),
                    T, F);
            bops.matmulBackward(dsa, grads.get(l + "ffn.lin1.weight"), null, dh, t.saOut(), w.lin1W(), T, C, F, true);
            // sa_layer_norm(out_lin(attention(qkv(x))) + x)
            bops.layerNormBackward(dx, grads.get(l + "sa_layer_norm.weight"), grads.get(l + "sa_layer_norm.bias"), dsa,
                    t.saSum(), w.saLnW(), t.saMean(), t.saRstd(), T, C);                 // dx = d(sum), also the residual's
            bops.matmulBackward(dctx, grads.get(l + "attention.out_lin.weight"), grads.get(l + "attention.out_lin.bias"),
                    dx, t.ctx(), w.outW(), T, C, C, false);
            Buffer layerHeadMask = tr.headMask() == null ? null : tr.headMask().view((long) i * NH, NH);
            bops.attentionBackward(dqkv, dctx, t.qkv(), t.probs(), t.dropped(), layerHeadMask, t.attentionRng(), pAttention,
                    tr.cuSeqlens(), tr.keyLens(), B, T, NH, HS);
            bops.matmulBackward(dx, grads.group(l + DistilBertParameters.QKV_WEIGHT),
                    grads.group(l + DistilBertParameters.QKV_BIAS), dqkv, t.input(), w.qkvW(), T, C, 3 * C, true);
        }
        // embeddings: LayerNorm(word + position) → dropout
        if (pHidden > 0) {
            bops.dropoutBackward(dx, dx, tr.embRng(), pHidden, tc);
        }
        bops.layerNormBackward(dx, grads.get(prefix + "embeddings.LayerNorm.weight"),
                grads.get(prefix + "embeddings.LayerNorm.bias"), dx, tr.embSum(), embLnWeight, tr.embMean(), tr.embRstd(),
                T, C);
        // the sinusoidal table too: transformers 5 leaves it a trainable parameter (4.x froze it)
        Buffer dPosition = grads.get(prefix + DistilBertParameters.POSITION_EMBEDDINGS);
        Buffer dWord = tr.tokenIds() == null ? null : grads.get(prefix + DistilBertParameters.WORD_EMBEDDINGS);
        bops.embeddingBackward(dWord, dPosition, dx, tr.tokenIds(), tr.positionIds(), config.padTokenId(), T, C);
    }

    /** The stream past a site of n elements (null stays null: eval mode). */
    static DropoutRng advance(DropoutRng rng, long n) {
        return rng == null ? null : rng.advance(n);
    }

    /** {@link #validate} without its refusal of dropout. */
    private void validateTraining(ModelInput in) {
        validate(in.dropout() == null ? in : in.withDropout(null));
    }

    /** The head mask expanded to (n_layers, NH), as HF's get_head_mask does, on the backend. */
    private Buffer headMaskBuffer(Tensor headMask) {
        if (headMask == null) {
            return null;
        }
        int NH = config.nHeads(), layersCount = config.nLayers();
        float[] expanded = new float[layersCount * NH];
        for (int i = 0; i < layersCount; i++) {
            System.arraycopy(headMask.data(), headMask.rank() == 1 ? 0 : i * NH, expanded, i * NH, NH);
        }
        return ops.bufferOf(expanded);
    }

    /** Boundary checks against the config (STYLE habit 12); the ops trust what passes. */
    void validate(ModelInput in) {
        if (in.dropout() != null) {
            throw new IllegalArgumentException("a forward pass with a DropoutRng is training mode: it runs through"
                    + " backward(...) of a head (Training), not forward(...)");
        }
        int B = in.batch(), L = in.length();
        int V = config.vocabSize(), P = config.maxPositionEmbeddings();
        if (in.attentionMask() != null) {
            int[] m = in.attentionMask();
            for (int i = 0; i < m.length; i++) {
                if (m[i] != 0 && m[i] != 1) {
                    throw new IllegalArgumentException("attention_mask[" + i / L + "][" + i % L + "] = " + m[i]
                            + "; the mask takes 0 (padding) or 1 (token)");
                }
            }
        }
        if (in.inputIds() != null) {
            int[] ids = in.inputIds();
            for (int i = 0; i < ids.length; i++) {
                if (ids[i] < 0 || ids[i] >= V) {
                    throw new IllegalArgumentException("input_ids[" + i / L + "][" + i % L + "] = " + ids[i]
                            + " is outside the vocabulary [0, " + V + ")");
                }
            }
        } else if (in.inputsEmbeds().length != (long) B * L * config.dim()) {
            throw new IllegalArgumentException("inputs_embeds has " + in.inputsEmbeds().length + " values; [B, L, C] = ["
                    + B + ", " + L + ", " + config.dim() + "] needs " + (long) B * L * config.dim());
        }
        if (L > P) {
            for (int b = 0; b < B; b++) {
                int last = -1;
                for (int l = 0; l < L; l++) {
                    if (in.mask(b, l) != 0) {
                        last = l;
                    }
                }
                if (last + 1 > P) {
                    throw new IllegalArgumentException("row " + b + " is " + (last + 1) + " tokens long (padded length "
                            + L + "), longer than max_position_embeddings = " + P);
                }
            }
            throw new IllegalArgumentException("the padded length " + L + " exceeds max_position_embeddings = " + P
                    + " (every row fits: trim the padding)");
        }
        Tensor hm = in.headMask();
        if (hm != null) {
            int NH = config.nHeads(), nl = config.nLayers();
            boolean perHead = hm.rank() == 1 && hm.dim(0) == NH;
            boolean perLayer = hm.rank() == 2 && hm.dim(0) == nl && hm.dim(1) == NH;
            if (!perHead && !perLayer) {
                throw new IllegalArgumentException("head_mask must be [NH] = [" + NH + "] or [n_layers, NH] = [" + nl
                        + ", " + NH + "], got " + Arrays.toString(hm.shape()));
            }
        }
    }
}
