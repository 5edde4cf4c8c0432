package distilbert.cuda;

/**
 * The boundary checks the kernel launchers share: an array given to a kernel belongs to the
 * launcher's context, holds the element type the kernel reads, has at least the elements it will
 * touch, and is still open. A kernel that read past an array would raise a sticky error that ruins
 * the context, so the launchers check here and the kernels trust what passes.
 */
final class LaunchChecks {

    private LaunchChecks() {
    }

    /** {@code a}, which is required, checked as {@link #requireNullable} checks it. */
    static void require(CudaContext context, DeviceArray a, ElementType type, long needed, String name) {
        if (a == null) {
            throw new IllegalArgumentException(name + " is required");
        }
        requireNullable(context, a, type, needed, name);
    }

    /** {@code a} (null: absent, nothing checked) of {@code context}, holding {@code type}, at least {@code needed} long, open. */
    static void requireNullable(CudaContext context, DeviceArray a, ElementType type, long needed, String name) {
        if (a == null) {
            return;
        }
        if (a.context() != context) {
            throw new IllegalArgumentException(name + " belongs to another CUDA context");
        }
        if (a.type() != type) {
            throw new IllegalArgumentException(name + " holds " + a.type() + ", expected " + type);
        }
        if (a.length() < needed) {
            throw new IllegalArgumentException(name + " holds " + a.length() + " elements, needs " + needed);
        }
        a.ensureOpen();
    }
}
