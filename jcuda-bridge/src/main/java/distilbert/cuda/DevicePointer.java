package distilbert.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * A device address as JCuda's {@link CUdeviceptr}, convertible to and from a raw {@code long}.
 * The raw form is what cuBLAS takes through {@code java.lang.foreign}, and what a view into a slab
 * is computed from; the JCuda form is what the driver calls take.
 *
 * <p>JCuda keeps an address as a native pointer plus a byte offset and passes their sum to the
 * driver. Neither field is public, but both are reachable from a subclass: an address is built as
 * the null pointer plus an offset, and read back as pointer + offset. No reflection.
 */
final class DevicePointer extends CUdeviceptr {

    private DevicePointer(CUdeviceptr base, long byteOffset) {
        super(base, byteOffset);
    }

    /** The JCuda pointer for a raw device address. */
    static DevicePointer of(long address) {
        return new DevicePointer(new CUdeviceptr(), address);
    }

    /** The raw device address of any JCuda device pointer (filled in by cuMemAlloc, offset, ...). */
    static long addressOf(CUdeviceptr pointer) {
        return new DevicePointer(pointer, 0).address();
    }

    long address() {
        return getNativePointer() + getByteOffset();
    }

    DevicePointer plusBytes(long bytes) {
        return new DevicePointer(this, bytes);
    }
}
