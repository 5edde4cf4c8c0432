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
 * <p>Ordering: kernels run on {@link #stream()}, created as a blocking stream, so the synchronous
 * copies of {@link DeviceFloatBuffer} (which run on the legacy default stream) wait for the
 * kernels queued before them and the kernels queued after them wait for the copies.
 */
public final class CudaContext implements AutoCloseable {

    private final DeviceInfo device;
    private final CUdevice cuDevice;
    private final CUcontext context;
    private final CUstream stream;
    private final Map<String, KernelModule> modules = new HashMap<>();
    private final Set<DeviceFloatBuffer> liveBuffers = Collections.newSetFromMap(new IdentityHashMap<>());
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
                .orElseThrow(() -> new IllegalStateException("no CUDA device " + ordinal + "; the driver sees "
                        + status.devices().size()));
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

    /** A new device buffer of {@code length} floats; its contents are undefined until written. */
    public DeviceFloatBuffer allocateFloats(long length) {
        ensureOpen();
        DeviceFloatBuffer buffer = DeviceFloatBuffer.allocate(this, length);
        liveBuffers.add(buffer);
        return buffer;
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
        ensureOpen();
        CudaCalls.check(JCudaDriver.cuLaunchKernel(kernel.function(), gridX, gridY, 1, blockX, blockY, 1,
                        0, stream, args.toPointer(), null),
                "cuLaunchKernel(" + kernel.module() + "/" + kernel.name() + ", grid (" + gridX + ", " + gridY
                        + "), block (" + blockX + ", " + blockY + "))");
    }

    CUstream stream() {
        return stream;
    }

    void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("CUDA context for " + device.describe() + " is closed");
        }
    }

    void forget(DeviceFloatBuffer buffer) {
        liveBuffers.remove(buffer);
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
        List<RuntimeException> failures = new ArrayList<>();
        // Make sure the frees and unloads below act on this context, whichever thread closes it.
        attempt(failures, () -> CudaCalls.check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent"));
        attempt(failures, () -> CudaCalls.check(JCudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize"));
        for (DeviceFloatBuffer buffer : new ArrayList<>(liveBuffers)) {
            attempt(failures, buffer::close);
        }
        for (KernelModule module : modules.values()) {
            attempt(failures, module::close);
        }
        modules.clear();
        attempt(failures, () -> CudaCalls.check(JCudaDriver.cuStreamDestroy(stream), "cuStreamDestroy"));
        attempt(failures, () -> CudaCalls.check(JCudaDriver.cuDevicePrimaryCtxRelease(cuDevice),
                "cuDevicePrimaryCtxRelease(device " + device.ordinal() + ")"));
        closed = true;
        if (!failures.isEmpty()) {
            RuntimeException first = failures.getFirst();
            failures.subList(1, failures.size()).forEach(first::addSuppressed);
            throw first;
        }
    }

    private static void attempt(List<RuntimeException> failures, Runnable step) {
        try {
            step.run();
        } catch (RuntimeException e) {
            failures.add(e);
        }
    }
}
