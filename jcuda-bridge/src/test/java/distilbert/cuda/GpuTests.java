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
 *
 * <p>Which GPU: the default (the first that can run the kernels), or GPU N with
 * {@code -Ddistilbert.gpu=cuda:N} ({@code bin/gpu-test --device cuda:N}), for every GPU test of the
 * three modules.
 */
public final class GpuTests {

    /** The reason is printed once per test JVM; each skipped test also carries it in the report. */
    private static final AtomicBoolean REASON_PRINTED = new AtomicBoolean();

    private GpuTests() {}

    /** The property that names the GPU the tests run on: {@code cuda} (the default GPU) or {@code cuda:N}. */
    public static final String GPU_PROPERTY = "distilbert.gpu";

    /** Opens the tests' GPU ({@link #ordinal}), or skips (fails, if required) the calling test with the reason. */
    static CudaContext openOrSkip() {
        skipUnlessUsable();
        int ordinal = ordinal();
        return ordinal < 0 ? CudaContext.open() : CudaContext.open(ordinal);
    }

    /**
     * The GPU the tests run on: N for {@code -Ddistilbert.gpu=cuda:N}, -1 for the default GPU (the
     * property unset or {@code cuda}).
     *
     * @throws IllegalArgumentException naming the property's value when it is neither
     */
    public static int ordinal() {
        String name = System.getProperty(GPU_PROPERTY, "cuda").trim();
        if (name.equals("cuda")) return -1;
        if (name.startsWith("cuda:")) {
            try {
                int n = Integer.parseInt(name.substring("cuda:".length()));
                if (n >= 0) return n;
            } catch (NumberFormatException e) {
                // said below
            }
        }
        throw new IllegalArgumentException("-D" + GPU_PROPERTY + "=" + name + ": expected cuda or cuda:N");
    }

    /**
     * Fails unless a backend's description ({@code "cuda (device N: …"}) names the tests' GPU, when
     * one was named: a test that asked for GPU N must not have run on another.
     */
    public static void assertOnTheTestsGpu(String backend) {
        int n = ordinal();
        if (n >= 0 && !backend.startsWith("cuda (device " + n + ": ")) {
            Assertions.fail("-D" + GPU_PROPERTY + "=cuda:" + n + ", but the model runs on " + backend);
        }
    }

    /** The tests' GPU as a device name: {@code cuda} or {@code cuda:N}. */
    public static String deviceName() {
        int n = ordinal();
        return n < 0 ? "cuda" : "cuda:" + n;
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
