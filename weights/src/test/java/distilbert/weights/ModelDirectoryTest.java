package distilbert.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class ModelDirectoryTest {
    @TempDir
    Path dir;

    static final DistilBertConfig TINY = DistilBertConfig.builder().vocabSize(20).maxPositionEmbeddings(8).dim(8).nHeads(2)
            .hiddenDim(16).nLayers(2).labels(List.of("NEG", "NEU", "POS")).build().validate();

    static List<String> files(Path d) throws IOException {
        try (var s = Files.list(d)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @ParameterizedTest
    @EnumSource(Head.class)
    void saveAndLoadRoundTrip(Head head) throws IOException {
        Checkpoint c = Checkpoint.initialized(TINY, head, 11);
        ModelDirectory.save(dir, c);
        assertEquals(List.of("config.json", "model.safetensors"), files(dir));
        DistilBertConfig saved = ModelDirectory.readConfig(dir);
        assertEquals(List.of(head.hfClass()), saved.architectures());
        Checkpoint back = ModelDirectory.load(dir);
        assertEquals(head, back.head());
        assertEquals("model.safetensors", back.source());
        assertEquals(List.of(), back.warnings());
        for (ParameterSpec s : DistilBertParameters.layout(TINY, head)) assertArrayEquals(c.get(s.name()), back.get(s.name()), s.name());
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
            assertEquals(Map.of("format", "pt"), f.metadata());
            assertFalse(f.contains("vocab_projector.weight"), "HF drops tied weights on save");
        }
    }

    @Test
    void loadsTheGeneratedPytorchBin() throws IOException {
        Path tiny = PytorchBinTest.resource("tiny-distilbert-mlm");
        Checkpoint c = ModelDirectory.load(tiny);
        assertEquals(Head.MASKED_LM, c.head());
        assertEquals("pytorch_model.bin", c.source());
        assertEquals(List.of(), c.warnings());
        assertEquals(List.of(), c.unexpected());
        assertEquals(List.of(), c.newlyInitialized());
        List<ParameterSpec> layout = c.specs();
        for (int k = 0; k < layout.size(); k++) {
            float[] v = c.get(layout.get(k).name());
            int owner = layout.get(k).isTied() ? 0 : k;
            for (int i = 0; i < v.length; i++) assertEquals(PytorchBinTest.value(owner, i), v[i]);
        }
        assertTrue(c.get("vocab_projector.weight") == c.get("distilbert.embeddings.word_embeddings.weight"), "tied: one array");
        assertTrue(c.get("embeddings.LayerNorm.bias") == c.get("distilbert.embeddings.LayerNorm.bias"), "either prefix form");

        // the same file as safetensors, re-saved, loads to the same values
        ModelDirectory.save(dir, c);
        Checkpoint again = ModelDirectory.load(dir);
        for (ParameterSpec s : layout) assertArrayEquals(c.get(s.name()), again.get(s.name()));
    }

    @Test
    void headMismatchesAreReportedAsHfDoes() throws IOException {
        Path tiny = PytorchBinTest.resource("tiny-distilbert-mlm");
        Checkpoint c = ModelDirectory.load(tiny, Head.SEQUENCE_CLASSIFICATION);
        assertEquals(List.of("pre_classifier.weight", "pre_classifier.bias", "classifier.weight", "classifier.bias"), c.newlyInitialized());
        assertEquals(List.of("vocab_transform.weight", "vocab_transform.bias", "vocab_layer_norm.weight", "vocab_layer_norm.bias",
                "vocab_projector.weight", "vocab_projector.bias"), c.unexpected());
        assertEquals(List.of(
                "Some weights of DistilBertForSequenceClassification were not initialized from pytorch_model.bin and are newly "
                        + "initialized: [pre_classifier.weight, pre_classifier.bias, classifier.weight, classifier.bias]",
                "Some weights of pytorch_model.bin were not used when initializing DistilBertForSequenceClassification: "
                        + "[vocab_transform.weight, vocab_transform.bias, vocab_layer_norm.weight, vocab_layer_norm.bias, "
                        + "vocab_projector.weight, vocab_projector.bias]"), c.warnings());
        float[] cls = c.get("classifier.weight");
        assertEquals(2 * 8, cls.length);
        assertArrayEquals(Initializer.initialize(c.config(), new ParameterSpec("classifier.weight", 2, 8), ModelDirectory.DEFAULT_INIT_SEED), cls);
        assertArrayEquals(new float[2], c.get("classifier.bias"));

        Checkpoint base = ModelDirectory.load(tiny, Head.BASE);
        assertEquals("embeddings.word_embeddings.weight", base.tensors().keySet().iterator().next());
        assertEquals(6, base.unexpected().size());
    }

    @Test
    void baseCheckpointLoadsIntoAHead() throws IOException {
        Checkpoint base = Checkpoint.initialized(TINY, Head.BASE, 3);
        ModelDirectory.save(dir, base);
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
            assertTrue(f.contains("embeddings.word_embeddings.weight"), "DistilBertModel names carry no prefix");
        }
        Checkpoint qa = ModelDirectory.load(dir, Head.QUESTION_ANSWERING);
        assertEquals(List.of("qa_outputs.weight", "qa_outputs.bias"), qa.newlyInitialized());
        assertArrayEquals(base.get("transformer.layer.1.ffn.lin2.weight"), qa.get("distilbert.transformer.layer.1.ffn.lin2.weight"));
    }

    void rewriteConfig(DistilBertConfig c) throws IOException {
        c.write(dir.resolve("config.json"));
    }

    @Test
    void shapesContradictingTheConfigNameTheField() throws IOException {
        ModelDirectory.save(dir, Checkpoint.initialized(TINY, Head.SEQUENCE_CLASSIFICATION, 1));
        rewriteConfig(TINY.toBuilder().hiddenDim(12).architectures(List.of("DistilBertForSequenceClassification")).build());
        assertEquals("model.safetensors: distilbert.transformer.layer.0.ffn.lin1.weight has shape [16, 8] but config.json says "
                + "hidden_dim 12 → expected [12, 8]", assertThrows(CheckpointException.class, () -> ModelDirectory.load(dir)).getMessage());
        rewriteConfig(TINY.toBuilder().numLabels(2).build());
        assertEquals("model.safetensors: classifier.weight has shape [3, 8] but config.json says num_labels 2 (the size of id2label) "
                + "→ expected [2, 8]", assertThrows(CheckpointException.class, () -> ModelDirectory.load(dir, Head.SEQUENCE_CLASSIFICATION)).getMessage());
        rewriteConfig(TINY.toBuilder().vocabSize(30).build());
        assertEquals("model.safetensors: distilbert.embeddings.word_embeddings.weight has shape [20, 8] but config.json says "
                + "vocab_size 30 → expected [30, 8]", assertThrows(CheckpointException.class, () -> ModelDirectory.load(dir, Head.BASE)).getMessage());
        rewriteConfig(TINY.toBuilder().dim(12).nHeads(2).build());
        assertEquals("model.safetensors: distilbert.embeddings.word_embeddings.weight has shape [20, 8] but config.json says "
                + "dim 12 → expected [20, 12]", assertThrows(CheckpointException.class, () -> ModelDirectory.load(dir, Head.BASE)).getMessage());
    }

    @Test
    void missingTensorsAreListed() throws IOException {
        ModelDirectory.save(dir, Checkpoint.initialized(TINY, Head.MASKED_LM, 1));
        rewriteConfig(TINY.toBuilder().nLayers(3).build());
        String msg = assertThrows(CheckpointException.class, () -> ModelDirectory.load(dir, Head.MASKED_LM)).getMessage();
        assertTrue(msg.startsWith("model.safetensors: 16 tensors of DistilBertForMaskedLM missing: "
                + "distilbert.transformer.layer.2.attention.q_lin.weight, distilbert.transformer.layer.2.attention.q_lin.bias, "), msg);
        assertTrue(msg.endsWith(", … and 4 more (the file has 2 layers but config.json says n_layers 3)"), msg);
    }

    @Test
    void foreignCheckpointSaysSo() throws IOException {
        TINY.write(dir.resolve("config.json"));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), List.of(
                NamedTensor.ofFloats("bert.embeddings.word_embeddings.weight", new long[] {1}, new float[] {1})), null);
        String msg = assertThrows(CheckpointException.class, () -> ModelDirectory.load(dir, Head.BASE)).getMessage();
        assertTrue(msg.startsWith("model.safetensors: 36 tensors of DistilBertModel missing: embeddings.word_embeddings.weight, "), msg);
        assertTrue(msg.endsWith("(no tensor of the file has a DistilBERT name; it has bert.embeddings.word_embeddings.weight)"), msg);
    }

    @Test
    void noWeightsNoConfig() throws IOException {
        assertTrue(assertThrows(CheckpointException.class, () -> ModelDirectory.load(dir)).getMessage()
                .endsWith(": no config.json (not a HuggingFace model directory)"));
        TINY.write(dir.resolve("config.json"));
        assertTrue(assertThrows(CheckpointException.class, () -> ModelDirectory.load(dir)).getMessage()
                .endsWith(": no weights: expected model.safetensors, model.safetensors.index.json or pytorch_model.bin"));
    }

    @Test
    void legacyNamesDuplicatesAndIntegerTensors() throws IOException {
        Checkpoint c = Checkpoint.initialized(TINY, Head.BASE, 1);
        List<NamedTensor> ts = new ArrayList<>();
        for (var e : c.tensors().entrySet()) {
            String n = e.getKey().replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta");
            ts.add(NamedTensor.ofFloats(n, c.specs().stream().filter(s -> s.name().equals(e.getKey())).findFirst().orElseThrow().shape(),
                    e.getValue()));
        }
        TINY.write(dir.resolve("config.json"));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), ts, null);
        Checkpoint back = ModelDirectory.load(dir, Head.BASE);
        assertArrayEquals(c.get("embeddings.LayerNorm.weight"), back.get("embeddings.LayerNorm.weight"));
        // in file order: safetensors sorts by name
        assertEquals(List.of("model.safetensors: legacy name 'embeddings.LayerNorm.beta' read as 'embeddings.LayerNorm.bias'",
                "model.safetensors: legacy name 'embeddings.LayerNorm.gamma' read as 'embeddings.LayerNorm.weight'"), back.warnings());

        List<NamedTensor> dup = new ArrayList<>(ts);
        dup.add(ts.get(0).withName("distilbert." + ts.get(0).name()));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), dup, null);
        assertEquals("model.safetensors: both 'distilbert.embeddings.word_embeddings.weight' and 'embeddings.word_embeddings.weight' "
                + "would load into embeddings.word_embeddings.weight",
                assertThrows(CheckpointException.class, () -> ModelDirectory.load(dir, Head.BASE)).getMessage());

        List<NamedTensor> ints = new ArrayList<>(ts);
        ints.set(2, NamedTensor.ofLongs(ts.get(2).name(), new long[] {8}, new long[8]));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), ints, null);
        assertEquals("model.safetensors: embeddings.LayerNorm.gamma is I64, expected a floating-point tensor (F32, F16, BF16 or F64)",
                assertThrows(CheckpointException.class, () -> ModelDirectory.load(dir, Head.BASE)).getMessage());
    }

    @Test
    void untiedCopyThatDiffersIsReported() throws IOException {
        Checkpoint c = Checkpoint.initialized(TINY, Head.MASKED_LM, 1);
        List<NamedTensor> ts = new ArrayList<>();
        for (ParameterSpec s : c.specs()) {
            float[] v = c.get(s.name()).clone();
            if (s.isTied()) v[0] += 1;
            ts.add(NamedTensor.ofFloats(s.name(), s.shape(), v));
        }
        TINY.write(dir.resolve("config.json"));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), ts, null);
        Checkpoint back = ModelDirectory.load(dir, Head.MASKED_LM);
        assertEquals(List.of("model.safetensors: vocab_projector.weight differs from distilbert.embeddings.word_embeddings.weight; "
                + "tie_word_embeddings is true, so the word embeddings are used for both"), back.warnings());
        assertArrayEquals(c.get("distilbert.embeddings.word_embeddings.weight"), back.get("vocab_projector.weight"));
    }

    @Test
    void shardedSaveLoadAndStaleFilesRemoved() throws IOException {
        Checkpoint c = Checkpoint.initialized(TINY, Head.TOKEN_CLASSIFICATION, 4);
        ModelDirectory.save(dir, c, new ModelDirectory.SaveOptions(1000, DType.F32));
        List<String> sharded = files(dir);
        assertTrue(sharded.contains("model.safetensors.index.json"), sharded.toString());
        assertTrue(sharded.size() > 4, sharded.toString());
        assertFalse(sharded.contains("model.safetensors"));
        Checkpoint back = ModelDirectory.load(dir);
        assertTrue(back.source().equals("model.safetensors.index.json"));
        for (ParameterSpec s : c.specs()) assertArrayEquals(c.get(s.name()), back.get(s.name()));
        ModelDirectory.save(dir, c);
        assertEquals(List.of("config.json", "model.safetensors"), files(dir));
    }

    @Test
    void halfPrecisionSave() throws IOException {
        Checkpoint c = Checkpoint.initialized(TINY, Head.BASE, 4);
        ModelDirectory.save(dir, c, new ModelDirectory.SaveOptions(ShardedSafetensors.DEFAULT_MAX_SHARD_BYTES, DType.BF16));
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
            assertEquals(DType.BF16, f.info("transformer.layer.0.ffn.lin1.weight").dtype());
        }
        Checkpoint back = ModelDirectory.load(dir);
        float[] w = c.get("transformer.layer.0.ffn.lin1.weight"), r = back.get("transformer.layer.0.ffn.lin1.weight");
        for (int i = 0; i < w.length; i++) assertEquals(Half.bf16ToFloat(Half.floatToBf16(w[i])), r[i]);
    }

    @Test
    void sinusoidalPositionsMissingAreRecomputed() throws IOException {
        DistilBertConfig sin = TINY.toBuilder().sinusoidalPosEmbds(true).build();
        Checkpoint c = Checkpoint.initialized(sin, Head.BASE, 4);
        Map<String, float[]> without = new LinkedHashMap<>(c.tensors());
        without.remove("embeddings.position_embeddings.weight");
        List<NamedTensor> ts = new ArrayList<>();
        for (ParameterSpec s : c.specs()) if (without.containsKey(s.name())) ts.add(NamedTensor.ofFloats(s.name(), s.shape(), without.get(s.name())));
        sin.write(dir.resolve("config.json"));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), ts, null);
        Checkpoint back = ModelDirectory.load(dir, Head.BASE);
        assertEquals(List.of("embeddings.position_embeddings.weight"), back.newlyInitialized());
        assertArrayEquals(Initializer.sinusoidalPositions(8, 8), back.get("embeddings.position_embeddings.weight"));
    }

    @Test
    void saveRefusesIncompleteOrForeignParameters() {
        Map<String, float[]> t = new LinkedHashMap<>(Checkpoint.initialized(TINY, Head.BASE, 1).tensors());
        t.remove("embeddings.LayerNorm.bias");
        assertEquals("cannot save DistilBertModel: no values for embeddings.LayerNorm.bias", assertThrows(IllegalArgumentException.class,
                () -> ModelDirectory.save(dir, TINY, Head.BASE, t, ModelDirectory.SaveOptions.defaults())).getMessage());
        t.put("embeddings.LayerNorm.bias", new float[8]);
        t.put("classifier.weight", new float[16]);
        assertEquals("cannot save DistilBertModel: 'classifier.weight' is not one of its parameters", assertThrows(IllegalArgumentException.class,
                () -> ModelDirectory.save(dir, TINY, Head.BASE, t, ModelDirectory.SaveOptions.defaults())).getMessage());
    }

    @Test
    void saveFromASlab() throws IOException {
        var table = DistilBertParameters.table(TINY, Head.MASKED_LM, 64);
        float[] slab = new float[(int) table.numel()];
        Initializer.initialize(TINY, table, slab, 8);
        ModelDirectory.save(dir, TINY, Head.MASKED_LM, table, slab, ModelDirectory.SaveOptions.defaults());
        assertArrayEquals(slab, ModelDirectory.load(dir).toSlab(table));
        // the slab packs q/k/v together (DistilBertParameters.Group); the file is still in HF's order,
        // the same bytes as a save from the named tensors
        Path fromTensors = dir.resolve("from-tensors");
        ModelDirectory.save(fromTensors, Checkpoint.initialized(TINY, Head.MASKED_LM, 8));
        assertArrayEquals(Files.readAllBytes(fromTensors.resolve("model.safetensors")),
                Files.readAllBytes(dir.resolve("model.safetensors")));
    }
}
