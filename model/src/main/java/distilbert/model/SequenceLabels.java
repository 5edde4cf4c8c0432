package distilbert.model;

/**
 * Labels of DistilBertForSequenceClassification. Which loss HF uses depends on their dtype when
 * {@code problem_type} is not set, so the two kinds are kept apart: {@link Classes} are torch.long
 * labels, {@link Values} torch.float ones.
 */
public sealed interface SequenceLabels {

    /** Integer class ids [B] (−100 ignored): single-label cross-entropy, or regression targets when num_labels = 1. */
    record Classes(int[] ids) implements SequenceLabels {
        @Override
        public int count() {
            return ids.length;
        }
    }

    /** Float targets [B] or [B, num_labels]: regression (MSE) or multi-label (BCE-with-logits). */
    record Values(Tensor values) implements SequenceLabels {
        @Override
        public int count() {
            return values.rank() == 0 ? 1 : values.dim(0);
        }
    }

    /** Rows of labels (B). */
    int count();

    static SequenceLabels classes(int... ids) {
        return new Classes(ids);
    }

    static SequenceLabels values(Tensor values) {
        return new Values(values);
    }

    /** Float targets, one per row: [B]. */
    static SequenceLabels values(float... values) {
        return new Values(Tensor.of(values, values.length));
    }
}
