package distilbert.model;

/**
 * A range of int32 values owned by one backend: token ids, position ids, {@code cu_seqlens},
 * labels, row indices. The integer twin of {@link Buffer}.
 */
public sealed interface IndexBuffer permits HostIndexBuffer, CudaIndexBuffer {

    /** Number of ints. */
    long length();
}
