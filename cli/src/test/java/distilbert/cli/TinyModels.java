package distilbert.cli;

import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

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
}
