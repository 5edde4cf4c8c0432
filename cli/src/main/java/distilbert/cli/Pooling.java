package distilbert.cli;

import distilbert.model.SentenceEmbeddings;
import java.util.Locale;

/**
 * What {@code distilbert embed} makes of a row's last hidden state: a vector pooled as
 * sentence-transformers pools ({@link SentenceEmbeddings.Pooling}), or every token's hidden state.
 */
enum Pooling {
    /** The average over the tokens whose attention mask is 1, [CLS] and [SEP] included (pooling_mode_mean_tokens). */
    MEAN,
    /** The hidden state of token 0, [CLS] (pooling_mode_cls_token). */
    CLS,
    /** No pooling: every real token's hidden state. */
    NONE;

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The library's pooling mode; none has no vector to pool. */
    SentenceEmbeddings.Pooling mode() {
        return switch (this) {
            case MEAN -> SentenceEmbeddings.Pooling.MEAN;
            case CLS -> SentenceEmbeddings.Pooling.CLS;
            case NONE -> throw new IllegalStateException("pooling none keeps every token; there is no vector to pool");
        };
    }
}
