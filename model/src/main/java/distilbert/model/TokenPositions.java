package distilbert.model;

import java.util.Arrays;

/**
 * A list of (row, position) pairs of a padded batch: where the MLM head computes logits when the
 * V-wide projection is wanted only at a few places.
 *
 * @param rows      [P]
 * @param positions [P], same length
 */
public record TokenPositions(int[] rows, int[] positions) {

    public TokenPositions {
        if (rows.length != positions.length) {
            throw new IllegalArgumentException("rows has " + rows.length + " entries, positions " + positions.length);
        }
    }

    public int size() {
        return rows.length;
    }

    /** The positions whose label is not −100, row by row: where an MLM loss looks. */
    public static TokenPositions labeled(int[][] labels) {
        int n = 0;
        for (int[] row : labels) {
            for (int v : row) {
                if (v != DistilBertForMaskedLM.IGNORE_INDEX) {
                    n++;
                }
            }
        }
        int[] r = new int[n], p = new int[n];
        int i = 0;
        for (int b = 0; b < labels.length; b++) {
            for (int l = 0; l < labels[b].length; l++) {
                if (labels[b][l] != DistilBertForMaskedLM.IGNORE_INDEX) {
                    r[i] = b;
                    p[i] = l;
                    i++;
                }
            }
        }
        return new TokenPositions(r, p);
    }

    @Override
    public String toString() {
        return "TokenPositions" + Arrays.toString(rows) + Arrays.toString(positions);
    }
}
