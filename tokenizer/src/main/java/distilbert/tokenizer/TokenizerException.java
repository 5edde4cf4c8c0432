package distilbert.tokenizer;

/** A tokenizer could not be loaded or an input could not be encoded; the message names the cause. */
public final class TokenizerException extends RuntimeException {
    public TokenizerException(String message) {
        super(message);
    }

    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }
}
