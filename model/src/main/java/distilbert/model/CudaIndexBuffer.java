package distilbert.model;

import distilbert.cuda.DeviceArray;

/**
 * The CUDA backend's index buffer: an int32 device array, plus the host copy of what was last
 * uploaded into it. The copy is what the host side of an op reads (a batch's sequence lengths, to
 * size a launch) without a round trip to the device; indices are always uploaded from the host.
 */
public final class CudaIndexBuffer implements IndexBuffer {

    private final DeviceArray array;
    private int[] host;

    CudaIndexBuffer(DeviceArray array) {
        this.array = array;
        this.host = new int[0];
    }

    public DeviceArray array() {
        return array;
    }

    @Override
    public long length() {
        return array.length();
    }

    void upload(int[] src) {
        array.uploadInts(src);
        host = src.clone();
    }

    /** A kernel wrote the array: the host copy of the last upload no longer holds its values. */
    void writtenOnTheDevice() {
        host = null;
    }

    /** The first {@code n} values as last uploaded. */
    int[] host(int n) {
        if (host == null) {
            throw new IllegalStateException("the op needs indices on the host, but a kernel wrote them on the device"
                    + " since they were uploaded");
        }
        if (host.length < n) {
            throw new IllegalStateException("the op needs the first " + n + " indices on the host, but only "
                    + host.length + " were uploaded");
        }
        return host.length == n ? host : java.util.Arrays.copyOf(host, n);
    }

    @Override
    public String toString() {
        return "CudaIndexBuffer[" + array + "]";
    }
}
