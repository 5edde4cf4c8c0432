package distilbert.model;

/**
 * What the model computes at positions whose attention mask is 0.
 *
 * <p>HuggingFace runs every position of {@code [B, L]}: a masked position is no key for anyone, but
 * it is still a query, so it gets a hidden state of its own. Those values are rarely wanted (a
 * pipeline drops them) but they enter two things: HF's outputs at those positions, and the
 * question-answering loss, whose softmax runs over all L start (and end) logits.
 */
public enum MaskedPositions {
    /**
     * Masked tokens are left out of the packed batch: nothing is computed for them and every output
     * there is the head applied to a zero hidden state (zero hidden states and attention rows; the
     * classifier bias as token-classification and QA logits; the MLM head of a zero vector). Values
     * at unmasked positions are HF's. The default: it is what batch scoring wants.
     */
    SKIP,
    /**
     * Masked tokens are packed too, after the unmasked ones of their row, as queries only: every
     * output equals HF's at every position, and so do the QA loss and the pooled output of a row
     * whose position 0 is masked. Costs the padding's compute.
     */
    COMPUTE
}
