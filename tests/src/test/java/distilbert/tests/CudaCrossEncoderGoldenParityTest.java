package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.cuda.GpuProbe;
import distilbert.cuda.GpuTests;
import distilbert.model.CrossEncoder;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.Precision;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;

/**
 * {@link CrossEncoderGoldenParityTest} on the CUDA backend. fp32: the scores within the CPU's
 * element-wise bound against sentence-transformers, the rankings in its order; bf16: each run's
 * logits as {@link CrossEncoderGolden#check(CrossEncoderGolden.Case, DistilBert,
 * SentenceTransformersGolden.Comparison, boolean, boolean)} bounds them (3e-2 relative L2, or twice
 * HF's own bf16 distance where that is larger), the order not checked.
 */
@Tag("gpu")
final class CudaCrossEncoderGoldenParityTest {

    @TestFactory
    Stream<DynamicTest> predictAndRankMatchSentenceTransformersOnTheGpu() throws Exception {
        if (!GpuProbe.status().usable()) {
            return Stream.of(DynamicTest.dynamicTest("cross-encoder golden files on the GPU", GpuTests::skipUnlessUsable));
        }
        List<DynamicTest> tests = new ArrayList<>();
        for (CrossEncoderGolden.Case c : CrossEncoderGolden.cases()) {
            for (Precision p : List.of(Precision.FP32, Precision.BF16)) {
                tests.add(DynamicTest.dynamicTest(c.name() + " " + p.cliName(), () -> {
                    try (DistilBert db = DistilBert.load(CrossEncoder.Directory.read(c.dir()).transformer(),
                            Device.parse(GpuTests.deviceName()), p)) {
                        GpuTests.assertOnTheTestsGpu(db.ops().describe());
                        List<String> mismatches = p == Precision.FP32
                                ? CrossEncoderGolden.check(c, db, GoldenParityTest::compare, true)
                                : CrossEncoderGolden.check(c, db, null, false, true);
                        assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
                    }
                }));
            }
        }
        return tests.stream();
    }
}
