package distilbert.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DistilBertConfigTest {
    /** distilbert-base-uncased's config.json as published on the HF hub (keys sorted, as save_pretrained writes). */
    static final String BASE_UNCASED = """
            {
              "activation": "gelu",
              "architectures": [
                "DistilBertForMaskedLM"
              ],
              "attention_dropout": 0.1,
              "dim": 768,
              "dropout": 0.1,
              "hidden_dim": 3072,
              "initializer_range": 0.02,
              "max_position_embeddings": 512,
              "model_type": "distilbert",
              "n_heads": 12,
              "n_layers": 6,
              "pad_token_id": 0,
              "qa_dropout": 0.1,
              "seq_classif_dropout": 0.2,
              "sinusoidal_pos_embds": false,
              "tie_weights_": true,
              "transformers_version": "4.10.0.dev0",
              "vocab_size": 30522
            }
            """;

    /** distilbert-base-uncased-finetuned-sst-2-english's config.json. */
    static final String SST2 = """
            {
              "activation": "gelu",
              "architectures": [
                "DistilBertForSequenceClassification"
              ],
              "attention_dropout": 0.1,
              "dim": 768,
              "dropout": 0.1,
              "finetuning_task": "sst-2",
              "hidden_dim": 3072,
              "id2label": {
                "0": "NEGATIVE",
                "1": "POSITIVE"
              },
              "initializer_range": 0.02,
              "label2id": {
                "NEGATIVE": 0,
                "POSITIVE": 1
              },
              "max_position_embeddings": 512,
              "model_type": "distilbert",
              "n_heads": 12,
              "n_layers": 6,
              "output_past": true,
              "pad_token_id": 0,
              "qa_dropout": 0.1,
              "seq_classif_dropout": 0.2,
              "sinusoidal_pos_embds": false,
              "tie_weights_": true,
              "vocab_size": 30522
            }
            """;

    @Test
    void defaultsAreHfDefaults() {
        DistilBertConfig c = DistilBertConfig.defaults().validate();
        assertEquals(30522, c.vocabSize());
        assertEquals(512, c.maxPositionEmbeddings());
        assertFalse(c.sinusoidalPosEmbds());
        assertEquals(6, c.nLayers());
        assertEquals(12, c.nHeads());
        assertEquals(768, c.dim());
        assertEquals(3072, c.hiddenDim());
        assertEquals(0.1, c.dropout());
        assertEquals(0.1, c.attentionDropout());
        assertEquals(Activation.GELU, c.activation());
        assertEquals(0.02, c.initializerRange());
        assertEquals(0.1, c.qaDropout());
        assertEquals(0.2, c.seqClassifDropout());
        assertEquals(0, c.padTokenId());
        assertEquals(64, c.headSize());
        assertEquals(2, c.numLabels());
        assertEquals(Map.of(0, "LABEL_0", 1, "LABEL_1"), c.id2label());
        assertEquals(Map.of("LABEL_0", 0, "LABEL_1", 1), c.label2id());
        assertNull(c.problemType());
        assertTrue(c.tieWordEmbeddings());
        assertFalse(c.outputAttentions());
        assertFalse(c.outputHiddenStates());
    }

    @Test
    void baseUncasedRoundTripsByteForByte() {
        DistilBertConfig c = DistilBertConfig.parse(BASE_UNCASED, "config.json");
        assertEquals(DistilBertConfig.defaults().toBuilder().architectures(List.of("DistilBertForMaskedLM"))
                .extra(c.extra()).build(), c);
        assertEquals(Map.of("tie_weights_", true, "transformers_version", "4.10.0.dev0"), c.extra());
        assertEquals(BASE_UNCASED, c.toJson());
    }

    @Test
    void sst2RoundTripsWithLabelsAndUnknownKeys() {
        DistilBertConfig c = DistilBertConfig.parse(SST2, "config.json");
        assertEquals(Map.of(0, "NEGATIVE", 1, "POSITIVE"), c.id2label());
        assertEquals(Map.of("NEGATIVE", 0, "POSITIVE", 1), c.label2id());
        assertEquals(2, c.numLabels());
        assertEquals("sst-2", c.extra().get("finetuning_task"));
        assertEquals(true, c.extra().get("output_past"));
        assertEquals(SST2, c.toJson());
        assertEquals(ProblemType.SINGLE_LABEL_CLASSIFICATION, c.resolveProblemType(true));
        assertEquals(ProblemType.MULTI_LABEL_CLASSIFICATION, c.resolveProblemType(false));
    }

    @Test
    void writeAndReadBack(@TempDir Path dir) throws IOException {
        DistilBertConfig c = DistilBertConfig.builder().dim(32).nHeads(4).hiddenDim(64).nLayers(2).vocabSize(100)
                .activation(Activation.GELU_NEW).sinusoidalPosEmbds(true).labels(List.of("O", "B-PER", "I-PER"))
                .problemType(ProblemType.MULTI_LABEL_CLASSIFICATION).outputAttentions(true).outputHiddenStates(true)
                .tieWordEmbeddings(false).initializerRange(1e-5).extra(Map.of("layer_norm_eps", 1e-12, "nested", Map.of("a", List.of(1, 2.5))))
                .build().validate();
        Path p = dir.resolve("config.json");
        c.write(p);
        String text = Files.readString(p);
        assertTrue(text.contains("\"initializer_range\": 1e-05,"), text);
        assertTrue(text.contains("\"layer_norm_eps\": 1e-12,"), text);
        assertTrue(text.contains("\"problem_type\": \"multi_label_classification\""), text);
        assertTrue(text.contains("\"id2label\": {\n    \"0\": \"O\",\n    \"1\": \"B-PER\",\n    \"2\": \"I-PER\"\n  },"), text);
        DistilBertConfig back = DistilBertConfig.read(p);
        assertEquals(c, back);
        assertEquals(3, back.numLabels());
        assertEquals(text, back.toJson());
    }

    @Test
    void id2labelIsSortedNumericallyAsPythonDoes() {
        var labels = new java.util.ArrayList<String>();
        for (int i = 0; i < 12; i++) labels.add("L" + i);
        String json = DistilBertConfig.builder().labels(labels).build().toJson();
        assertTrue(json.indexOf("\"9\": \"L9\"") < json.indexOf("\"10\": \"L10\""), json);
        // label2id keys are strings: sorted as strings
        assertTrue(json.indexOf("\"L10\": 10") < json.indexOf("\"L2\": 2"), json);
    }

    @Test
    void numLabelsWithoutId2LabelMakesDefaultLabels() {
        DistilBertConfig c = DistilBertConfig.parse("{\"num_labels\": 5}", "config.json");
        assertEquals(5, c.numLabels());
        assertEquals("LABEL_4", c.id2label().get(4));
        assertEquals(4, c.label2id().get("LABEL_4"));
        DistilBertConfig one = DistilBertConfig.parse("{\"num_labels\": 1}", "config.json");
        assertEquals(ProblemType.REGRESSION, one.resolveProblemType(true));
    }

    @Test
    void attributeMapAliasesAreRead() {
        DistilBertConfig c = DistilBertConfig.parse("{\"hidden_size\": 64, \"num_attention_heads\": 4, \"num_hidden_layers\": 3}", "c.json");
        assertEquals(64, c.dim());
        assertEquals(4, c.nHeads());
        assertEquals(3, c.nLayers());
        assertTrue(c.extra().isEmpty());
    }

    @Test
    void activationAliases() {
        assertEquals(Activation.SILU, DistilBertConfig.parse("{\"activation\": \"swish\"}", "c").activation());
        assertEquals(Activation.GELU_NEW, DistilBertConfig.parse("{\"activation\": \"gelu_pytorch_tanh\"}", "c").activation());
        assertEquals(Activation.RELU, DistilBertConfig.parse("{\"activation\": \"relu\"}", "c").activation());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "{\"activation\": \"foo\"}|config.json: activation 'foo' is not one of gelu, relu, silu, gelu_new",
        "{\"dim\": 770}|config.json: dim 770 is not a multiple of n_heads 12",
        "{\"dim\": 0}|config.json: dim must be positive, got 0",
        "{\"n_layers\": -1}|config.json: n_layers must be positive, got -1",
        "{\"vocab_size\": 0}|config.json: vocab_size must be positive, got 0",
        "{\"hidden_dim\": 0}|config.json: hidden_dim must be positive, got 0",
        "{\"max_position_embeddings\": 0}|config.json: max_position_embeddings must be positive, got 0",
        "{\"n_heads\": 0}|config.json: n_heads must be positive, got 0",
        "{\"dropout\": 1.0}|config.json: dropout 1.0 is not a probability in [0, 1)",
        "{\"attention_dropout\": -0.1}|config.json: attention_dropout -0.1 is not a probability in [0, 1)",
        "{\"qa_dropout\": 2}|config.json: qa_dropout 2.0 is not a probability in [0, 1)",
        "{\"seq_classif_dropout\": 1.5}|config.json: seq_classif_dropout 1.5 is not a probability in [0, 1)",
        "{\"initializer_range\": -1}|config.json: initializer_range -1.0 must be a finite number >= 0",
        "{\"pad_token_id\": 30522}|config.json: pad_token_id 30522 is outside the vocabulary [0, 30522)",
        "{\"problem_type\": \"ranking\"}|config.json: problem_type 'ranking' is not one of regression, single_label_classification, multi_label_classification (or null)",
        "{\"dim\": \"768\"}|config.json: dim must be an integer, got \"768\"",
        "{\"dim\": 768.0}|config.json: dim must be an integer, got 768.0",
        "{\"dropout\": \"high\"}|config.json: dropout must be a number, got \"high\"",
        "{\"sinusoidal_pos_embds\": 1}|config.json: sinusoidal_pos_embds must be true or false, got 1",
        "{\"model_type\": \"bert\"}|config.json: model_type 'bert' is not 'distilbert'",
        "{\"architectures\": \"DistilBertModel\"}|config.json: architectures must be a list of strings, got \"DistilBertModel\"",
        "{\"id2label\": {\"0\": \"A\", \"2\": \"B\"}}|config.json: id2label must have the keys 0..1 (one per output of the classifier), but key 1 is missing (keys: [0, 2])",
        "{\"id2label\": {\"zero\": \"A\"}}|config.json: id2label key 'zero' is not an integer id",
        "{\"id2label\": {\"0\": 1}}|config.json: id2label[0] must be a string, got 1",
        "{\"id2label\": {}}|config.json: id2label is empty; a model needs at least one label",
        "{\"id2label\": {\"0\": \"NEG\", \"1\": \"POS\"}, \"label2id\": {\"NEG\": 1, \"POS\": 0}}|config.json: label2id maps 'NEG' to 1 but id2label maps 1 to 'POS'",
        "{\"id2label\": {\"0\": \"NEG\", \"1\": \"POS\"}, \"label2id\": {\"NEG\": 0, \"POS\": 7}}|config.json: label2id maps 'POS' to 7, which is not an id of id2label (0..1)",
        "{\"label2id\": {\"NEG\": \"0\"}}|config.json: label2id['NEG'] must be an integer id, got \"0\"",
        "{\"num_labels\": 0}|config.json: num_labels must be positive, got 0",
        "[1, 2]|config.json: must hold a JSON object, got ARRAY",
    })
    void invalidConfigsNameFileAndField(String json, String message) {
        var e = assertThrows(CheckpointException.class, () -> DistilBertConfig.parse(json, "config.json"));
        assertEquals(message, e.getMessage());
    }

    @Test
    void notJsonAndMissingFile(@TempDir Path dir) throws IOException {
        var e = assertThrows(CheckpointException.class, () -> DistilBertConfig.parse("{\"dim\": ", "config.json"));
        assertTrue(e.getMessage().startsWith("config.json: not valid JSON: "), e.getMessage());
        var missing = assertThrows(CheckpointException.class, () -> DistilBertConfig.read(dir.resolve("config.json")));
        assertTrue(missing.getMessage().endsWith("config.json: no such file (a model directory needs config.json)"), missing.getMessage());
        Path p = dir.resolve("config.json");
        Files.writeString(p, "{\"activation\": \"foo\"}");
        assertEquals("config.json: activation 'foo' is not one of gelu, relu, silu, gelu_new",
                assertThrows(CheckpointException.class, () -> DistilBertConfig.read(p)).getMessage());
    }

    @Test
    void validateOnHandBuiltRecords() {
        var e = assertThrows(CheckpointException.class, () -> DistilBertConfig.builder().dim(100).nHeads(3).build().validate());
        assertEquals("config.json: dim 100 is not a multiple of n_heads 3", e.getMessage());
        var dup = DistilBertConfig.builder().labelMaps(Map.of(0, "A", 1, "B"), Map.of("A", 1)).build();
        assertEquals("my.json: label2id maps 'A' to 1 but id2label maps 1 to 'B'",
                assertThrows(CheckpointException.class, () -> dup.validate("my.json")).getMessage());
        assertThrows(IllegalArgumentException.class, () -> DistilBertConfig.builder().extra(Map.of("dim", 3)).build());
    }

    @Test
    void pythonFloatRepr() {
        assertEquals("0.1", PyJson.floatRepr(0.1));
        assertEquals("0.02", PyJson.floatRepr(0.02));
        assertEquals("1e-12", PyJson.floatRepr(1e-12));
        assertEquals("1e-05", PyJson.floatRepr(1e-5));
        assertEquals("0.0001", PyJson.floatRepr(1e-4));
        assertEquals("2.0", PyJson.floatRepr(2.0));
        assertEquals("-0.0", PyJson.floatRepr(-0.0));
        assertEquals("1e+16", PyJson.floatRepr(1e16));
        assertEquals("1000000000000000.0", PyJson.floatRepr(1e15));
        assertEquals("1.5e-07", PyJson.floatRepr(1.5e-7));
        assertEquals("123.456", PyJson.floatRepr(123.456));
        assertEquals("NaN", PyJson.floatRepr(Double.NaN));
        assertEquals("Infinity", PyJson.floatRepr(Double.POSITIVE_INFINITY));
        assertEquals("\"caf\\u00e9 \\ud83d\\ude00\"", PyJson.dumps("café 😀"));
    }
}
