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
     * One vector per row, pooled on the backend from the last hidden state, so that only [B, C]
     * comes back: sentence-transformers' pooling ({@link SentenceEmbeddings}).
     *
     * @return [B, C]: per row, the mean of the hidden states of its tokens whose attention mask is 1
     *         (zeros for a row with none), or with {@link SentenceEmbeddings.Pooling#CLS} the hidden
     *         state of token 0 (zeros where its mask is 0, unless {@link MaskedPositions#COMPUTE})
     */
    public Tensor pool(ModelInput input, SentenceEmbeddings.Pooling pooling) {
        try (Ops.Scope scope = ops.scope()) {
            Encoded e = encode(input);
            PackedBatch pk = e.packed();
            int B = pk.batch(), L = pk.length(), C = config.dim();
            Buffer pooled = ops.allocateUninitialized((long) B * C);                     // (B, C)
            switch (pooling) {
                case MEAN -> ops.meanRowsForward(pooled, e.hidden(), ops.indicesOf(pk.cuSeqlens()),
                        pk.keyLens() == null ? null : ops.indicesOf(pk.keyLens()), B, C);
                case CLS -> {
                    int[] rows = new int[B];
                    for (int b = 0; b < B; b++) {
                        rows[b] = pk.packedIndex()[b * L];                                // −1 (a zero row) where not packed
                    }
                    ops.gatherRows(pooled, e.hidden(), ops.indicesOf(rows), B, C);
                }
            }
            return Tensor.of(ops.download(pooled), B, C);
        }
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
            throw new UnsupportedOperationException("training-mode forward (dropout) arrives with the backward pass;"
                    + " run inference without a DropoutRng");
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
