package distilbert.model;

import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.Head;

/**
 * HF's {@code DistilBertForMultipleChoice}: the B·NC choices run through the encoder as rows of one
 * batch, each pooled as in sequence classification with a one-output classifier; the scores are
 * reshaped to logits [B, NC]; loss = cross-entropy over the choices (−100 ignored).
 */
public final class DistilBertForMultipleChoice implements Architecture {

    private final DistilBertConfig config;
    private final Ops ops;
    private final DistilBertModel distilbert;
    private final HeadSupport.PooledClassifier classifier;   // pre_classifier (C, C), classifier (1, C)

    public DistilBertForMultipleChoice(DistilBertConfig config, Ops ops, ParameterSlab params) {
        this.config = config;
        this.ops = ops;
        this.distilbert = new DistilBertModel(config, ops, params, DistilBertParameters.PREFIX);
        this.classifier = HeadSupport.PooledClassifier.of(params);
    }

    /** {@code input_ids [B, NC, L]} and its mask (or null); labels [B] or null. */
    public MultipleChoiceModelOutput forward(int[][][] inputIds, int[][][] attentionMask, int[] labels) {
        int NC = inputIds.length == 0 ? 0 : inputIds[0].length;
        return forward(ModelInput.ofChoices(inputIds, attentionMask), NC, labels);
    }

    /**
     * @param input      the choices flattened to [B·NC, L] (row b·NC + c is choice c of example b),
     *                   see {@link ModelInput#ofChoices}
     * @param numChoices NC
     * @param labels     [B] the right choice of each example (−100 ignored), or null
     */
    public MultipleChoiceModelOutput forward(ModelInput input, int numChoices, int[] labels) {
        if (numChoices <= 0 || input.batch() % numChoices != 0) {
            throw new IllegalArgumentException("the batch of " + input.batch() + " rows is not a whole number of "
                    + numChoices + "-choice examples");
        }
        int B = input.batch() / numChoices;
        if (labels != null) {
            if (labels.length != B) {
                throw new IllegalArgumentException("labels has " + labels.length + " entries but there are " + B
                        + " examples");
            }
            HeadSupport.checkClassLabels(labels, numChoices, "labels", 0);
        }
        HeadSupport.checkPositionZero(input, hfClass());
        try (Ops.Scope scope = ops.scope()) {
            DistilBertModel.Encoded e = distilbert.encode(input);
            Buffer logits = classifier.logits(ops, e, config.dim(), 1); // (B·NC, 1) = (B, NC)
            Float loss = labels == null ? null
                    : HeadSupport.crossEntropy(ops, logits, labels, numChoices, HeadSupport.IGNORE_INDEX);
            return new MultipleChoiceModelOutput(loss, Tensor.of(ops.download(logits), B, numChoices), e.hiddenStates(),
                    e.attentions());
        }
    }

    /**
     * A training step: the forward in training mode (dropout from {@code input.dropout()} where set),
     * cross-entropy over the choices, and its gradient times {@code lossScale} added into {@code grads}.
     *
     * @param labels [B] the right choice of each example (−100 ignored)
     * @return the loss and the logits [B, NC]
     */
    public MultipleChoiceModelOutput backward(ModelInput input, int numChoices, int[] labels, ParameterSlab grads,
                                              float lossScale) {
        BackwardOps bops = Training.backwardOps(ops);
        Training.checkGradients(grads, parameters());
        if (numChoices <= 0 || input.batch() % numChoices != 0) {
            throw new IllegalArgumentException("the batch of " + input.batch() + " rows is not a whole number of "
                    + numChoices + "-choice examples");
        }
        int B = input.batch() / numChoices, C = config.dim();
        if (labels.length != B) {
            throw new IllegalArgumentException("labels has " + labels.length + " entries but there are " + B + " examples");
        }
        HeadSupport.checkClassLabels(labels, numChoices, "labels", 0);
        HeadSupport.checkPositionZero(input, hfClass());
        try (Ops.Scope scope = ops.scope()) {
            DistilBertModel.Trace tr = distilbert.encodeTraining(input, bops);
            Training.PooledTrace pt = Training.pooledForward(bops, classifier, tr, C, 1,
                    (float) config.seqClassifDropout());
            Buffer dLogits = ops.allocateUninitialized(input.batch());
            Training.Loss loss = Training.crossEntropy(bops, pt.logits(), dLogits, labels, numChoices,
                    HeadSupport.IGNORE_INDEX, lossScale * grads.lossScale());
            Buffer dHidden = Training.pooledBackward(bops, classifier, pt, dLogits, grads, tr.packed().tokens(),
                    input.batch(), C, 1);
            distilbert.backward(tr, dHidden, grads, bops);
            // read back once the whole backward is queued
            return new MultipleChoiceModelOutput(loss.value(), Tensor.of(ops.download(pt.logits()), B, numChoices), null,
                    null);
        }
    }

    @Override
    public Head head() {
        return Head.MULTIPLE_CHOICE;
    }

    @Override
    public DistilBertModel distilbert() {
        return distilbert;
    }
}
