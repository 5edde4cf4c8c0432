package distilbert.weights;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * HF's random initialisation of DistilBERT ({@code DistilBertPreTrainedModel._init_weights}):
 * <ul>
 *   <li>Linear weights and Embedding weights: normal(0, initializer_range); Linear biases: 0</li>
 *   <li>word_embeddings row {@code pad_token_id}: 0 (it is the Embedding's padding_idx)</li>
 *   <li>LayerNorm weight 1, bias 0</li>
 *   <li>position_embeddings when sinusoidal_pos_embds: the fixed sin/cos table of
 *       {@code create_sinusoidal_embeddings}</li>
 *   <li>vocab_projector.weight when tied: the word embeddings themselves</li>
 * </ul>
 *
 * <p>Random numbers: torch's generator cannot be reproduced, so the values are not HF's, only
 * their distribution is. They are deterministic and documented instead: each parameter has its own
 * stream, SplitMix64 seeded with {@code seed ^ fnv1a64(name without "distilbert.")}, turned into
 * normals by Box–Muller (both outputs used). A parameter's values therefore depend only on the
 * seed, its name and its shape — not on the head, the order, or the other parameters.
 */
public final class Initializer {
    private Initializer() {}

    /** Every parameter of {@code head} that owns storage (tied ones left out), HF names, HF order. */
    public static Map<String, float[]> initialize(DistilBertConfig config, Head head, long seed) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (ParameterSpec s : DistilBertParameters.layout(config, head)) {
            if (!s.isTied()) out.put(s.name(), initialize(config, s, seed));
        }
        return out;
    }

    /** Fills a one-slab buffer laid out by {@code table}. */
    public static void initialize(DistilBertConfig config, DistilBertParameters.Table table, float[] slab, long seed) {
        for (ParameterSpec s : table.owned()) {
            float[] v = initialize(config, s, seed);
            System.arraycopy(v, 0, slab, Math.toIntExact(table.offset(s.name())), v.length);
        }
    }

    /** One parameter, by its HF name (with or without the distilbert. prefix). */
    public static float[] initialize(DistilBertConfig config, ParameterSpec spec, long seed) {
        String bare = DistilBertParameters.stripPrefix(spec.name());
        int n = Math.toIntExact(spec.numel());
        float[] v = new float[n];
        String leaf = bare.substring(bare.lastIndexOf('.') + 1);
        String module = bare.contains(".") ? bare.substring(0, bare.lastIndexOf('.')) : "";
        boolean layerNorm = module.endsWith("LayerNorm") || module.endsWith("layer_norm");
        if (layerNorm) {
            if (leaf.equals("weight")) java.util.Arrays.fill(v, 1f);
            return v;
        }
        if (leaf.equals("bias")) return v;
        if (bare.equals(DistilBertParameters.POSITION_EMBEDDINGS) && config.sinusoidalPosEmbds()) {
            return sinusoidalPositions((int) spec.dim(0), (int) spec.dim(1));
        }
        if (spec.isTied()) {
            // vocab_projector.weight tied to the word embeddings: same values
            return initialize(config, new ParameterSpec(spec.tiedTo(), spec.shape()), seed);
        }
        normal(v, config.initializerRange(), streamSeed(seed, bare));
        if (bare.equals(DistilBertParameters.WORD_EMBEDDINGS)) {
            int c = (int) spec.dim(1), pad = config.padTokenId();
            if (pad >= 0 && pad < spec.dim(0)) java.util.Arrays.fill(v, pad * c, pad * c + c, 0f);
        }
        return v;
    }

    /**
     * {@code create_sinusoidal_embeddings(n_pos, dim)}: {@code angle[pos, j] = pos / 10000^(2·(j/2)/dim)}
     * in float64 (as numpy computes it), then {@code out[:, 0::2] = sin}, {@code out[:, 1::2] = cos},
     * rounded to float32. Row-major {@code [nPos, dim]}.
     */
    public static float[] sinusoidalPositions(int nPos, int dim) {
        float[] out = new float[Math.multiplyExact(nPos, dim)];
        for (int pos = 0; pos < nPos; pos++) {
            for (int j = 0; j < dim; j++) {
                double angle = pos / Math.pow(10000, 2 * (j / 2) / (double) dim);
                out[pos * dim + j] = (float) ((j % 2 == 0) ? Math.sin(angle) : Math.cos(angle));
            }
        }
        return out;
    }

    /** Fills {@code out} with normal(0, std) from SplitMix64(seed) via Box–Muller. */
    public static void normal(float[] out, double std, long seed) {
        long state = seed;
        for (int i = 0; i < out.length; i += 2) {
            state += 0x9E3779B97F4A7C15L;
            double u1 = ((mix64(state) >>> 11) + 1) * 0x1.0p-53; // (0, 1]
            state += 0x9E3779B97F4A7C15L;
            double u2 = (mix64(state) >>> 11) * 0x1.0p-53; // [0, 1)
            double r = Math.sqrt(-2 * Math.log(u1));
            out[i] = (float) (std * r * Math.cos(2 * Math.PI * u2));
            if (i + 1 < out.length) out[i + 1] = (float) (std * r * Math.sin(2 * Math.PI * u2));
        }
    }

    /** The seed of a parameter's stream: {@code seed ^ fnv1a64(name)}, name without the distilbert. prefix. */
    public static long streamSeed(long seed, String name) {
        long h = 0xcbf29ce484222325L;
        for (byte b : DistilBertParameters.stripPrefix(name).getBytes(StandardCharsets.UTF_8)) {
            h ^= (b & 0xFF);
            h *= 0x100000001b3L;
        }
        return seed ^ h;
    }

    /** SplitMix64's output function (Steele, Lea, Flood 2014). */
    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
