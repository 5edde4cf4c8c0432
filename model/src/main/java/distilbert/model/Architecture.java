package distilbert.model;

import distilbert.tokenizer.Tokenizer;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.Head;

/**
 * One of HF's six DistilBERT model classes, named as {@code config.architectures} names them: the
 * bare encoder or one of the five heads on top of it. Switch over it to reach a head's own
 * {@code forward}.
 */
public sealed interface Architecture permits DistilBertModel, DistilBertForMaskedLM,
        DistilBertForSequenceClassification, DistilBertForMultipleChoice, DistilBertForTokenClassification,
        DistilBertForQuestionAnswering {

    Head head();

    /** The encoder's configuration; a head shares it. */
    default DistilBertConfig config() {
        return distilbert().config();
    }

    /** The backend every op runs on (the encoder's; a head shares it). */
    default Ops ops() {
        return distilbert().ops();
    }

    /** All parameters, HF names as keys (one slab for the encoder and its head). */
    default ParameterSlab parameters() {
        return distilbert().parameters();
    }

    /** The encoder ({@code self.distilbert} in HF; the model itself for {@link Head#BASE}). */
    DistilBertModel distilbert();

    /**
     * Checks that every id of {@code tokenizer} has a row in the embedding table.
     *
     * @throws IllegalArgumentException when the tokenizer has more tokens than vocab_size
     */
    default void checkTokenizer(Tokenizer tokenizer) {
        if (tokenizer.vocabSize() > config().vocabSize()) {
            throw new IllegalArgumentException("the tokenizer has " + tokenizer.vocabSize()
                    + " tokens but the model's vocab_size is " + config().vocabSize());
        }
    }

    /** HF's class name, e.g. "DistilBertForSequenceClassification". */
    default String hfClass() {
        return head().hfClass();
    }

    /**
     * The model class for {@code head} over a slab laid out by
     * {@link DistilBertParameters#table}{@code (config, head)}.
     */
    static Architecture create(Head head, DistilBertConfig config, Ops ops, ParameterSlab params) {
        return switch (head) {
            case BASE -> new DistilBertModel(config, ops, params);
            case MASKED_LM -> new DistilBertForMaskedLM(config, ops, params);
            case SEQUENCE_CLASSIFICATION -> new DistilBertForSequenceClassification(config, ops, params);
            case MULTIPLE_CHOICE -> new DistilBertForMultipleChoice(config, ops, params);
            case TOKEN_CLASSIFICATION -> new DistilBertForTokenClassification(config, ops, params);
            case QUESTION_ANSWERING -> new DistilBertForQuestionAnswering(config, ops, params);
        };
    }
}
