package distilbert.cuda;

import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * Return-code checking for driver calls. JCuda runs with its exceptions disabled (GpuProbe sets
 * that once), so every call returns a {@code CUresult} and goes through {@link #check}; that way
 * the exception names our call with its arguments, not only JCuda's method.
 */
final class CudaCalls {

    private CudaCalls() {}

    static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new CudaException(call, result, resultName(result));
        }
    }

    /**
     * JCuda's table stops at CUDA 12.6; a code added later (CUDA 13 drivers return some) is
     * named by the driver itself.
     */
    static String resultName(int result) {
        String name = CUresult.stringFor(result);
        if (!name.startsWith("INVALID")) {
            return name;
        }
        String[] fromDriver = new String[1];
        try {
            if (JCudaDriver.cuGetErrorName(result, fromDriver) == CUresult.CUDA_SUCCESS && fromDriver[0] != null) {
                return fromDriver[0];
            }
        } catch (LinkageError e) {
            // Natives not loaded: keep JCuda's "INVALID CUresult" text, the number follows it anyway.
        }
        return name;
    }
}
