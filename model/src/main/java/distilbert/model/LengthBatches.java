package distilbert.model;

import distilbert.weights.DistilBertConfig;
import distilbert.tokenizer.Encoding;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Groups rows of known length into batches for the model: rows sorted by length (stably, so equal
 * lengths keep input order), then cut into consecutive runs of at most {@code batchTokens} real
 * tokens. Sorting first makes the rows of a batch nearly equally long, so padding each batch to its
 * longest row adds little (and the model packs the padding away). A row longer than the budget is
 * a batch of its own. The pipelines and the command line's {@code embed} and {@code score} batch
 * this way.
 */
public final class LengthBatches {
    /** Real tokens per batch unless a caller says otherwise. */
    public static final int DEFAULT_BATCH_TOKENS = 8192;

    private LengthBatches() {
    }

    /** Told after each batch has run; the command line's progress line is one. */
    @FunctionalInterface
    public interface Listener {
        Listener NONE = (rows, tokens) -> { };

        void advance(long rows, long tokens);
    }

    /** {@code n} as a pipeline's batch budget (its {@code withBatchTokens}): at least 1 real token. */
    static int checkBatchTokens(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("batch tokens must be at least 1, got " + n);
        }
        return n;
    }

    /** {@code n} as a pipeline's max length (its {@code withMaxLength}): [CLS] and [SEP] at least, the positions at most. */
    static int checkMaxLength(int n, DistilBertConfig config) {
        int positions = config.maxPositionEmbeddings();
        if (n < 2 || n > positions) {
            throw new IllegalArgumentException("max length must be in [2, " + positions
                    + "] (max_position_embeddings), got " + n);
        }
        return n;
    }

    /** Row {@code i} of a pipeline's encodings, refused when it is longer than the model's positions. */
    static void checkRowLength(Encoding e, int i, int positions) {
        if (e.length() > positions) {
            throw new IllegalArgumentException("row " + i + " is " + e.length()
                    + " tokens long, more than max_position_embeddings = " + positions + "; truncate it");
        }
    }

    /** {@link #checkRowLength} for every row, in order. */
    static void checkRowLengths(List<Encoding> encodings, int positions) {
        for (int i = 0; i < encodings.size(); i++) {
            checkRowLength(encodings.get(i), i, positions);
        }
    }

    /** One batch: the indices of its rows in the caller's list, the padded input and its real tokens. */
    @FunctionalInterface
    public interface Batch {
        void run(int[] rows, ModelInput input, long tokens);
    }

    /**
     * @param lengths     real tokens of each row
     * @param batchTokens the most real tokens in one batch (a longer row is still a batch alone)
     * @return row indices per batch, each batch in ascending length, batches in ascending length
     */
    public static List<int[]> plan(int[] lengths, int batchTokens) {
        if (batchTokens < 1) {
            throw new IllegalArgumentException("batchTokens must be at least 1, got " + batchTokens);
        }
        Integer[] order = new Integer[lengths.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Integer.compare(lengths[a], lengths[b])); // stable (a merge sort)
        List<int[]> batches = new ArrayList<>();
        int start = 0;
        long tokens = 0;
        for (int i = 0; i < order.length; i++) {
            int len = lengths[order[i]];
            if (i > start && tokens + len > batchTokens) {
                batches.add(indices(order, start, i));
                start = i;
                tokens = 0;
            }
            tokens += len;
        }
        if (start < order.length) {
            batches.add(indices(order, start, order.length));
        }
        return batches;
    }

    /**
     * The rows {@code rows} of {@code encodings} as one right-padded batch [B, L], L the longest of
     * them: each row's ids and attention mask, then {@code padId} with mask 0.
     */
    public static ModelInput input(List<Encoding> encodings, int[] rows, int padId) {
        int B = rows.length, L = 0;
        for (int r : rows) {
            L = Math.max(L, encodings.get(r).length());
        }
        int[] ids = new int[B * L], mask = new int[B * L];                    // (B, L)
        Arrays.fill(ids, padId);
        for (int b = 0; b < B; b++) {
            Encoding e = encodings.get(rows[b]);
            System.arraycopy(e.ids(), 0, ids, b * L, e.length());
            System.arraycopy(e.attentionMask(), 0, mask, b * L, e.length());
        }
        return ModelInput.ofIds(B, L, ids, mask);
    }

    /**
     * Plans batches of {@code encodings} by their lengths and hands each, padded, to {@code batch},
     * shortest first; then tells {@code listener}.
     */
    public static void forEach(List<Encoding> encodings, int batchTokens, int padId, Listener listener, Batch batch) {
        int[] lengths = new int[encodings.size()];
        for (int i = 0; i < lengths.length; i++) {
            lengths[i] = encodings.get(i).length();
        }
        for (int[] rows : plan(lengths, batchTokens)) {
            long tokens = 0;
            for (int r : rows) {
                tokens += lengths[r];
            }
            batch.run(rows, input(encodings, rows, padId), tokens);
            listener.advance(rows.length, tokens);
        }
    }

    private static int[] indices(Integer[] order, int from, int to) {
        int[] out = new int[to - from];
        for (int i = from; i < to; i++) {
            out[i - from] = order[i];
        }
        return out;
    }
}
