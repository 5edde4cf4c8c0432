package distilbert.model;

import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.Head;
import distilbert.weights.ProblemType;
import java.util.Arrays;

/**
 * HF's {@code DistilBertForSequenceClassification}: hidden[:, 0] → pre_classifier → ReLU → dropout →
 * classifier → logits [B, num_labels].
 *
 * <p>The loss follows {@code problem_type}, or, when it is null, HF's rule
 * ({@link DistilBertConfig#resolveProblemType}): num_labels = 1 → regression (MSE, logits and labels
 * squeezed); integer labels → single-label (cross-entropy, −100 ignored); float labels → multi-label
 * (BCE-with-logits, mean over B·num_labels). Two deliberate differences: HF writes the type it chose
 * back into the config, so later calls keep it whatever their labels; here each call decides
 * afresh. And integer labels for a one-output regression are taken as floats where torch's
 * MSELoss would refuse a long tensor.
 */
public final class DistilBertForSequenceClassification implements Architecture {

    private final DistilBertConfig config;
    private final Ops ops;
    private final DistilBertModel distilbert;
    private final HeadSupport.PooledClassifier classifier;   // pre_classifier (C, C), classifier (num_labels, C)

    public DistilBertForSequenceClassification(DistilBertConfig config, Ops ops, ParameterSlab params) {
        this.config = config;
        this.ops = ops;
        this.distilbert = new DistilBertModel(config, ops, params, DistilBertParameters.PREFIX);
        this.classifier = HeadSupport.PooledClassifier.of(params);
    }

    public SequenceClassifierOutput forward(ModelInput input) {
        return forward(input, null);
    }

    /** @param labels null for no loss */
    public SequenceClassifierOutput forward(ModelInput input, SequenceLabels labels) {
        HeadSupport.checkPositionZero(input, hfClass());
        int B = input.batch(), NL = config.numLabels();
        ProblemType problem = labels == null ? null : config.resolveProblemType(labels instanceof SequenceLabels.Classes);
        float[] targets = labels == null ? null : checkLabels(labels, problem, B, NL);
        try (Ops.Scope scope = ops.scope()) {
            DistilBertModel.Encoded e = distilbert.encode(input);
            Buffer logits = classifier.logits(ops, e, config.dim(), NL); // (B, NL)
            Float loss = null;
            if (labels != null) {
                loss = switch (problem) {
                    case REGRESSION -> {
                        Buffer losses = ops.allocateUninitialized((long) B * NL);
                        ops.mseForward(losses, logits, ops.bufferOf(targets), B * NL);
                        yield HeadSupport.mean(ops, losses, B * NL);
                    }
                    case SINGLE_LABEL_CLASSIFICATION ->
                            HeadSupport.crossEntropy(ops, logits, ((SequenceLabels.Classes) labels).ids(), NL,
                                    HeadSupport.IGNORE_INDEX);
                    case MULTI_LABEL_CLASSIFICATION -> {
                        Buffer losses = ops.allocateUninitialized((long) B * NL);
                        ops.bceWithLogitsForward(losses, logits, ops.bufferOf(targets), B * NL);
                        yield HeadSupport.mean(ops, losses, B * NL);
                    }
                };
            }
            return new SequenceClassifierOutput(loss, Tensor.of(ops.download(logits), B, NL), e.hiddenStates(),
                    e.attentions());
        }
    }

    /**
     * A training step: the forward in training mode (dropout from {@code input.dropout()} where set,
     * seq_classif_dropout before the classifier), the loss as {@link #forward(ModelInput, SequenceLabels)}
     * computes it, and its gradient added into {@code grads} (HF's {@code loss.backward()}).
     *
     * @param grads a slab of the model's layout, added into (zero it for a fresh step)
     * @return the loss and the logits; no hidden states or attentions
     */
    public SequenceClassifierOutput backward(ModelInput input, SequenceLabels labels, ParameterSlab grads) {
        return backward(input, labels, grads, 1f);
    }

    /**
     * As {@link #backward(ModelInput, SequenceLabels, ParameterSlab)}, the gradient of {@code lossScale · loss}
     * (times {@code grads}' own {@link ParameterSlab#lossScale()}, as every head's).
     */
    public SequenceClassifierOutput backward(ModelInput input, SequenceLabels labels, ParameterSlab grads,
                                             float lossScale) {
        BackwardOps bops = Training.backwardOps(ops);
        Training.checkGradients(grads, parameters());
        HeadSupport.checkPositionZero(input, hfClass());
        int B = input.batch(), NL = config.numLabels(), C = config.dim();
        ProblemType problem = config.resolveProblemType(labels instanceof SequenceLabels.Classes);
        float[] targets = checkLabels(labels, problem, B, NL);
        float scale = lossScale * grads.lossScale();
        try (Ops.Scope scope = ops.scope()) {
            DistilBertModel.Trace tr = distilbert.encodeTraining(input, bops);
            Training.PooledTrace pt = Training.pooledForward(bops, classifier, tr, C, NL,
                    (float) config.seqClassifDropout());
            Buffer dLogits = ops.allocateUninitialized((long) B * NL);
            Training.Loss loss = switch (problem) {
                case REGRESSION -> Training.mse(bops, pt.logits(), dLogits, targets, B * NL, scale);
                case SINGLE_LABEL_CLASSIFICATION -> Training.crossEntropy(bops, pt.logits(), dLogits,
                        ((SequenceLabels.Classes) labels).ids(), NL, HeadSupport.IGNORE_INDEX, scale);
                case MULTI_LABEL_CLASSIFICATION -> Training.bceWithLogits(bops, pt.logits(), dLogits, targets, B * NL,
                        scale);
            };
            Buffer dHidden = Training.pooledBackward(bops, classifier, pt, dLogits, grads, tr.packed().tokens(), B, C, NL);
            distilbert.backward(tr, dHidden, grads, bops);
            // read back once the whole backward is queued
            return new SequenceClassifierOutput(loss.value(), Tensor.of(ops.download(pt.logits()), B, NL), null, null);
        }
    }

    /** Checks labels against the problem type; float targets for MSE/BCE (null for cross-entropy). */
    private float[] checkLabels(SequenceLabels labels, ProblemType problem, int B, int NL) {
        if (labels.count() != B) {
            throw new IllegalArgumentException("labels has " + labels.count() + " rows but the batch has " + B);
        }
        return switch (problem) {
            case SINGLE_LABEL_CLASSIFICATION -> {
                if (!(labels instanceof SequenceLabels.Classes c)) {
                    throw new IllegalArgumentException("problem_type single_label_classification needs integer class"
                            + " labels [B], got float values");
                }
                HeadSupport.checkClassLabels(c.ids(), NL, "labels", 0);
                yield null;
            }
            case REGRESSION -> {
                if (labels instanceof SequenceLabels.Classes c) {
                    if (NL != 1) {
                        throw new IllegalArgumentException("regression with num_labels = " + NL
                                + " needs float targets [B, " + NL + "], got integer labels");
                    }
                    float[] t = new float[B];
                    for (int b = 0; b < B; b++) {
                        t[b] = c.ids()[b];
                    }
                    yield t;
                }
                Tensor v = ((SequenceLabels.Values) labels).values();
                boolean ok = NL == 1 ? v.size() == B && (v.rank() == 1 || v.rank() == 2 && v.dim(1) == 1)
                        : v.rank() == 2 && v.dim(1) == NL;
                if (!ok) {
                    throw new IllegalArgumentException("regression targets must be " + (NL == 1 ? "[B] or [B, 1]"
                            : "[B, " + NL + "]") + ", got " + Arrays.toString(v.shape()));
                }
                yield v.data();
            }
            case MULTI_LABEL_CLASSIFICATION -> {
                if (!(labels instanceof SequenceLabels.Values v) || v.values().rank() != 2
                        || v.values().dim(1) != NL) {
                    throw new IllegalArgumentException("problem_type multi_label_classification needs float targets"
                            + " [B, " + NL + "] (BCE-with-logits), got " + describe(labels));
                }
                yield v.values().data();
            }
        };
    }

    private static String describe(SequenceLabels labels) {
        return switch (labels) {
            case SequenceLabels.Classes c -> "integer labels [" + c.ids().length + "]";
            case SequenceLabels.Values v -> "float values " + Arrays.toString(v.values().shape());
        };
    }

    @Override
    public Head head() {
        return Head.SEQUENCE_CLASSIFICATION;
    }

    @Override
    public DistilBertModel distilbert() {
        return distilbert;
    }
}
