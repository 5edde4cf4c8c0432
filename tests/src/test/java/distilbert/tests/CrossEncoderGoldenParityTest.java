package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.model.CrossEncoder;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * sentence-transformers' {@code CrossEncoder(dir).predict} and {@code .rank} against
 * {@link CrossEncoder#fromPretrained} on the CPU backend, on the golden directories
 * ({@link CrossEncoderGolden}): the activation stored each way sentence-transformers has stored it
 * (and none: the default), max_seq_length, prompts, pairs cut longest_first, a three-label model
 * with and without the softmax.
 *
 * <p>The same input_ids, and the scores element-wise within {@link GoldenParityTest}'s bound (atol
 * 2e-5, rtol 1e-4): the logits differ by float32 summation order, and the activations are
 * computed in double here, in float32 there. Rankings in the same order except among scores that
 * are within that bound of each other (the golden files rank one document that appears twice,
 * whose two scores differ in the last bits in torch).
 */
class CrossEncoderGoldenParityTest {

    @TestFactory
    Stream<DynamicTest> predictAndRankMatchSentenceTransformers() throws Exception {
        return CrossEncoderGolden.cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            try (DistilBert db = DistilBert.load(CrossEncoder.Directory.read(c.dir()).transformer(), Device.CPU)) {
                List<String> mismatches = CrossEncoderGolden.check(c, db, GoldenParityTest::compare, true);
                assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
            }
        }));
    }
}
