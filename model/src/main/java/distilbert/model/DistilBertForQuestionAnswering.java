package distilbert.model;

import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.Head;

/**
 * HF's {@code DistilBertForQuestionAnswering}: dropout (identity in eval) → qa_outputs [2, C] on
 * every token → start and end logits [B, L]. Loss: start and end positions clamped to [0, L], L
 * being the ignored index; cross-entropy of each over the L positions; total = (start + end) / 2.
 *
 * <p>HF's softmax runs over all L logits of a row, the padding's included, so under
 * {@link MaskedPositions#SKIP} (where padding logits are the qa_outputs bias) the loss of a padded
 * batch differs from HF's; use {@link MaskedPositions#COMPUTE} to reproduce it.
 */
public final class DistilBertForQuestionAnswering implements Architecture {

    private final DistilBertConfig config;
    private final Ops ops;
    private final DistilBertModel distilbert;
    private final Buffer qaW;   // (2, C)
    private final Buffer qaB;   // (2)

    public DistilBertForQuestionAnswering(DistilBertConfig config, Ops ops, ParameterSlab params) {
        if (config.numLabels() != 2) {
            // as HF: qa_outputs is Linear(dim, num_labels) and must give a start and an end
            throw new IllegalArgumentException("config.num_labels should be 2, but it is " + config.numLabels());
        }
        this.config = config;
        this.ops = ops;
        this.distilbert = new DistilBertModel(config, ops, params, DistilBertParameters.PREFIX);
        this.qaW = params.get("qa_outputs.weight");
        this.qaB = params.get("qa_outputs.bias");
    }

    public QuestionAnsweringModelOutput forward(ModelInput input) {
        return forward(input, null, null);
    }

    /** @param startPositions [B] or null; @param endPositions [B] or null (both or neither) */
    public QuestionAnsweringModelOutput forward(ModelInput input, int[] startPositions, int[] endPositions) {
        int B = input.batch(), L = input.length(), C = config.dim();
        if ((startPositions == null) != (endPositions == null)) {
            throw new IllegalArgumentException("give both start_positions and end_positions, or neither");
        }
        if (startPositions != null && (startPositions.length != B || endPositions.length != B)) {
            throw new IllegalArgumentException("start_positions and end_positions need " + B + " entries, got "
                    + startPositions.length + " and " + endPositions.length);
        }
        try (Ops.Scope scope = ops.scope()) {
            DistilBertModel.Encoded e = distilbert.encode(input);
            PackedBatch pk = e.packed();
            int N = HeadSupport.rowCount(pk);
            Buffer logits = ops.allocateUninitialized(2L * N);
            ops.matmulForward(logits, HeadSupport.rowsWithZero(ops, e, C), qaW, qaB, N, C, 2);   // (N, 2)
            float[] both = HeadSupport.unpack(pk, ops.download(logits), 2);                      // (B·L, 2)
            float[] start = column(both, 0), end = column(both, 1);
            Float loss = null;
            if (startPositions != null) {
                int ignored = L; // positions outside the sequence are clamped to L and ignored
                int[] s = clamp(startPositions, ignored), en = clamp(endPositions, ignored);
                float startLoss = HeadSupport.crossEntropy(ops, ops.bufferOf(start), s, L, ignored);
                float endLoss = HeadSupport.crossEntropy(ops, ops.bufferOf(end), en, L, ignored);
                loss = (startLoss + endLoss) / 2;
            }
            return new QuestionAnsweringModelOutput(loss, Tensor.of(start, B, L), Tensor.of(end, B, L), e.hiddenStates(),
                    e.attentions());
        }
    }

    /**
     * A training step: the forward in training mode (dropout from {@code input.dropout()} where set,
     * qa_dropout before qa_outputs), the loss as {@link #forward(ModelInput, int[], int[])} computes it,
     * and its gradient times {@code lossScale} added into {@code grads}.
     */
    public QuestionAnsweringModelOutput backward(ModelInput input, int[] startPositions, int[] endPositions,
                                                 ParameterSlab grads, float lossScale) {
        BackwardOps bops = Training.backwardOps(ops);
        Training.checkGradients(grads, parameters());
        int B = input.batch(), L = input.length(), C = config.dim();
        if (startPositions == null || endPositions == null || startPositions.length != B || endPositions.length != B) {
            throw new IllegalArgumentException("training needs start_positions and end_positions of " + B + " entries");
        }
        float p = (float) config.qaDropout();
        try (Ops.Scope scope = ops.scope()) {
            DistilBertModel.Trace tr = distilbert.encodeTraining(input, bops);
            PackedBatch pk = tr.packed();
            int N = HeadSupport.rowCount(pk);
            Buffer rows = Training.tokenRows(bops, tr, C, p);                                     // (N, C)
            Buffer logits = ops.allocateUninitialized(2L * N);
            ops.matmulForward(logits, rows, qaW, qaB, N, C, 2);                                   // (N, 2)
            // on the device: each position's start and end logit gathered from the (N, 2) rows, the losses, and
            // their gradients folded back into (N, 2)
            IndexBuffer startAt = ops.indicesOf(HeadSupport.positionRows(pk, 2, 0));
            IndexBuffer endAt = ops.indicesOf(HeadSupport.positionRows(pk, 2, 1));
            Buffer start = ops.allocateUninitialized((long) B * L), end = ops.allocateUninitialized((long) B * L);
            ops.gatherRows(start, logits, startAt, B * L, 1);                                      // (B, L)
            ops.gatherRows(end, logits, endAt, B * L, 1);
            int ignored = L;
            Buffer dStart = ops.allocateUninitialized((long) B * L), dEnd = ops.allocateUninitialized((long) B * L);
            Training.Loss startLoss = Training.crossEntropy(bops, start, dStart, clamp(startPositions, ignored), L,
                    ignored, lossScale * grads.lossScale() / 2);
            Training.Loss endLoss = Training.crossEntropy(bops, end, dEnd, clamp(endPositions, ignored), L,
                    ignored, lossScale * grads.lossScale() / 2);
            Buffer dLogits = ops.allocateUninitialized(2L * N);
            bops.fill(dLogits, 0f, 2L * N);
            bops.gatherRowsBackward(dLogits, dStart, startAt, B * L, 1);                          // (N, 2)
            bops.gatherRowsBackward(dLogits, dEnd, endAt, B * L, 1);
            Buffer dRows = ops.allocateUninitialized((long) N * C);
            bops.matmulBackward(dRows, grads.get("qa_outputs.weight"), grads.get("qa_outputs.bias"), dLogits, rows, qaW,
                    N, C, 2, false);
            distilbert.backward(tr, Training.tokenRowsBackward(bops, tr, dRows, C, p), grads, bops);
            // read back once the whole backward is queued
            return new QuestionAnsweringModelOutput((startLoss.value() + endLoss.value()) / 2,
                    Tensor.of(ops.download(start), B, L), Tensor.of(ops.download(end), B, L), null, null);
        }
    }

    /** Column {@code j} of [n, 2] values: the start (0) or end (1) logits, split as HF's logits.split(1, dim=-1). */
    private static float[] column(float[] both, int j) {
        float[] out = new float[both.length / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = both[2 * i + j];
        }
        return out;
    }

    /** torch's clamp(0, max): negative positions become 0, positions past the end become max. */
    private static int[] clamp(int[] positions, int max) {
        int[] out = new int[positions.length];
        for (int i = 0; i < positions.length; i++) {
            out[i] = Math.clamp(positions[i], 0, max);
        }
        return out;
    }

    @Override
    public Head head() {
        return Head.QUESTION_ANSWERING;
    }

    @Override
    public DistilBertModel distilbert() {
        return distilbert;
    }
}
