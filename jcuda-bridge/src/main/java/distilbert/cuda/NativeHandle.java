package distilbert.cuda;

import jcuda.NativePointerObject;

/**
 * The raw value of a JCuda handle (a stream, an event), for libraries called through
 * {@code java.lang.foreign} that take the same C handle. JCuda keeps the value in a protected
 * field of {@link NativePointerObject}; its protected copy constructor lets a subclass read it.
 * No reflection.
 */
final class NativeHandle extends NativePointerObject {

    private NativeHandle(NativePointerObject handle) {
        super(handle);
    }

    /** The C value of {@code handle} (a {@code CUstream} is a {@code cudaStream_t}). */
    static long of(NativePointerObject handle) {
        return new NativeHandle(handle).getNativePointer();
    }
}
