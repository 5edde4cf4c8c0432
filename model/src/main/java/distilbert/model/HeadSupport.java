package distilbert.model;

/**
 * What the five heads share, written once: per-position rows of the packed encoder output, the
 * unpacking of per-position results, and torch's mean reduction of per-row losses.
 */
final class HeadSupport {

    private HeadSupport() {
    }

    /** torch's ignore_index default (CrossEntropyLoss). */
    static final int IGNORE_INDEX = -100;

    /**
     * The encoder output with one zero row appended when some position was not packed (SKIP mode):
     * row T then stands for every such position, so a head applied to it gives the documented value
     * there (the head of a zero hidden state). Returns the hidden buffer itself otherwise.
     *
     * @return [T, C] or [T + 1, C]
     */
    static Buffer rowsWithZero(Ops ops, DistilBertModel.Encoded e, int C) {
        return rowsWithZero(ops, e.packed(), e.hidden(), C);
    }

    /** {@link #rowsWithZero(Ops, DistilBertModel.Encoded, int)} of packed rows {@code hidden} [T, C]. */
    static Buffer rowsWithZero(Ops ops, PackedBatch pk, Buffer hidden, int C) {
        if (!pk.hasUnpackedPositions()) {
            return hidden;
        }
        int T = pk.tokens();
        int[] rows = new int[T + 1];
        for (int t = 0; t < T; t++) {
            rows[t] = t;
        }
        rows[T] = -1;
        Buffer out = ops.allocateUninitialized((long) (T + 1) * C);
        ops.gatherRows(out, hidden, ops.indicesOf(rows), T + 1, C);
        return out;
    }

    /** Number of rows {@link #rowsWithZero} returns. */
    static int rowCount(PackedBatch pk) {
        return pk.tokens() + (pk.hasUnpackedPositions() ? 1 : 0);
    }

    /** The row of {@link #rowsWithZero} holding position (b, l). */
    static int rowOf(PackedBatch pk, int b, int l) {
        int t = pk.packedIndex()[b * pk.length() + l];
        return t >= 0 ? t : pk.tokens();
    }

    /**
     * For each position (b, l) of the batch, in order, {@code stride·rowOf(b, l) + column}: the element (or
     * row, with stride 1) of {@link #rowsWithZero}'s rows that holds it, so that a gather of those rows
     * unpacks per-row results to [B·L] on the device, and its backward folds them back.
     */
    static int[] positionRows(PackedBatch pk, int stride, int column) {
        int B = pk.batch(), L = pk.length();
        int[] out = new int[B * L];
        for (int b = 0; b < B; b++) {
            for (int l = 0; l < L; l++) {
                out[b * L + l] = stride * rowOf(pk, b, l) + column;
            }
        }
        return out;
    }

    /** Rows [T (+1), width] of per-position results to [B·L·width], the extra row filling unpacked positions. */
    static float[] unpack(PackedBatch pk, float[] rows, int width) {
        float[] fill = null;
        if (pk.hasUnpackedPositions()) {
            fill = new float[width];
            System.arraycopy(rows, pk.tokens() * width, fill, 0, width);
        }
        return pk.scatter(rows, width, fill);
    }

    /**
     * torch's reduction="mean": the sum of the per-row losses over the rows that count, divided by
     * their number, in double; NaN when none counts (0/0, as torch).
     */
    static Float mean(Ops ops, Buffer losses, int counted) {
        float[] l = ops.download(losses);
        double sum = 0;
        for (float v : l) {
            sum += v;
        }
        return (float) (sum / counted);
    }

    /** Mean softmax cross-entropy of [N, V] logits against targets, rows equal to {@code ignoreIndex} skipped. */
    static Float crossEntropy(Ops ops, Buffer logits, int[] targets, int V, int ignoreIndex) {
        int N = targets.length, counted = counted(targets, ignoreIndex);
        Buffer losses = ops.allocateUninitialized(N);
        ops.crossEntropyForward(losses, logits, ops.indicesOf(targets), N, V, ignoreIndex);
        return mean(ops, losses, counted);
    }

    /** The targets that count in a mean loss: those that are not {@code ignoreIndex}. */
    static int counted(int[] targets, int ignoreIndex) {
        int n = 0;
        for (int t : targets) {
            if (t != ignoreIndex) {
                n++;
            }
        }
        return n;
    }

    /** Checks class labels: each in [0, n) or −100. */
    static void checkClassLabels(int[] labels, int n, String what, int width) {
        for (int i = 0; i < labels.length; i++) {
            int v = labels[i];
            if (v != IGNORE_INDEX && (v < 0 || v >= n)) {
                String at = width > 0 ? "[" + i / width + "][" + i % width + "]" : "[" + i + "]";
                throw new IllegalArgumentException(what + at + " = " + v + " is not in [0, " + n + ") nor -100 (ignored)");
            }
        }
    }

    /** [B][L] labels to a flat [B·L] array, checking the shape against the input's. */
    static int[] flatLabels(int[][] labels, ModelInput in, String what) {
        int B = in.batch(), L = in.length();
        if (labels.length != B) {
            throw new IllegalArgumentException(what + " has " + labels.length + " rows but the input has " + B);
        }
        int[] flat = new int[B * L];
        for (int b = 0; b < B; b++) {
            if (labels[b].length != L) {
                throw new IllegalArgumentException(what + " row " + b + " has " + labels[b].length
                        + " values but the input rows have " + L);
            }
            System.arraycopy(labels[b], 0, flat, b * L, L);
        }
        return flat;
    }

    /**
     * HF's pooling head (sequence classification, multiple choice): hidden[:, 0] → pre_classifier →
     * ReLU → dropout (identity in eval) → classifier. preW (C, C), preB (C), clsW (M, C), clsB (M).
     */
    record PooledClassifier(Buffer preW, Buffer preB, Buffer clsW, Buffer clsB) {
        /** pre_classifier and classifier of {@code params}. */
        static PooledClassifier of(ParameterSlab params) {
            return new PooledClassifier(params.get("pre_classifier.weight"), params.get("pre_classifier.bias"),
                    params.get("classifier.weight"), params.get("classifier.bias"));
        }

        /** The logits [B, M] on the backend. */
        Buffer logits(Ops ops, DistilBertModel.Encoded e, int C, int M) {
            PackedBatch pk = e.packed();
            int B = pk.batch();
            int[] rows = new int[B];
            for (int b = 0; b < B; b++) {
                rows[b] = pk.packedIndex()[b * pk.length()];                 // position 0 of row b
            }
            Buffer pooled = ops.allocateUninitialized((long) B * C);
            ops.gatherRows(pooled, e.hidden(), ops.indicesOf(rows), B, C);   // (B, C) hidden_state[:, 0]
            Buffer pre = ops.allocateUninitialized((long) B * C);
            ops.matmulForward(pre, pooled, preW, null, B, C, C);             // (B, C) pre_classifier
            ops.biasActivationForward(distilbert.weights.Activation.RELU, pre, pre, preB, B, C); // (B, C) ReLU
            Buffer logits = ops.allocateUninitialized((long) B * M);
            ops.matmulForward(logits, pre, clsW, clsB, B, C, M);             // (B, M) classifier
            return logits;
        }
    }

    /**
     * A pooling head reads position 0 of every row. Under SKIP a masked position 0 has no hidden
     * state (HF pools the padding token's); refuse rather than return a value HF would not give.
     */
    static void checkPositionZero(ModelInput in, String hfClass) {
        if (in.maskedPositions() != MaskedPositions.SKIP || in.length() == 0) {
            if (in.length() == 0 && in.batch() > 0) {
                throw new IllegalArgumentException(hfClass + " pools position 0, but the rows are empty");
            }
            return;
        }
        for (int b = 0; b < in.batch(); b++) {
            if (in.mask(b, 0) == 0) {
                throw new IllegalArgumentException("attention_mask[" + b + "][0] is 0, but " + hfClass
                        + " pools position 0 ([CLS]); with MaskedPositions.SKIP masked positions are not computed."
                        + " Pad on the right, or use MaskedPositions.COMPUTE to get HF's value for a masked position 0");
            }
        }
    }
}
