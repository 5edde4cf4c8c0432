package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.model.SentenceEmbeddings.Dense;
import distilbert.model.SentenceEmbeddings.Pooling;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.CheckpointException;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import distilbert.weights.NamedTensor;
import distilbert.weights.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reading sentence-transformers directories (modules.json and the modules' files) and what
 * {@link SentenceEmbeddings#fromPretrained} makes of them, against the pooling, Dense and Normalize
 * computed here by hand; and every refusal naming its file. sentence-transformers' own numbers are
 * the golden files' (module tests, SentenceTransformersGoldenParityTest).
 */
class SentenceTransformerDirectoryTest {

    @TempDir
    Path tmp;

    private final DistilBertConfig config = TestModels.config();

    /** A DistilBERT model with its vocab.txt in {@code dir}. */
    private void model(Path dir) throws IOException {
        Files.createDirectories(dir);
        ModelDirectory.save(dir, TestModels.checkpoint(config, Head.BASE, 41));
        TinyTokenizer.create(dir);
    }

    private static void write(Path file, String text) throws IOException {
        Files.createDirectories(file.getParent());
        Files.writeString(file, text);
    }

    private static String modules(String... typesAndPaths) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < typesAndPaths.length; i += 2) {
            if (i > 0) s.append(", ");
            s.append("{\"idx\": ").append(i / 2).append(", \"name\": \"").append(i / 2).append("\", \"path\": \"")
                    .append(typesAndPaths[i + 1]).append("\", \"type\": \"sentence_transformers.models.")
                    .append(typesAndPaths[i]).append("\"}");
        }
        return s.append("]").toString();
    }

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (0.3 * r.nextGaussian());
        return v;
    }

    @Test
    void aDirectoryOfPoolingDenseAndNormalizeEmbedsAsItsModulesSay() throws IOException {
        Path dir = tmp.resolve("st");
        model(dir.resolve("0_Transformer"));
        int C = config.dim(), out = 6;
        write(dir.resolve("modules.json"), modules("Transformer", "0_Transformer", "Pooling", "1_Pooling", "Dense", "2_Dense",
                "Normalize", "3_Normalize"));
        write(dir.resolve("0_Transformer/sentence_bert_config.json"), "{\"max_seq_length\": 9, \"do_lower_case\": true}");
        write(dir.resolve("1_Pooling/config.json"), "{\"word_embedding_dimension\": " + C + ", \"pooling_mode_mean_tokens\": true, "
                + "\"pooling_mode_max_tokens\": true, \"include_prompt\": false}");
        write(dir.resolve("2_Dense/config.json"), "{\"in_features\": " + 2 * C + ", \"out_features\": " + out
                + ", \"bias\": true, \"activation_function\": \"torch.nn.modules.activation.SiLU\"}");
        Random r = new Random(3);
        float[] w = random(r, out * 2 * C), bias = random(r, out);
        SafetensorsWriter.write(dir.resolve("2_Dense/model.safetensors"), List.of(
                NamedTensor.ofFloats("linear.weight", new long[] {out, 2 * C}, w),
                NamedTensor.ofFloats("linear.bias", new long[] {out}, bias)), Map.of());
        write(dir.resolve("config_sentence_transformers.json"), "{\"prompts\": {\"query\": \"who \", \"doc\": \"\"}, "
                + "\"default_prompt_name\": \"query\", \"similarity_fn_name\": \"dot\"}");

        SentenceTransformerDirectory st = SentenceTransformerDirectory.read(dir);
        assertEquals(dir.resolve("0_Transformer"), st.transformer());
        assertEquals(dir.resolve("0_Transformer"), SentenceTransformerDirectory.transformerDirectory(dir));
        assertEquals(9, st.maxSeqLength().getAsInt());
        assertTrue(st.doLowerCase());
        assertEquals(List.of(Pooling.MAX, Pooling.MEAN), st.pooling(), "in sentence-transformers' order, not the file's");
        assertFalse(st.includePrompt());
        assertEquals(1, st.dense().size());
        assertEquals(Dense.Activation.SILU, st.dense().getFirst().activation());
        assertTrue(st.normalize());
        assertEquals(Map.of("query", "who ", "doc", ""), st.prompts());
        assertEquals("query", st.defaultPromptName());
        assertEquals("dot", st.similarityFnName());
        assertEquals(0, st.truncateDim());
        assertEquals(out, st.dimension(C));
        assertEquals(3, st.dimension(C, null, 3), "cut to 3");
        assertEquals(out, st.dimension(C, List.of(Pooling.CLS, Pooling.LASTTOKEN)), "two modes give what the Dense takes");
        IllegalArgumentException narrow = assertThrows(IllegalArgumentException.class,
                () -> st.dimension(C, List.of(Pooling.CLS)));
        assertEquals(dir + ": the first Dense module takes vectors of " + 2 * C + " values but the pooling cls gives " + C
                + " (1 mode of dim " + C + ")", narrow.getMessage());
        assertThrows(IllegalArgumentException.class, () -> st.dimension(2 * C), "a model of another dim");

        try (DistilBert db = DistilBert.load(st.transformer(), Device.CPU)) {
            SentenceEmbeddings emb = SentenceEmbeddings.fromDirectory(db, st);
            assertEquals(out, emb.dimension());
            IllegalArgumentException three = assertThrows(IllegalArgumentException.class,
                    () -> emb.withPooling(Pooling.parse("mean,max,cls")));
            assertEquals("the first Dense module takes vectors of " + 2 * C + " values but the pooling mean,max,cls gives "
                    + 3 * C + " (3 modes of dim " + C + ")", three.getMessage());
            assertEquals(9, emb.maxLength());
            assertEquals("who ", emb.prompt(), "the default prompt");
            assertEquals(SentenceEmbeddings.Similarity.DOT, emb.similarity(), "similarity_fn_name");
            String text = "The Cat sat on the mat and the dog ran away";
            // by hand: the prompt prepended, lowercased, cut to 9 tokens; [CLS] and "who" left out of the pooling
            int[] ids = emb.tokenizer().encode("who " + text, null, emb.encodeOptions()).ids();
            assertArrayEquals(Tokenizer.fromPretrained(st.transformer()).encode("who the cat sat on the mat").ids(), ids);
            float[] pooled = db.architecture().distilbert().pool(ModelInput.ofIds(new int[][] {ids}),
                    List.of(Pooling.MAX, Pooling.MEAN), 2).data();
            double[] want = new double[out];
            double norm = 0;
            for (int o = 0; o < out; o++) {
                double y = bias[o];
                for (int k = 0; k < 2 * C; k++) y += (double) w[o * 2 * C + k] * pooled[k];
                want[o] = y / (1 + Math.exp(-y));
                norm += want[o] * want[o];
            }
            for (int o = 0; o < out; o++) want[o] /= Math.sqrt(norm);
            Check.close("silu(dense(max ++ mean)), normalized", want, emb.embed(text), 1e-6, 1e-5);
            float[] other = emb.withPromptName("doc").embed(text), none = emb.withPrompt(null).embed(text);
            assertArrayEquals(none, other, "an empty prompt is no prompt (sentence-transformers: `if prompt:`), nothing skipped");
            assertNull(emb.withPromptName("doc").prompt());
            IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> emb.withPromptName("passage"));
            assertEquals("no prompt named 'passage'; the model's prompts are query, doc", unknown.getMessage());
        }
    }

    @Test
    void aPlainModelDirectoryIsMeanPoolingAsSentenceTransformersWrapsIt() throws IOException {
        Path dir = tmp.resolve("plain");
        model(dir);
        SentenceTransformerDirectory st = SentenceTransformerDirectory.read(dir);
        assertEquals(dir, st.transformer());
        assertEquals(List.of(Pooling.MEAN), st.pooling());
        assertTrue(st.dense().isEmpty());
        assertFalse(st.normalize());
        assertTrue(st.maxSeqLength().isEmpty());
        assertNull(st.defaultPromptName());
        assertSame(dir, SentenceTransformerDirectory.transformerDirectory(dir));
    }

    @Test
    void theSimilarityFunctionsAreSentenceTransformers() {
        float[] a = {3, 4}, b = {1, 0}, zero = {0, 0};
        assertEquals(0.6f, SentenceEmbeddings.Similarity.COSINE.score(a, b));
        assertEquals(0f, SentenceEmbeddings.Similarity.COSINE.score(a, zero), "cos_sim normalizes with eps 1e-12");
        assertEquals(3f, SentenceEmbeddings.Similarity.DOT.score(a, b));
        assertEquals((float) -Math.sqrt(20), SentenceEmbeddings.Similarity.EUCLIDEAN.score(a, b));
        assertEquals(-6f, SentenceEmbeddings.Similarity.MANHATTAN.score(a, b));
        float[][] m = SentenceEmbeddings.Similarity.DOT.matrix(List.of(a, b), List.of(b, a, zero));
        assertArrayEquals(new float[] {3, 25, 0}, m[0]);
        assertArrayEquals(new float[] {1, 3, 0}, m[1]);
        assertEquals(SentenceEmbeddings.Similarity.MANHATTAN, SentenceEmbeddings.Similarity.named("manhattan"));
        assertEquals("similarity function 'l2' is not one of [cosine, dot, euclidean, manhattan]",
                assertThrows(IllegalArgumentException.class, () -> SentenceEmbeddings.Similarity.named("l2")).getMessage());
    }

    @Test
    void everyDenseActivationIsTorchs() {
        float x = 0.7f;
        assertEquals(0.7f, Dense.Activation.IDENTITY.apply(x));
        assertEquals((float) Math.tanh(0.7f), Dense.Activation.TANH.apply(x));
        assertEquals(0f, Dense.Activation.RELU.apply(-x));
        assertEquals(0.530625f, Dense.Activation.GELU.apply(x), 1e-6f);     // torch.nn.GELU()(0.7)
        assertEquals(0.668188f, Dense.Activation.SIGMOID.apply(x), 1e-6f);  // torch.sigmoid(0.7)
        assertEquals(0.467732f, Dense.Activation.SILU.apply(x), 1e-6f);     // torch.nn.SiLU()(0.7)
        assertEquals(Dense.Activation.TANH, Dense.Activation.named("torch.nn.Tanh", "f"));
    }

    /** What read() says of a directory whose files are as given (module 0 the Transformer at ""). */
    private String refusal(String modulesJson, Map<String, String> files) throws IOException {
        Path dir = Files.createTempDirectory(tmp, "bad");
        model(dir);
        write(dir.resolve("modules.json"), modulesJson);
        for (Map.Entry<String, String> f : files.entrySet()) write(dir.resolve(f.getKey()), f.getValue());
        return assertThrows(RuntimeException.class, () -> SentenceTransformerDirectory.read(dir)).getMessage()
                .replace(dir + "/", "DIR/");
    }

    @Test
    void whatCannotRunIsRefusedNamingTheFileAndTheProblem() throws IOException {
        String pool = "{\"embedding_dimension\": 32, \"pooling_mode\": \"mean\"}";
        assertEquals("DIR/modules.json: module 1 (sentence_transformers.models.LSTM at '1_LSTM'): LSTM modules are not "
                        + "supported; supported: Transformer, then Pooling, Dense and a final Normalize",
                refusal(modules("Transformer", "", "LSTM", "1_LSTM"), Map.of()));
        assertEquals("DIR/modules.json: module 1 is my_package.MyPooling, custom code that this library cannot run",
                refusal("[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"}, "
                        + "{\"path\": \"1\", \"type\": \"my_package.MyPooling\"}]", Map.of()));
        assertEquals("DIR/modules.json: module 0 is sentence_transformers.models.Pooling; the first module must be a "
                + "Transformer (a DistilBERT model)", refusal(modules("Pooling", "1_Pooling"), Map.of()));
        assertEquals("DIR/modules.json: no Pooling module; a sentence embedding model needs one (token-level models are "
                + "not supported)", refusal(modules("Transformer", ""), Map.of()));
        assertEquals("DIR/1_Pooling/config.json: pooling mode 'median' is not one of [cls, max, mean, mean_sqrt_len_tokens, "
                        + "weightedmean, lasttoken]",
                refusal(modules("Transformer", "", "Pooling", "1_Pooling"),
                        Map.of("1_Pooling/config.json", "{\"pooling_mode\": [\"mean\", \"median\"]}")));
        assertEquals("DIR/modules.json: module 3 (sentence_transformers.models.Dense at '3_Dense') follows Normalize; only a "
                        + "final Normalize is supported",
                refusal(modules("Transformer", "", "Pooling", "1_Pooling", "Normalize", "2_Normalize", "Dense", "3_Dense"),
                        Map.of("1_Pooling/config.json", pool)));
        assertEquals("DIR/2_Dense/config.json: in_features is 64 but the module before it gives vectors of 32",
                refusal(modules("Transformer", "", "Pooling", "1_Pooling", "Dense", "2_Dense"),
                        Map.of("1_Pooling/config.json", pool, "2_Dense/config.json", "{\"in_features\": 64, \"out_features\": 4}")));
        assertEquals("DIR/2_Dense/config.json: activation_function 'torch.nn.modules.activation.Softsign' is not supported; "
                        + "supported: [torch.nn.modules.linear.Identity, torch.nn.modules.activation.Tanh, "
                        + "torch.nn.modules.activation.ReLU, torch.nn.modules.activation.GELU, "
                        + "torch.nn.modules.activation.Sigmoid, torch.nn.modules.activation.SiLU]",
                refusal(modules("Transformer", "", "Pooling", "1_Pooling", "Dense", "2_Dense"),
                        Map.of("1_Pooling/config.json", pool, "2_Dense/config.json", "{\"in_features\": 32, \"out_features\": 4, "
                                + "\"activation_function\": \"torch.nn.modules.activation.Softsign\"}")));
        assertEquals("DIR/config_sentence_transformers.json: default_prompt_name 'query' is not one of the prompts [doc]",
                refusal(modules("Transformer", "", "Pooling", "1_Pooling"), Map.of("1_Pooling/config.json", pool,
                        "config_sentence_transformers.json", "{\"prompts\": {\"doc\": \"d: \"}, \"default_prompt_name\": \"query\"}")));
        assertEquals("DIR/config_sentence_transformers.json: truncate_dim must be a positive integer or null, got 0",
                refusal(modules("Transformer", "", "Pooling", "1_Pooling"), Map.of("1_Pooling/config.json", pool,
                        "config_sentence_transformers.json", "{\"truncate_dim\": 0}")));
        assertEquals("DIR/sentence_bert_config.json: max_seq_length must be an integer of at least 2, got \"long\"",
                refusal(modules("Transformer", "", "Pooling", "1_Pooling"), Map.of("1_Pooling/config.json", pool,
                        "sentence_bert_config.json", "{\"max_seq_length\": \"long\"}")));
        assertTrue(refusal(modules("Transformer", "", "Pooling", "1_Pooling"), Map.of("1_Pooling/config.json", "{\"pooling_mode\": "))
                .startsWith("DIR/1_Pooling/config.json: not valid JSON: "));
    }

    @Test
    void aDenseWeightOfTheWrongShapeOrMissingIsRefusedNamingIt() throws IOException {
        Path dir = tmp.resolve("dense");
        model(dir);
        write(dir.resolve("modules.json"), modules("Transformer", "", "Pooling", "1_Pooling", "Dense", "2_Dense"));
        write(dir.resolve("1_Pooling/config.json"), "{\"embedding_dimension\": 32, \"pooling_mode\": \"cls\"}");
        write(dir.resolve("2_Dense/config.json"), "{\"in_features\": 32, \"out_features\": 4}");
        SafetensorsWriter.write(dir.resolve("2_Dense/model.safetensors"),
                List.of(NamedTensor.ofFloats("linear.weight", new long[] {32, 4}, new float[128])), Map.of());
        CheckpointException shape = assertThrows(CheckpointException.class, () -> SentenceTransformerDirectory.read(dir));
        assertEquals("model.safetensors: linear.weight has shape [32, 4] but the module's config.json gives [4, 32]",
                shape.getMessage().replace(dir.resolve("2_Dense") + "/", ""));
        SafetensorsWriter.write(dir.resolve("2_Dense/model.safetensors"),
                List.of(NamedTensor.ofFloats("linear.weight", new long[] {4, 32}, new float[128])), Map.of());
        CheckpointException bias = assertThrows(CheckpointException.class, () -> SentenceTransformerDirectory.read(dir));
        assertTrue(bias.getMessage().endsWith("model.safetensors: no tensor 'linear.bias' (a Dense module's linear.bias)"),
                bias.getMessage());
    }

    @Test
    void theEmbeddingDimensionMustBeTheModels() throws IOException {
        Path dir = tmp.resolve("dim");
        model(dir);
        write(dir.resolve("modules.json"), modules("Transformer", "", "Pooling", "1_Pooling"));
        write(dir.resolve("1_Pooling/config.json"), "{\"embedding_dimension\": 768, \"pooling_mode\": \"mean\"}");
        try (DistilBert db = DistilBert.load(dir, Device.CPU)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SentenceEmbeddings.fromPretrained(db, dir));
            assertEquals(dir + ": the Pooling module's embedding_dimension is 768 but the model's dim is 32", e.getMessage());
        }
    }

    @Test
    void doLowerCaseLowercasesBeforeTheTokenizersOwnNormalization() throws IOException {
        Path dir = tmp.resolve("cased");
        model(dir);
        Tokenizer cased = Tokenizer.fromVocab(dir.resolve("vocab.txt"), new distilbert.tokenizer.BertNormalizer(true, true, null, false));
        assertEquals(List.of("[UNK]", "cat"), cased.tokenize("Cat cat"));
        Tokenizer lower = cased.withLowercase();
        assertEquals(List.of("cat", "cat"), lower.tokenize("Cat cat"));
        assertEquals(List.of("[UNK]"), lower.tokenize("Ćat"), "accents kept, as the cased tokenizer keeps them");
        assertSame(lower, lower.withLowercase());
    }
}
