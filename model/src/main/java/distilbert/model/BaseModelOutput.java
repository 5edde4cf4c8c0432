package distilbert.model;

import java.util.List;

/**
 * HF's {@code BaseModelOutput} of DistilBertModel.
 *
 * @param lastHiddenState [B, L, C]; zeros at masked positions under {@link MaskedPositions#SKIP}
 * @param hiddenStates    n_layers + 1 tensors [B, L, C] (embeddings output, then each layer), or null
 *                        unless requested
 * @param attentions      n_layers tensors [B, NH, L, L] (probabilities after the head mask), or null
 *                        unless requested
 */
public record BaseModelOutput(Tensor lastHiddenState, List<Tensor> hiddenStates, List<Tensor> attentions) {
}
