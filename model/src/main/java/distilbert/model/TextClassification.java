package distilbert.model;

import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.ProblemType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * HF's {@code TextClassificationPipeline} on a {@link DistilBertForSequenceClassification}: texts
 * (or text pairs) in, labelled scores out, the numbers HF's pipeline gives.
 *
 * <pre>{@code
 * try (DistilBert db = DistilBert.load(dir, Device.AUTO)) {
 *     TextClassification classifier = new TextClassification(db, Tokenizer.fromPretrained(dir));
 *     classifier.classify("This movie is disgustingly good !").best();   // LabelScore[id=1, label=POSITIVE, score=0.9998]
 *     classifier.classify(texts).get(0).top(3);                           // the three best, highest first
 * }
 * }</pre>
 *
 * <p>Steps: tokenize ({@code [CLS] text [SEP]}, or {@code [CLS] text [SEP] pair [SEP]}), truncated
 * {@code longest_first} to {@link #maxLength()}; run the model in batches of rows of similar length
 * ({@link LengthBatches}, about {@link #batchTokens()} real tokens each); apply {@link #function()}
 * to each row's logits. The scores are computed in double from the float32 logits and rounded once
 * to float32; HF computes them in float32 with numpy, so the two agree to a float32 rounding.
 *
 * <p>Two differences from HF, both about input it cannot take: HF's pipeline does not truncate by
 * default, so a text longer than the model's positions fails there; here it is cut to
 * {@link #maxLength()} (HF's {@code truncation=True}). And HF's {@code pipeline("text-classification")}
 * loads any DistilBERT checkpoint, giving one without a classifier a randomly initialised one; this
 * class takes only a model whose class is DistilBertForSequenceClassification.
 *
 * <p>Immutable; the {@code with…} methods return a changed copy over the same model.
 */
public final class TextClassification {

    /** HF's {@code ClassificationFunction}: what turns a row of logits into scores. */
    public enum Function {
        /** exp(x_i − max) / Σ_j exp(x_j − max): one distribution over the labels. */
        SOFTMAX,
        /** 1 / (1 + exp(−x_i)) per label, independently. */
        SIGMOID,
        /** The logits themselves (regression). */
        NONE;

        /**
         * HF's default for a model: {@code problem_type} regression → none; multi_label_classification,
         * or a single label → sigmoid; otherwise (single_label_classification, or several labels) →
         * softmax. The checks run in that order, as {@code TextClassificationPipeline.postprocess}.
         */
        public static Function defaultFor(DistilBertConfig config) {
            ProblemType problem = config.problemType();
            if (problem == ProblemType.REGRESSION) {
                return NONE;
            }
            if (problem == ProblemType.MULTI_LABEL_CLASSIFICATION || config.numLabels() == 1) {
                return SIGMOID;
            }
            return SOFTMAX;
        }

        /** The scores of one row of logits, in double and rounded once to float32; a fresh array. */
        public float[] apply(float[] logits) {
            return apply(logits, 0, logits.length);
        }

        /**
         * The scores of the row {@code logits[from, from + n)} (a row of a [rows, n] array), as
         * {@link #apply(float[])} computes them for that row alone; a fresh array of n.
         *
         * @throws IndexOutOfBoundsException when the row runs past the array
         */
        public float[] apply(float[] logits, int from, int n) {
            Objects.checkFromIndexSize(from, n, logits.length);
            float[] out = new float[n];
            switch (this) {
                case SOFTMAX -> {
                    double max = Double.NEGATIVE_INFINITY;
                    for (int i = 0; i < n; i++) {
                        max = Math.max(max, logits[from + i]);
                    }
                    double[] e = new double[n];
                    double sum = 0;
                    for (int i = 0; i < n; i++) {
                        e[i] = Math.exp(logits[from + i] - max);
                        sum += e[i];
                    }
                    for (int i = 0; i < n; i++) {
                        out[i] = (float) (e[i] / sum);
                    }
                }
                case SIGMOID -> {
                    for (int i = 0; i < n; i++) {
                        out[i] = (float) (1.0 / (1.0 + Math.exp(-(double) logits[from + i])));
                    }
                }
                case NONE -> System.arraycopy(logits, from, out, 0, n);
            }
            return out;
        }

        /** HF's name: "softmax", "sigmoid", "none". */
        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** One label's score; {@code id} is its index in id2label (and in the logits). */
    public record LabelScore(int id, String label, float score) {
    }

    /**
     * The result for one row; two are equal when their arrays hold the same values.
     *
     * @param logits [num_labels], the classifier's output
     * @param scores [num_labels], {@code function} applied to the logits
     * @param labels id2label in id order (LABEL_0, LABEL_1, … when config.json has none)
     */
    public record Result(float[] logits, float[] scores, List<String> labels) {

        public Result {
            if (logits.length != scores.length || scores.length != labels.size()) {
                throw new IllegalArgumentException("logits, scores and labels differ in size: " + logits.length + ", "
                        + scores.length + ", " + labels.size());
            }
        }

        public int numLabels() {
            return scores.length;
        }

        /** The best label, HF's default answer: the highest score, the lowest id among equal ones. */
        public LabelScore best() {
            return top(1).getFirst();
        }

        /**
         * The {@code k} best labels, highest score first, equal scores in id order (HF's
         * {@code top_k=k}, whose sort is stable); all of them when k ≥ num_labels. A NaN score
         * ranks first, as numpy's argmax takes it.
         */
        public List<LabelScore> top(int k) {
            if (k < 1) {
                throw new IllegalArgumentException("k must be at least 1, got " + k);
            }
            int[] order = Ranking.top(scores, k);
            List<LabelScore> out = new ArrayList<>(order.length);
            for (int id : order) {
                out.add(new LabelScore(id, labels.get(id), scores[id]));
            }
            return Collections.unmodifiableList(out);
        }

        /** Every label, highest score first (HF's {@code top_k=None}). */
        public List<LabelScore> all() {
            return top(scores.length);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Result r && Arrays.equals(logits, r.logits) && Arrays.equals(scores, r.scores)
                    && labels.equals(r.labels);
        }

        @Override
        public int hashCode() {
            return 31 * (31 * Arrays.hashCode(logits) + Arrays.hashCode(scores)) + labels.hashCode();
        }

        @Override
        public String toString() {
            return "Result[labels=" + labels + ", scores=" + Arrays.toString(scores) + ", logits=" + Arrays.toString(logits) + "]";
        }
    }

    private final DistilBertForSequenceClassification model;
    private final Tokenizer tokenizer;
    private final List<String> labels;
    private final Function function;
    private final int maxLength;
    private final int batchTokens;
    private final int padId;

    /**
     * A classifier with HF's defaults: {@link Function#defaultFor} the model's config, texts cut to
     * the smaller of the tokenizer's {@code model_max_length} and {@code max_position_embeddings},
     * batches of {@link LengthBatches#DEFAULT_BATCH_TOKENS} tokens.
     *
     * @throws IllegalStateException    when the model is not a DistilBertForSequenceClassification
     * @throws IllegalArgumentException when the tokenizer has more tokens than the model's vocab_size
     */
    public TextClassification(DistilBert model, Tokenizer tokenizer) {
        this(model.as(DistilBertForSequenceClassification.class), tokenizer, null, 0, LengthBatches.DEFAULT_BATCH_TOKENS);
    }

    private TextClassification(DistilBertForSequenceClassification model, Tokenizer tokenizer, Function function,
                               int maxLength, int batchTokens) {
        model.checkTokenizer(tokenizer);
        DistilBertConfig config = model.config();
        this.model = model;
        this.tokenizer = tokenizer;
        this.labels = List.copyOf(config.id2label().values());
        this.function = function != null ? function : Function.defaultFor(config);
        this.maxLength = maxLength > 0 ? maxLength
                : Math.min(tokenizer.modelMaxLength(), config.maxPositionEmbeddings());
        this.batchTokens = batchTokens;
        this.padId = Math.max(0, tokenizer.padTokenId());
    }

    /** The same classifier applying {@code f} to the logits; null: HF's default for the model. */
    public TextClassification withFunction(Function f) {
        return new TextClassification(model, tokenizer, f, maxLength, batchTokens);
    }

    /**
     * The same classifier cutting rows to {@code n} tokens, special tokens included.
     *
     * @throws IllegalArgumentException unless 2 ≤ n ≤ max_position_embeddings
     */
    public TextClassification withMaxLength(int n) {
        return new TextClassification(model, tokenizer, function, LengthBatches.checkMaxLength(n, model.config()), batchTokens);
    }

    /** The same classifier running batches of about {@code n} real tokens (a longer row runs alone). */
    public TextClassification withBatchTokens(int n) {
        return new TextClassification(model, tokenizer, function, maxLength, LengthBatches.checkBatchTokens(n));
    }

    public Function function() {
        return function;
    }

    public int maxLength() {
        return maxLength;
    }

    public int batchTokens() {
        return batchTokens;
    }

    /** id2label in id order. */
    public List<String> labels() {
        return labels;
    }

    public DistilBertForSequenceClassification model() {
        return model;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** How texts are tokenized: special tokens, {@code longest_first} truncation to {@link #maxLength()}. */
    public EncodeOptions encodeOptions() {
        return new EncodeOptions(true, Truncation.longestFirst(maxLength), null);
    }

    public Result classify(String text) {
        return classify(text, null);
    }

    /** One text, or a pair when {@code textPair} is not null. */
    public Result classify(String text, String textPair) {
        return classifyEncodings(List.of(tokenizer.encode(text, textPair, encodeOptions()))).getFirst();
    }

    public List<Result> classify(List<String> texts) {
        return classify(texts, null);
    }

    /**
     * Texts, each with its pair (null, or a null entry: a single text); results in input order.
     * Tokenized on all cores, then run in batches by length.
     */
    public List<Result> classify(List<String> texts, List<String> textPairs) {
        return classifyEncodings(encode(texts, textPairs));
    }

    /** Tokenizes as {@link #classify(List, List)} does; {@link Encoding#overflowing()} is non-empty where a row was cut. */
    public List<Encoding> encode(List<String> texts, List<String> textPairs) {
        return tokenizer.encodeBatch(texts, textPairs, encodeOptions());
    }

    /** Rows already tokenized; results in input order. */
    public List<Result> classifyEncodings(List<Encoding> encodings) {
        return classifyEncodings(encodings, LengthBatches.Listener.NONE);
    }

    /**
     * Rows already tokenized, run in batches of similar length; {@code listener} hears of each batch.
     *
     * @throws IllegalArgumentException naming the row when one is longer than max_position_embeddings
     */
    public List<Result> classifyEncodings(List<Encoding> encodings, LengthBatches.Listener listener) {
        LengthBatches.checkRowLengths(encodings, model.config().maxPositionEmbeddings());
        Result[] results = new Result[encodings.size()];
        LengthBatches.forEach(encodings, batchTokens, padId, listener, (rows, input, tokens) -> {
            List<Result> batch = classifyBatch(input);
            for (int b = 0; b < rows.length; b++) {
                results[rows[b]] = batch.get(b);
            }
        });
        return Arrays.asList(results);
    }

    /** One forward pass over a padded batch [B, L]; B results in row order. */
    public List<Result> classifyBatch(ModelInput input) {
        Tensor logits = model.forward(input).logits();                        // (B, NL)
        int B = logits.dim(0), NL = logits.dim(1);
        float[] all = logits.data();
        List<Result> out = new ArrayList<>(B);
        for (int b = 0; b < B; b++) {
            out.add(result(Arrays.copyOfRange(all, b * NL, (b + 1) * NL)));
        }
        return out;
    }

    /** The result for one row of logits [num_labels] (kept, not copied). */
    public Result result(float[] logits) {
        Objects.requireNonNull(logits, "logits");
        return new Result(logits, function.apply(logits), labels);
    }
}
