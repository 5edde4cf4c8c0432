package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import example.SemanticSearch;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * examples/'s SemanticSearch, an application of the library, on the real all-MiniLM-L6-v2: its
 * similarities are ONNX Runtime's (the original model, mean-pooled and normalised as
 * sentence-transformers does) and each query finds the document about it.
 */
final class SemanticSearchExampleTest {

    /** A query, and the document it is about (of SemanticSearch.DOCUMENTS). */
    private static final String[][] QUERIES = {
        {"Where do penguins live?", "Penguins live almost exclusively"},
        {"How do graphics cards compute so fast?", "A GPU runs thousands of threads"},
        {"What is the tallest mountain?", "Mount Everest"},
        {"How do I bake a loaf?", "Bread is made from flour"},
    };

    @Test
    void everyQueryFindsItsDocumentWithOnnxRuntimesSimilarities() throws Exception {
        Tokenizer tokenizer = Tokenizer.fromPretrained(ConvertedMiniLm.directory());
        List<String> documents = SemanticSearch.DOCUMENTS;
        EncodeOptions cut = EncodeOptions.DEFAULT.withTruncation(Truncation.longestFirst(512));
        List<int[]> docIds = documents.stream().map(d -> tokenizer.encode(d, null, cut).ids()).toList();
        List<double[]> docRef = new ArrayList<>();
        for (float[][] h : ConvertedMiniLm.onnxLastHiddenStates(docIds)) docRef.add(ConvertedMiniLm.meanPooledNormalized(h));
        try (DistilBert model = DistilBert.load(ConvertedMiniLm.directory(), Device.CPU)) {
            SemanticSearch search = new SemanticSearch(model, tokenizer, documents);
            for (String[] q : QUERIES) {
                List<SemanticSearch.Match> matches = search.search(q[0], documents.size());
                assertEquals(documents.size(), matches.size());
                assertTrue(matches.getFirst().document().startsWith(q[1]), q[0] + ": " + matches);
                assertTrue(matches.getFirst().score() > matches.get(1).score() + 0.2, q[0] + ": a clear winner, " + matches);
                double[] query = ConvertedMiniLm.meanPooledNormalized(
                        ConvertedMiniLm.onnxLastHiddenStates(List.of(tokenizer.encode(q[0], null, cut).ids())).getFirst());
                for (SemanticSearch.Match m : matches) {
                    double[] d = docRef.get(documents.indexOf(m.document()));
                    double want = 0;
                    for (int i = 0; i < d.length; i++) want += d[i] * query[i];
                    // each embedding within 1e-4 relative L2 of ONNX Runtime's (the converted model's parity bound,
                    // OnnxConversionParityTest) moves a dot product of unit vectors by at most 2e-4
                    assertEquals(want, m.score(), 2e-4, q[0] + " / " + m.document());
                }
            }
        }
    }

    @Test
    void theProgramPrintsTheBestThreeAndSaysWhereItRan() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = SemanticSearch.run(new String[] {ConvertedMiniLm.directory().toString(), "Where do penguins live?", "--device", "cpu"},
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, code, err.toString(StandardCharsets.UTF_8));
        List<String> lines = out.toString(StandardCharsets.UTF_8).lines().toList();
        assertTrue(lines.getFirst().startsWith("8 documents, on cpu"), lines.getFirst());
        assertEquals("Where do penguins live?", lines.get(2));
        assertTrue(lines.get(3).matches("  0\\.\\d{3}  Penguins live almost exclusively .*"), lines.get(3));
        assertEquals(6, lines.size(), String.join("\n", lines));
        assertEquals(2, SemanticSearch.run(new String[] {"only-a-model"}, new PrintStream(out), new PrintStream(err)));
    }
}
