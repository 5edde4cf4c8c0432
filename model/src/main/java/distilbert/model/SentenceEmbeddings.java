package distilbert.model;

import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.DistilBertConfig;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Sentence embeddings as sentence-transformers computes them for a DistilBERT-architecture model
 * (all-MiniLM-L6-v2, msmarco-distilbert-base, …): tokenize, run the encoder, pool its last hidden
 * state into one vector per text ({@link Pooling}), and optionally scale it to unit L2 norm
 * (sentence-transformers' {@code Normalize} module).
 *
 * <pre>{@code
 * try (DistilBert db = DistilBert.load(dir, Device.AUTO)) {
 *     SentenceEmbeddings st = new SentenceEmbeddings(db, Tokenizer.fromPretrained(dir)).withNormalize(true);
 *     List<float[]> vectors = st.embed(List.of("A man is eating food.", "Hello world!"));   // two float[dim]
 * }
 * }</pre>
 *
 * <p>The pooling runs on the model's backend, where the hidden states are: on a GPU only [B, dim]
 * floats per batch come back to the host, not [B, L, dim]. Rows run in batches of similar length
 * ({@link LengthBatches}, about {@link #batchTokens()} real tokens each), truncated
 * {@code longest_first} to {@link #maxLength()} as sentence-transformers truncates at its
 * {@code max_seq_length}.
 *
 * <p>Any DistilBERT class will do: a head's encoder is used. Immutable; the {@code with…} methods
 * return a changed copy over the same model.
 */
public final class SentenceEmbeddings {

    /** sentence-transformers' {@code Pooling} modes that DistilBERT sentence models use. */
    public enum Pooling {
        /**
         * The average of the hidden states of the tokens whose attention mask is 1, [CLS] and [SEP]
         * included ({@code pooling_mode_mean_tokens}); zeros for a row with no such token (the mask's
         * sum is clamped to 1e-9 there).
         */
        MEAN,
        /** The hidden state of token 0, [CLS] ({@code pooling_mode_cls_token}). */
        CLS;

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private final DistilBertModel encoder;
    private final Tokenizer tokenizer;
    private final Pooling pooling;
    private final boolean normalize;
    private final int maxLength;
    private final int batchTokens;
    private final int padId;

    /** Mean pooling, not normalized, texts cut to the smaller of the tokenizer's and the model's limit. */
    public SentenceEmbeddings(DistilBert model, Tokenizer tokenizer) {
        this(model.architecture().distilbert(), tokenizer, Pooling.MEAN, false, 0, LengthBatches.DEFAULT_BATCH_TOKENS);
    }

    private SentenceEmbeddings(DistilBertModel encoder, Tokenizer tokenizer, Pooling pooling, boolean normalize,
                               int maxLength, int batchTokens) {
        encoder.checkTokenizer(tokenizer);
        DistilBertConfig config = encoder.config();
        this.encoder = encoder;
        this.tokenizer = tokenizer;
        this.pooling = Objects.requireNonNull(pooling, "pooling");
        this.normalize = normalize;
        this.maxLength = maxLength > 0 ? maxLength : Math.min(tokenizer.modelMaxLength(), config.maxPositionEmbeddings());
        this.batchTokens = batchTokens;
        this.padId = Math.max(0, tokenizer.padTokenId());
    }

    public SentenceEmbeddings withPooling(Pooling p) {
        return new SentenceEmbeddings(encoder, tokenizer, p, normalize, maxLength, batchTokens);
    }

    /** With {@code true}, each vector is divided by max(‖v‖, 1e-12), as torch's {@code F.normalize}. */
    public SentenceEmbeddings withNormalize(boolean n) {
        return new SentenceEmbeddings(encoder, tokenizer, pooling, n, maxLength, batchTokens);
    }

    /** Texts are cut to {@code n} tokens, [CLS] and [SEP] included (sentence-transformers' max_seq_length). */
    public SentenceEmbeddings withMaxLength(int n) {
        return new SentenceEmbeddings(encoder, tokenizer, pooling, normalize, LengthBatches.checkMaxLength(n, encoder.config()),
                batchTokens);
    }

    public SentenceEmbeddings withBatchTokens(int n) {
        return new SentenceEmbeddings(encoder, tokenizer, pooling, normalize, maxLength, LengthBatches.checkBatchTokens(n));
    }

    public Pooling pooling() {
        return pooling;
    }

    public boolean normalize() {
        return normalize;
    }

    public int maxLength() {
        return maxLength;
    }

    public int batchTokens() {
        return batchTokens;
    }

    /** The vectors' length: the model's dim. */
    public int dimension() {
        return encoder.config().dim();
    }

    public EncodeOptions encodeOptions() {
        return new EncodeOptions(true, Truncation.longestFirst(maxLength), null);
    }

    public float[] embed(String text) {
        return embedEncodings(List.of(tokenizer.encode(text, null, encodeOptions()))).getFirst();
    }

    /** One vector per text, in order. */
    public List<float[]> embed(List<String> texts) {
        List<String> pairs = Arrays.asList(new String[texts.size()]);
        return embedEncodings(tokenizer.encodeBatch(texts, pairs, encodeOptions()));
    }

    public List<float[]> embedEncodings(List<Encoding> encodings) {
        return embedEncodings(encodings, LengthBatches.Listener.NONE);
    }

    /**
     * Rows already tokenized, run in batches of similar length; {@code listener} hears of each
     * batch. One vector per row, in order.
     *
     * @throws IllegalArgumentException naming the first row longer than max_position_embeddings
     */
    public List<float[]> embedEncodings(List<Encoding> encodings, LengthBatches.Listener listener) {
        LengthBatches.checkRowLengths(encodings, encoder.config().maxPositionEmbeddings());
        float[][] out = new float[encodings.size()][];
        LengthBatches.forEach(encodings, batchTokens, padId, listener, (rows, input, tokens) -> {
            float[][] batch = embedBatch(input);
            for (int b = 0; b < rows.length; b++) {
                out[rows[b]] = batch[b];
            }
        });
        return Arrays.asList(out);
    }

    /** One forward pass over a padded batch [B, L]: B vectors in row order. */
    public float[][] embedBatch(ModelInput input) {
        Tensor pooled = encoder.pool(input, pooling);                                   // (B, C)
        int B = pooled.dim(0), C = pooled.dim(1);
        float[] data = pooled.data();
        float[][] out = new float[B][];
        for (int b = 0; b < B; b++) {
            out[b] = Arrays.copyOfRange(data, b * C, (b + 1) * C);
            if (normalize) {
                normalize(out[b]);
            }
        }
        return out;
    }

    /**
     * L2 normalization in place, as torch's {@code F.normalize(x, p=2, dim=1)} (sentence-transformers'
     * Normalize): x / max(‖x‖, 1e-12) in double, rounded once, so a zero vector stays zero.
     */
    public static void normalize(float[] v) {
        double sq = 0;
        for (float x : v) {
            sq += (double) x * x;
        }
        double norm = Math.max(Math.sqrt(sq), 1e-12);
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (v[i] / norm);
        }
    }
}
