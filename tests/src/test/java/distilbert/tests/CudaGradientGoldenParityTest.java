package distilbert.tests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.cuda.GpuProbe;
import distilbert.cuda.GpuTests;
import distilbert.model.Device;
import distilbert.model.Precision;
import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;

/**
 * The CUDA backend's backward pass against HuggingFace: every golden case's training step on the GPU
 * in fp32 gives HF's loss and every gradient HF's {@code loss.backward()} left, within the CPU's
 * element-wise bound ({@link GradientGoldenParityTest}: the same float32 sums in other orders, so the
 * same reasoning and the same bound). Skips, saying why, without a GPU; in CI it runs on the kernel
 * emulator.
 */
@Tag("gpu")
final class CudaGradientGoldenParityTest {

    @TestFactory
    Stream<DynamicTest> everyGradientMatchesHuggingFaceOnTheGpu() throws Exception {
        URL index = CudaGradientGoldenParityTest.class.getResource("/golden/index.json");
        if (!GpuProbe.status().usable() || index == null) {
            return Stream.of(DynamicTest.dynamicTest("gradients on the GPU", () -> {
                GpuTests.skipUnlessUsable();
                Assumptions.abort("the HF golden files are not generated yet (tests/golden/make_golden.py)");
            }));
        }
        Path root = Path.of(index.toURI()).getParent();
        JsonNode cases = new ObjectMapper().readTree(index).get("cases");
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : cases) {
            String name = c.get("case").asText(), head = c.get("head").asText();
            tests.add(DynamicTest.dynamicTest(name + " fp32", () -> GradientGoldenParityTest.check(root.resolve(name), head,
                    Device.parse(GpuTests.deviceName()), Precision.FP32)));
        }
        return tests.stream();
    }
}
