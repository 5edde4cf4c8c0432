package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.cuda.GpuProbe;
import distilbert.cuda.GpuStatus;
import distilbert.weights.DType;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import distilbert.weights.ParameterSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code distilbert info} on small model directories of every kind, and {@code info --device}. */
class InfoCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final long V = TinyModels.V, P = TinyModels.P, C = TinyModels.C, F = TinyModels.F, L = TinyModels.LAYERS;

    @TempDir
    Path dir;

    static JsonNode infoJson(Path model, String... more) throws IOException {
        List<String> args = new ArrayList<>(List.of("info", "--model", model.toString(), "--json"));
        args.addAll(List.of(more));
        Cli.Result r = Cli.run("", args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.err());
        return JSON.readTree(r.out());
    }

    /** Encoder parameters counted by hand from DistilBERT's modules, not from the layout. */
    static long encoderParameters() {
        long embeddings = V * C + P * C + 2 * C;
        long layer = 4 * (C * C + C) + 2 * C + (F * C + F) + (C * F + C) + 2 * C;
        return embeddings + L * layer;
    }

    @Test
    void baseModelCountsConfigWeightsAndMemory() throws IOException {
        Path model = TinyModels.withTokenizer(dir.resolve("base"));
        JsonNode j = infoJson(model);
        assertEquals(model.toString(), j.get("model").asText());
        assertEquals("DistilBertModel", j.get("model_class").asText());

        JsonNode cfg = j.get("config");
        for (String key : List.of("model_type", "vocab_size", "max_position_embeddings", "sinusoidal_pos_embds", "n_layers", "n_heads",
                "dim", "hidden_dim", "dropout", "attention_dropout", "activation", "initializer_range", "qa_dropout",
                "seq_classif_dropout", "pad_token_id", "architectures", "id2label", "label2id", "problem_type", "output_attentions",
                "output_hidden_states", "tie_word_embeddings")) {
            assertTrue(cfg.has(key), "config." + key);
        }
        assertEquals(C, cfg.get("dim").asLong());
        assertEquals("gelu", cfg.get("activation").asText());

        JsonNode p = j.get("parameters");
        long total = encoderParameters();
        assertEquals(total, p.get("total").asLong());
        assertEquals(total, p.get("trainable").asLong());
        assertEquals(V * C + P * C + 2 * C, p.get("embeddings").asLong());
        assertEquals(L, p.get("layers").size());
        assertEquals(total - p.get("embeddings").asLong(), p.get("layers_total").asLong());
        assertEquals(0, p.get("head").asLong());
        assertEquals(List.of("attention", "sa_layer_norm", "ffn", "output_layer_norm"),
                p.get("layer_parts").findValuesAsText("name"));

        JsonNode w = j.get("weights");
        assertEquals("safetensors", w.get("format").asText());
        assertEquals("model.safetensors", w.get("files").get(0).get("name").asText());
        assertEquals(Files.size(model.resolve("model.safetensors")), w.get("files").get(0).get("bytes").asLong());
        assertEquals(4 + 16 * L, w.get("tensors").asLong());
        assertEquals(4 + 16 * L, w.get("dtypes").get("F32").get("tensors").asLong());
        assertEquals(total, w.get("dtypes").get("F32").get("values").asLong());
        assertEquals("pt", w.get("metadata").get("format").asText());

        JsonNode t = j.get("tokenizer");
        assertEquals("tokenizer.json", t.get("file").asText());
        assertEquals(30522, t.get("vocab_size").asInt());
        assertTrue(t.get("lowercase").asBoolean());
        assertEquals(512, t.get("model_max_length").asInt());

        JsonNode m = j.get("memory");
        assertEquals(4 * total, m.get("parameters").get("fp32").asLong());
        assertEquals(2 * total, m.get("parameters").get("bf16").asLong());
        assertEquals(16 * total, m.get("training_fp32").asLong());
        assertEquals(18 * total, m.get("training_bf16").asLong());
        JsonNode a = m.get("activations");
        assertEquals(2, a.size(), "default shapes: 1×P and 32×min(128, P)");
        assertEquals(1, a.get(0).get("batch").asInt());
        assertEquals(P, a.get(0).get("length").asInt());
        assertEquals(32, a.get(1).get("batch").asInt());
        assertEquals(P, a.get(1).get("length").asInt());
        long T = 32 * P;
        assertEquals(4 * ((6 * C + F) * T + 2 * T * C), a.get(1).get("fp32").asLong());
        assertEquals(2 * ((6 * C + F) * T + 2 * T * C), a.get(1).get("bf16").asLong());
        assertEquals(List.of("the tokenizer's model_max_length 512 is more than max_position_embeddings 64 (distilbert embed truncates to the smaller)"),
                JSON.convertValue(j.get("warnings"), List.class));
        assertEquals(0, j.get("errors").size());
    }

    @Test
    void textReportHasEverySection() throws IOException {
        Path model = TinyModels.withTokenizer(dir.resolve("base"));
        Cli.Result r = Cli.run("", "info", "--model", model.toString(), "--batch-shape", "2x8", "--batch-shape", "1×100");
        assertEquals(0, r.code(), r.err());
        String out = r.out();
        for (String s : List.of("Model " + model, "Commands that run it", "Config (config.json)", "Parameters " + InfoCommand.count(encoderParameters()),
                "Weights (safetensors)", "Tokenizer", "Memory", "Warnings", "F32: 36 tensors", "2×8", "1×100",
                "L > max_position_embeddings 64: the model cannot run it", "bytes = (4 fp32 | 2 bf16) × ((6·C + F)·T + 2·T·C)")) {
            assertTrue(out.contains(s), s + " in\n" + out);
        }
        assertFalse(out.contains("Errors"), out);
    }

    @Test
    void theCommandsThatRunAModelAndZeroShotsLabels() throws IOException {
        Path base = TinyModels.withTokenizer(dir.resolve("cmd-base"));
        assertEquals(List.of("embed", "train"), fieldNames(infoJson(base).get("commands")));
        assertTrue(infoJson(base).path("zero_shot").isMissingNode());
        Path nli = TinyModels.classifier(dir.resolve("cmd-nli"), ZeroShotCommandTest.nli(TinyModels.config(), "ENTAILMENT",
                "NEUTRAL", "CONTRADICTION"));
        JsonNode j = infoJson(nli);
        assertEquals(List.of("embed", "score", "zero-shot", "train"), fieldNames(j.get("commands")));
        assertEquals("labels chosen at run time, if it is an NLI model: entailment ENTAILMENT (id 0), contradiction CONTRADICTION "
                + "(id 2)", j.get("commands").get("zero-shot").asText());
        JsonNode z = j.get("zero_shot");
        assertEquals(0, z.get("entailment_id").asInt());
        assertTrue(z.get("entailment_named").asBoolean());
        assertEquals("CONTRADICTION", z.get("contradiction_label").asText());
        Path unnamed = TinyModels.classifier(dir.resolve("cmd-unnamed"), TinyModels.config().toBuilder().numLabels(3).build());
        Cli.Result text = Cli.run("", "info", "--model", unnamed.toString());
        assertTrue(text.out().contains("Commands that run it\n  embed ") && text.out().contains("  zero-shot                no "
                + "label2id name starts with \"entail\": zero-shot would take the last label (LABEL_2)"), text.out());
        assertFalse(infoJson(unnamed).get("zero_shot").get("entailment_named").asBoolean());
        Path one = TinyModels.classifier(dir.resolve("cmd-one"), TinyModels.config().toBuilder().numLabels(1).build());
        assertEquals(List.of("embed", "score", "train"), fieldNames(infoJson(one).get("commands")), "one label: no zero-shot");
        Path mlm = TinyModels.maskedLm(dir.resolve("cmd-mlm"), TinyModels.config());
        assertEquals(List.of("embed", "fill-mask", "train"), fieldNames(infoJson(mlm).get("commands")));
    }

    private static List<String> fieldNames(JsonNode o) {
        List<String> names = new java.util.ArrayList<>();
        o.fieldNames().forEachRemaining(names::add);
        return names;
    }

    @Test
    void headsAreCountedFromTheLayoutTiedWeightsOnce() throws IOException {
        DistilBertConfig three = TinyModels.config().toBuilder().numLabels(3).build();
        JsonNode seq = infoJson(TinyModels.save(dir.resolve("seq"), three, Head.SEQUENCE_CLASSIFICATION));
        assertEquals("DistilBertForSequenceClassification", seq.get("model_class").asText());
        assertEquals((C * C + C) + (3 * C + 3), seq.get("parameters").get("head").asLong());
        assertEquals(List.of("pre_classifier", "classifier"), seq.get("parameters").get("head_parts").findValuesAsText("name"));
        assertEquals(encoderParameters() + (C * C + C) + (3 * C + 3), seq.get("parameters").get("total").asLong());
        assertTrue(seq.get("tokenizer").isNull(), "no tokenizer in the directory");
        long T = 32 * P;
        assertEquals(4 * ((6 * C + F) * T + 32 * (2 * C + 3)), seq.get("memory").get("activations").get(1).get("fp32").asLong());

        JsonNode mlm = infoJson(TinyModels.save(dir.resolve("mlm"), TinyModels.config(), Head.MASKED_LM));
        long mlmHead = (C * C + C) + 2 * C + V; // vocab_transform, vocab_layer_norm, vocab_projector.bias; the weight is tied
        assertEquals(mlmHead, mlm.get("parameters").get("head").asLong());
        assertEquals(encoderParameters() + mlmHead, mlm.get("parameters").get("total").asLong());
        assertEquals(List.of("vocab_projector.weight → distilbert.embeddings.word_embeddings.weight"),
                JSON.convertValue(mlm.get("parameters").get("tied"), List.class));
        long sum = 0;
        for (ParameterSpec s : DistilBertParameters.layout(TinyModels.config(), Head.MASKED_LM)) sum += s.isTied() ? 0 : s.numel();
        assertEquals(sum, mlm.get("parameters").get("total").asLong(), "the sum over the layout");
        assertEquals(DistilBertParameters.table(TinyModels.config(), Head.MASKED_LM).numel(), sum, "the slab's size");
    }

    @Test
    void shardedAndBf16WeightsAreDescribedFromTheirHeaders() throws IOException {
        Path sharded = TinyModels.save(dir.resolve("sharded"), TinyModels.config(), Head.BASE,
                new ModelDirectory.SaveOptions(100_000, DType.BF16));
        JsonNode w = infoJson(sharded).get("weights");
        assertEquals("sharded safetensors", w.get("format").asText());
        assertEquals("model.safetensors.index.json", w.get("files").get(0).get("name").asText());
        assertTrue(w.get("files").size() >= 3, w.toString());
        long bytes = 0;
        try (var files = Files.list(sharded)) {
            for (Path f : files.filter(f -> f.getFileName().toString().startsWith("model")).toList()) bytes += Files.size(f);
        }
        assertEquals(bytes, w.get("bytes").asLong());
        assertEquals(4 + 16 * L, w.get("dtypes").get("BF16").get("tensors").asLong());
        assertEquals(2 * encoderParameters(), w.get("dtypes").get("BF16").get("bytes").asLong());
        assertFalse(w.get("dtypes").has("F32"));
    }

    /** A pytorch_model.bin written by torch.save (the weights module's fixture): no header, so its tensors are read. */
    @Test
    void aPytorchCheckpointWithTiedWeights() throws IOException {
        Path bin = Path.of("..", "weights", "src", "test", "resources", "distilbert", "weights", "bin", "tiny-distilbert-mlm");
        JsonNode j = infoJson(bin);
        assertEquals("DistilBertForMaskedLM", j.get("model_class").asText());
        assertEquals("pytorch_model.bin", j.get("weights").get("format").asText());
        assertEquals(Files.size(bin.resolve("pytorch_model.bin")), j.get("weights").get("bytes").asLong());
        long v = 20, p = 8, c = 8, f = 16;
        long encoder = v * c + p * c + 2 * c + 2 * (4 * (c * c + c) + 2 * c + (f * c + f) + (c * f + c) + 2 * c);
        long head = (c * c + c) + 2 * c + v;
        assertEquals(encoder + head, j.get("parameters").get("total").asLong());
        assertEquals(head, j.get("parameters").get("head").asLong());
        // torch.save keeps the tied vocab_projector.weight as a view of the word embeddings: one tensor more than the slab
        assertEquals(42, j.get("weights").get("tensors").asInt());
        assertEquals(encoder + head + v * c, j.get("weights").get("dtypes").get("F32").get("values").asLong());
        assertEquals(0, j.get("warnings").size(), j.get("warnings").toString());
    }

    @Test
    void whatLoadingWouldSayIsReported() throws IOException {
        // a base checkpoint under a config that names a head: the head is newly initialized, as in HF
        Path base = TinyModels.save(dir.resolve("headless"), TinyModels.config(), Head.BASE);
        TinyModels.config().toBuilder().architectures(List.of("DistilBertForTokenClassification")).build()
                .write(base.resolve("config.json"));
        JsonNode j = infoJson(base);
        assertEquals("DistilBertForTokenClassification", j.get("model_class").asText());
        assertEquals("Some weights of DistilBertForTokenClassification were not initialized from model.safetensors and are newly "
                + "initialized: [classifier.weight, classifier.bias]", j.get("warnings").get(0).asText());

        // fewer layers in the config than in the file: the extra ones are not used
        Path fewer = TinyModels.save(dir.resolve("fewer"), TinyModels.config(), Head.BASE);
        TinyModels.config().toBuilder().nLayers(1).build().write(fewer.resolve("config.json"));
        j = infoJson(fewer);
        assertTrue(j.get("warnings").get(0).asText().startsWith("Some weights of model.safetensors were not used when initializing "
                + "DistilBertModel: [transformer.layer.1.attention.k_lin.bias, "), j.toString()); // in file order
        assertTrue(j.get("warnings").get(0).asText().endsWith(", … and 4 more]"), j.toString());
    }

    @Test
    void aModelThatWouldNotLoadIsReportedThenExits1() throws IOException {
        Path more = TinyModels.save(dir.resolve("more"), TinyModels.config(), Head.BASE);
        TinyModels.config().toBuilder().nLayers(3).build().write(more.resolve("config.json"));
        Cli.Result r = Cli.run("", "info", "--model", more.toString());
        assertEquals(1, r.code());
        assertTrue(r.out().contains("Errors (loading would fail)\n  model.safetensors: 16 tensors of DistilBertModel missing: "
                + "[transformer.layer.2.attention.q_lin.weight, "), r.out());
        assertTrue(r.err().startsWith("distilbert info: " + more + ": the model would not load: model.safetensors: 16 tensors of "
                + "DistilBertModel missing: [transformer.layer.2.attention.q_lin.weight, "), r.err());
        assertEquals(1, r.err().lines().count());

        Path wide = TinyModels.save(dir.resolve("wide"), TinyModels.config(), Head.BASE);
        TinyModels.config().toBuilder().hiddenDim(48).build().write(wide.resolve("config.json"));
        r = Cli.run("", "info", "--model", wide.toString(), "--json");
        assertEquals(1, r.code());
        JsonNode j = JSON.readTree(r.out());
        assertEquals(3 * L, j.get("errors").size(), "lin1.weight, lin1.bias and lin2.weight per layer: " + j.get("errors"));
        assertEquals("model.safetensors: transformer.layer.0.ffn.lin1.weight has shape [32, 16] but DistilBertModel with this "
                + "config.json needs [48, 16]", j.get("errors").get(0).asText());
        assertTrue(r.err().endsWith("(and " + (3 * L - 1) + " more problems, listed above)\n"), r.err());
    }

    @Test
    void unreadableDirectoriesAreOneLineErrors() throws IOException {
        Path corrupt = Files.createDirectories(dir.resolve("corrupt"));
        TinyModels.config().write(corrupt.resolve("config.json"));
        Files.writeString(corrupt.resolve("model.safetensors"), "\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ffgarbage");
        Cli.Result r = Cli.run("", "info", "--model", corrupt.toString());
        assertEquals(1, r.code());
        assertEquals("", r.out());
        assertTrue(r.err().startsWith("distilbert info: " + corrupt + ": model.safetensors: header length "), r.err());
        assertEquals(1, r.err().lines().count());

        Path missing = dir.resolve("missing");
        r = Cli.run("", "info", "--model", missing.toString());
        assertEquals(1, r.code());
        assertEquals("distilbert info: " + missing + ": no such directory\n", r.err());

        Path noWeights = Files.createDirectories(dir.resolve("no-weights"));
        TinyModels.config().write(noWeights.resolve("config.json"));
        r = Cli.run("", "info", "--model", noWeights.toString());
        assertEquals(1, r.code());
        assertEquals("distilbert info: " + noWeights + ": no weights: expected model.safetensors, model.safetensors.index.json or "
                + "pytorch_model.bin\n", r.err());

        Path badTokenizer = TinyModels.save(dir.resolve("bad-tokenizer"), TinyModels.config(), Head.BASE);
        Files.writeString(badTokenizer.resolve("tokenizer.json"), "{not json");
        JsonNode j = infoJson(badTokenizer);
        assertTrue(j.get("tokenizer").isNull());
        assertTrue(j.get("warnings").get(0).asText().startsWith("the tokenizer cannot be read: "), j.toString());
    }

    @Test
    void deviceSaysWhatTheProbeFoundAndNeverFails() throws IOException {
        Cli.Result r = Cli.run("", "info", "--device");
        assertEquals(0, r.code(), r.err());
        GpuStatus status = GpuProbe.status();
        if (status instanceof GpuStatus.Unusable u) {
            assertTrue(r.out().startsWith("GPU: no usable GPU (" + u.reason().name().toLowerCase(java.util.Locale.ROOT) + ")\n"), r.out());
            assertTrue(r.out().contains(u.detail()), r.out());
        } else {
            assertTrue(r.out().startsWith("GPU: usable\n"), r.out());
            assertTrue(r.out().contains("[default]"), r.out());
        }
        JsonNode j = JSON.readTree(Cli.run("", "info", "--device", "--json").out());
        assertEquals(status.usable(), j.get("usable").asBoolean());
        assertTrue(status.usable() ? j.get("devices").size() > 0 : !j.get("detail").asText().isBlank(), j.toString());
    }

    @Test
    void deviceTextAndJsonForAUsableGpu() throws IOException {
        var h100 = new distilbert.cuda.DeviceInfo(0, "NVIDIA H100 80GB HBM3", 9, 0, 85_032_206_336L, 132);
        var old = new distilbert.cuda.DeviceInfo(1, "Tesla T4", 7, 5, 15_642_329_088L, 40);
        GpuStatus usable = new GpuStatus.Usable(13000, List.of(h100, old), h100, "13.0.2");
        String text = InfoCommand.deviceText(usable);
        assertEquals("""
                GPU: usable
                  driver                   supports CUDA 13.0
                  cuBLAS                   13.0.2
                  device 0                 NVIDIA H100 80GB HBM3, compute capability 9.0 (sm_90), 79.2 GiB (85,032,206,336 bytes), 132 SMs  [default]
                  device 1                 Tesla T4, compute capability 7.5 (sm_75), 14.6 GiB (15,642,329,088 bytes), 40 SMs, not supported (needs sm_80+)
                """, text);
        JsonNode j = InfoCommand.deviceJson(usable);
        assertEquals("13.0", j.get("driver_cuda").asText());
        assertEquals("13.0.2", j.get("cublas_version").asText());
        assertEquals("9.0", j.get("devices").get(0).get("compute_capability").asText());
        assertFalse(j.get("devices").get(1).get("supported").asBoolean());
        assertEquals(0, j.get("default_device").asInt());
    }

    private static void assertUsageError(String message, String... args) {
        Cli.assertUsageError("info", message, args);
    }

    @Test
    void usageErrors() {
        assertUsageError("give --model DIR (a model directory) or --device (the GPU)");
        assertUsageError("--model and --device do not go together: run info once for each", "--model", "x", "--device");
        assertUsageError("--batch-shape needs --model", "--device", "--batch-shape", "2x3");
        assertUsageError("Invalid value for option '--batch-shape' (BxL): expected BxL (sequences x tokens, e.g. 32x128), got '32'",
                "--model", "x", "--batch-shape", "32");
        assertUsageError("Invalid value for option '--batch-shape' (BxL): B and L must be at least 1, got '0x5'", "--model", "x", "--batch-shape", "0x5");
    }

    @Test
    void helpStatesTheMemoryFormula() {
        Cli.Result r = Cli.run("", "info", "--help");
        assertEquals(0, r.code());
        String words = r.out().replaceAll("\\s+", " ");
        assertTrue(words.contains("bytes = (4 in fp32 | 2 in bf16) × ((6·C + F)·T + output)"), words);
        assertTrue(words.contains("2·T·C for DistilBertModel"), words);
    }
}
