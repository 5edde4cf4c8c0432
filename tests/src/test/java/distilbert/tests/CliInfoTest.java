package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.cuda.GpuProbe;
import distilbert.cuda.GpuStatus;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.Head;
import distilbert.weights.ParameterSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code distilbert info} on the converted all-MiniLM-L6-v2, and {@code info --device} on this machine. */
class CliInfoTest {
    static final ObjectMapper JSON = new ObjectMapper();

    /**
     * all-MiniLM-L6-v2 as DistilBERT, counted by hand: V 30522, P 512, C 384, F 1536, 6 layers.
     * BERT's 22,713,216 less its token-type table (2·384) and pooler (384·384 + 384), which the
     * conversion drops.
     */
    static final long MINILM_PARAMETERS;

    static {
        long V = 30522, P = 512, C = 384, F = 1536, layers = 6;
        long embeddings = V * C + P * C + 2 * C;                                   // word, position, LayerNorm
        long layer = 4 * (C * C + C) + 2 * C + (F * C + F) + (C * F + C) + 2 * C;  // q, k, v, out_lin, sa_ln, lin1, lin2, out_ln
        MINILM_PARAMETERS = embeddings + layers * layer;
    }

    @TempDir
    Path tmp;

    @Test
    void aSentenceTransformersDirectoryShowsItsModules() throws Exception {
        Path st = SentenceTransformersGolden.cases().stream().filter(c -> c.name().equals("st_legacy_lowercase"))
                .findFirst().orElseThrow().dir();
        ConvertedMiniLm.Run text = ConvertedMiniLm.cli("", "info", "--model", st.toString());
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().contains("Model " + st.resolve("0_Transformer")), text.out());
        for (String line : List.of("  transformer              0_Transformer", "  max_seq_length           12",
                "  do_lower_case            true", "  pooling                  mean (32 values)",
                "  dense 0                  32 -> 8, torch.nn.modules.activation.Sigmoid", "  normalize                false",
                "  dimension                8", "  similarity               cosine")) {
            assertTrue(text.out().contains(line + "\n"), line + " in\n" + text.out());
        }
        ConvertedMiniLm.Run json = ConvertedMiniLm.cli("", "info", "--model", st.toString(), "--json");
        assertEquals(0, json.code(), json.err());
        JsonNode j = JSON.readTree(json.out()).get("sentence_transformers");
        assertEquals(8, j.get("dimension").asInt());
        assertEquals("mean", j.get("pooling_mode").get(0).asText());
        assertEquals(32, j.get("dense").get(0).get("in_features").asInt());
        assertEquals("torch.nn.modules.activation.Sigmoid", j.get("dense").get(0).get("activation_function").asText());
        assertTrue(j.get("do_lower_case").asBoolean());
    }

    @Test
    void truncateDimAndACrossEncodersActivation() throws Exception {
        Path st = SentenceTransformersGolden.cases().stream().filter(c -> c.name().equals("st_truncate_dim"))
                .findFirst().orElseThrow().dir();
        ConvertedMiniLm.Run text = ConvertedMiniLm.cli("", "info", "--model", st.toString());
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().contains("  truncate_dim             10\n  dimension                10\n"), text.out());
        JsonNode j = JSON.readTree(ConvertedMiniLm.cli("", "info", "--model", st.toString(), "--json").out());
        assertEquals(10, j.get("sentence_transformers").get("truncate_dim").asInt());

        Path ce = CrossEncoderGolden.cases().stream().filter(c -> c.name().equals("ce_st6_sigmoid")).findFirst().orElseThrow().dir();
        ConvertedMiniLm.Run ceText = ConvertedMiniLm.cli("", "info", "--model", ce.toString());
        assertEquals(0, ceText.code(), ceText.err());
        assertTrue(ceText.out().contains("DistilBertForSequenceClassification"), ceText.out());
        for (String line : List.of("Cross-encoder (config_sentence_transformers.json, as rerank runs it)",
                "  activation               torch.nn.modules.activation.Sigmoid (" + ce.resolve("config_sentence_transformers.json")
                        + ": activation_fn)", "  prompt query             \"query: \"")) {
            assertTrue(ceText.out().contains(line + "\n"), line + " in\n" + ceText.out());
        }
        JsonNode cj = JSON.readTree(ConvertedMiniLm.cli("", "info", "--model", ce.toString(), "--json").out()).get("cross_encoder");
        assertEquals("torch.nn.modules.activation.Sigmoid", cj.get("activation_fn").asText());
        assertEquals("query: ", cj.get("prompts").get("query").asText());
    }

    @Test
    void parameterCountIsExactAndTheJsonHasEveryField() throws IOException {
        assertEquals(22_564_608L, MINILM_PARAMETERS);
        Path model = ConvertedMiniLm.directory();
        ConvertedMiniLm.Run r = ConvertedMiniLm.cli("", "info", "--model", model.toString(), "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = JSON.readTree(r.out());

        long layoutSum = 0;
        DistilBertConfig config = DistilBertConfig.read(model.resolve("config.json"));
        for (ParameterSpec s : DistilBertParameters.layout(config, Head.BASE)) layoutSum += s.numel();
        JsonNode p = j.get("parameters");
        assertEquals(MINILM_PARAMETERS, p.get("total").asLong());
        assertEquals(layoutSum, p.get("total").asLong());
        assertEquals(30522L * 384 + 512 * 384 + 768, p.get("embeddings").asLong());
        assertEquals(6, p.get("layers").size());
        for (JsonNode layer : p.get("layers")) assertEquals(1_774_464L, layer.asLong());
        assertEquals(0, p.get("head").asLong());

        assertEquals("DistilBertModel", j.get("model_class").asText());
        JsonNode cfg = j.get("config");
        assertEquals(384, cfg.get("dim").asInt());
        assertEquals(6, cfg.get("n_layers").asInt());
        assertEquals(12, cfg.get("n_heads").asInt());
        assertEquals(1536, cfg.get("hidden_dim").asInt());
        assertEquals(30522, cfg.get("vocab_size").asInt());
        assertEquals(22, cfg.size(), "every field of the config: " + cfg);

        JsonNode w = j.get("weights");
        assertEquals("safetensors", w.get("format").asText());
        assertEquals(Files.size(model.resolve("model.safetensors")), w.get("bytes").asLong());
        assertEquals(100, w.get("dtypes").get("F32").get("tensors").asInt());
        assertEquals(MINILM_PARAMETERS, w.get("dtypes").get("F32").get("values").asLong());

        JsonNode t = j.get("tokenizer");
        assertEquals(30522, t.get("vocab_size").asInt());
        assertTrue(t.get("lowercase").asBoolean());
        assertEquals(512, t.get("model_max_length").asInt());

        JsonNode m = j.get("memory");
        assertEquals(4 * MINILM_PARAMETERS, m.get("parameters").get("fp32").asLong());
        assertEquals(2 * MINILM_PARAMETERS, m.get("parameters").get("bf16").asLong());
        JsonNode a = m.get("activations");
        assertEquals("1x512 32x128", a.get(0).get("batch").asInt() + "x" + a.get(0).get("length").asInt() + " "
                + a.get(1).get("batch").asInt() + "x" + a.get(1).get("length").asInt());
        long T = 512, C = 384, F = 1536;
        assertEquals(4 * ((6 * C + F) * T + 2 * T * C), a.get(0).get("fp32").asLong());
        assertEquals(List.of(), JSON.convertValue(j.get("warnings"), List.class));
        assertEquals(List.of(), JSON.convertValue(j.get("errors"), List.class));

        ConvertedMiniLm.Run text = ConvertedMiniLm.cli("", "info", "--model", model.toString());
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().contains("Parameters 22,564,608 (22.6 M), all trainable"), text.out());
        assertTrue(text.out().contains("F32: 100 tensors"), text.out());
    }

    @Test
    void aCorruptSafetensorsFileIsAnErrorNamingIt() throws IOException {
        Files.copy(ConvertedMiniLm.directory().resolve("config.json"), tmp.resolve("config.json"));
        byte[] bytes = new byte[4096];
        new java.util.Random(1).nextBytes(bytes);
        Files.write(tmp.resolve("model.safetensors"), bytes);
        ConvertedMiniLm.Run r = ConvertedMiniLm.cli("", "info", "--model", tmp.toString());
        assertEquals(1, r.code());
        assertEquals("", r.out());
        assertTrue(r.err().startsWith("distilbert info: " + tmp + ": model.safetensors: "), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
    }

    @Test
    void deviceExitsZeroAndSaysWhatItFound() throws IOException {
        ConvertedMiniLm.Run r = ConvertedMiniLm.cli("", "info", "--device");
        assertEquals(0, r.code(), r.err());
        GpuStatus status = GpuProbe.status();
        if (status instanceof GpuStatus.Unusable u) {
            assertTrue(r.out().startsWith("GPU: no usable GPU (" + u.reason().name().toLowerCase(Locale.ROOT) + ")\n"), r.out());
            assertTrue(r.out().contains("  reason                   " + u.detail() + "\n"), r.out());
        } else {
            assertTrue(r.out().startsWith("GPU: usable\n"), r.out());
            assertTrue(r.out().contains("compute capability"), r.out());
        }
        JsonNode j = JSON.readTree(ConvertedMiniLm.cli("", "info", "--device", "--json").out());
        assertEquals(status.usable(), j.get("usable").asBoolean());
        System.out.println("info --device: " + r.out().lines().findFirst().orElse(""));
    }
}
