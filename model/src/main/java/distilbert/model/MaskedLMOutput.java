package distilbert.model;

import java.util.List;

/**
 * HF's {@code MaskedLMOutput}.
 *
 * @param loss      mean cross-entropy over positions whose label is not −100, or null without labels
 *                  (NaN when every label is −100, as torch)
 * @param logits    [B, L, V] when {@code positions} is null, else [P, V] at those positions, in order
 * @param positions null, or the positions the logits were computed at
 */
public record MaskedLMOutput(Float loss, Tensor logits, List<Tensor> hiddenStates, List<Tensor> attentions,
                             TokenPositions positions) {
}
