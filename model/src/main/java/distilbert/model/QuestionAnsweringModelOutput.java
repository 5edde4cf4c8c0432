package distilbert.model;

import java.util.List;

/**
 * HF's {@code QuestionAnsweringModelOutput}.
 *
 * @param loss        (start loss + end loss) / 2, positions clamped to [0, L] and L ignored; null
 *                    without positions
 * @param startLogits [B, L]; the qa_outputs bias at masked positions under {@link MaskedPositions#SKIP}
 * @param endLogits   [B, L]
 */
public record QuestionAnsweringModelOutput(Float loss, Tensor startLogits, Tensor endLogits,
                                           List<Tensor> hiddenStates, List<Tensor> attentions) {
}
