package distilbert.cli;

import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Small randomly initialised DistilBERT model directories, written as save_pretrained writes them. */
final class TinyModels {
    private TinyModels() {}

    static final int V = 30522, P = 64, LAYERS = 2, NH = 2, C = 16, F = 32;

    /** V 30522 (bert-base-uncased's vocabulary), 64 positions, 2 layers, 2 heads, dim 16, FFN 32. */
    static DistilBertConfig config() {
        return DistilBertConfig.defaults().toBuilder().vocabSize(V).maxPositionEmbeddings(P).nLayers(LAYERS).nHeads(NH).dim(C)
                .hiddenDim(F).build();
    }

    /** Writes config.json and model.safetensors for {@code head} into {@code dir}. */
    static Path save(Path dir, DistilBertConfig config, Head head, ModelDirectory.SaveOptions options) throws IOException {
        Files.createDirectories(dir);
        ModelDirectory.save(dir, Checkpoint.initialized(config, head, 7), options);
        return dir;
    }

    static Path save(Path dir, DistilBertConfig config, Head head) throws IOException {
        return save(dir, config, head, ModelDirectory.SaveOptions.defaults());
    }

    /** A base model with bert-base-uncased's tokenizer.json beside it: what embed needs. */
    static Path withTokenizer(Path dir) throws IOException {
        save(dir, config(), Head.BASE);
        Cli.bertBaseUncased(dir);
        return dir;
    }

    /**
     * A DistilBertForSequenceClassification of {@code config} with bert-base-uncased's tokenizer. Its
     * linear layers are drawn uniform in ±0.35 (the head's in ±0.5) rather than with HF's std 0.02,
     * which makes every layer nearly the identity: so that [CLS], and with it the scores, differ
     * clearly from row to row and from 1 / num_labels.
     */
    static Path classifier(Path dir, DistilBertConfig config) throws IOException {
        return widened(dir, config, Head.SEQUENCE_CLASSIFICATION);
    }

    /** A DistilBertForTokenClassification of {@code config} with bert-base-uncased's tokenizer, drawn as {@link #classifier}'s. */
    static Path tokenClassifier(Path dir, DistilBertConfig config) throws IOException {
        return widened(dir, config, Head.TOKEN_CLASSIFICATION);
    }

    /** A DistilBertForMaskedLM of {@code config} with bert-base-uncased's tokenizer, drawn as {@link #classifier}'s. */
    static Path maskedLm(Path dir, DistilBertConfig config) throws IOException {
        return widened(dir, config, Head.MASKED_LM);
    }

    /** A model of {@code head} drawn as {@link #classifier} draws one, with bert-base-uncased's tokenizer. */
    static Path widened(Path dir, DistilBertConfig config, Head head) throws IOException {
        Files.createDirectories(dir);
        Checkpoint init = Checkpoint.initialized(config, head, 7);
        Map<String, float[]> tensors = new LinkedHashMap<>(init.tensors());
        Random random = new Random(11);
        for (var e : tensors.entrySet()) {
            String name = e.getKey();
            if (name.contains("embeddings") || name.contains("LayerNorm") || name.contains("layer_norm")) continue;
            float scale = name.contains("classifier.") ? 0.5f : 0.35f;
            float[] v = new float[e.getValue().length];
            for (int i = 0; i < v.length; i++) v[i] = (random.nextFloat() * 2 - 1) * scale;
            e.setValue(v);
        }
        ModelDirectory.save(dir, new Checkpoint(config, head, "test", tensors, List.of(), List.of(), List.of()));
        Cli.bertBaseUncased(dir);
        return dir;
    }
}
