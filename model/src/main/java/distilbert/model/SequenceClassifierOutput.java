package distilbert.model;

import java.util.List;

/**
 * HF's {@code SequenceClassifierOutput}.
 *
 * @param loss   MSE, cross-entropy or BCE-with-logits by {@code problem_type}; null without labels
 * @param logits [B, num_labels]
 */
public record SequenceClassifierOutput(Float loss, Tensor logits, List<Tensor> hiddenStates,
                                       List<Tensor> attentions) {
}
