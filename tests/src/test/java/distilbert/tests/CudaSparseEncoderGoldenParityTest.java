package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.cuda.GpuProbe;
import distilbert.cuda.GpuTests;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.Precision;
import distilbert.model.SparseEmbeddings;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;

/**
 * {@link SparseEncoderGoldenParityTest} on the CUDA backend: the encoder and the masked-LM head on
 * the device, a group of positions' logits brought back and pooled on the host. fp32 within the
 * CPU's element-wise bound against sentence-transformers; bf16 each vector within 3e-2 relative L2
 * of its float32 values ({@link CudaGoldenParityTest}'s bound for the logits the weights come from).
 */
@Tag("gpu")
final class CudaSparseEncoderGoldenParityTest {

    private static final double BF16_BOUND = 3e-2;

    @TestFactory
    Stream<DynamicTest> encodeMatchesSparseEncoderOnTheGpu() throws Exception {
        if (!GpuProbe.status().usable()) {
            return Stream.of(DynamicTest.dynamicTest("sparse-encoder golden files on the GPU", GpuTests::skipUnlessUsable));
        }
        List<DynamicTest> tests = new ArrayList<>();
        for (SentenceTransformersGolden.Case c : SparseEncoderGolden.cases()) {
            for (Precision p : List.of(Precision.FP32, Precision.BF16)) {
                tests.add(DynamicTest.dynamicTest(c.name() + " " + p.cliName(), () -> {
                    try (DistilBert db = DistilBert.load(SparseEmbeddings.Directory.read(c.dir()).transformer(),
                            Device.parse(GpuTests.deviceName()), p)) {
                        GpuTests.assertOnTheTestsGpu(db.ops().describe());
                        List<String> mismatches = SparseEncoderGolden.check(c, db,
                                p == Precision.FP32 ? GoldenParityTest::compare : CudaSparseEncoderGoldenParityTest::relative,
                                p == Precision.FP32);
                        assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
                    }
                }));
            }
        }
        return tests.stream();
    }

    private static void relative(String what, float[] want, float[] got, List<String> mismatches) {
        double rel = CudaGoldenParityTest.relativeL2(want, got);
        if (!(rel <= BF16_BOUND)) mismatches.add(what + ": relative L2 " + rel + " > " + BF16_BOUND);
    }
}
