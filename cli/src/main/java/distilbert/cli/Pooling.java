package distilbert.cli;

import java.util.Locale;

/**
 * What {@code distilbert embed} makes of a row's last hidden state, as sentence-transformers'
 * {@code Pooling} and {@code Normalize} modules do it. Sums run in double and round once to float.
 */
enum Pooling {
    /** The average over the tokens whose attention mask is 1, [CLS] and [SEP] included (pooling_mode_mean_tokens). */
    MEAN,
    /** The hidden state of token 0, [CLS] (pooling_mode_cls_token). */
    CLS,
    /** No pooling: every real token's hidden state. */
    NONE;

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * The pooled vector of one row.
     *
     * @param hidden [.., L, C] row-major; the row starts at {@code offset}
     * @param length the row's real tokens (the first {@code length} positions; the rest is padding)
     * @return [C]
     */
    float[] pool(float[] hidden, int offset, int length, int C) {
        float[] out = new float[C];
        switch (this) {
            case CLS -> System.arraycopy(hidden, offset, out, 0, C);
            case MEAN -> {
                double[] sum = new double[C];
                for (int l = 0; l < length; l++) {
                    int o = offset + l * C;
                    for (int c = 0; c < C; c++) sum[c] += hidden[o + c];
                }
                // sentence-transformers divides by the mask's sum clamped to at least 1e-9.
                double n = Math.max(length, 1e-9);
                for (int c = 0; c < C; c++) out[c] = (float) (sum[c] / n);
            }
            case NONE -> throw new IllegalStateException("pooling none keeps every token; there is no vector to pool");
        }
        return out;
    }

    /**
     * L2 normalization in place, as torch's {@code F.normalize(x, p=2, dim=1)} (sentence-transformers'
     * Normalize): x / max(‖x‖, 1e-12), so a zero vector stays zero.
     */
    static void normalize(float[] v) {
        double sq = 0;
        for (float x : v) sq += (double) x * x;
        double norm = Math.max(Math.sqrt(sq), 1e-12);
        for (int i = 0; i < v.length; i++) v[i] = (float) (v[i] / norm);
    }
}
