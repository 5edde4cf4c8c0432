package distilbert.cuda;

import jcuda.Pointer;
import jcuda.Sizeof;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;

/**
 * {@code length} float32 values in device memory: either an allocation of its own, or a view of a
 * range of another buffer (a named tensor inside the parameter slab, say).
 *
 * <p>Closing an allocation frees it; closing a view only stops that view being used. A view must
 * not outlive its allocation. Copies to and from Java arrays are synchronous and ordered after the
 * work already queued on the context (see {@link CudaContext}).
 */
public final class DeviceFloatBuffer implements AutoCloseable {

    private final CudaContext context;
    private final DevicePointer pointer;
    private final long length;
    /** The allocation a view belongs to; null for an allocation. */
    private final DeviceFloatBuffer root;
    private boolean closed;

    private DeviceFloatBuffer(CudaContext context, DevicePointer pointer, long length, DeviceFloatBuffer root) {
        this.context = context;
        this.pointer = pointer;
        this.length = length;
        this.root = root;
    }

    static DeviceFloatBuffer allocate(CudaContext context, long length) {
        if (length < 0) {
            throw new IllegalArgumentException("negative buffer length " + length);
        }
        if (length == 0) {
            // cuMemAlloc rejects size 0; an empty tensor needs no memory, only a valid object.
            return new DeviceFloatBuffer(context, DevicePointer.of(0), 0, null);
        }
        CUdeviceptr allocated = new CUdeviceptr();
        long bytes = Math.multiplyExact(length, (long) Sizeof.FLOAT);
        CudaCalls.check(JCudaDriver.cuMemAlloc(allocated, bytes), "cuMemAlloc(" + bytes + " bytes)");
        return new DeviceFloatBuffer(context, DevicePointer.of(DevicePointer.addressOf(allocated)), length, null);
    }

    /** Number of floats. */
    public long length() {
        return length;
    }

    public CudaContext context() {
        return context;
    }

    /** The floats {@code [offset, offset + length)} of this buffer, sharing its memory. */
    public DeviceFloatBuffer view(long offset, long length) {
        ensureOpen();
        if (offset < 0 || length < 0 || offset > this.length - length) {
            throw new IndexOutOfBoundsException("view [" + offset + ", " + offset + " + " + length
                    + ") of a buffer of " + this.length + " floats");
        }
        return new DeviceFloatBuffer(context, pointer.plusBytes(offset * Sizeof.FLOAT), length,
                root == null ? this : root);
    }

    /** Copies {@code src} into the first {@code src.length} floats of this buffer. */
    public void upload(float[] src) {
        ensureOpen();
        checkFits(src.length, "upload");
        if (src.length > 0) {
            CudaCalls.check(JCudaDriver.cuMemcpyHtoD(pointer, Pointer.to(src), (long) src.length * Sizeof.FLOAT),
                    "cuMemcpyHtoD(" + (long) src.length * Sizeof.FLOAT + " bytes)");
        }
    }

    /** Copies the first {@code dst.length} floats of this buffer into {@code dst}. */
    public void download(float[] dst) {
        ensureOpen();
        checkFits(dst.length, "download");
        if (dst.length > 0) {
            CudaCalls.check(JCudaDriver.cuMemcpyDtoH(Pointer.to(dst), pointer, (long) dst.length * Sizeof.FLOAT),
                    "cuMemcpyDtoH(" + (long) dst.length * Sizeof.FLOAT + " bytes)");
        }
    }

    /** The whole buffer as a new array. */
    public float[] download() {
        if (length > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("a buffer of " + length + " floats does not fit in one Java array");
        }
        float[] dst = new float[(int) length];
        download(dst);
        return dst;
    }

    /** Sets every float to {@code value} (bit pattern and all, NaN payloads included), queued on the stream. */
    public void fill(float value) {
        ensureOpen();
        if (length > 0) {
            CudaCalls.check(JCudaDriver.cuMemsetD32Async(pointer, Float.floatToRawIntBits(value), length,
                    context.stream()), "cuMemsetD32Async(" + length + " floats)");
        }
    }

    /** The raw device address of the first float, for libraries called through java.lang.foreign. */
    long address() {
        return pointer.address();
    }

    CUdeviceptr devicePointer() {
        ensureOpen();
        return pointer;
    }

    void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("device buffer of " + length + " floats is closed");
        }
        if (root != null && root.closed) {
            throw new IllegalStateException("view of " + length + " floats outlived its allocation");
        }
        context.ensureOpen();
    }

    private void checkFits(int count, String what) {
        if (count > length) {
            throw new IndexOutOfBoundsException(what + " of " + count + " floats into a buffer of " + length);
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (root == null) {
            context.forget(this);
            if (length > 0) {
                CudaCalls.check(JCudaDriver.cuMemFree(pointer), "cuMemFree(" + length * Sizeof.FLOAT + " bytes)");
            }
        }
    }
}
