package distilbert.model;

/**
 * A range of float32 values owned by one backend: the handle every {@link Ops} method takes.
 *
 * <p>Sealed because each backend reads its own variant directly (a Java array here, a device
 * pointer in the CUDA backend) and a buffer of one backend passed to the other is a programming
 * error, caught by the backend's cast. Model code never looks inside a buffer: it allocates, takes
 * views and passes them on.
 */
public sealed interface Buffer permits HostBuffer, CudaBuffer {

    /** Number of floats. */
    long length();

    /** The floats {@code [offset, offset + length)} of this buffer, sharing its storage. */
    Buffer view(long offset, long length);
}
