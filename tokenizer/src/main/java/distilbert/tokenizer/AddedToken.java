package distilbert.tokenizer;

/**
 * A token matched whole in the input before normalization and WordPiece ({@code [CLS]},
 * {@code [MASK]}, …), as in tokenizer.json's {@code added_tokens}. {@code normalized} tokens are
 * matched in the normalized text, the others in the original text.
 */
public record AddedToken(int id, String content, boolean singleWord, boolean lstrip, boolean rstrip, boolean normalized,
                         boolean special) {
    public AddedToken {
        if (content == null || content.isEmpty()) throw new IllegalArgumentException("added token content must not be empty");
    }

    /** A special token matched in the original text, as BERT's [CLS], [SEP], [PAD], [UNK], [MASK]. */
    public static AddedToken special(int id, String content) {
        return new AddedToken(id, content, false, false, false, false, true);
    }
}
