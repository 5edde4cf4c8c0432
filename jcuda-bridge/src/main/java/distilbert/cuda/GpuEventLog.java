package distilbert.cuda;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jcuda.driver.CUevent;
import jcuda.driver.JCudaDriver;

/**
 * A per-kernel time breakdown without synchronising between kernels: an event is recorded on the
 * stream after each labelled piece of work, and {@link #drain} later reads the device time between
 * consecutive events. Work runs back to back as without the log, so a piece's time is what it took
 * on the device (plus any gap where the host did not keep the GPU fed, which is itself worth seeing).
 * Events are pooled and reused.
 */
public final class GpuEventLog implements AutoCloseable {

    /** Labelled device time: calls and total milliseconds per label, in first-seen order. */
    public record Totals(Map<String, long[]> calls, Map<String, double[]> millis) {
    }

    private final CudaContext context;
    private final List<CUevent> pool = new ArrayList<>();
    private final List<String> labels = new ArrayList<>();
    private int used;
    private final Map<String, long[]> calls = new LinkedHashMap<>();
    private final Map<String, double[]> millis = new LinkedHashMap<>();

    public GpuEventLog(CudaContext context) {
        this.context = context;
    }

    /** Marks the start: the first piece is timed from here. */
    public void begin() {
        record("(begin)");
    }

    /** Records an event after the work queued so far; the time since the previous event is {@code label}'s. */
    public void record(String label) {
        if (used == pool.size()) {
            CUevent e = new CUevent();
            CudaCalls.check(JCudaDriver.cuEventCreate(e, 0), "cuEventCreate(event log)");
            pool.add(e);
        }
        CUevent e = pool.get(used++);
        CudaCalls.check(JCudaDriver.cuEventRecord(e, context.stream()), "cuEventRecord(event log)");
        labels.add(label);
    }

    /** Waits for the recorded events and adds their intervals to the totals; the log starts over. */
    public void drain() {
        if (used == 0) {
            return;
        }
        CudaCalls.check(JCudaDriver.cuEventSynchronize(pool.get(used - 1)), "cuEventSynchronize(event log)");
        float[] ms = new float[1];
        for (int i = 1; i < used; i++) {
            CudaCalls.check(JCudaDriver.cuEventElapsedTime(ms, pool.get(i - 1), pool.get(i)), "cuEventElapsedTime");
            String label = labels.get(i);
            calls.computeIfAbsent(label, k -> new long[1])[0]++;
            millis.computeIfAbsent(label, k -> new double[1])[0] += ms[0];
        }
        used = 0;
        labels.clear();
    }

    /** The totals so far (after {@link #drain}). */
    public Totals totals() {
        return new Totals(new LinkedHashMap<>(calls), new LinkedHashMap<>(millis));
    }

    /** Forgets the totals. */
    public void reset() {
        calls.clear();
        millis.clear();
    }

    @Override
    public void close() {
        for (CUevent e : pool) {
            JCudaDriver.cuEventDestroy(e);
        }
        pool.clear();
    }
}
