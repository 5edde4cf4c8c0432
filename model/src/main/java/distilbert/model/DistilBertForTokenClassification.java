package distilbert.model;

import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.Head;

/**
 * HF's {@code DistilBertForTokenClassification}: dropout (identity in eval) → classifier on every
 * token → logits [B, L, num_labels]; loss = mean cross-entropy over labels that are not −100 (HF
 * counts every such position, padding included: label padding −100, as HF's collators do).
 */
public final class DistilBertForTokenClassification implements Architecture {

    private final DistilBertConfig config;
    private final Ops ops;
    private final DistilBertModel distilbert;
    private final Buffer clsW;   // (num_labels, C)
    private final Buffer clsB;   // (num_labels)

    public DistilBertForTokenClassification(DistilBertConfig config, Ops ops, ParameterSlab params) {
        this.config = config;
        this.ops = ops;
        this.distilbert = new DistilBertModel(config, ops, params, DistilBertParameters.PREFIX);
        this.clsW = params.get("classifier.weight");
        this.clsB = params.get("classifier.bias");
    }

    public TokenClassifierOutput forward(ModelInput input) {
        return forward(input, null);
    }

    /** @param labels [B][L] class ids or −100, or null */
    public TokenClassifierOutput forward(ModelInput input, int[][] labels) {
        int NL = config.numLabels(), C = config.dim();
        int[] flatLabels = labels == null ? null : HeadSupport.flatLabels(labels, input, "labels");
        if (flatLabels != null) {
            HeadSupport.checkClassLabels(flatLabels, NL, "labels", input.length());
        }
        try (Ops.Scope scope = ops.scope()) {
            DistilBertModel.Encoded e = distilbert.encode(input);
            PackedBatch pk = e.packed();
            int N = HeadSupport.rowCount(pk);
            Buffer logits = ops.allocateUninitialized((long) N * NL);
            ops.matmulForward(logits, HeadSupport.rowsWithZero(ops, e, C), clsW, clsB, N, C, NL); // (N, NL)
            float[] unpacked = HeadSupport.unpack(pk, ops.download(logits), NL);                 // (B·L, NL)
            Float loss = null;
            if (flatLabels != null) {
                loss = HeadSupport.crossEntropy(ops, ops.bufferOf(unpacked), flatLabels, NL, HeadSupport.IGNORE_INDEX);
            }
            return new TokenClassifierOutput(loss, Tensor.of(unpacked, pk.batch(), pk.length(), NL), e.hiddenStates(),
                    e.attentions());
        }
    }

    @Override
    public Head head() {
        return Head.TOKEN_CLASSIFICATION;
    }

    @Override
    public DistilBertModel distilbert() {
        return distilbert;
    }
}
