package distilbert.model;

import java.util.List;

/**
 * HF's {@code TokenClassifierOutput}.
 *
 * @param loss   mean cross-entropy over positions whose label is not −100; null without labels
 * @param logits [B, L, num_labels]; the classifier bias at masked positions under {@link MaskedPositions#SKIP}
 */
public record TokenClassifierOutput(Float loss, Tensor logits, List<Tensor> hiddenStates,
                                    List<Tensor> attentions) {
}
