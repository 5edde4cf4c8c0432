package distilbert.cuda;

import java.util.Objects;

/**
 * {@code length} elements of one {@link ElementType} in device memory: an allocation of its own
 * ({@link CudaContext#allocate}), a piece of a {@link DeviceArena}, or a view of a range of either.
 *
 * <p>Copies from and to Java arrays convert on the host (float to bfloat16 rounds to nearest even),
 * go through the context's pinned staging buffer and are ordered on the context's stream: an upload
 * runs after the kernels queued before it, a download waits for them and returns when the data is
 * in the Java array.
 *
 * <p>Closing an allocation frees it; closing a view or an arena piece does nothing (the arena's
 * {@link DeviceArena#release} takes those back). A view must not outlive its allocation.
 */
public final class DeviceArray implements AutoCloseable {

    private final CudaContext context;
    private final ElementType type;
    private final long address;
    private final long length;
    /** The allocation a view belongs to; null for an allocation or an arena piece. */
    private final DeviceArray root;
    /** Whether closing this frees memory (an allocation of its own). */
    private final boolean owner;
    private boolean closed;

    DeviceArray(CudaContext context, ElementType type, long address, long length, DeviceArray root, boolean owner) {
        this.context = context;
        this.type = type;
        this.address = address;
        this.length = length;
        this.root = root;
        this.owner = owner;
    }

    public ElementType type() {
        return type;
    }

    /** Number of elements. */
    public long length() {
        return length;
    }

    public long byteSize() {
        return length * type.bytes();
    }

    public CudaContext context() {
        return context;
    }

    /** The raw device address of the first element (for kernels and cuBLAS). */
    public long address() {
        ensureOpen();
        return address;
    }

    /** The elements {@code [offset, offset + length)}, sharing this array's memory. */
    public DeviceArray view(long offset, long length) {
        ensureOpen();
        if (offset < 0 || length < 0 || offset > this.length - length) {
            throw new IndexOutOfBoundsException("view [" + offset + ", " + offset + " + " + length
                    + ") of a device array of " + this.length + " " + type);
        }
        DeviceArray base = root != null ? root : (owner ? this : null);
        return new DeviceArray(context, type, address + offset * type.bytes(), length, base, false);
    }

    /** Copies {@code src} into the first {@code src.length} elements (a float type). */
    public void upload(float[] src) {
        upload(src, 0, src.length);
    }

    /** Copies {@code count} floats of {@code src} from {@code from} into the first {@code count} elements. */
    public void upload(float[] src, int from, int count) {
        requireFloat("upload floats");
        Objects.checkFromIndexSize(from, count, src.length);
        checkFits(count, "upload");
        context.staging().uploadFloats(this, src, from, count);
    }

    /** Copies {@code src} into the first {@code src.length} elements of an I32 array. */
    public void uploadInts(int[] src) {
        requireType(ElementType.I32, "upload ints");
        checkFits(src.length, "upload");
        context.staging().uploadInts(this, src);
    }

    /** Copies {@code src} into the first {@code src.length} elements of an I64 array. */
    public void uploadLongs(long[] src) {
        requireType(ElementType.I64, "upload longs");
        checkFits(src.length, "upload");
        context.staging().uploadLongs(this, src);
    }

    /** Copies the first {@code dst.length} elements (a float type) into {@code dst}, widening to float. */
    public void download(float[] dst) {
        requireFloat("download floats");
        checkFits(dst.length, "download");
        context.staging().downloadFloats(this, dst);
    }

    /** The whole array (a float type) as a new float array. */
    public float[] downloadFloats() {
        float[] dst = new float[checkedLength()];
        download(dst);
        return dst;
    }

    /** The whole I32 array as a new int array. */
    public int[] downloadInts() {
        requireType(ElementType.I32, "download ints");
        int[] dst = new int[checkedLength()];
        context.staging().downloadInts(this, dst);
        return dst;
    }

    /**
     * Sets every element to {@code value} (rounded to the type), queued on the stream. With NaN this
     * poisons an output so that elements a kernel fails to write show in a test.
     */
    public void fill(float value) {
        requireFloat("fill");
        ensureOpen();
        if (length == 0) {
            return;
        }
        switch (type) {
            case F32 -> context.memsetD32(address, Float.floatToRawIntBits(value), length);
            case BF16 -> context.memsetD16(address, ElementType.toBf16(value), length);
            case F16 -> context.memsetD16(address, Float.floatToFloat16(value), length);
            default -> throw new IllegalStateException();
        }
    }

    /** Sets every byte to zero, queued on the stream. */
    public void zero() {
        ensureOpen();
        if (length > 0) {
            context.memsetD8(address, (byte) 0, byteSize());
        }
    }

    void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("device array of " + length + " " + type + " is closed");
        }
        if (root != null && root.closed) {
            throw new IllegalStateException("view of " + length + " " + type + " outlived its allocation");
        }
        context.ensureOpen();
    }

    private int checkedLength() {
        if (length > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("a device array of " + length + " elements does not fit in one Java array");
        }
        return (int) length;
    }

    private void checkFits(int count, String what) {
        if (count > length) {
            throw new IndexOutOfBoundsException(what + " of " + count + " elements into a device array of " + length);
        }
    }

    private void requireFloat(String what) {
        if (!type.isFloat()) {
            throw new IllegalArgumentException(what + ": the array holds " + type + ", not a float type");
        }
    }

    private void requireType(ElementType expected, String what) {
        if (type != expected) {
            throw new IllegalArgumentException(what + ": the array holds " + type + ", not " + expected);
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (owner) {
            context.free(this, address, byteSize());
        }
    }

    @Override
    public String toString() {
        return "DeviceArray[" + length + " " + type + " at 0x" + Long.toHexString(address) + "]";
    }
}
