package distilbert.cuda;

import jcuda.driver.CUevent;
import jcuda.driver.JCudaDriver;

/**
 * Device-side timing with two CUDA events on the context's stream: the time the GPU spent between
 * {@link #start} and {@link #stop}, without the host's launch overhead or a synchronisation in
 * between. For benchmarks and the per-kernel breakdown.
 */
public final class GpuTimer implements AutoCloseable {

    private final CudaContext context;
    private final CUevent start = new CUevent();
    private final CUevent stop = new CUevent();

    public GpuTimer(CudaContext context) {
        this.context = context;
        CudaCalls.check(JCudaDriver.cuEventCreate(start, 0), "cuEventCreate(timer start)");
        CudaCalls.check(JCudaDriver.cuEventCreate(stop, 0), "cuEventCreate(timer stop)");
    }

    /** Records the start event after the work queued so far. */
    public void start() {
        CudaCalls.check(JCudaDriver.cuEventRecord(start, context.stream()), "cuEventRecord(timer start)");
    }

    /** Records the stop event, waits for it and returns the milliseconds since {@link #start}. */
    public float stop() {
        CudaCalls.check(JCudaDriver.cuEventRecord(stop, context.stream()), "cuEventRecord(timer stop)");
        CudaCalls.check(JCudaDriver.cuEventSynchronize(stop), "cuEventSynchronize(timer stop)");
        float[] ms = new float[1];
        CudaCalls.check(JCudaDriver.cuEventElapsedTime(ms, start, stop), "cuEventElapsedTime");
        return ms[0];
    }

    @Override
    public void close() {
        JCudaDriver.cuEventDestroy(start);
        JCudaDriver.cuEventDestroy(stop);
    }
}
