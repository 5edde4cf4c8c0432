package distilbert.model;

import distilbert.weights.Activation;

/**
 * What the heads' training steps share: the backend check, the losses with their gradients (torch's
 * reduction="mean"), and the pooling classifier's training forward and backward.
 */
final class Training {

    private Training() {
    }

    /** The backend as {@link BackwardOps}: every backend has the backward ops, in every precision. */
    static BackwardOps backwardOps(Ops ops) {
        return (BackwardOps) ops; // every Ops is one (the sealed hierarchy)
    }

    /** Checks that {@code grads} is laid out as the model's parameters (the same table), so names map to the same views. */
    static void checkGradients(ParameterSlab grads, ParameterSlab params) {
        if (!grads.table().equals(params.table())) {
            throw new IllegalArgumentException("the gradient slab's layout (" + grads.table().numel()
                    + " floats) is not the model's (" + params.table().numel()
                    + "): allocate it with ParameterSlab.allocate(ops, model.parameters().table())");
        }
    }

    /**
     * A loss whose per-row values stay on the device until {@link #value} is asked for: a training step
     * queues its whole backward first, so that on a GPU the host's launches overlap the forward's work
     * instead of waiting for it. Read it inside the step's scope.
     */
    record Loss(Ops ops, Buffer losses, int counted) {
        /** The mean over the rows counted (NaN, torch's 0/0, when none is): waits for the device. */
        float value() {
            return HeadSupport.mean(ops, losses, counted);
        }
    }

    /**
     * Mean softmax cross-entropy of [N, V] logits over the targets that are not {@code ignoreIndex}, and
     * its gradient times {@code lossScale} in {@code dLogits}. NaN (torch's 0/0) with a zero gradient
     * when no target counts.
     */
    static Loss crossEntropy(BackwardOps ops, Buffer logits, Buffer dLogits, int[] targets, int V, int ignoreIndex,
                              float lossScale) {
        int N = targets.length, counted = HeadSupport.counted(targets, ignoreIndex);
        IndexBuffer y = ops.indicesOf(targets);
        Buffer losses = ops.allocateUninitialized(N);
        ops.crossEntropyForward(losses, logits, y, N, V, ignoreIndex);
        ops.crossEntropyBackward(dLogits, logits, y, N, V, ignoreIndex, counted == 0 ? 0f : lossScale / counted);
        return new Loss(ops, losses, counted);
    }

    /** Mean squared error over N values and its gradient times {@code lossScale}. */
    static Loss mse(BackwardOps ops, Buffer predictions, Buffer dPredictions, float[] targets, int N, float lossScale) {
        Buffer t = ops.bufferOf(targets), losses = ops.allocateUninitialized(N);
        ops.mseForward(losses, predictions, t, N);
        ops.mseBackward(dPredictions, predictions, t, N, lossScale / N);
        return new Loss(ops, losses, N);
    }

    /** Mean BCE-with-logits over N values and its gradient times {@code lossScale}. */
    static Loss bceWithLogits(BackwardOps ops, Buffer logits, Buffer dLogits, float[] targets, int N, float lossScale) {
        Buffer t = ops.bufferOf(targets), losses = ops.allocateUninitialized(N);
        ops.bceWithLogitsForward(losses, logits, t, N);
        ops.bceWithLogitsBackward(dLogits, logits, t, N, lossScale / N);
        return new Loss(ops, losses, N);
    }

    /**
     * The pooling classifier in training mode: hidden[:, 0] → pre_classifier → ReLU → dropout(p) →
     * classifier, with what its backward reads.
     *
     * @param rows    [B] the packed row of position 0 of each row
     * @param pooled  [B, C] hidden[:, 0]
     * @param pre     [B, C] pre_classifier's product, before bias and ReLU
     * @param dropped [B, C] the classifier's input
     * @param logits  [B, M]
     */
    record PooledTrace(IndexBuffer rows, Buffer pooled, Buffer pre, Buffer dropped, Buffer logits, DropoutRng rng,
                       float p) {
    }

    static PooledTrace pooledForward(BackwardOps ops, HeadSupport.PooledClassifier w, DistilBertModel.Trace tr, int C,
                                     int M, float p) {
        PackedBatch pk = tr.packed();
        int B = pk.batch();
        int[] r = new int[B];
        for (int b = 0; b < B; b++) {
            r[b] = pk.packedIndex()[b * pk.length()];
        }
        IndexBuffer rows = ops.indicesOf(r);
        Buffer pooled = ops.allocateUninitialized((long) B * C), pre = ops.allocateUninitialized((long) B * C);
        Buffer dropped = ops.allocateUninitialized((long) B * C), logits = ops.allocateUninitialized((long) B * M);
        ops.gatherRows(pooled, tr.hidden(), rows, B, C);
        ops.matmulForward(pre, pooled, w.preW(), null, B, C, C);
        ops.biasActivationForward(Activation.RELU, dropped, pre, w.preB(), B, C);
        DropoutRng rng = tr.headRng();
        float pp = rng == null ? 0f : p;
        if (pp > 0) {
            ops.dropoutForward(dropped, dropped, rng, pp, (long) B * C);
        }
        ops.matmulForward(logits, dropped, w.clsW(), w.clsB(), B, C, M);
        return new PooledTrace(rows, pooled, pre, dropped, logits, rng, pp);
    }

    /** The pooling classifier's backward: parameter gradients into {@code grads}, and dHidden [T, C] (written). */
    static Buffer pooledBackward(BackwardOps ops, HeadSupport.PooledClassifier w, PooledTrace t, Buffer dLogits,
                                 ParameterSlab grads, int T, int B, int C, int M) {
        Buffer d = ops.allocateUninitialized((long) B * C), dPooled = ops.allocateUninitialized((long) B * C);
        ops.matmulBackward(d, grads.get("classifier.weight"), grads.get("classifier.bias"), dLogits, t.dropped(),
                w.clsW(), B, C, M, false);
        if (t.p() > 0) {
            ops.dropoutBackward(d, d, t.rng(), t.p(), (long) B * C);
        }
        ops.biasActivationBackward(Activation.RELU, d, grads.get("pre_classifier.bias"), d, t.pre(), w.preB(), B, C);
        ops.matmulBackward(dPooled, grads.get("pre_classifier.weight"), null, d, t.pooled(), w.preW(), B, C, C, false);
        Buffer dHidden = ops.allocateUninitialized((long) T * C);
        ops.fill(dHidden, 0f, (long) T * C);
        ops.gatherRowsBackward(dHidden, dPooled, t.rows(), B, C);
        return dHidden;
    }

    /**
     * dropout(p) of the packed hidden states for a per-token head, with a zero row appended where
     * some position is not packed ({@link HeadSupport#rowsWithZero}): [N, C], N = T or T + 1. The
     * dropout runs in place, on the trace's hidden states themselves when no row is appended: nothing
     * reads them after the head.
     */
    static Buffer tokenRows(BackwardOps ops, DistilBertModel.Trace tr, int C, float p) {
        Buffer rows = HeadSupport.rowsWithZero(ops, tr.packed(), tr.hidden(), C);
        if (tr.headRng() != null && p > 0) {
            long tc = (long) tr.packed().tokens() * C;
            ops.dropoutForward(rows, rows, tr.headRng(), p, tc);
        }
        return rows;
    }

    /** The backward of {@link #tokenRows}: dHidden [T, C] from dRows [N, C] (in place: a view of it). */
    static Buffer tokenRowsBackward(BackwardOps ops, DistilBertModel.Trace tr, Buffer dRows, int C, float p) {
        long tc = (long) tr.packed().tokens() * C;
        Buffer dHidden = dRows.view(0, tc);
        if (tr.headRng() != null && p > 0) {
            ops.dropoutBackward(dHidden, dHidden, tr.headRng(), p, tc);
        }
        return dHidden;
    }
}
