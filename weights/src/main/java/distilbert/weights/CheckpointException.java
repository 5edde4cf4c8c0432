package distilbert.weights;

/**
 * A checkpoint, config or tensor file that cannot be used as it is. The message always names the
 * file (and the field or tensor) and says what was expected, e.g.
 * {@code "config.json: activation 'foo' is not one of gelu, relu, silu, gelu_new"}.
 *
 * <p>Unchecked on purpose: these are user-facing validation errors raised at the boundary
 * (STYLE habit 12); real I/O failures stay {@link java.io.IOException}s.
 */
public final class CheckpointException extends RuntimeException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
