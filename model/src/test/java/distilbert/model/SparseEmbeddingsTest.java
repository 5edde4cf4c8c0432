package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link SparseEmbeddings}: SPLADE pooling against the masked-LM logits of every position computed
 * through {@link DistilBertForMaskedLM#forward} and pooled here by hand; max_active_dims; the
 * directory's modules and refusals. sentence-transformers' own numbers are the golden files'
 * (module tests, SparseEncoderGoldenParityTest).
 */
class SparseEmbeddingsTest {

    @TempDir
    Path tmp;

    private Path model(String name) throws IOException {
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        ModelDirectory.save(dir, TestModels.checkpoint(TestModels.config(), Head.MASKED_LM, 47));
        TinyTokenizer.create(dir);
        return dir;
    }

    private static void write(Path file, String text) throws IOException {
        Files.createDirectories(file.getParent());
        Files.writeString(file, text);
    }

    private static String modules(String first, String second) {
        return "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": \"" + first + "\"}, "
                + "{\"idx\": 1, \"name\": \"1\", \"path\": \"1_SpladePooling\", \"type\": \"" + second + "\"}]";
    }

    @Test
    void poolingIsTheMaxOrSumOfLog1pReluOfEveryRealTokensLogits() throws IOException {
        Path dir = model("splade");
        List<String> texts = List.of("the cat sat on the mat", "a dog", "");
        try (DistilBert db = DistilBert.load(dir, Device.CPU)) {
            Tokenizer tok = Tokenizer.fromPretrained(dir);
            DistilBertConfig config = db.config();
            int V = config.vocabSize();
            SparseEmbeddings splade = new SparseEmbeddings(db, tok);
            assertEquals(V, splade.dimension());
            for (SparseEmbeddings.Strategy strategy : SparseEmbeddings.Strategy.values()) {
                for (SparseEmbeddings.Activation activation : SparseEmbeddings.Activation.values()) {
                    SparseEmbeddings s = splade.withStrategy(strategy).withActivation(activation).withBatchTokens(5);
                    List<SparseEmbeddings.Vector> got = s.embed(texts);
                    for (int i = 0; i < texts.size(); i++) {
                        Encoding e = tok.encode(texts.get(i), null, s.encodeOptions());
                        float[] logits = db.as(DistilBertForMaskedLM.class).forward(ModelInput.ofIds(new int[][] {e.ids()}))
                                .logits().data();
                        double[] want = new double[V];
                        for (int t = 0; t < e.length(); t++) {
                            for (int v = 0; v < V; v++) {
                                float x = logits[t * V + v];
                                double w = x > 0 ? Math.log1p(x) : 0;
                                if (activation == SparseEmbeddings.Activation.LOG1P_RELU) w = Math.log1p(w);
                                want[v] = strategy == SparseEmbeddings.Strategy.MAX ? Math.max(want[v], w) : want[v] + w;
                            }
                        }
                        float[] dense = got.get(i).dense();
                        for (int v = 0; v < V; v++) {
                            assertEquals(want[v], dense[v], 1e-5 * Math.max(1, want[v]), strategy + " " + activation + " text " + i + " dim " + v);
                        }
                        int[] idx = got.get(i).indices();
                        for (int k = 1; k < idx.length; k++) assertTrue(idx[k - 1] < idx[k], "indices ascending");
                        for (float w : got.get(i).values()) assertTrue(w > 0, "only non-zero weights, all positive");
                    }
                }
            }
            SparseEmbeddings.Vector full = splade.embed(texts.getFirst()), top = splade.withMaxActiveDims(3).embed(texts.getFirst());
            assertEquals(3, top.indices().length);
            float[] sorted = full.values().clone();
            java.util.Arrays.sort(sorted);
            for (float w : top.values()) assertTrue(w >= sorted[sorted.length - 3], "the three largest weights");
            List<SparseEmbeddings.TokenWeight> decoded = splade.decode(full, 2);
            assertEquals(sorted[sorted.length - 1], decoded.getFirst().weight());
            assertTrue(decoded.get(0).weight() >= decoded.get(1).weight());
            assertEquals(full.dot(full), dotByHand(full.dense()), 1e-9);
            assertThrows(IllegalArgumentException.class, () -> splade.withMaxActiveDims(-1));
        }
    }

    private static double dotByHand(float[] v) {
        double s = 0;
        for (float x : v) s += (double) x * x;
        return s;
    }

    @Test
    void theDirectorysModulesAndWhatIsRefused() throws IOException {
        Path dir = model("dir");
        write(dir.resolve("modules.json"), modules("sentence_transformers.sparse_encoder.models.MLMTransformer",
                "sentence_transformers.sparse_encoder.models.SpladePooling"));
        write(dir.resolve("1_SpladePooling/config.json"), "{\"pooling_strategy\": \"sum\", \"activation_function\": \"log1p_relu\", "
                + "\"word_embedding_dimension\": 64}");
        write(dir.resolve("config_sentence_transformers.json"), "{\"model_type\": \"SparseEncoder\", \"prompts\": {\"query\": \"q: \"}, "
                + "\"default_prompt_name\": \"query\"}");
        assertTrue(SparseEmbeddings.Directory.isSparseEncoder(dir));
        SparseEmbeddings.Directory d = SparseEmbeddings.Directory.read(dir);
        assertEquals(SparseEmbeddings.Strategy.SUM, d.strategy());
        assertEquals(SparseEmbeddings.Activation.LOG1P_RELU, d.activation());
        assertEquals("query", d.defaultPromptName());
        try (DistilBert db = DistilBert.load(d.transformer(), Device.CPU)) {
            assertEquals("q: ", SparseEmbeddings.fromDirectory(db, d).prompt());
        }
        IllegalArgumentException dense = assertThrows(IllegalArgumentException.class, () -> SentenceTransformerDirectory.read(dir));
        assertTrue(dense.getMessage().contains("is a sentence-transformers SparseEncoder (SPLADE)"), dense.getMessage());

        write(dir.resolve("1_SpladePooling/config.json"), "{\"pooling_strategy\": \"mean\"}");
        IllegalArgumentException strategy = assertThrows(IllegalArgumentException.class, () -> SparseEmbeddings.Directory.read(dir));
        assertEquals(dir.resolve("1_SpladePooling/config.json") + ": pooling_strategy 'mean' is not one of [max, sum]",
                strategy.getMessage());

        Path router = model("router");
        write(router.resolve("modules.json"), modules("sentence_transformers.base.modules.router.Router",
                "sentence_transformers.sparse_encoder.modules.splade_pooling.SpladePooling"));
        IllegalArgumentException r = assertThrows(IllegalArgumentException.class, () -> SparseEmbeddings.Directory.read(router));
        assertTrue(r.getMessage().startsWith(router.resolve("modules.json") + ": modules [sentence_transformers.base.modules.router."
                + "Router, sentence_transformers.sparse_encoder.modules.splade_pooling.SpladePooling]; a sparse encoder this "
                + "library runs is a masked-LM Transformer, then SpladePooling"), r.getMessage());
        assertFalse(SparseEmbeddings.Directory.isSparseEncoder(model("plain")));
    }

    @Test
    void searchIsTheTopDotProductsOverTheInvertedIndex() {
        java.util.Random r = new java.util.Random(5);
        int V = 50;
        List<SparseEmbeddings.Vector> corpus = new java.util.ArrayList<>(), queries = new java.util.ArrayList<>();
        for (int i = 0; i < 300; i++) (i < 40 ? queries : corpus).add(randomVector(r, V, i % 7 == 0 ? 0 : 1 + r.nextInt(8)));
        corpus.add(corpus.get(3));                           // a duplicate row: equal scores, the smaller id first
        List<List<SemanticSearch.Hit>> hits = SparseEmbeddings.search(queries, corpus, 5);
        assertEquals(queries.size(), hits.size());
        for (int q = 0; q < queries.size(); q++) {
            float[] all = new float[corpus.size()];
            for (int c = 0; c < corpus.size(); c++) all[c] = (float) queries.get(q).dot(corpus.get(c));
            int[] want = Ranking.top(all, 5);
            assertEquals(5, hits.get(q).size());
            for (int k = 0; k < 5; k++) {
                assertEquals(want[k], hits.get(q).get(k).corpusId(), "query " + q + " hit " + k);
                assertEquals(all[want[k]], hits.get(q).get(k).score(), "query " + q + " hit " + k);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> SparseEmbeddings.search(queries, corpus, 0));
        assertThrows(IllegalArgumentException.class,
                () -> SparseEmbeddings.search(List.of(new SparseEmbeddings.Vector(new int[0], new float[0], 3)), corpus, 1));
    }

    private static SparseEmbeddings.Vector randomVector(java.util.Random r, int V, int active) {
        java.util.TreeSet<Integer> ids = new java.util.TreeSet<>();
        while (ids.size() < active) ids.add(r.nextInt(V));
        int[] indices = ids.stream().mapToInt(Integer::intValue).toArray();
        float[] values = new float[indices.length];
        for (int i = 0; i < values.length; i++) values[i] = 0.1f + r.nextFloat();
        return new SparseEmbeddings.Vector(indices, values, V);
    }

    @Test
    void aModelWithoutTheMaskedLmHeadIsRefused() throws IOException {
        Path dir = tmp.resolve("base");
        Files.createDirectories(dir);
        ModelDirectory.save(dir, TestModels.checkpoint(TestModels.config(), Head.BASE, 48));
        TinyTokenizer.create(dir);
        try (DistilBert db = DistilBert.load(dir, Device.CPU)) {
            assertThrows(IllegalStateException.class, () -> new SparseEmbeddings(db, Tokenizer.fromPretrained(dir)));
        }
        assertArrayEquals(new float[] {0, 2, 0}, new SparseEmbeddings.Vector(new int[] {1}, new float[] {2}, 3).dense());
    }
}
