package distilbert.spark;

import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Small random DistilBERT directories as save_pretrained writes them, with bert-base-uncased's
 * tokenizer.json: 64 positions, 2 layers, 2 heads, dim 16, FFN 32. The linear layers are drawn
 * uniform in ±0.35 (the heads' in ±0.5), not with HF's std 0.02, so that outputs differ clearly from
 * row to row.
 */
final class TinyModels {
    private TinyModels() {
    }

    static final int POSITIONS = 64;

    static Path save(Path dir, Head head, List<String> labels) throws IOException {
        DistilBertConfig.Builder b = DistilBertConfig.defaults().toBuilder().vocabSize(30522).maxPositionEmbeddings(POSITIONS)
                .nLayers(2).nHeads(2).dim(16).hiddenDim(32);
        if (!labels.isEmpty()) {
            b.labels(labels);
        }
        DistilBertConfig config = b.build();
        Files.createDirectories(dir);
        Map<String, float[]> tensors = new LinkedHashMap<>(Checkpoint.initialized(config, head, 7).tensors());
        Random random = new Random(11);
        for (var e : tensors.entrySet()) {
            String name = e.getKey();
            if (name.contains("embeddings") || name.contains("LayerNorm") || name.contains("layer_norm")) continue;
            float scale = name.contains("classifier") || name.contains("qa_outputs") ? 0.5f : 0.35f;
            float[] v = new float[e.getValue().length];
            for (int i = 0; i < v.length; i++) v[i] = (random.nextFloat() * 2 - 1) * scale;
            e.setValue(v);
        }
        ModelDirectory.save(dir, new Checkpoint(config, head, "test", tensors, List.of(), List.of(), List.of()));
        try (InputStream in = TinyModels.class.getResourceAsStream("/all-minilm-l6-v2-tokenizer.json")) {
            if (in == null) throw new IllegalStateException("all-minilm-l6-v2-tokenizer.json is not on the test classpath");
            Files.copy(in, dir.resolve("tokenizer.json"));
        }
        return dir;
    }
}
