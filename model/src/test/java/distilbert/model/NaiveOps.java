package distilbert.model;

import distilbert.weights.Activation;
import org.apache.commons.math3.special.Erf;

/**
 * The slow twin of every CPU op: the definition, written as plainly as possible in double, with
 * Commons Math's erf. Inputs are float arrays (what the op sees), results double.
 */
final class NaiveOps {

    private NaiveOps() {
    }

    static double[] matmul(float[] x, float[] w, float[] bias, int N, int K, int M) {
        double[] out = new double[N * M];
        for (int n = 0; n < N; n++) {
            for (int m = 0; m < M; m++) {
                double s = bias == null ? 0 : bias[m];
                for (int k = 0; k < K; k++) {
                    s += (double) x[n * K + k] * w[m * K + k];
                }
                out[n * M + m] = s;
            }
        }
        return out;
    }

    static double activation(Activation act, double x) {
        return switch (act) {
            case GELU -> 0.5 * x * (1 + Erf.erf(x / Math.sqrt(2)));
            case GELU_NEW -> 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * Math.pow(x, 3))));
            case RELU -> Math.max(x, 0);
            case SILU -> x / (1 + Math.exp(-x));
        };
    }

    static double[] biasActivation(Activation act, float[] x, float[] bias, int N, int M) {
        double[] out = new double[N * M];
        for (int n = 0; n < N; n++) {
            for (int m = 0; m < M; m++) {
                // the op adds the bias in float, as torch's Linear output is float before the activation
                float v = x[n * M + m] + (bias == null ? 0f : bias[m]);
                out[n * M + m] = activation(act, v);
            }
        }
        return out;
    }

    static double[] layerNorm(float[] x, float[] w, float[] b, int N, int C, double eps, double[] meanOut,
                              double[] rstdOut) {
        double[] out = new double[N * C];
        for (int n = 0; n < N; n++) {
            double mean = 0;
            for (int c = 0; c < C; c++) {
                mean += x[n * C + c];
            }
            mean /= C;
            double var = 0;
            for (int c = 0; c < C; c++) {
                var += (x[n * C + c] - mean) * (x[n * C + c] - mean);
            }
            var /= C;
            double rstd = 1 / Math.sqrt(var + eps);
            for (int c = 0; c < C; c++) {
                out[n * C + c] = (x[n * C + c] - mean) * rstd * w[c] + b[c];
            }
            if (meanOut != null) {
                meanOut[n] = mean;
                rstdOut[n] = rstd;
            }
        }
        return out;
    }

    static double[] embedding(int[] ids, int[] pos, float[] wte, float[] wpe, int T, int C) {
        double[] out = new double[T * C];
        for (int t = 0; t < T; t++) {
            for (int c = 0; c < C; c++) {
                out[t * C + c] = (double) wte[ids[t] * C + c] + wpe[pos[t] * C + c];
            }
        }
        return out;
    }

    /**
     * Packed attention by its definition: per sequence and head, dense scores over its keys, softmax,
     * head mask, weighted sum. {@code qkv} is [T, 3C] with rows {@code [q | k | v]}, as the op takes
     * it; {@code probsOut} (or null) receives the probabilities in the op's layout. Returns [T, C].
     */
    static double[] attention(float[] qkv, float[] headMask, int[] cu, int[] keyLens, int NH, int HS,
                              double[] probsOut) {
        int C = NH * HS, ld = 3 * C;
        int T = cu[cu.length - 1];
        double[] out = new double[T * C];
        long offset = 0;
        for (int s = 0; s + 1 < cu.length; s++) {
            int start = cu[s], len = cu[s + 1] - start;
            int keys = keyLens == null ? len : keyLens[s];
            boolean uniform = keys == 0;
            if (uniform) {
                keys = len;
            }
            for (int h = 0; h < NH; h++) {
                double hm = headMask == null ? 1 : headMask[h];
                for (int i = 0; i < len; i++) {
                    double[] p = new double[keys];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < keys; j++) {
                        double dot = 0;
                        for (int d = 0; d < HS; d++) {
                            dot += (double) qkv[(start + i) * ld + h * HS + d] * qkv[(start + j) * ld + C + h * HS + d];
                        }
                        p[j] = uniform ? 0 : dot / Math.sqrt(HS);
                        max = Math.max(max, p[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < keys; j++) {
                        p[j] = Math.exp(p[j] - max);
                        sum += p[j];
                    }
                    for (int j = 0; j < keys; j++) {
                        p[j] = p[j] / sum * hm;
                        if (probsOut != null) {
                            probsOut[(int) (offset + ((long) h * len + i) * keys + j)] = p[j];
                        }
                        for (int d = 0; d < HS; d++) {
                            out[(start + i) * C + h * HS + d] += p[j] * qkv[(start + j) * ld + 2 * C + h * HS + d];
                        }
                    }
                }
            }
            offset += (long) NH * len * keys;
        }
        return out;
    }

    /** Three [T, C] arrays as the [T, 3C] input of attention: row t is {@code [q_t | k_t | v_t]}. */
    static float[] qkv(float[] q, float[] k, float[] v, int T, int C) {
        float[] out = new float[3 * T * C];
        for (int t = 0; t < T; t++) {
            System.arraycopy(q, t * C, out, 3 * t * C, C);
            System.arraycopy(k, t * C, out, 3 * t * C + C, C);
            System.arraycopy(v, t * C, out, 3 * t * C + 2 * C, C);
        }
        return out;
    }

    static double crossEntropy(float[] logits, int row, int V, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < V; j++) {
            max = Math.max(max, logits[row * V + j]);
        }
        double sum = 0;
        for (int j = 0; j < V; j++) {
            sum += Math.exp(logits[row * V + j] - max);
        }
        return Math.log(sum) + max - logits[row * V + target];
    }

    /** −[y·log σ(x) + (1 − y)·log(1 − σ(x))], evaluated directly (fine for moderate x). */
    static double bce(double x, double y) {
        double p = 1 / (1 + Math.exp(-x));
        return -(y * Math.log(p) + (1 - y) * Math.log1p(-p));
    }
}
