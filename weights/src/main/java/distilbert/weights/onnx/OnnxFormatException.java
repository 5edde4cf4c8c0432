package distilbert.weights.onnx;

/** An ONNX file could not be read or converted; the message names the file and the cause. */
public final class OnnxFormatException extends RuntimeException {
    public OnnxFormatException(String message) {
        super(message);
    }

    public OnnxFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
