package distilbert.tokenizer;

/**
 * Options of one encode call. {@code truncation} and {@code padding} may be null (none), which is
 * the default, also when the tokenizer.json file turns them on: HuggingFace's Python tokenizers
 * apply only what the call asks for.
 */
public record EncodeOptions(boolean addSpecialTokens, Truncation truncation, Padding padding) {
    public static final EncodeOptions DEFAULT = new EncodeOptions(true, null, null);

    public EncodeOptions withTruncation(Truncation truncation) {
        return new EncodeOptions(addSpecialTokens, truncation, padding);
    }

    public EncodeOptions withPadding(Padding padding) {
        return new EncodeOptions(addSpecialTokens, truncation, padding);
    }

    public EncodeOptions withSpecialTokens(boolean add) {
        return new EncodeOptions(add, truncation, padding);
    }
}
