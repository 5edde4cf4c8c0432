package distilbert.model;

import distilbert.weights.DistilBertConfig;

/**
 * The floating-point operations of a forward pass, counted as MFU counts them: 2 per multiply-add
 * of the matrix products, the rest (layer norms, softmax, activations) left out. A row of {@code n}
 * real tokens costs, per layer, {@code 2n(4C² + 2CF)} in the q/k/v, output and feed-forward
 * projections and {@code 4n²C} in the attention's two products (its scores and its weighted sum),
 * with C = dim and F = hidden_dim. Packed batches compute real tokens only, so these are the
 * FLOPs of the rows' real lengths; padding adds none.
 */
public final class ModelFlops {

    private ModelFlops() {}

    /** The encoder (embeddings to the last hidden state) over rows of these real lengths. */
    public static long encoder(DistilBertConfig config, int[] lengths) {
        long C = config.dim(), F = config.hiddenDim(), layers = config.nLayers();
        long total = 0;
        for (int len : lengths) {
            long n = len;
            total += layers * (2 * n * (4 * C * C + 2 * C * F) + 4 * n * n * C);
        }
        return total;
    }

    /** The sequence-classification head (pre_classifier and classifier) over {@code rows} rows. */
    public static long sequenceClassifier(DistilBertConfig config, int rows) {
        long C = config.dim();
        return rows * (2 * C * C + 2 * C * config.numLabels());
    }
}
