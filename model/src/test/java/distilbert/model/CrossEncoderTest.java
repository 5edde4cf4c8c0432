package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.model.SentenceEmbeddings.Dense.Activation;
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
 * Reading cross-encoder directories (where each sentence-transformers version stored the activation,
 * which wins, what is refused) and {@link CrossEncoder}'s scores and rankings against the model's
 * logits computed through {@link TextClassification}. sentence-transformers' own numbers are the
 * golden files' (module tests, CrossEncoderGoldenParityTest).
 */
class CrossEncoderTest {

    @TempDir
    Path tmp;

    private Path model(String name, int numLabels) throws IOException {
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        DistilBertConfig config = TestModels.config().toBuilder().numLabels(numLabels).build();
        ModelDirectory.save(dir, TestModels.checkpoint(config, Head.SEQUENCE_CLASSIFICATION, 43));
        TinyTokenizer.create(dir);
        return dir;
    }

    private static void write(Path file, String text) throws IOException {
        Files.createDirectories(file.getParent());
        Files.writeString(file, text);
    }

    /** config.json with {@code entry} (a JSON member, or "") added at its top level. */
    private static void addToConfig(Path dir, String entry) throws IOException {
        String config = Files.readString(dir.resolve("config.json")).strip();
        write(dir.resolve("config.json"), "{" + entry + ", " + config.substring(1));
    }

    @Test
    void theActivationComesFromWhereEachVersionStoredItAndTheNewestWins() throws IOException {
        Path plain = model("plain", 1);
        CrossEncoder.Directory d = CrossEncoder.Directory.read(plain);
        assertNull(d.activation(), "none stored: the default");
        assertEquals(plain, d.transformer());
        assertEquals(Activation.SIGMOID, CrossEncoder.defaultActivation(1));
        assertEquals(Activation.IDENTITY, CrossEncoder.defaultActivation(3));

        addToConfig(plain, "\"sbert_ce_default_activation_function\": \"torch.nn.modules.activation.Tanh\"");
        assertEquals(Activation.TANH, CrossEncoder.Directory.read(plain).activation(), "before sentence-transformers 4");
        addToConfig(plain, "\"sentence_transformers\": {\"activation_fn\": \"torch.nn.modules.linear.Identity\", \"version\": \"4.1.0\"}");
        assertEquals(Activation.IDENTITY, CrossEncoder.Directory.read(plain).activation(), "4 and 5: config.json's entry first");
        assertEquals(plain.resolve("config.json") + ": sentence_transformers.activation_fn",
                CrossEncoder.Directory.read(plain).activationSource());
        write(plain.resolve("config_sentence_transformers.json"), "{\"model_type\": \"CrossEncoder\", "
                + "\"activation_fn\": \"torch.nn.modules.activation.Sigmoid\", \"prompts\": {\"query\": \"q: \"}, "
                + "\"default_prompt_name\": \"query\"}");
        CrossEncoder.Directory six = CrossEncoder.Directory.read(plain);
        assertEquals(Activation.SIGMOID, six.activation(), "6: config_sentence_transformers.json first");
        assertEquals("query", six.defaultPromptName());
        assertTrue(CrossEncoder.Directory.isCrossEncoder(plain));
        try (DistilBert db = DistilBert.load(plain, Device.CPU)) {
            CrossEncoder ce = CrossEncoder.fromPretrained(db, plain);
            assertEquals("q: ", ce.prompt(), "the default prompt");
            assertEquals(Activation.SIGMOID, ce.activation());
        }
    }

    @Test
    void whatIsNoCrossEncoderIsRefusedNamingTheFile() throws IOException {
        Path st = model("st", 1);
        write(st.resolve("config_sentence_transformers.json"), "{\"model_type\": \"SentenceTransformer\"}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CrossEncoder.Directory.read(st));
        assertEquals(st.resolve("config_sentence_transformers.json") + ": model_type is SentenceTransformer, not CrossEncoder "
                + "(an embedding model: embed or search with it)", e.getMessage());

        Path pooled = model("pooled", 1);
        write(pooled.resolve("modules.json"), "[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"}, "
                + "{\"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"}]");
        e = assertThrows(IllegalArgumentException.class, () -> CrossEncoder.Directory.read(pooled));
        assertEquals(pooled.resolve("modules.json") + ": a cross-encoder is one Transformer module, but module 1 is "
                + "sentence_transformers.models.Pooling (a sentence embedding model: embed or search with it)", e.getMessage());

        Path odd = model("odd", 1);
        addToConfig(odd, "\"sbert_ce_default_activation_function\": \"my.module.Scaled\"");
        e = assertThrows(IllegalArgumentException.class, () -> CrossEncoder.Directory.read(odd));
        assertTrue(e.getMessage().startsWith(odd.resolve("config.json") + ": sbert_ce_default_activation_function 'my.module.Scaled' "
                + "is not supported; supported: [torch.nn.modules.linear.Identity"), e.getMessage());

        Path ce = model("ce", 1);
        write(ce.resolve("config_sentence_transformers.json"), "{\"model_type\": \"CrossEncoder\"}");
        IllegalArgumentException embed = assertThrows(IllegalArgumentException.class, () -> SentenceTransformerDirectory.read(ce));
        assertTrue(embed.getMessage().endsWith("rather than embedding texts: rerank with it"), embed.getMessage());
    }

    @Test
    void scoresAreTheActivationOfTheLogitsAndRankingsSortThem() throws IOException {
        Path dir = model("scores", 1);
        List<String> docs = List.of("the cat sat", "a dog", "", "the cat sat", "mat on the cat the dog sat");
        try (DistilBert db = DistilBert.load(dir, Device.CPU)) {
            Tokenizer tok = Tokenizer.fromPretrained(dir);
            CrossEncoder ce = new CrossEncoder(db, tok);
            TextClassification logits = new TextClassification(db, tok).withFunction(TextClassification.Function.NONE);
            List<float[]> got = ce.predict(java.util.Collections.nCopies(docs.size(), "the cat"), docs);
            float[] s = new float[docs.size()];
            for (int i = 0; i < docs.size(); i++) {
                float logit = logits.classify("the cat", docs.get(i)).logits()[0];
                assertArrayEquals(new float[] {(float) (1 / (1 + Math.exp(-(double) logit)))}, got.get(i), "pair " + i);
                assertArrayEquals(new float[] {logit}, ce.withActivation(Activation.IDENTITY).predict("the cat", docs.get(i)));
                s[i] = got.get(i)[0];
            }
            List<CrossEncoder.Hit> ranked = ce.rank("the cat", docs, 10);
            assertEquals(docs.size(), ranked.size());
            for (int k = 1; k < ranked.size(); k++) {
                assertTrue(ranked.get(k - 1).score() >= ranked.get(k).score(), "best first");
            }
            int at0 = -1, at3 = -1;
            for (int k = 0; k < ranked.size(); k++) {
                CrossEncoder.Hit h = ranked.get(k);
                assertEquals(s[h.corpusId()], h.score());
                assertEquals(docs.get(h.corpusId()), h.text());
                if (h.corpusId() == 0) at0 = k;
                if (h.corpusId() == 3) at3 = k;
            }
            assertEquals(ranked.get(at0).score(), ranked.get(at3).score(), "the same pair twice");
            assertTrue(at0 < at3, "equal scores in document order");
            assertEquals(ranked.subList(0, 2), ce.rank("the cat", docs, 2));
            assertEquals(List.of(), ce.rank("the cat", List.of(), 3));
            assertEquals("softmax over a model of one label gives 1 for every pair; it is for models of several labels",
                    assertThrows(IllegalArgumentException.class, () -> ce.withSoftmax(true)).getMessage());
            assertThrows(IllegalArgumentException.class, () -> ce.rank("the cat", docs, 0));
        }
    }

    @Test
    void aModelOfSeveralLabelsPredictsButDoesNotRank() throws IOException {
        Path dir = model("three", 3);
        try (DistilBert db = DistilBert.load(dir, Device.CPU)) {
            CrossEncoder ce = CrossEncoder.fromPretrained(db, dir);
            assertEquals(Activation.IDENTITY, ce.activation());
            float[] raw = ce.predict("the cat", "a dog");
            float[] soft = ce.withSoftmax(true).predict("the cat", "a dog");
            assertArrayEquals(TextClassification.Function.SOFTMAX.apply(raw), soft);
            assertEquals(1.0, soft[0] + soft[1] + soft[2], 1e-6);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> ce.rank("q", List.of("d"), 1));
            assertTrue(e.getMessage().startsWith("ranking needs a model of one label (a relevance score), but this one has 3"),
                    e.getMessage());
        }
    }
}
