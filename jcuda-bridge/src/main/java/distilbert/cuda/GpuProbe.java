package distilbert.cuda;

import distilbert.cuda.GpuStatus.Reason;
import distilbert.cuda.GpuStatus.Unusable;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Supplier;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * Finds out, once per process, whether a GPU can run our kernels, and if not, why. It never throws
 * and never crashes a machine without CUDA: each step that could fail is tried in an order where a
 * failure has one clear meaning.
 *
 * <ol>
 *   <li>Is the driver library there? {@code libcuda.so.1} is opened through {@code java.lang.foreign}
 *       first, because JCuda's own load error mixes "no driver" with "no JCuda natives for this
 *       platform".
 *   <li>Do JCuda's natives load? (They link against libcuda.so.1, which step 1 found.)
 *   <li>{@code cuInit}: fails with CUDA_ERROR_NO_DEVICE on a driver without devices, with
 *       CUDA_ERROR_STUB_LIBRARY when the toolkit's stub libcuda was found instead of a driver.
 *   <li>{@code cuDriverGetVersion} at least 13.0: fatbins from nvcc 13 need an R580+ driver.
 *   <li>Devices: count, name, compute capability, memory, multiprocessors; usable if one is 8.0+.
 *   <li>cuBLAS: libcublas.so.13 (else .12) and its libcublasLt open and report their version
 *       ({@link CublasLibrary}); every matrix product of the model goes through it.
 * </ol>
 */
public final class GpuProbe {

    /** CUDA version the driver must support, as the driver encodes it: 13.0 (R580 and newer). */
    public static final int MIN_DRIVER_VERSION = 13000;

    /** The oldest architecture the fatbins hold code for is sm_80. */
    public static final int MIN_COMPUTE_MAJOR = 8;

    private GpuProbe() {}

    /** The probe's result, computed on first use and kept for the life of the process. */
    public static GpuStatus status() {
        return Holder.STATUS;
    }

    /** Lazy, thread-safe, once: the JVM runs a holder class's initializer exactly once. */
    private static final class Holder {
        static final GpuStatus STATUS = probe();
    }

    private static GpuStatus probe() {
        try {
            return probeSteps();
        } catch (RuntimeException | LinkageError e) {
            // Defensive: every expected failure is handled in probeSteps; this keeps the promise
            // that asking never takes the process down.
            return new Unusable(Reason.INIT_FAILED, "unexpected " + e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    private static GpuStatus probeSteps() {
        Optional<Unusable> noDriver = findDriverLibrary();
        if (noDriver.isPresent()) {
            return noDriver.get();
        }

        try {
            // The first touch of JCudaDriver loads JCuda's natives (extracted from the jcuda-natives jar).
            JCudaDriver.setExceptionsEnabled(false);
        } catch (LinkageError e) {
            return new Unusable(Reason.NATIVES_UNAVAILABLE, "JCuda's native driver library did not load on "
                    + System.getProperty("os.name") + "/" + System.getProperty("os.arch") + ": " + rootMessage(e));
        }

        int init = JCudaDriver.cuInit(0);
        if (init == CUresult.CUDA_ERROR_NO_DEVICE) {
            return new Unusable(Reason.NO_DEVICE, "the NVIDIA driver is installed but reports no CUDA device "
                    + "(cuInit: CUDA_ERROR_NO_DEVICE); check CUDA_VISIBLE_DEVICES and that the container was given a GPU");
        }
        if (init == CUresult.CUDA_ERROR_STUB_LIBRARY) {
            return new Unusable(Reason.NO_DRIVER, "the libcuda.so.1 found is the CUDA toolkit's stub, not a driver "
                    + "(cuInit: CUDA_ERROR_STUB_LIBRARY); remove its folder (.../lib64/stubs) from LD_LIBRARY_PATH");
        }
        if (init == CUresult.CUDA_ERROR_SYSTEM_DRIVER_MISMATCH) {
            return new Unusable(Reason.INIT_FAILED, "cuInit: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: the NVIDIA kernel "
                    + "module and libcuda.so.1 come from different driver versions; reinstall the driver or reboot");
        }
        if (init != CUresult.CUDA_SUCCESS) {
            return failed("cuInit(0)", init);
        }

        int[] version = new int[1];
        int rc = JCudaDriver.cuDriverGetVersion(version);
        if (rc != CUresult.CUDA_SUCCESS) {
            return failed("cuDriverGetVersion", rc);
        }
        Optional<Unusable> oldDriver = checkDriver(version[0]);
        if (oldDriver.isPresent()) {
            return oldDriver.get();
        }

        int[] count = new int[1];
        rc = JCudaDriver.cuDeviceGetCount(count);
        if (rc != CUresult.CUDA_SUCCESS) {
            return failed("cuDeviceGetCount", rc);
        }
        if (count[0] == 0) {
            return new Unusable(Reason.NO_DEVICE, "the NVIDIA driver reports no CUDA device (cuDeviceGetCount = 0)");
        }
        List<DeviceInfo> devices = new ArrayList<>();
        for (int ordinal = 0; ordinal < count[0]; ordinal++) {
            try {
                devices.add(queryDevice(ordinal));
            } catch (CudaException e) {
                return new Unusable(Reason.INIT_FAILED, e.getMessage());
            }
        }
        // Only now cuBLAS: a machine without a usable device is better told about the device.
        return classify(version[0], devices, CublasLibrary::availability);
    }

    /**
     * The driver-version rule alone, so that it can be tested without a driver.
     *
     * @param driverVersion as cuDriverGetVersion reports it, e.g. 12080 for 12.8
     */
    static Optional<Unusable> checkDriver(int driverVersion) {
        if (driverVersion >= MIN_DRIVER_VERSION) {
            return Optional.empty();
        }
        return Optional.of(new Unusable(Reason.DRIVER_TOO_OLD, "the NVIDIA driver supports CUDA "
                + versionString(driverVersion) + ", but the kernels are built by nvcc 13 and need a driver that "
                + "supports CUDA " + versionString(MIN_DRIVER_VERSION) + " (R580 or newer)"));
    }

    /**
     * The device rule, then cuBLAS: usable if any device is supported (the default is the first such)
     * and cuBLAS is available. A device problem is reported before a cuBLAS one, and cuBLAS is only
     * loaded when a device could use it.
     */
    static GpuStatus classify(int driverVersion, List<DeviceInfo> devices,
                              Supplier<CublasLibrary.Availability> cublas) {
        for (DeviceInfo d : devices) {
            if (d.supported()) {
                return switch (cublas.get()) {
                    case CublasLibrary.Availability.Available a ->
                            new GpuStatus.Usable(driverVersion, devices, d, a.version());
                    case CublasLibrary.Availability.Unavailable u -> new Unusable(Reason.NO_CUBLAS,
                            "no cuBLAS for " + d.describe() + ": " + u.reason());
                };
            }
        }
        if (devices.isEmpty()) {
            return new Unusable(Reason.NO_DEVICE, "the NVIDIA driver reports no CUDA device");
        }
        StringBuilder found = new StringBuilder();
        for (DeviceInfo d : devices) {
            found.append(found.isEmpty() ? "" : "; ").append(d.describe());
        }
        return new Unusable(Reason.UNSUPPORTED_DEVICE, "the kernels need compute capability "
                + MIN_COMPUTE_MAJOR + ".0 or newer (sm_80+), found " + found);
    }

    /** 13000 → "13.0", 12080 → "12.8": the driver encodes major * 1000 + minor * 10. */
    static String versionString(int driverVersion) {
        return (driverVersion / 1000) + "." + (driverVersion % 1000) / 10;
    }

    // Restricted (native access): this module is the one that is granted it.
    @SuppressWarnings("restricted")
    private static Optional<Unusable> findDriverLibrary() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String library;
        if (os.contains("linux")) {
            library = "libcuda.so.1";
        } else if (os.contains("windows")) {
            library = "nvcuda.dll";
        } else {
            return Optional.of(new Unusable(Reason.NO_DRIVER,
                    "NVIDIA ships no CUDA driver for " + System.getProperty("os.name")));
        }
        // Opened and closed again at once: JCuda's natives open it for real in the next step.
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup.libraryLookup(library, arena);
            return Optional.empty();
        } catch (IllegalArgumentException e) {
            return Optional.of(new Unusable(Reason.NO_DRIVER, library + " not found: no NVIDIA driver on this "
                    + "machine, or it is not visible here (in a container, run with the NVIDIA container toolkit, "
                    + "e.g. docker --gpus all)"));
        } catch (IllegalCallerException e) {
            // Native access denied for this module (--enable-native-access names other modules):
            // say so rather than guess, the JCuda step would fail the same way.
            return Optional.of(new Unusable(Reason.NATIVES_UNAVAILABLE, "native access is not enabled for "
                    + "distilbert-cuda; run java with --enable-native-access=ALL-UNNAMED: " + e.getMessage()));
        }
    }

    private static DeviceInfo queryDevice(int ordinal) {
        CUdevice device = new CUdevice();
        CudaCalls.check(JCudaDriver.cuDeviceGet(device, ordinal), "cuDeviceGet(" + ordinal + ")");
        byte[] name = new byte[256];
        CudaCalls.check(JCudaDriver.cuDeviceGetName(name, name.length, device), "cuDeviceGetName(" + ordinal + ")");
        long[] memory = new long[1];
        CudaCalls.check(JCudaDriver.cuDeviceTotalMem(memory, device), "cuDeviceTotalMem(" + ordinal + ")");
        int major = attribute(device, ordinal, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "COMPUTE_CAPABILITY_MAJOR");
        int minor = attribute(device, ordinal, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "COMPUTE_CAPABILITY_MINOR");
        int sms = attribute(device, ordinal, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "MULTIPROCESSOR_COUNT");
        return new DeviceInfo(ordinal, cString(name), major, minor, memory[0], sms);
    }

    private static int attribute(CUdevice device, int ordinal, int attribute, String attributeName) {
        int[] value = new int[1];
        CudaCalls.check(JCudaDriver.cuDeviceGetAttribute(value, attribute, device),
                "cuDeviceGetAttribute(" + attributeName + ", device " + ordinal + ")");
        return value[0];
    }

    private static Unusable failed(String call, int result) {
        return new Unusable(Reason.INIT_FAILED, call + " failed: " + CudaCalls.resultName(result) + " (" + result + ")");
    }

    private static String cString(byte[] bytes) {
        int end = 0;
        while (end < bytes.length && bytes[end] != 0) {
            end++;
        }
        return new String(bytes, 0, end, StandardCharsets.UTF_8);
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        String message = t.getMessage();
        return t.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }
}
