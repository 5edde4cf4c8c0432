package distilbert.cuda;

import distilbert.kernels.Fatbin;
import distilbert.kernels.KernelResources;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * One kernel family ({@code <name>.fatbin} from kernels-cu) loaded into a context; its functions are
 * looked up once and cached. The driver picks the cubin for the device, or JIT-compiles the PTX on a
 * device newer than every cubin. Loaded through {@link CudaContext#module}, which keeps one per name.
 */
final class KernelModule implements AutoCloseable {

    /**
     * A kernel entry point, the names needed to report a failed launch, and its parameter types as
     * the compiled PTX declares them ({@code u64}, {@code u32}, {@code f32}), which every launch's
     * {@link KernelArgs} must match.
     */
    record Kernel(String module, String name, CUfunction function, List<String> parameters) {}

    private final String name;
    private final CUmodule module;
    private final Map<String, List<String>> signatures;
    private final Map<String, Kernel> kernels = new HashMap<>();
    private boolean closed;

    private KernelModule(String name, CUmodule module, Map<String, List<String>> signatures) {
        this.name = name;
        this.module = module;
        this.signatures = signatures;
    }

    /** Loads {@code distilbert/kernels/<name>.fatbin} into the current context. */
    static KernelModule load(String name) {
        byte[] fatbin = KernelResources.read(name);
        Map<String, List<String>> signatures = KernelResources.signatures(name);
        CUmodule module = new CUmodule();
        // cuModuleLoadData, not cuModuleLoadFatBinary: the driver takes a fatbin image through either,
        // but JCuda 12.6's cuModuleLoadFatBinary never stores the module it loaded into the CUmodule
        // (it stays null, and every cuModuleGetFunction on it fails), while cuModuleLoadData does.
        // The stand-in driver of kernels-cu/src/test/fake-cuda found this; FakeGpuPlumbingTest keeps it found.
        int rc = JCudaDriver.cuModuleLoadData(module, fatbin);
        if (rc == CUresult.CUDA_SUCCESS && NativeHandle.of(module) == 0) {
            throw new IllegalStateException("cuModuleLoadData(" + KernelResources.resourcePath(name)
                    + ") reported success but gave no module handle");
        }
        if (rc != CUresult.CUDA_SUCCESS) {
            throw new CudaException("cuModuleLoadData(" + KernelResources.resourcePath(name) + ")", rc,
                    CudaCalls.resultName(rc), loadHint(rc, fatbin));
        }
        return new KernelModule(name, module, signatures);
    }

    /** The entry point {@code kernel} (an extern "C" name such as {@code bias_gelu_forward_f32}). */
    Kernel kernel(String kernel) {
        if (closed) {
            throw new IllegalStateException("kernel module " + name + " is closed");
        }
        return kernels.computeIfAbsent(kernel, k -> {
            List<String> parameters = signatures.get(k);
            if (parameters == null) {
                throw new IllegalStateException("kernel " + k + " is not in " + KernelResources.signaturesPath(name)
                        + " (kernels there: " + String.join(", ", signatures.keySet()) + ")");
            }
            CUfunction function = new CUfunction();
            CudaCalls.check(JCudaDriver.cuModuleGetFunction(function, module, k),
                    "cuModuleGetFunction(" + name + ", " + k + ")");
            return new Kernel(name, k, function, parameters);
        });
    }

    String name() {
        return name;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            kernels.clear();
            CudaCalls.check(JCudaDriver.cuModuleUnload(module), "cuModuleUnload(" + name + ")");
        }
    }

    private static String loadHint(int rc, byte[] fatbin) {
        String targets;
        try {
            targets = String.join(", ", Fatbin.parse(fatbin).targets());
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
        return switch (rc) {
            case CUresult.CUDA_ERROR_NO_BINARY_FOR_GPU ->
                    "The file holds " + targets + "; the device can run none of them";
            case CUresult.CUDA_ERROR_UNSUPPORTED_PTX_VERSION ->
                    "The driver is older than the nvcc 13 that built the file (" + targets + "); install R580 or newer";
            default -> "The file holds " + targets;
        };
    }
}
