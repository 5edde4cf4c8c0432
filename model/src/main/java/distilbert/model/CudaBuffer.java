package distilbert.model;

import distilbert.cuda.DeviceArray;

/**
 * The CUDA backend's buffer: a device array of the backend's storage type (float32, bfloat16 or
 * float16). {@link #length()} counts elements, whatever their size.
 */
public record CudaBuffer(DeviceArray array) implements Buffer {

    @Override
    public long length() {
        return array.length();
    }

    @Override
    public CudaBuffer view(long offset, long length) {
        return new CudaBuffer(array.view(offset, length));
    }
}
