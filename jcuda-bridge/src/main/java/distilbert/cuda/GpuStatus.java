package distilbert.cuda;

import java.util.List;
import java.util.Locale;

/** What {@link GpuProbe} found: a usable GPU, or the reason there is none. */
public sealed interface GpuStatus {

    boolean usable();

    /** One line for logs and for the "falling back to CPU" notice. */
    String describe();

    /**
     * The driver works, at least one device can run the shipped kernels, and cuBLAS loads.
     *
     * @param driverVersion the CUDA version the driver supports, as the driver encodes it (13000 = 13.0)
     * @param devices every device the driver sees, supported or not
     * @param device the device to use by default: the first supported one
     * @param cublasVersion the cuBLAS found, e.g. "13.0.2"
     */
    record Usable(int driverVersion, List<DeviceInfo> devices, DeviceInfo device, String cublasVersion)
            implements GpuStatus {
        public Usable {
            devices = List.copyOf(devices);
            if (cublasVersion == null || cublasVersion.isBlank()) {
                throw new IllegalArgumentException("a usable GPU status needs the cuBLAS version");
            }
        }

        @Override
        public boolean usable() {
            return true;
        }

        @Override
        public String describe() {
            return device.describe() + ", driver supports CUDA " + GpuProbe.versionString(driverVersion)
                    + ", cuBLAS " + cublasVersion;
        }
    }

    /**
     * No GPU can be used.
     *
     * @param reason the kind of failure, for code that reacts to it
     * @param detail what was found and what to do, for people
     */
    record Unusable(Reason reason, String detail) implements GpuStatus {
        public Unusable {
            if (detail == null || detail.isBlank()) {
                throw new IllegalArgumentException("an unusable GPU status needs a reason people can read");
            }
        }

        @Override
        public boolean usable() {
            return false;
        }

        @Override
        public String describe() {
            return "no usable GPU (" + reason.name().toLowerCase(Locale.ROOT) + "): " + detail;
        }
    }

    enum Reason {
        /** No NVIDIA driver library (libcuda.so.1) on this machine or in this container. */
        NO_DRIVER,
        /** JCuda's native library could not be loaded (platform without JCuda natives, broken install). */
        NATIVES_UNAVAILABLE,
        /** The driver is there but reports no device. */
        NO_DEVICE,
        /** The driver predates CUDA 13 (R580), so it cannot load kernels built by nvcc 13. */
        DRIVER_TOO_OLD,
        /** Every device is older than compute capability 8.0. */
        UNSUPPORTED_DEVICE,
        /** The GPU would do, but no cuBLAS (libcublas.so.13 or .12 with its libcublasLt) can be loaded. */
        NO_CUBLAS,
        /** cuInit or a device query failed for another reason; the detail names the call and error. */
        INIT_FAILED
    }
}
