package distilbert.model;

import java.util.List;

/**
 * HF's {@code MultipleChoiceModelOutput}.
 *
 * @param loss         cross-entropy over the choices; null without labels
 * @param logits       [B, NC]
 * @param hiddenStates tensors [B·NC, L, C], as HF returns them (flattened choices), or null
 * @param attentions   tensors [B·NC, NH, L, L], or null
 */
public record MultipleChoiceModelOutput(Float loss, Tensor logits, List<Tensor> hiddenStates,
                                        List<Tensor> attentions) {
}
