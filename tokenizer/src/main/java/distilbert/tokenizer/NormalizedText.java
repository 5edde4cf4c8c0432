package distilbert.tokenizer;

import java.util.Arrays;

/**
 * A growing buffer of normalized code points, each with the UTF-16 span {@code [start, end)} of
 * the original character it came from. Reused across calls on one thread.
 */
final class NormalizedText {
    int[] cps = new int[256];
    int[] start = new int[256];
    int[] end = new int[256];
    int size;

    void clear() {
        size = 0;
    }

    void add(int cp, int s, int e) {
        if (size == cps.length) {
            int n = size * 2;
            cps = Arrays.copyOf(cps, n);
            start = Arrays.copyOf(start, n);
            end = Arrays.copyOf(end, n);
        }
        cps[size] = cp;
        start[size] = s;
        end[size] = e;
        size++;
    }
}
