package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.SparseEmbeddings;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * sentence-transformers' {@code SparseEncoder(dir).encode} against {@link SparseEmbeddings#fromPretrained}
 * on the CPU backend, on the golden SPLADE directories ({@link SparseEncoderGolden}): max and sum
 * pooling, relu and log1p_relu, prompts, max_seq_length, max_active_dims, sentence-transformers 5's
 * module names.
 *
 * <p>The same input_ids, and every weight of the dense vectors within {@link GoldenParityTest}'s
 * bound (atol 2e-5, rtol 1e-4): the masked-LM logits differ by float32 summation order, the weights
 * are computed in double here and float32 there.
 */
class SparseEncoderGoldenParityTest {

    @TestFactory
    Stream<DynamicTest> encodeMatchesSparseEncoder() throws Exception {
        return SparseEncoderGolden.cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            try (DistilBert db = DistilBert.load(SparseEmbeddings.Directory.read(c.dir()).transformer(), Device.CPU)) {
                List<String> mismatches = SparseEncoderGolden.check(c, db, GoldenParityTest::compare);
                assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
            }
        }));
    }
}
