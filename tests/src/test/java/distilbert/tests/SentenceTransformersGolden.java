package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.model.DistilBert;
import distilbert.model.EmbeddingQuantization;
import distilbert.model.SemanticSearch;
import distilbert.model.SentenceEmbeddings;
import distilbert.tokenizer.Encoding;
import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The sentence-transformers golden files (tests/golden/make_sentence_transformers_golden.py): model
 * directories as {@code SentenceTransformer.save} writes them, and what {@code encode} answered, per
 * run (texts, and a prompt_name or prompt), with the input_ids it tokenized.
 */
final class SentenceTransformersGolden {

    private SentenceTransformersGolden() {
    }

    /** One golden case: its directory, name and expected.json. */
    record Case(Path dir, String name, JsonNode expected) {
    }

    static List<Case> cases() throws Exception {
        return cases("golden-st");
    }

    /** The cases of a folder of golden directories under tests/src/test/resources, as its index.json lists them. */
    static List<Case> cases(String folder) throws Exception {
        URL index = SentenceTransformersGolden.class.getResource("/" + folder + "/index.json");
        assertTrue(index != null, "tests/src/test/resources/" + folder + "/index.json is missing");
        Path root = Path.of(index.toURI()).getParent();
        ObjectMapper json = new ObjectMapper();
        List<Case> out = new ArrayList<>();
        for (JsonNode name : json.readTree(index).get("cases")) {
            Path dir = root.resolve(name.asText());
            out.add(new Case(dir, name.asText(), json.readTree(dir.resolve("expected.json").toFile())));
        }
        return out;
    }

    /**
     * Every run of the case through {@link SentenceEmbeddings#fromPretrained} on {@code db}: the same
     * input_ids as sentence-transformers, and the embeddings checked by {@code compare}; the
     * mismatches, if any, as lines.
     */
    static List<String> check(Case c, DistilBert db, Comparison compare) {
        SentenceEmbeddings base = SentenceEmbeddings.fromPretrained(db, c.dir());
        assertEquals(c.expected().get("dimension").asInt(), base.dimension(), c.name() + ": dimension");
        List<String> mismatches = new ArrayList<>();
        for (JsonNode run : c.expected().get("runs")) {
            SentenceEmbeddings st = base;
            String what = c.name();
            if (run.hasNonNull("prompt_name")) {
                st = st.withPromptName(run.get("prompt_name").asText());
                what += " prompt_name=" + run.get("prompt_name").asText();
            } else if (run.hasNonNull("prompt")) {
                st = st.withPrompt(run.get("prompt").asText());
                what += " prompt='" + run.get("prompt").asText() + "'";
            }
            if (run.hasNonNull("truncate_dim")) {
                st = st.withTruncateDim(run.get("truncate_dim").asInt());
                what += " truncate_dim=" + run.get("truncate_dim").asInt();
            }
            if (run.path("normalize_embeddings").asBoolean(false)) {
                st = st.withNormalize(true);
                what += " normalize_embeddings";
            }
            List<String> texts = new ArrayList<>();
            run.get("texts").forEach(t -> texts.add(t.asText()));
            List<Encoding> encodings = st.encode(texts);
            for (int i = 0; i < texts.size(); i++) {
                int[] want = new int[run.get("input_ids").get(i).size()];
                for (int k = 0; k < want.length; k++) want[k] = run.get("input_ids").get(i).get(k).asInt();
                if (!Arrays.equals(want, encodings.get(i).ids())) {
                    mismatches.add(what + " text " + i + ": input_ids " + Arrays.toString(encodings.get(i).ids())
                            + ", sentence-transformers " + Arrays.toString(want));
                }
            }
            List<float[]> got = st.embedEncodings(encodings);
            for (int i = 0; i < texts.size(); i++) {
                JsonNode row = run.get("embeddings").get(i);
                float[] want = new float[row.size()];
                for (int k = 0; k < want.length; k++) want[k] = (float) row.get(k).asDouble();
                compare.check(what + " text " + i, want, got.get(i), mismatches);
            }
        }
        checkSimilarity(c, base, compare, mismatches);
        if (c.expected().has("encode_query")) {
            // encode_query and encode_document over the search's queries
            List<String> texts = new ArrayList<>();
            c.expected().get("search").get("queries").forEach(t -> texts.add(t.asText()));
            check(c.name() + " encode_query", c.expected().get("encode_query"),
                    base.forQueries().embed(texts).toArray(float[][]::new), compare, mismatches);
            check(c.name() + " encode_document", c.expected().get("encode_document"),
                    base.forDocuments().embed(texts).toArray(float[][]::new), compare, mismatches);
        }
        return mismatches;
    }

    /**
     * util.semantic_search of the first three embeddings of the first run in all six (sentence-transformers'
     * embeddings), top 4, under each similarity function: the same corpus ids in the same order (where
     * two of sentence-transformers' scores are within {@link GoldenParityTest}'s bound of each other
     * their order is not checked), and each score within that bound.
     */
    static List<String> checkSemanticSearch(Case c) {
        List<float[]> first = new ArrayList<>();
        for (JsonNode row : c.expected().get("runs").get(0).get("embeddings")) first.add(floats(row));
        List<String> mismatches = new ArrayList<>();
        c.expected().get("semantic_search").fields().forEachRemaining(e -> {
            List<List<SemanticSearch.Hit>> got = SemanticSearch.search(first.subList(0, 3), first, 4,
                    SentenceEmbeddings.Similarity.named(e.getKey()));
            for (int q = 0; q < 3; q++) {
                JsonNode want = e.getValue().get(q);
                String what = c.name() + " " + e.getKey() + " query " + q;
                if (want.size() != got.get(q).size()) {
                    mismatches.add(what + ": " + got.get(q).size() + " hits, sentence-transformers " + want.size());
                    continue;
                }
                for (int k = 0; k < want.size(); k++) {
                    float score = (float) want.get(k).get("score").asDouble();
                    SemanticSearch.Hit hit = got.get(q).get(k);
                    boolean tie = (k > 0 && close(score, (float) want.get(k - 1).get("score").asDouble()))
                            || (k + 1 < want.size() && close(score, (float) want.get(k + 1).get("score").asDouble()));
                    if (!tie && hit.corpusId() != want.get(k).get("corpus_id").asInt()) {
                        mismatches.add(what + " hit " + k + ": corpus_id " + hit.corpusId() + ", sentence-transformers "
                                + want.get(k).get("corpus_id").asInt());
                    }
                    if (!close(score, hit.score())) {
                        mismatches.add(what + " hit " + k + ": score " + hit.score() + ", sentence-transformers " + score);
                    }
                }
            }
        });
        return mismatches;
    }

    /**
     * {@link EmbeddingQuantization} of the first run's embeddings (sentence-transformers' own) against
     * quantize_embeddings: every byte the same, int8 and uint8 with the ranges of all six embeddings and
     * of the first three, binary and ubinary.
     */
    static List<String> checkQuantize(Case c) {
        List<float[]> first = new ArrayList<>();
        for (JsonNode row : c.expected().get("runs").get(0).get("embeddings")) first.add(floats(row));
        List<String> mismatches = new ArrayList<>();
        c.expected().get("quantize").fields().forEachRemaining(e -> {
            String name = e.getKey();
            EmbeddingQuantization.Kind kind = EmbeddingQuantization.Kind.parse(name.replace("_calibration", ""));
            EmbeddingQuantization.Ranges ranges = EmbeddingQuantization.Ranges.of(name.endsWith("_calibration")
                    ? first.subList(0, 3) : first);
            for (int i = 0; i < first.size(); i++) {
                int[] got = EmbeddingQuantization.values(EmbeddingQuantization.quantize(first.get(i), kind, ranges), kind);
                int[] want = new int[e.getValue().get(i).size()];
                for (int k = 0; k < want.length; k++) want[k] = e.getValue().get(i).get(k).asInt();
                if (!Arrays.equals(want, got)) {
                    mismatches.add(c.name() + " " + name + " row " + i + ": " + Arrays.toString(got) + ", sentence-transformers "
                            + Arrays.toString(want));
                }
            }
        });
        return mismatches;
    }

    private static boolean close(float want, float got) {
        return Math.abs((double) got - want) <= GoldenParityTest.ATOL + GoldenParityTest.RTOL * Math.abs(want);
    }

    /**
     * model.similarity, and each of sentence-transformers' four functions, of the first run's
     * embeddings (sentence-transformers' own, so that only the functions are compared).
     */
    private static void checkSimilarity(Case c, SentenceEmbeddings base, Comparison compare, List<String> mismatches) {
        assertEquals(c.expected().get("similarity_fn_name").asText(), base.similarity().toString(), c.name() + ": similarity_fn_name");
        List<float[]> first = new ArrayList<>();
        for (JsonNode row : c.expected().get("runs").get(0).get("embeddings")) first.add(floats(row));
        check(c.name() + " model.similarity", c.expected().get("similarity"), base.similarity(first, first), compare, mismatches);
        c.expected().get("similarities").fields().forEachRemaining(e -> check(c.name() + " " + e.getKey(), e.getValue(),
                SentenceEmbeddings.Similarity.named(e.getKey()).matrix(first, first), compare, mismatches));
    }

    private static void check(String what, JsonNode want, float[][] got, Comparison compare, List<String> mismatches) {
        for (int i = 0; i < got.length; i++) compare.check(what + " row " + i, floats(want.get(i)), got[i], mismatches);
    }

    private static float[] floats(JsonNode row) {
        float[] v = new float[row.size()];
        for (int k = 0; k < v.length; k++) v[k] = (float) row.get(k).asDouble();
        return v;
    }

    interface Comparison {
        void check(String what, float[] want, float[] got, List<String> mismatches);
    }
}
