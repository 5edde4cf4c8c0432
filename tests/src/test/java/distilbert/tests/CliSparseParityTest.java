package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * {@code distilbert embed} on the golden SPLADE directories ({@link SparseEncoderGolden}): every run
 * of {@code SparseEncoder.encode} there (default prompt, {@code --prompt-name}, {@code --prompt},
 * {@code --max-active-dims}) as {"indices", "values"} lines, within {@link GoldenParityTest}'s
 * element-wise bound of sentence-transformers' vectors, indices ascending, no zero weights; with
 * {@code --tokens}, decode's tokens; and the options of dense embeddings refused.
 */
class CliSparseParityTest {

    @TestFactory
    Stream<DynamicTest> embedMatchesSparseEncoderEncode() throws Exception {
        return SparseEncoderGolden.cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            List<String> mismatches = new ArrayList<>();
            int dim = c.expected().get("dimension").asInt();
            for (JsonNode run : c.expected().get("runs")) {
                List<String> args = new ArrayList<>(List.of("embed", "--model", c.dir().toString(), "--device", "cpu", "--tokens"));
                if (run.hasNonNull("prompt_name")) args.addAll(List.of("--prompt-name", run.get("prompt_name").asText()));
                if (run.hasNonNull("prompt")) args.addAll(List.of("--prompt", run.get("prompt").asText()));
                if (run.hasNonNull("max_active_dims")) args.addAll(List.of("--max-active-dims", run.get("max_active_dims").asText()));
                List<String> texts = new ArrayList<>();
                run.get("texts").forEach(t -> texts.add(t.asText()));
                List<JsonNode> lines = CliEmbedParityTest.lines(ConvertedMiniLm.cli(CliEmbedParityTest.rows(texts),
                        args.toArray(String[]::new)));
                assertEquals(texts.size(), lines.size());
                for (int i = 0; i < texts.size(); i++) {
                    JsonNode line = lines.get(i);
                    float[] got = new float[dim];
                    int previous = -1;
                    for (int k = 0; k < line.get("indices").size(); k++) {
                        int id = line.get("indices").get(k).asInt();
                        float w = line.get("values").get(k).floatValue();
                        assertTrue(id > previous && w != 0, c.name() + " line " + i + ": indices ascending, no zero weight");
                        previous = id;
                        got[id] = w;
                    }
                    assertEquals(line.get("indices").size(), line.get("tokens").size(), "a token per index");
                    float[] want = new float[dim];
                    for (int k = 0; k < dim; k++) want[k] = (float) run.get("embeddings").get(i).get(k).asDouble();
                    GoldenParityTest.compare(c.name() + " " + args.subList(6, args.size()) + " line " + i, want, got, mismatches);
                }
            }
            JsonNode decode = c.expected().get("decode");
            JsonNode first = CliEmbedParityTest.lines(ConvertedMiniLm.cli(CliEmbedParityTest.rows(
                    List.of(c.expected().get("runs").get(0).get("texts").get(0).asText())), "embed", "--model", c.dir().toString(),
                    "--device", "cpu", "--tokens", "--max-active-dims", "3")).getFirst();
            List<String> tokens = new ArrayList<>();
            first.get("tokens").forEach(t -> tokens.add(t.asText()));
            for (JsonNode tw : decode) {
                assertTrue(tokens.contains(tw.get(0).asText()), c.name() + ": decode's " + tw + " among the three kept " + tokens);
            }
            assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
        }));
    }

    @Test
    void denseOptionsAreRefusedForASparseEncoderAndSparseOnesForADenseModel() throws Exception {
        String sparse = SparseEncoderGolden.cases().getFirst().dir().toString();
        for (String[] option : new String[][] {{"--normalize"}, {"--pooling", "cls"}, {"--truncate-dim", "4"},
            {"--quantize", "binary"}}) {
            List<String> args = new ArrayList<>(List.of("embed", "--model", sparse));
            args.addAll(List.of(option));
            ConvertedMiniLm.Run r = ConvertedMiniLm.cli("{\"text\": \"x\"}\n", args.toArray(String[]::new));
            assertEquals(2, r.code(), r.err());
            assertTrue(r.err().startsWith("distilbert embed: " + option[0] + " is for dense embeddings; " + sparse
                    + " is a sparse encoder (SpladePooling)\n"), r.err());
        }
        String dense = SentenceTransformersGolden.cases().getFirst().dir().toString();
        ConvertedMiniLm.Run r = ConvertedMiniLm.cli("{\"text\": \"x\"}\n", "embed", "--model", dense, "--tokens");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("distilbert embed: --tokens is for a sparse encoder (SPLADE: modules.json with "
                + "SpladePooling); " + dense + " gives dense embeddings\n"), r.err());
        r = ConvertedMiniLm.cli("{\"text\": \"x\"}\n", "search", "--model", sparse, "--corpus", "docs.jsonl");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("is a sentence-transformers SparseEncoder (SPLADE)"), r.err());
    }
}
