package distilbert.model;

import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.Head;

/**
 * HF's {@code DistilBertForMaskedLM}: per token, vocab_transform → activation (config.activation)
 * → vocab_layer_norm → vocab_projector (tied to the word embeddings when tie_word_embeddings);
 * loss = mean cross-entropy over labels that are not −100.
 *
 * <p>{@link #forward(ModelInput, int[][])} computes logits at every position, as HF does;
 * {@link #forwardAt} only where asked, which avoids the V-wide projection everywhere else.
 */
public final class DistilBertForMaskedLM implements Architecture {

    /** Labels equal to this are ignored by the loss (torch's default ignore_index). */
    public static final int IGNORE_INDEX = HeadSupport.IGNORE_INDEX;

    private final DistilBertConfig config;
    private final Ops ops;
    private final DistilBertModel distilbert;
    private final Buffer transformW;  // (C, C)
    private final Buffer transformB;  // (C)
    private final Buffer lnW;         // (C)
    private final Buffer lnB;         // (C)
    private final Buffer projectorW;  // (V, C), the word embeddings when tied
    private final Buffer projectorB;  // (V)

    public DistilBertForMaskedLM(DistilBertConfig config, Ops ops, ParameterSlab params) {
        this.config = config;
        this.ops = ops;
        this.distilbert = new DistilBertModel(config, ops, params, DistilBertParameters.PREFIX);
        this.transformW = params.get("vocab_transform.weight");
        this.transformB = params.get("vocab_transform.bias");
        this.lnW = params.get("vocab_layer_norm.weight");
        this.lnB = params.get("vocab_layer_norm.bias");
        this.projectorW = params.get(DistilBertParameters.VOCAB_PROJECTOR_WEIGHT);
        this.projectorB = params.get("vocab_projector.bias");
    }

    /** Logits at every position, no loss. */
    public MaskedLMOutput forward(ModelInput input) {
        return forward(input, null);
    }

    /**
     * HF's forward: logits [B, L, V] at every position.
     *
     * @param labels [B][L] token ids or −100, or null for no loss
     */
    public MaskedLMOutput forward(ModelInput input, int[][] labels) {
        int[] flatLabels = labels == null ? null : HeadSupport.flatLabels(labels, input, "labels");
        if (flatLabels != null) {
            HeadSupport.checkClassLabels(flatLabels, config.vocabSize(), "labels", input.length());
        }
        try (Ops.Scope scope = ops.scope()) {
            DistilBertModel.Encoded e = distilbert.encode(input);
            PackedBatch pk = e.packed();
            int C = config.dim(), V = config.vocabSize();
            int N = HeadSupport.rowCount(pk);
            Buffer logits = predictionLogits(HeadSupport.rowsWithZero(ops, e, C), N);     // (N, V)
            Tensor out = Tensor.of(HeadSupport.unpack(pk, ops.download(logits), V), pk.batch(), pk.length(), V);
            Float loss = null;
            if (flatLabels != null) {
                int L = pk.length();
                int P = 0;
                for (int y : flatLabels) {
                    if (y != IGNORE_INDEX) {
                        P++;
                    }
                }
                int[] rows = new int[P], targets = new int[P];
                int p = 0;
                for (int i = 0; i < flatLabels.length; i++) {
                    if (flatLabels[i] != IGNORE_INDEX) {
                        rows[p] = HeadSupport.rowOf(pk, i / L, i % L);
                        targets[p++] = flatLabels[i];
                    }
                }
                Buffer labeled = ops.allocateUninitialized((long) P * V);                      // (P, V)
                ops.gatherRows(labeled, logits, ops.indicesOf(rows), P, V);
                loss = HeadSupport.crossEntropy(ops, labeled, targets, V, IGNORE_INDEX);
            }
            return new MaskedLMOutput(loss, out, e.hiddenStates(), e.attentions(), null);
        }
    }

    /**
     * Logits only at {@code at}: [P, V] in its order. The loss, when {@code labels} is given, is the
     * mean over the positions of {@code at} whose label is not −100; it equals HF's loss when
     * {@code at} holds every labeled position ({@link TokenPositions#labeled}).
     */
    public MaskedLMOutput forwardAt(ModelInput input, TokenPositions at, int[][] labels) {
        int B = input.batch(), L = input.length();
        for (int p = 0; p < at.size(); p++) {
            if (at.rows()[p] < 0 || at.rows()[p] >= B || at.positions()[p] < 0 || at.positions()[p] >= L) {
                throw new IllegalArgumentException("position " + p + " of the request, (" + at.rows()[p] + ", "
                        + at.positions()[p] + "), is outside the batch [" + B + ", " + L + "]");
            }
        }
        int[] flatLabels = labels == null ? null : HeadSupport.flatLabels(labels, input, "labels");
        if (flatLabels != null) {
            HeadSupport.checkClassLabels(flatLabels, config.vocabSize(), "labels", L);
        }
        try (Ops.Scope scope = ops.scope()) {
            DistilBertModel.Encoded e = distilbert.encode(input);
            PackedBatch pk = e.packed();
            int C = config.dim(), V = config.vocabSize(), P = at.size();
            int[] rows = new int[P];
            for (int p = 0; p < P; p++) {
                rows[p] = pk.packedIndex()[at.rows()[p] * L + at.positions()[p]]; // −1 (a zero row) where not packed
            }
            Buffer selected = ops.allocateUninitialized((long) P * C);                           // (P, C)
            ops.gatherRows(selected, e.hidden(), ops.indicesOf(rows), P, C);
            Buffer logits = predictionLogits(selected, P);                                       // (P, V)
            Tensor out = Tensor.of(ops.download(logits), P, V);
            Float loss = null;
            if (flatLabels != null) {
                int[] targets = new int[P];
                for (int p = 0; p < P; p++) {
                    targets[p] = flatLabels[at.rows()[p] * L + at.positions()[p]];
                }
                loss = HeadSupport.crossEntropy(ops, logits, targets, V, IGNORE_INDEX);
            }
            return new MaskedLMOutput(loss, out, e.hiddenStates(), e.attentions(), at);
        }
    }

    /** The MLM head on N rows of hidden states. */
    private Buffer predictionLogits(Buffer hidden, int N) {
        int C = config.dim(), V = config.vocabSize();
        Buffer t = ops.allocateUninitialized((long) N * C);
        ops.matmulForward(t, hidden, transformW, null, N, C, C);                      // (N, C) vocab_transform
        ops.biasActivationForward(config.activation(), t, t, transformB, N, C);        // (N, C) activation
        ops.layerNormForward(t, null, null, t, lnW, lnB, N, C, DistilBertModel.EPS);   // (N, C) vocab_layer_norm
        Buffer logits = ops.allocateUninitialized((long) N * V);
        ops.matmulForward(logits, t, projectorW, projectorB, N, C, V);                 // (N, V) vocab_projector
        return logits;
    }

    @Override
    public Head head() {
        return Head.MASKED_LM;
    }

    @Override
    public DistilBertModel distilbert() {
        return distilbert;
    }
}
