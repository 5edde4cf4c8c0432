package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.cuda.GpuProbe;
import distilbert.cuda.GpuTests;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.Precision;
import distilbert.model.Tensor;
import distilbert.weights.SafetensorsFile;
import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;

/**
 * Every HF golden case (see {@link GoldenParityTest}) on the CUDA backend. In fp32 the outputs must
 * meet the CPU's element-wise bound against HuggingFace (atol 2e-5, rtol 1e-4: HF's float32 and ours
 * differ only in summation order, on either device). In bf16 each output tensor must be within 3e-2
 * relative L2 of HuggingFace's float32 values (8 significant bits, rounded at every stored tensor).
 * The model tests allow 5e-2 (distilbert.model.GpuBackends#modelBound) for their random weights, which
 * amplify rounding errors as much as HF's own bf16 forward shows; these checkpoints, initialised as HF
 * initialises, amplify less.
 */
@Tag("gpu")
final class CudaGoldenParityTest {

    private static final double BF16_BOUND = 3e-2;

    @TestFactory
    Stream<DynamicTest> everyGoldenCaseOnTheGpu() throws Exception {
        return perCase("golden files on the GPU", (dir, name, head) -> List.of(Precision.FP32, Precision.BF16).stream()
                .map(p -> DynamicTest.dynamicTest(name + " " + p.cliName(), () -> check(dir, head, p))).toList());
    }

    /** The GPU tests of one golden case: its directory, name and head class. */
    interface CaseTests {
        List<DynamicTest> of(Path dir, String name, String head);
    }

    /**
     * {@code tests} of every golden case, or one test called {@code what} that skips, saying why, where
     * no GPU is usable or the golden files are not there.
     */
    static Stream<DynamicTest> perCase(String what, CaseTests tests) throws Exception {
        URL index = CudaGoldenParityTest.class.getResource("/golden/index.json");
        if (!GpuProbe.status().usable() || index == null) {
            return Stream.of(DynamicTest.dynamicTest(what, () -> {
                GpuTests.skipUnlessUsable();
                Assumptions.abort("the HF golden files are not generated yet (tests/golden/make_golden.py)");
            }));
        }
        Path root = Path.of(index.toURI()).getParent();
        List<DynamicTest> out = new ArrayList<>();
        for (JsonNode c : new ObjectMapper().readTree(index).get("cases")) {
            String name = c.get("case").asText();
            out.addAll(tests.of(root.resolve(name), name, c.get("head").asText()));
        }
        return out.stream();
    }

    private static void check(Path dir, String head, Precision p) throws Exception {
        try (SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"));
             DistilBert db = DistilBert.load(dir, Device.parse(GpuTests.deviceName()), p)) {
            GpuTests.assertOnTheTestsGpu(db.ops().describe());
            Map<String, Tensor> got = GoldenParityTest.run(db, io, head);
            List<String> expected = io.names().stream().filter(n -> n.startsWith("output.")).toList();
            assertEquals(expected.stream().sorted().toList(), got.keySet().stream().sorted().toList(), dir + ": outputs");
            List<String> mismatches = new ArrayList<>();
            for (String name : expected) {
                float[] want = io.readFloats(name), have = got.get(name).data();
                if (p == Precision.FP32) {
                    GoldenParityTest.compare(dir.getFileName() + " " + name, want, have, mismatches);
                } else {
                    double rel = relativeL2(want, have);
                    if (!(rel <= BF16_BOUND)) {
                        mismatches.add(dir.getFileName() + " " + name + ": relative L2 " + rel + " > " + BF16_BOUND);
                    }
                }
            }
            assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
        }
    }

    /** ‖have − want‖ / ‖want‖ (the absolute distance where want is all zeros). */
    static double relativeL2(float[] want, float[] have) {
        double d = 0, w = 0;
        for (int i = 0; i < want.length; i++) {
            double x = (double) have[i] - want[i];
            d += x * x;
            w += (double) want[i] * want[i];
        }
        return w == 0 ? Math.sqrt(d) : Math.sqrt(d / w);
    }
}
