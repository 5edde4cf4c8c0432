package distilbert.cuda;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

/**
 * A device's primary context, one stream on it, the kernel modules loaded into it and the buffers
 * allocated from it. Everything GPU-side goes through one of these, passed explicitly.
 *
 * <p>Why the primary context ({@code cuDevicePrimaryCtxRetain}) and not {@code cuCtxCreate}: it is
 * the context the CUDA runtime, cuBLAS and every other library in the process use, so device
 * pointers pass between them freely; and {@code cuCtxCreate} changed its signature in CUDA 13, which
 * JCuda 12.6 does not know. Retain/release are reference counted by the driver: several
 * CudaContexts on one device share the context, each with its own stream and modules.
 *
 * <p>Threads: open, use and close a CudaContext on one thread at a time. The driver's current context
 * is per thread; {@link #open} makes the context current on the opening thread, and another thread
 * must call {@link #makeCurrent} before using it.
 *
 * <p>Ordering: kernels, copies ({@link DeviceArray}, through pinned staging) and memsets all run on
 * {@link #stream()}, in the order they are queued; a download waits for the stream.
 */
public final class CudaContext implements AutoCloseable {

    private final DeviceInfo device;
    private final CUdevice cuDevice;
    private final CUcontext context;
    private final CUstream stream;
    private final Map<String, KernelModule> modules = new HashMap<>();
    private final Set<DeviceArray> liveArrays = Collections.newSetFromMap(new IdentityHashMap<>());
    private final List<AutoCloseable> resources = new ArrayList<>();
    private HostStaging staging;
    private boolean closed;

    private CudaContext(DeviceInfo device, CUdevice cuDevice, CUcontext context, CUstream stream) {
        this.device = device;
        this.cuDevice = cuDevice;
        this.context = context;
        this.stream = stream;
    }

    /**
     * Opens the default device ({@link GpuStatus.Usable#device()}).
     *
     * @throws IllegalStateException with the probe's reason when no GPU is usable
     */
    public static CudaContext open() {
        return open(usableStatus().device().ordinal());
    }

    /**
     * Opens device {@code ordinal}.
     *
     * @throws IllegalStateException with the probe's reason when no GPU is usable, or that device
     *     cannot run the kernels
     */
    public static CudaContext open(int ordinal) {
        GpuStatus.Usable status = usableStatus();
        DeviceInfo info = status.devices().stream()
                .filter(d -> d.ordinal() == ordinal)
                .findFirst()
                .orElseThrow(() -> new IllegalStateException(noSuchDevice(ordinal, status.devices().size(),
                        System.getenv("CUDA_VISIBLE_DEVICES"))));
        if (!info.supported()) {
            throw new IllegalStateException(info.describe() + " cannot run the kernels: they need compute capability "
                    + GpuProbe.MIN_COMPUTE_MAJOR + ".0 or newer");
        }
        CUdevice cuDevice = new CUdevice();
        CudaCalls.check(JCudaDriver.cuDeviceGet(cuDevice, ordinal), "cuDeviceGet(" + ordinal + ")");
        CUcontext context = new CUcontext();
        CudaCalls.check(JCudaDriver.cuDevicePrimaryCtxRetain(context, cuDevice),
                "cuDevicePrimaryCtxRetain(device " + ordinal + ")");
        try {
            CudaCalls.check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent(device " + ordinal + ")");
            CUstream stream = new CUstream();
            CudaCalls.check(JCudaDriver.cuStreamCreate(stream, CUstream_flags.CU_STREAM_DEFAULT),
                    "cuStreamCreate(device " + ordinal + ")");
            return new CudaContext(info, cuDevice, context, stream);
        } catch (RuntimeException e) {
            JCudaDriver.cuDevicePrimaryCtxRelease(cuDevice);
            throw e;
        }
    }

    /** Why device {@code ordinal} is not there, for a driver that sees {@code count} devices. */
    static String noSuchDevice(int ordinal, int count, String visibleDevices) {
        String seen = count == 1 ? "the driver sees one GPU, device 0" : "the driver sees " + count + " GPUs, devices 0 to " + (count - 1);
        String visible = visibleDevices == null ? "" : " (CUDA_VISIBLE_DEVICES=" + visibleDevices + " numbers them from 0 in its order)";
        return "no CUDA device " + ordinal + ": " + seen + visible;
    }

    private static GpuStatus.Usable usableStatus() {
        return switch (GpuProbe.status()) {
            case GpuStatus.Usable u -> u;
            case GpuStatus.Unusable u -> throw new IllegalStateException(u.describe());
        };
    }

    public DeviceInfo device() {
        return device;
    }

    /** Makes this context current on the calling thread (needed once per thread other than the opener). */
    public void makeCurrent() {
        ensureOpen();
        CudaCalls.check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent(device " + device.ordinal() + ")");
    }

    /** Waits for all work queued on this context's stream; reports asynchronous kernel errors. */
    public void synchronize() {
        ensureOpen();
        CudaCalls.check(JCudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize(device " + device.ordinal() + ")");
    }

    /**
     * A new device array of {@code length} elements, a cuMemAlloc of its own (for what lives as long
     * as a model: parameters); per-step scratch comes from a {@link DeviceArena}. Contents undefined.
     *
     * @throws GpuOutOfMemoryException naming {@code what} and the device's free memory when it does not fit
     */
    public DeviceArray allocate(ElementType type, long length, String what) {
        ensureOpen();
        if (length < 0) {
            throw new IllegalArgumentException("negative array length " + length);
        }
        long bytes = Math.multiplyExact(length, (long) type.bytes());
        DeviceArray array = new DeviceArray(this, type, allocateBytes(bytes, what), length, null, true);
        liveArrays.add(array);
        return array;
    }

    /**
     * {@code bytes} of device memory (0 for none), 256-byte aligned as cuMemAlloc guarantees.
     *
     * @throws GpuOutOfMemoryException when the device cannot hold it
     */
    long allocateBytes(long bytes, String what) {
        return allocateBytes(bytes, what, "Free other models on this GPU, or run on the CPU (--device cpu, Device.CPU)");
    }

    /** {@link #allocateBytes(long, String)} with the advice its out-of-memory message ends with. */
    long allocateBytes(long bytes, String what, String advice) {
        ensureOpen();
        if (bytes == 0) {
            return 0;
        }
        CUdeviceptr p = new CUdeviceptr();
        int rc = JCudaDriver.cuMemAlloc(p, bytes);
        if (rc == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
            long[] free = new long[1];
            long[] total = new long[1];
            JCudaDriver.cuMemGetInfo(free, total);
            throw new GpuOutOfMemoryException("GPU out of memory: " + what + " needs " + GpuOutOfMemoryException.mib(bytes)
                    + ", and " + device.describe() + " has " + GpuOutOfMemoryException.mib(free[0]) + " free of "
                    + GpuOutOfMemoryException.mib(total[0]), advice, bytes);
        }
        CudaCalls.check(rc, "cuMemAlloc(" + bytes + " bytes for " + what + ")");
        return DevicePointer.addressOf(p);
    }

    void freeBytes(long address, long bytes) {
        if (address != 0) {
            CudaCalls.check(JCudaDriver.cuMemFree(DevicePointer.of(address)), "cuMemFree(" + bytes + " bytes)");
        }
    }

    void free(DeviceArray array, long address, long bytes) {
        liveArrays.remove(array);
        freeBytes(address, bytes);
    }

    /** Free and total device memory in bytes, as the driver reports them now. */
    public long[] memoryInfo() {
        ensureOpen();
        long[] free = new long[1];
        long[] total = new long[1];
        CudaCalls.check(JCudaDriver.cuMemGetInfo(free, total), "cuMemGetInfo");
        return new long[] {free[0], total[0]};
    }

    void memsetD32(long address, int bits, long count) {
        CudaCalls.check(JCudaDriver.cuMemsetD32Async(DevicePointer.of(address), bits, count, stream),
                "cuMemsetD32Async(" + count + " elements)");
    }

    void memsetD16(long address, short bits, long count) {
        CudaCalls.check(JCudaDriver.cuMemsetD16Async(DevicePointer.of(address), bits, count, stream),
                "cuMemsetD16Async(" + count + " elements)");
    }

    void memsetD8(long address, byte value, long count) {
        CudaCalls.check(JCudaDriver.cuMemsetD8Async(DevicePointer.of(address), value, count, stream),
                "cuMemsetD8Async(" + count + " bytes)");
    }

    /** Copies {@code bytes} between device addresses, queued on the stream. */
    void copyDeviceToDevice(long dst, long src, long bytes) {
        if (bytes > 0) {
            CudaCalls.check(JCudaDriver.cuMemcpyDtoDAsync(DevicePointer.of(dst), DevicePointer.of(src), bytes, stream),
                    "cuMemcpyDtoDAsync(" + bytes + " bytes)");
        }
    }

    /** The pinned buffer every host copy goes through, created on first use. */
    HostStaging staging() {
        ensureOpen();
        if (staging == null) {
            staging = new HostStaging(this);
        }
        return staging;
    }

    /** Closes {@code resource} (a cuBLAS handle, an arena) when the context closes, before the memory goes. */
    void own(AutoCloseable resource) {
        resources.add(resource);
    }

    void disown(AutoCloseable resource) {
        resources.remove(resource);
    }

    /** The kernel family {@code name} (from {@code <name>.fatbin}), loaded on first use. */
    KernelModule module(String name) {
        ensureOpen();
        return modules.computeIfAbsent(name, KernelModule::load);
    }

    /**
     * Queues {@code kernel} on this context's stream. Launch errors that the driver detects at once
     * (bad geometry, too many resources) throw here; errors inside the kernel surface later, at the
     * next synchronizing call.
     */
    void launch(KernelModule.Kernel kernel, int gridX, int gridY, int blockX, int blockY, KernelArgs args) {
        launch(kernel, gridX, gridY, 1, blockX, blockY, args);
    }

    /** As above, with a grid of three dimensions. */
    void launch(KernelModule.Kernel kernel, int gridX, int gridY, int gridZ, int blockX, int blockY, KernelArgs args) {
        launch(kernel, gridX, gridY, gridZ, blockX, blockY, 0, args);
    }

    /** As above, with {@code sharedBytes} of dynamic shared memory. */
    void launch(KernelModule.Kernel kernel, int gridX, int gridY, int gridZ, int blockX, int blockY, int sharedBytes,
                KernelArgs args) {
        ensureOpen();
        args.check(kernel.module() + "/" + kernel.name(), kernel.parameters());
        CudaCalls.check(JCudaDriver.cuLaunchKernel(kernel.function(), gridX, gridY, gridZ, blockX, blockY, 1,
                        sharedBytes, stream, args.toPointer(), null),
                "cuLaunchKernel(" + kernel.module() + "/" + kernel.name() + ", grid (" + gridX + ", " + gridY + ", "
                        + gridZ + "), block (" + blockX + ", " + blockY + "), " + sharedBytes + " B shared)");
    }

    CUstream stream() {
        return stream;
    }

    /** The stream as the C handle ({@code cudaStream_t}) that cuBLAS takes through java.lang.foreign. */
    long streamHandle() {
        ensureOpen();
        return NativeHandle.of(stream);
    }

    void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("CUDA context for " + device.describe() + " is closed");
        }
    }

    /**
     * Frees what is still allocated, unloads the modules, destroys the stream and releases the
     * primary context. Every step is attempted even if one fails (a sticky kernel error makes them
     * all fail); the first failure is thrown afterwards with the others suppressed.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        Teardown failures = new Teardown();
        // Make sure the frees and unloads below act on this context, whichever thread closes it.
        failures.attempt(() -> CudaCalls.check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent"));
        failures.attempt(() -> CudaCalls.check(JCudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize"));
        for (AutoCloseable resource : new ArrayList<>(resources).reversed()) {
            failures.attempt(() -> {
                try {
                    resource.close();
                } catch (RuntimeException e) {
                    throw e;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
        }
        resources.clear();
        if (staging != null) {
            failures.attempt(staging::close);
            staging = null;
        }
        for (DeviceArray array : new ArrayList<>(liveArrays)) {
            failures.attempt(array::close);
        }
        for (KernelModule module : modules.values()) {
            failures.attempt(module::close);
        }
        modules.clear();
        failures.attempt(() -> CudaCalls.check(JCudaDriver.cuStreamDestroy(stream), "cuStreamDestroy"));
        failures.attempt(() -> CudaCalls.check(JCudaDriver.cuDevicePrimaryCtxRelease(cuDevice),
                "cuDevicePrimaryCtxRelease(device " + device.ordinal() + ")"));
        closed = true;
        failures.rethrow();
    }
}
