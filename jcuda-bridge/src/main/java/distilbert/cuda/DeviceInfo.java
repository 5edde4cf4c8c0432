package distilbert.cuda;

/**
 * One CUDA device as the driver reports it.
 *
 * @param ordinal device number as the driver counts them (after CUDA_VISIBLE_DEVICES)
 * @param name e.g. "NVIDIA H100 80GB HBM3"
 * @param computeMajor compute capability, major (9 for sm_90)
 * @param computeMinor compute capability, minor
 * @param totalMemoryBytes device memory
 * @param multiprocessors streaming multiprocessors, for sizing persistent grids
 */
public record DeviceInfo(
        int ordinal, String name, int computeMajor, int computeMinor, long totalMemoryBytes, int multiprocessors) {

    /** Compute capability as an nvcc architecture number: 90 for 9.0. */
    public int sm() {
        return computeMajor * 10 + computeMinor;
    }

    /**
     * Whether the shipped fatbins run here: cubins for sm_80, sm_86, sm_89 and sm_90 cover every
     * 8.x and 9.0 device (a cubin runs on later minor versions of its major), and the compute_90 PTX
     * is JIT-compiled by the driver for anything newer. Below 8.0 nothing fits.
     */
    public boolean supported() {
        return computeMajor >= GpuProbe.MIN_COMPUTE_MAJOR;
    }

    /** e.g. {@code device 0: NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB, 132 SMs)}. */
    public String describe() {
        return String.format("device %d: %s (sm_%d, %.1f GiB, %d SMs)",
                ordinal, name, sm(), totalMemoryBytes / (double) (1L << 30), multiprocessors);
    }
}
