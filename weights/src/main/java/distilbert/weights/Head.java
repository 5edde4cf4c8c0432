package distilbert.weights;

/**
 * Which HF model class a parameter layout belongs to. Every head but {@link #BASE} wraps the
 * encoder as {@code self.distilbert}, so its encoder parameters carry the {@code distilbert.} prefix;
 * DistilBertModel's own state dict has none.
 */
public enum Head {
    /** DistilBertModel: encoder only, names without the {@code distilbert.} prefix. */
    BASE("DistilBertModel"),
    /** DistilBertForMaskedLM: vocab_transform → activation → vocab_layer_norm → vocab_projector (tied). */
    MASKED_LM("DistilBertForMaskedLM"),
    /** DistilBertForSequenceClassification: [CLS] → pre_classifier → ReLU → dropout → classifier [N, C]. */
    SEQUENCE_CLASSIFICATION("DistilBertForSequenceClassification"),
    /** DistilBertForMultipleChoice: pre_classifier → ReLU → dropout → classifier [1, C] per choice. */
    MULTIPLE_CHOICE("DistilBertForMultipleChoice"),
    /** DistilBertForTokenClassification: dropout → classifier [N, C] on every token. */
    TOKEN_CLASSIFICATION("DistilBertForTokenClassification"),
    /** DistilBertForQuestionAnswering: dropout → qa_outputs [2, C] → start/end logits. */
    QUESTION_ANSWERING("DistilBertForQuestionAnswering");

    private final String hfClass;

    Head(String hfClass) {
        this.hfClass = hfClass;
    }

    /** The transformers class name, as it appears in config.json's "architectures". */
    public String hfClass() {
        return hfClass;
    }

    /** The head named by an "architectures" entry, e.g. "DistilBertForMaskedLM". */
    public static java.util.Optional<Head> fromHfClass(String name) {
        for (Head h : values()) if (h.hfClass.equals(name)) return java.util.Optional.of(h);
        return java.util.Optional.empty();
    }
}
