package distilbert.cli;

/** A command failed for a reason the user can act on; the message says it in one line (exit code 1). */
final class CliException extends RuntimeException {
    CliException(String message) {
        super(message);
    }

    CliException(String message, Throwable cause) {
        super(message, cause);
    }
}
