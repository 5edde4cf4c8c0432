package distilbert.model;

import java.util.Arrays;

/**
 * How the pipelines rank scores: highest first, NaN before every number (numpy's argmax and
 * torch's topk take NaN as the largest), 0.0 and −0.0 equal (as Python compares them), equal
 * scores in index order.
 */
final class Ranking {
    /** Above this share of the candidates a full sort beats keeping the best k by insertion. */
    private static final int SELECT_FRACTION = 16;

    private Ranking() {
    }

    /** The indices of the {@code k} best of {@code scores}, best first; all of them when k ≥ scores.length. */
    static int[] top(float[] scores, int k) {
        int n = scores.length;
        k = Math.min(k, n);
        if ((long) k * SELECT_FRACTION >= n) {
            Integer[] order = new Integer[n];
            for (int i = 0; i < n; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (a, b) -> compare(scores[a], scores[b])); // stable: ties keep index order
            int[] out = new int[k];
            for (int i = 0; i < k; i++) {
                out[i] = order[i];
            }
            return out;
        }
        // k ≪ n (a vocabulary): one pass keeping the best k in order; only a strictly better score
        // enters, so an equal score never passes an earlier index.
        int[] best = new int[k];
        int size = 0;
        for (int i = 0; i < n; i++) {
            float s = scores[i];
            if (size == k && compare(s, scores[best[k - 1]]) >= 0) {
                continue;
            }
            int at = size < k ? size++ : k - 1;
            while (at > 0 && compare(s, scores[best[at - 1]]) < 0) {
                best[at] = best[at - 1];
                at--;
            }
            best[at] = i;
        }
        return best;
    }

    /** Negative when {@code x} ranks before {@code y}, 0 when they tie. */
    static int compare(float x, float y) {
        boolean nx = Float.isNaN(x), ny = Float.isNaN(y);
        if (nx || ny) {
            return nx == ny ? 0 : nx ? -1 : 1;
        }
        return x > y ? -1 : x < y ? 1 : 0;
    }
}
