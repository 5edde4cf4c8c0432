package distilbert.cuda;

/**
 * The device had no room for an allocation. The message says what was being allocated, how much,
 * and how much the device has free and in all; the context stays usable (an allocation failure is
 * not sticky), so a caller can retry with a smaller batch.
 */
public final class GpuOutOfMemoryException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final long requestedBytes;
    private final String reason;

    /** @param reason what did not fit where; @param advice what to do about it (the message is both) */
    GpuOutOfMemoryException(String reason, String advice, long requestedBytes) {
        super(reason + ". " + advice);
        this.reason = reason;
        this.requestedBytes = requestedBytes;
    }

    /** What did not fit, and how much the device had free, without the advice. */
    public String reason() {
        return reason;
    }

    /** The size of the allocation that failed, in bytes. */
    public long requestedBytes() {
        return requestedBytes;
    }

    static String mib(long bytes) {
        return String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024.0));
    }
}
