package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import distilbert.model.SentenceEmbeddings;
import distilbert.model.SentenceTransformerDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distilbert search} against sentence-transformers' {@code util.semantic_search} of
 * {@code encode_query(queries)} in {@code encode_document(corpus)} under {@code model.similarity}, on
 * every golden directory ({@link SentenceTransformersGolden}, "search"): the same corpus ids in the
 * same order (where two of its scores are within {@link GoldenParityTest}'s bound of each other,
 * their order is not checked), each score within that bound, and the hit's text. Then the same
 * search from .npy embeddings that {@code embed --format npy} wrote, and the errors.
 */
class CliSearchParityTest {

    @TempDir
    static Path tmp;

    static Path jsonl(String name, JsonNode texts) throws Exception {
        List<String> list = new ArrayList<>();
        texts.forEach(t -> list.add(t.asText()));
        Path p = tmp.resolve(name);
        Files.writeString(p, CliEmbedParityTest.rows(list));
        return p;
    }

    static List<String> compare(String what, JsonNode want, JsonNode corpus, List<JsonNode> lines, boolean withText) {
        List<String> mismatches = new ArrayList<>();
        assertEquals(want.size(), lines.size(), what + ": lines");
        for (int q = 0; q < want.size(); q++) {
            JsonNode w = want.get(q), g = lines.get(q).get("hits");
            assertEquals(w.size(), g.size(), what + " query " + q + ": hits");
            for (int k = 0; k < w.size(); k++) {
                double score = w.get(k).get("score").asDouble(), got = g.get(k).get("score").asDouble();
                boolean tie = k > 0 && close(score, w.get(k - 1).get("score").asDouble())
                        || k + 1 < w.size() && close(score, w.get(k + 1).get("score").asDouble());
                int id = g.get(k).get("corpus_id").asInt();
                if (!tie && id != w.get(k).get("corpus_id").asInt()) {
                    mismatches.add(what + " query " + q + " hit " + k + ": corpus_id " + id + ", sentence-transformers "
                            + w.get(k).get("corpus_id").asInt());
                }
                if (!close(score, got)) mismatches.add(what + " query " + q + " hit " + k + ": score " + got + ", sentence-transformers " + score);
                if (withText) assertEquals(corpus.get(id).asText(), g.get(k).get("text").asText(), what + ": the hit's text");
                else assertTrue(!g.get(k).has("text"), what + ": no text without --corpus");
            }
        }
        return mismatches;
    }

    static boolean close(double want, double got) {
        return Math.abs(got - want) <= GoldenParityTest.ATOL + GoldenParityTest.RTOL * Math.abs(want);
    }

    @TestFactory
    Stream<DynamicTest> searchMatchesSemanticSearch() throws Exception {
        return SentenceTransformersGolden.cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            JsonNode search = c.expected().get("search");
            Path corpus = jsonl(c.name() + "-corpus.jsonl", search.get("corpus"));
            Path queries = jsonl(c.name() + "-queries.jsonl", search.get("queries"));
            String model = c.dir().toString(), k = search.get("top_k").asText();
            List<String> mismatches = new ArrayList<>(compare(c.name(), search.get("hits"), search.get("corpus"),
                    CliEmbedParityTest.lines(ConvertedMiniLm.cli("", "search", "--model", model, "--device", "cpu", "--corpus",
                            corpus.toString(), "--queries", queries.toString(), "--top-k", k)), true));

            // the corpus embedded once with the document prompt, as search embeds it, then searched from the file
            Path npy = tmp.resolve(c.name() + "-corpus.npy");
            List<String> embed = new ArrayList<>(List.of("embed", "--model", model, "--device", "cpu", "--input", corpus.toString(),
                    "--format", "npy", "--output", npy.toString()));
            var prompts = SentenceTransformerDirectory.read(c.dir()).prompts();
            SentenceEmbeddings.DOCUMENT_PROMPTS.stream().filter(prompts::containsKey).findFirst()
                    .ifPresent(name -> embed.addAll(List.of("--prompt-name", name)));
            ConvertedMiniLm.Run r = ConvertedMiniLm.cli("", embed.toArray(String[]::new));
            assertEquals(0, r.code(), r.err());
            mismatches.addAll(compare(c.name() + " from .npy", search.get("hits"), search.get("corpus"),
                    CliEmbedParityTest.lines(ConvertedMiniLm.cli(Files.readString(queries), "search", "--model", model, "--device",
                            "cpu", "--corpus-embeddings", npy.toString(), "--top-k", k)), false));
            assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
        }));
    }

    /**
     * Retrieve and rerank: {@code search --rerank} over sentence-transformers' own search hits (the
     * golden "search" of st_prompts) reordered by the cross-encoder ce_st6_sigmoid as the library's
     * {@link distilbert.model.CrossEncoder#rank} orders them (that, against CrossEncoder.rank, is
     * CrossEncoderGoldenParityTest's), the similarity kept as search_score, --rerank-top-k hits kept;
     * queries from a file and from stdin alike.
     */
    @Test
    void rerankReordersEachQuerysHitsByTheCrossEncoder() throws Exception {
        SentenceTransformersGolden.Case c = SentenceTransformersGolden.cases().stream().filter(x -> x.name().equals("st_prompts"))
                .findFirst().orElseThrow();
        Path ce = CrossEncoderGolden.cases().stream().filter(x -> x.name().equals("ce_st6_sigmoid")).findFirst().orElseThrow().dir();
        JsonNode search = c.expected().get("search");
        Path corpus = jsonl("rr-corpus.jsonl", search.get("corpus"));
        Path queries = jsonl("rr-queries.jsonl", search.get("queries"));
        String[] args = {"search", "--model", c.dir().toString(), "--device", "cpu", "--corpus", corpus.toString(),
            "--top-k", search.get("top_k").asText(), "--rerank", ce.toString(), "--rerank-top-k", "2"};
        List<JsonNode> fromFile = CliEmbedParityTest.lines(ConvertedMiniLm.cli("", concat(args, "--queries", queries.toString())));
        List<JsonNode> fromStdin = CliEmbedParityTest.lines(ConvertedMiniLm.cli(Files.readString(queries), args));
        assertEquals(fromFile, fromStdin, "queries from stdin are read twice as from a file");
        List<String> mismatches = new ArrayList<>();
        try (distilbert.model.DistilBert db = distilbert.model.DistilBert.load(ce, distilbert.model.Device.CPU)) {
            distilbert.model.CrossEncoder reranker = distilbert.model.CrossEncoder.fromPretrained(db, ce);
            for (int q = 0; q < search.get("queries").size(); q++) {
                JsonNode found = search.get("hits").get(q), got = fromFile.get(q).get("hits");
                List<String> docs = new ArrayList<>();
                found.forEach(h -> docs.add(search.get("corpus").get(h.get("corpus_id").asInt()).asText()));
                List<distilbert.model.CrossEncoder.Hit> want = reranker.rank(search.get("queries").get(q).asText(), docs, 2);
                assertEquals(2, got.size());
                for (int k = 0; k < 2; k++) {
                    JsonNode origin = found.get(want.get(k).corpusId());
                    String what = "query " + q + " hit " + k;
                    if (got.get(k).get("corpus_id").asInt() != origin.get("corpus_id").asInt()) {
                        mismatches.add(what + ": corpus_id " + got.get(k).get("corpus_id") + ", expected " + origin.get("corpus_id"));
                    }
                    if (!close(want.get(k).score(), got.get(k).get("score").asDouble())) {
                        mismatches.add(what + ": score " + got.get(k).get("score") + ", cross-encoder " + want.get(k).score());
                    }
                    if (!close(origin.get("score").asDouble(), got.get(k).get("search_score").asDouble())) {
                        mismatches.add(what + ": search_score " + got.get(k).get("search_score") + ", util.semantic_search "
                                + origin.get("score"));
                    }
                    assertEquals(want.get(k).text(), got.get(k).get("text").asText(), what + ": text");
                }
            }
        }
        assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));

        ConvertedMiniLm.Run r = ConvertedMiniLm.cli("", "search", "--model", c.dir().toString(), "--corpus-embeddings", "x.npy",
                "--queries", queries.toString(), "--rerank", ce.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("distilbert search: --rerank reads the hits' texts: give --corpus FILE\n"), r.err());
        r = ConvertedMiniLm.cli("", "search", "--model", c.dir().toString(), "--corpus", corpus.toString(), "--rerank-top-k", "3");
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("distilbert search: --rerank-top-k goes with --rerank DIR\n"), r.err());
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void errorsNameTheProblem() throws Exception {
        SentenceTransformersGolden.Case c = SentenceTransformersGolden.cases().getFirst();
        Path corpus = jsonl("e-corpus.jsonl", c.expected().get("search").get("corpus"));
        ConvertedMiniLm.Run r = ConvertedMiniLm.cli("", "search", "--queries", corpus.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("distilbert search: give --corpus FILE (JSONL) or --corpus-embeddings FILE.npy\n"), r.err());
        r = ConvertedMiniLm.cli("", "search", "--corpus", corpus.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("distilbert search: --model DIR is needed to embed --corpus (or give --corpus-embeddings)"), r.err());
        r = ConvertedMiniLm.cli("", "search", "--model", c.dir().toString(), "--corpus", corpus.toString(), "--score-function", "l2");
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("distilbert search: --score-function: similarity function 'l2' is not one of [cosine, dot, "
                + "euclidean, manhattan]"), r.err());

        Path bad = tmp.resolve("bad.npy");
        Files.writeString(bad, "not numpy");
        r = ConvertedMiniLm.cli("", "search", "--corpus-embeddings", bad.toString(), "--query-embeddings", bad.toString());
        assertEquals(1, r.code());
        assertEquals("distilbert search: " + bad + ": not a NumPy .npy file (no \\x93NUMPY magic)\n", r.err());

        // a corpus line that is not JSON: the inner embed says which, and its exit code is the search's
        Path broken = tmp.resolve("broken.jsonl");
        Files.writeString(broken, "{\"text\": \"fine\"}\nnot json\n");
        r = ConvertedMiniLm.cli("", "search", "--model", c.dir().toString(), "--device", "cpu", "--corpus", broken.toString(),
                "--queries", corpus.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("distilbert embed: " + broken + " line 2: "), r.err());
    }
}
