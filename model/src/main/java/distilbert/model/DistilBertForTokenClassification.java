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

    /**
     * A training step: the forward in training mode (dropout from {@code input.dropout()} where set,
     * config.dropout before the classifier), the loss as {@link #forward(ModelInput, int[][])}
     * computes it, and its gradient times {@code lossScale} added into {@code grads}.
     *
     * @param labels [B][L] class ids or −100
     */
    public TokenClassifierOutput backward(ModelInput input, int[][] labels, ParameterSlab grads, float lossScale) {
        BackwardOps bops = Training.backwardOps(ops);
        Training.checkGradients(grads, parameters());
        int NL = config.numLabels(), C = config.dim();
        int[] flatLabels = HeadSupport.flatLabels(labels, input, "labels");
        HeadSupport.checkClassLabels(flatLabels, NL, "labels", input.length());
        float p = (float) config.dropout();
        try (Ops.Scope scope = ops.scope()) {
            DistilBertModel.Trace tr = distilbert.encodeTraining(input, bops);
            PackedBatch pk = tr.packed();
            int N = HeadSupport.rowCount(pk);
            Buffer rows = Training.tokenRows(bops, tr, C, p);                                    // (N, C)
            Buffer logits = ops.allocateUninitialized((long) N * NL);
            ops.matmulForward(logits, rows, clsW, clsB, N, C, NL);                               // (N, NL)
            // on the device: the positions' rows gathered (unpacked to B·L), the loss, its gradient folded back
            int BL = pk.batch() * pk.length();
            IndexBuffer at = ops.indicesOf(HeadSupport.positionRows(pk, 1, 0));
            Buffer unpacked = ops.allocateUninitialized((long) BL * NL), dUnpacked = ops.allocateUninitialized((long) BL * NL);
            ops.gatherRows(unpacked, logits, at, BL, NL);                                         // (B·L, NL)
            Training.Loss loss = Training.crossEntropy(bops, unpacked, dUnpacked, flatLabels, NL,
                    HeadSupport.IGNORE_INDEX, lossScale * grads.lossScale());
            Buffer dLogits = ops.allocateUninitialized((long) N * NL);
            bops.fill(dLogits, 0f, (long) N * NL);
            bops.gatherRowsBackward(dLogits, dUnpacked, at, BL, NL);                              // (N, NL)
            Buffer dRows = ops.allocateUninitialized((long) N * C);
            bops.matmulBackward(dRows, grads.get("classifier.weight"), grads.get("classifier.bias"), dLogits, rows, clsW,
                    N, C, NL, false);
            distilbert.backward(tr, Training.tokenRowsBackward(bops, tr, dRows, C, p), grads, bops);
            // read back once the whole backward is queued
            return new TokenClassifierOutput(loss.value(), Tensor.of(ops.download(unpacked), pk.batch(), pk.length(), NL),
                    null, null);
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
