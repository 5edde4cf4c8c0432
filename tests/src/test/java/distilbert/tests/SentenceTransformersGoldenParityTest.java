package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.SentenceTransformerDirectory;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * sentence-transformers' {@code SentenceTransformer(dir).encode} against {@code SentenceEmbeddings.fromPretrained}
 * on the CPU backend, on the golden directories ({@link SentenceTransformersGolden}): every pooling mode
 * alone and together, Dense layers (Tanh, Identity without bias, ReLU and Sigmoid, residuals of both
 * kinds), Normalize, prompts (default, by name, given) left out of the pooling, do_lower_case over a
 * cased tokenizer with a max_seq_length that truncates, the Transformer in a 0_Transformer subfolder,
 * and the pooling config of sentence-transformers before 6.
 *
 * <p>The same input_ids, and each embedding element-wise within {@link GoldenParityTest}'s bound
 * (atol 2e-5, rtol 1e-4): both sides pool float32 hidden states that differ by summation order, and
 * sum them in a different order again (ours in double).
 */
class SentenceTransformersGoldenParityTest {

    @TestFactory
    Stream<DynamicTest> encodeMatchesSentenceTransformers() throws Exception {
        return SentenceTransformersGolden.cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            try (DistilBert db = DistilBert.load(SentenceTransformerDirectory.transformerDirectory(c.dir()), Device.CPU)) {
                List<String> mismatches = SentenceTransformersGolden.check(c, db, GoldenParityTest::compare);
                assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
            }
        }));
    }

    /** {@link distilbert.model.EmbeddingQuantization} against quantize_embeddings: the same bytes, every case, every kind. */
    @TestFactory
    Stream<DynamicTest> quantizationMatchesQuantizeEmbeddings() throws Exception {
        return SentenceTransformersGolden.cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            List<String> mismatches = SentenceTransformersGolden.checkQuantize(c);
            assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
        }));
    }

    /** {@link distilbert.model.SemanticSearch} against util.semantic_search, every case, every similarity function. */
    @TestFactory
    Stream<DynamicTest> semanticSearchMatchesSentenceTransformers() throws Exception {
        return SentenceTransformersGolden.cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            List<String> mismatches = SentenceTransformersGolden.checkSemanticSearch(c);
            assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
        }));
    }
}
