package distilbert.cuda;

import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * Entry to the GPU test suite. Where no GPU is usable the test is skipped with the probe's reason,
 * so a run without a GPU says why it ran nothing; {@code -Ddistilbert.requireGpu=true} (set by
 * {@code ./dev gpu-test}) turns that skip into a failure, so a GPU machine whose GPU is not found
 * cannot pass by skipping. The model and tests modules' GPU tests take the same rule from here
 * (this module's test-jar).
 */
public final class GpuTests {

    /** The reason is printed once per test JVM; each skipped test also carries it in the report. */
    private static final AtomicBoolean REASON_PRINTED = new AtomicBoolean();

    private GpuTests() {}

    /** Opens the default device, or skips (fails, if required) the calling test with the reason. */
    static CudaContext openOrSkip() {
        skipUnlessUsable();
        return CudaContext.open();
    }

    /** Returns where a GPU is usable; otherwise skips (fails, if required) the calling test with the probe's reason. */
    public static void skipUnlessUsable() {
        GpuStatus status = GpuProbe.status();
        if (status instanceof GpuStatus.Unusable unusable) {
            String message = "GPU test not run: " + unusable.describe();
            if (REASON_PRINTED.compareAndSet(false, true)) {
                System.err.println("GPU tests skipped: " + unusable.describe());
            }
            if (Boolean.getBoolean("distilbert.requireGpu")) {
                Assertions.fail(message + " (and -Ddistilbert.requireGpu=true)");
            }
            Assumptions.abort(message);
        }
    }
}
