package distilbert.model;

import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * An independent DistilBERT in double precision, written the way modeling_distilbert.py computes
 * it and sharing no code with the model: unpacked [B, L] batches, dense [B, NH, L, L] attention with
 * masked keys filled with {@code finfo(float32).min} before the softmax, every position computed.
 * Slow and plain on purpose.
 */
final class ReferenceDistilBert {

    /** torch.finfo(torch.float32).min, what HF's masked_fill writes. */
    private static final double FINFO_MIN = -Float.MAX_VALUE;
    private static final double EPS = 1e-12;

    private final DistilBertConfig cfg;
    private final Checkpoint ckpt;
    private final int C, NH, HS, F;

    ReferenceDistilBert(Checkpoint checkpoint) {
        this.ckpt = checkpoint;
        this.cfg = checkpoint.config();
        this.C = cfg.dim();
        this.NH = cfg.nHeads();
        this.HS = C / NH;
        this.F = cfg.hiddenDim();
    }

    private float[] p(String name) {
        return ckpt.get(name);
    }

    /** Encoder outputs: last [B·L·C], hidden states (n_layers + 1) and attentions [B·NH·L·L]. */
    record Output(double[] last, List<double[]> hidden, List<double[]> attentions) {
    }

    /**
     * @param ids       [B·L] or null
     * @param embeds    [B·L·C] when ids is null
     * @param mask      [B·L] or null
     * @param headMask  [n_layers·NH] or null
     */
    Output encode(int B, int L, int[] ids, float[] embeds, int[] mask, float[] headMask) {
        float[] wte = p("embeddings.word_embeddings.weight"), wpe = p("embeddings.position_embeddings.weight");
        double[] x = new double[B * L * C];
        for (int b = 0; b < B; b++) {
            for (int l = 0; l < L; l++) {
                for (int c = 0; c < C; c++) {
                    int i = (b * L + l) * C + c;
                    double word = ids != null ? wte[ids[b * L + l] * C + c] : embeds[i];
                    x[i] = word + wpe[l * C + c];
                }
            }
        }
        x = layerNorm(x, p("embeddings.LayerNorm.weight"), p("embeddings.LayerNorm.bias"));
        List<double[]> hidden = new ArrayList<>();
        List<double[]> attentions = new ArrayList<>();
        for (int layer = 0; layer < cfg.nLayers(); layer++) {
            hidden.add(x);
            String n = "transformer.layer." + layer + ".";
            double[] q = linear(x, p(n + "attention.q_lin.weight"), p(n + "attention.q_lin.bias"), C, C);
            double[] k = linear(x, p(n + "attention.k_lin.weight"), p(n + "attention.k_lin.bias"), C, C);
            double[] v = linear(x, p(n + "attention.v_lin.weight"), p(n + "attention.v_lin.bias"), C, C);
            double[] weights = new double[B * NH * L * L];
            double[] ctx = new double[B * L * C];
            for (int b = 0; b < B; b++) {
                for (int h = 0; h < NH; h++) {
                    for (int i = 0; i < L; i++) {
                        double[] s = new double[L];
                        double max = Double.NEGATIVE_INFINITY;
                        for (int j = 0; j < L; j++) {
                            double dot = 0;
                            for (int d = 0; d < HS; d++) {
                                dot += q[(b * L + i) * C + h * HS + d] / Math.sqrt(HS) * k[(b * L + j) * C + h * HS + d];
                            }
                            s[j] = mask != null && mask[b * L + j] == 0 ? FINFO_MIN : dot;
                            max = Math.max(max, s[j]);
                        }
                        double sum = 0;
                        for (int j = 0; j < L; j++) {
                            s[j] = Math.exp(s[j] - max);
                            sum += s[j];
                        }
                        double hm = headMask == null ? 1 : headMask[layer * NH + h];
                        for (int j = 0; j < L; j++) {
                            double w = s[j] / sum * hm;
                            weights[((b * NH + h) * L + i) * L + j] = w;
                            for (int d = 0; d < HS; d++) {
                                ctx[(b * L + i) * C + h * HS + d] += w * v[(b * L + j) * C + h * HS + d];
                            }
                        }
                    }
                }
            }
            attentions.add(weights);
            double[] sa = linear(ctx, p(n + "attention.out_lin.weight"), p(n + "attention.out_lin.bias"), C, C);
            sa = layerNorm(add(sa, x), p(n + "sa_layer_norm.weight"), p(n + "sa_layer_norm.bias"));
            double[] h1 = linear(sa, p(n + "ffn.lin1.weight"), p(n + "ffn.lin1.bias"), C, F);
            for (int i = 0; i < h1.length; i++) {
                h1[i] = NaiveOps.activation(cfg.activation(), h1[i]);
            }
            double[] ff = linear(h1, p(n + "ffn.lin2.weight"), p(n + "ffn.lin2.bias"), F, C);
            x = layerNorm(add(ff, sa), p(n + "output_layer_norm.weight"), p(n + "output_layer_norm.bias"));
        }
        hidden.add(x);
        return new Output(x, hidden, attentions);
    }

    // ---- heads, on the encoder's last hidden state [rows·C] ----

    /** vocab_transform → activation → vocab_layer_norm → vocab_projector: [rows·V]. */
    double[] mlmLogits(double[] hidden) {
        double[] t = linear(hidden, p("vocab_transform.weight"), p("vocab_transform.bias"), C, C);
        for (int i = 0; i < t.length; i++) {
            t[i] = NaiveOps.activation(cfg.activation(), t[i]);
        }
        t = layerNorm(t, p("vocab_layer_norm.weight"), p("vocab_layer_norm.bias"));
        return linear(t, p("vocab_projector.weight"), p("vocab_projector.bias"), C, cfg.vocabSize());
    }

    /** hidden[:, 0] → pre_classifier → ReLU → classifier: [B·outputs]. */
    double[] pooledLogits(double[] hidden, int B, int L, int outputs) {
        double[] pooled = new double[B * C];
        for (int b = 0; b < B; b++) {
            System.arraycopy(hidden, b * L * C, pooled, b * C, C);
        }
        double[] pre = linear(pooled, p("pre_classifier.weight"), p("pre_classifier.bias"), C, C);
        for (int i = 0; i < pre.length; i++) {
            pre[i] = Math.max(pre[i], 0);
        }
        return linear(pre, p("classifier.weight"), p("classifier.bias"), C, outputs);
    }

    /** A Linear of [in] → [out] rows, named by its weight prefix. */
    double[] linear(double[] x, String prefix, int in, int out) {
        return linear(x, p(prefix + ".weight"), p(prefix + ".bias"), in, out);
    }

    /** Mean cross-entropy over rows whose target is not {@code ignore}; NaN when none. */
    static double crossEntropy(double[] logits, int[] targets, int V, int ignore) {
        double sum = 0;
        int n = 0;
        for (int r = 0; r < targets.length; r++) {
            if (targets[r] == ignore) {
                continue;
            }
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < V; j++) {
                max = Math.max(max, logits[r * V + j]);
            }
            double s = 0;
            for (int j = 0; j < V; j++) {
                s += Math.exp(logits[r * V + j] - max);
            }
            sum += Math.log(s) + max - logits[r * V + targets[r]];
            n++;
        }
        return sum / n;
    }

    // ---- building blocks ----

    private static double[] linear(double[] x, float[] w, float[] bias, int in, int out) {
        int rows = x.length / in;
        double[] y = new double[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double s = bias[o];
                for (int i = 0; i < in; i++) {
                    s += x[r * in + i] * w[o * in + i];
                }
                y[r * out + o] = s;
            }
        }
        return y;
    }

    private double[] layerNorm(double[] x, float[] w, float[] b) {
        int rows = x.length / C;
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double mean = 0, var = 0;
            for (int c = 0; c < C; c++) {
                mean += x[r * C + c];
            }
            mean /= C;
            for (int c = 0; c < C; c++) {
                var += Math.pow(x[r * C + c] - mean, 2);
            }
            var /= C;
            for (int c = 0; c < C; c++) {
                y[r * C + c] = (x[r * C + c] - mean) / Math.sqrt(var + EPS) * w[c] + b[c];
            }
        }
        return y;
    }

    private static double[] add(double[] a, double[] b) {
        double[] y = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            y[i] = a[i] + b[i];
        }
        return y;
    }
}
