package distilbert.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jcuda.Pointer;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.JCudaDriver;

/**
 * The context's pinned (page-locked) host buffer through which every copy between Java arrays and
 * device arrays goes: the host converts into it (float to bfloat16, say), then one asynchronous
 * copy on the context's stream moves it. Pinned memory is what lets the copy run at the bus's
 * speed and in order with the kernels.
 *
 * <p>Large copies go in chunks of at most {@link #MAX_CHUNK_BYTES}, so the buffer stays small. An
 * upload returns once its copy is queued; the next use of the buffer waits on an event recorded
 * after that copy, so Java never overwrites bytes still in flight. A download waits for its copy.
 * Used from the thread that has the context current, like the rest of the context.
 */
final class HostStaging implements AutoCloseable {

    static final long MAX_CHUNK_BYTES = 8L << 20;

    private final CudaContext context;
    private final CUevent copied = new CUevent();
    private Pointer host;
    private ByteBuffer bytes;
    private long capacity;
    private boolean pending;

    HostStaging(CudaContext context) {
        this.context = context;
        CudaCalls.check(JCudaDriver.cuEventCreate(copied, CUevent_flags.CU_EVENT_DISABLE_TIMING),
                "cuEventCreate(staging)");
    }

    void uploadFloats(DeviceArray dst, float[] src, int from, int count) {
        ElementType type = dst.type();
        long dstAddress = dst.address();
        int perChunk = (int) (MAX_CHUNK_BYTES / type.bytes());
        for (int done = 0; done < count; done += perChunk) {
            int n = Math.min(perChunk, count - done);
            ByteBuffer b = acquire((long) n * type.bytes());
            int base = from + done;
            switch (type) {
                case F32 -> b.asFloatBuffer().put(src, base, n);
                case BF16, F16 -> {
                    for (int i = 0; i < n; i++) {
                        b.putShort(2 * i, halfBits(type, src[base + i]));
                    }
                }
                default -> throw new IllegalStateException(type.toString());
            }
            copyIn(dstAddress + (long) done * type.bytes(), (long) n * type.bytes());
        }
    }

    void uploadInts(DeviceArray dst, int[] src) {
        long dstAddress = dst.address();
        int perChunk = (int) (MAX_CHUNK_BYTES / 4);
        for (int done = 0; done < src.length; done += perChunk) {
            int n = Math.min(perChunk, src.length - done);
            acquire(4L * n).asIntBuffer().put(src, done, n);
            copyIn(dstAddress + 4L * done, 4L * n);
        }
    }

    void uploadLongs(DeviceArray dst, long[] src) {
        long dstAddress = dst.address();
        int perChunk = (int) (MAX_CHUNK_BYTES / 8);
        for (int done = 0; done < src.length; done += perChunk) {
            int n = Math.min(perChunk, src.length - done);
            acquire(8L * n).asLongBuffer().put(src, done, n);
            copyIn(dstAddress + 8L * done, 8L * n);
        }
    }

    void downloadFloats(DeviceArray src, float[] dst) {
        ElementType type = src.type();
        long srcAddress = src.address();
        int perChunk = (int) (MAX_CHUNK_BYTES / type.bytes());
        for (int done = 0; done < dst.length; done += perChunk) {
            int n = Math.min(perChunk, dst.length - done);
            ByteBuffer b = copyOut(srcAddress + (long) done * type.bytes(), (long) n * type.bytes());
            switch (type) {
                case F32 -> b.asFloatBuffer().get(dst, done, n);
                case BF16, F16 -> {
                    for (int i = 0; i < n; i++) {
                        dst[done + i] = halfValue(type, b.getShort(2 * i));
                    }
                }
                default -> throw new IllegalStateException(type.toString());
            }
        }
    }

    void downloadInts(DeviceArray src, int[] dst) {
        long srcAddress = src.address();
        int perChunk = (int) (MAX_CHUNK_BYTES / 4);
        for (int done = 0; done < dst.length; done += perChunk) {
            int n = Math.min(perChunk, dst.length - done);
            copyOut(srcAddress + 4L * done, 4L * n).asIntBuffer().get(dst, done, n);
        }
    }

    /** A float as the bits of a 16-bit type, rounded to nearest even. */
    private static short halfBits(ElementType type, float v) {
        return type == ElementType.BF16 ? ElementType.toBf16(v) : Float.floatToFloat16(v);
    }

    /** The bits of a 16-bit type as a float (exact). */
    private static float halfValue(ElementType type, short bits) {
        return type == ElementType.BF16 ? ElementType.fromBf16(bits) : Float.float16ToFloat(bits);
    }

    /** The buffer, at least {@code size} bytes, once no copy from it is in flight. */
    private ByteBuffer acquire(long size) {
        if (pending) {
            CudaCalls.check(JCudaDriver.cuEventSynchronize(copied), "cuEventSynchronize(staging)");
            pending = false;
        }
        if (size > capacity) {
            freeHost();
            long grown = Math.min(MAX_CHUNK_BYTES, Math.max(size, Math.max(64 << 10, capacity * 2)));
            Pointer p = new Pointer();
            CudaCalls.check(JCudaDriver.cuMemAllocHost(p, grown), "cuMemAllocHost(" + grown + " bytes)");
            host = p;
            capacity = grown;
            bytes = p.getByteBuffer(0, grown).order(ByteOrder.nativeOrder());
        }
        return bytes.duplicate().order(ByteOrder.nativeOrder()).clear();
    }

    private void copyIn(long dstAddress, long size) {
        CudaCalls.check(JCudaDriver.cuMemcpyHtoDAsync(DevicePointer.of(dstAddress), host, size, context.stream()),
                "cuMemcpyHtoDAsync(" + size + " bytes)");
        CudaCalls.check(JCudaDriver.cuEventRecord(copied, context.stream()), "cuEventRecord(staging)");
        pending = true;
    }

    private ByteBuffer copyOut(long srcAddress, long size) {
        ByteBuffer b = acquire(size);
        CudaCalls.check(JCudaDriver.cuMemcpyDtoHAsync(host, DevicePointer.of(srcAddress), size, context.stream()),
                "cuMemcpyDtoHAsync(" + size + " bytes)");
        context.synchronize();
        return b;
    }

    private void freeHost() {
        if (host != null) {
            CudaCalls.check(JCudaDriver.cuMemFreeHost(host), "cuMemFreeHost(" + capacity + " bytes)");
            host = null;
            bytes = null;
            capacity = 0;
        }
    }

    @Override
    public void close() {
        try {
            if (pending) {
                JCudaDriver.cuEventSynchronize(copied);
                pending = false;
            }
            freeHost();
        } finally {
            JCudaDriver.cuEventDestroy(copied);
        }
    }
}
