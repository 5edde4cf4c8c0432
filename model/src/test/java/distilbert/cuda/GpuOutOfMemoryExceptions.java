package distilbert.cuda;

/** Makes the bridge's {@link GpuOutOfMemoryException} (package-private constructor) for tests of what handles it. */
public final class GpuOutOfMemoryExceptions {
    private GpuOutOfMemoryExceptions() {
    }

    public static GpuOutOfMemoryException of(String reason, long requestedBytes) {
        return new GpuOutOfMemoryException(reason, "a test's", requestedBytes);
    }
}
