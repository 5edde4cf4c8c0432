package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import distilbert.model.SparseEmbeddings;
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

    /**
     * {@code search} with a sparse encoder: the corpus embedded with its "document" prompt and the queries
     * with its "query" prompt, as encode_document / encode_query, ranked by the dot product; against the
     * library's vectors of the same texts and a brute-force dot product over every corpus row.
     */
    @Test
    void searchRanksByTheDotProductOfTheSparseVectors() throws Exception {
        SentenceTransformersGolden.Case c = SparseEncoderGolden.cases().stream()
                .filter(x -> x.name().equals("splade_max_log1p_relu_prompts")).findFirst().orElseThrow();
        List<String> corpus = new ArrayList<>(), queries = List.of("the plot was boring", "I loved the music", "awful");
        c.expected().get("runs").get(0).get("texts").forEach(t -> corpus.add(t.asText()));
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("sparse-search");
        java.nio.file.Path corpusFile = java.nio.file.Files.writeString(dir.resolve("corpus.jsonl"), CliEmbedParityTest.rows(corpus));
        List<JsonNode> lines = CliEmbedParityTest.lines(ConvertedMiniLm.cli(CliEmbedParityTest.rows(queries), "search", "--model",
                c.dir().toString(), "--device", "cpu", "--corpus", corpusFile.toString(), "--top-k", "4"));
        assertEquals(queries.size(), lines.size());
        try (distilbert.model.DistilBert db = distilbert.model.DistilBert.load(SparseEmbeddings.Directory.read(c.dir()).transformer(),
                distilbert.model.Device.CPU)) {
            SparseEmbeddings splade = SparseEmbeddings.fromPretrained(db, c.dir());
            List<SparseEmbeddings.Vector> docs = splade.withPromptName("document").embed(corpus);
            List<SparseEmbeddings.Vector> qs = splade.withPromptName("query").embed(queries);
            for (int q = 0; q < queries.size(); q++) {
                double[] all = new double[docs.size()];
                for (int d = 0; d < docs.size(); d++) all[d] = qs.get(q).dot(docs.get(d));
                JsonNode hits = lines.get(q).get("hits");
                assertEquals(4, hits.size());
                for (int k = 0; k < 4; k++) {
                    int id = hits.get(k).get("corpus_id").asInt();
                    assertEquals(all[id], hits.get(k).get("score").asDouble(), 1e-4 * Math.abs(all[id]), "query " + q + " hit " + k);
                    assertEquals(corpus.get(id), hits.get(k).get("text").asText());
                    for (int d = 0; d < docs.size(); d++) {
                        boolean ranked = false;
                        for (int j = 0; j <= k; j++) ranked |= hits.get(j).get("corpus_id").asInt() == d;
                        assertTrue(ranked || all[d] <= all[id] + 1e-4 * Math.abs(all[id]), "query " + q + ": row " + d
                                + " scores " + all[d] + " but is ranked below hit " + k + " (" + all[id] + ")");
                    }
                }
            }
        }
        ConvertedMiniLm.Run r = ConvertedMiniLm.cli("", "search", "--model", c.dir().toString(), "--corpus", corpusFile.toString(),
                "--score-function", "cosine");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("distilbert search: --score-function: a sparse encoder's vectors are compared by their "
                + "dot product (dot), not cosine\n"), r.err());
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
        r = ConvertedMiniLm.cli("", "search", "--model", sparse, "--corpus-embeddings", "docs.npy");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("distilbert search: a sparse encoder's search embeds --corpus and the queries itself "
                + "(.npy embeddings are dense ones)\n"), r.err());
    }
}
