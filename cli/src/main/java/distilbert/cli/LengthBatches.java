package distilbert.cli;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Groups rows of known length into batches for the model: rows sorted by length (stably, so equal
 * lengths keep input order), then cut into consecutive runs of at most {@code batchTokens} real
 * tokens. Sorting first makes the rows of a batch nearly equally long, so padding each batch to its
 * longest row adds little. A row longer than the budget is a batch of its own.
 */
final class LengthBatches {
    private LengthBatches() {}

    /**
     * @param lengths     real tokens of each row
     * @param batchTokens the most real tokens in one batch (a longer row is still a batch alone)
     * @return row indices per batch, each batch in ascending length, batches in ascending length
     */
    static List<int[]> plan(int[] lengths, int batchTokens) {
        if (batchTokens < 1) throw new IllegalArgumentException("batchTokens must be at least 1, got " + batchTokens);
        Integer[] order = new Integer[lengths.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
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
        if (start < order.length) batches.add(indices(order, start, order.length));
        return batches;
    }

    private static int[] indices(Integer[] order, int from, int to) {
        int[] out = new int[to - from];
        for (int i = from; i < to; i++) out[i - from] = order[i];
        return out;
    }
}
