package distilbert.model;

import distilbert.weights.Activation;
import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.Head;
import distilbert.weights.Initializer;
import distilbert.weights.ParameterSpec;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Small random models for tests: dim 32, 4 heads, 2 layers, FFN 64, vocab 100, 64 positions.
 * Weights are drawn wider than HF's init (std 0.02 would make every layer nearly the identity and
 * hide mistakes): linear weights uniform ±0.35, biases ±0.2, LayerNorm weights in [0.6, 1.4].
 */
final class TestModels {

    private TestModels() {
    }

    static DistilBertConfig config(Activation act, boolean sinusoidal, int numLabels) {
        return DistilBertConfig.builder().vocabSize(100).maxPositionEmbeddings(64).sinusoidalPosEmbds(sinusoidal)
                .nLayers(2).nHeads(4).dim(32).hiddenDim(64).activation(act).numLabels(numLabels).build();
    }

    static DistilBertConfig config() {
        return config(Activation.GELU, false, 3);
    }

    /** Random parameters for {@code head}, tied ones left out (as {@link Checkpoint} holds them). */
    static Checkpoint checkpoint(DistilBertConfig config, Head head, long seed) {
        Rand r = new Rand(seed);
        Map<String, float[]> tensors = new LinkedHashMap<>();
        for (ParameterSpec s : DistilBertParameters.layout(config, head)) {
            if (s.isTied()) {
                continue;
            }
            String name = DistilBertParameters.stripPrefix(s.name());
            int n = Math.toIntExact(s.numel());
            float[] v;
            if (name.equals(DistilBertParameters.POSITION_EMBEDDINGS) && config.sinusoidalPosEmbds()) {
                v = Initializer.sinusoidalPositions((int) s.dim(0), (int) s.dim(1));
            } else if (name.contains("LayerNorm") || name.contains("layer_norm")) {
                v = name.endsWith("weight") ? r.floats(n, 0.6, 1.4) : r.floats(n, 0.2);
            } else if (name.startsWith("embeddings.")) {
                v = r.floats(n, 1.0);
            } else if (name.endsWith("bias")) {
                v = r.floats(n, 0.2);
            } else {
                v = r.floats(n, 0.35);
            }
            tensors.put(s.name(), v);
        }
        return new Checkpoint(config, head, "random (seed " + seed + ")", tensors, List.of(), List.of(), List.of());
    }

    /** A model of {@code head} on a fresh 2-thread CPU backend (closed with the model). */
    static DistilBert model(DistilBertConfig config, Head head, long seed) {
        return DistilBert.of(checkpoint(config, head, seed), new CpuOps(2, MatmulKernel.best()));
    }

    /**
     * A ragged batch [4, 16]: a full row, a right-padded row, a row with holes (position 0
     * included), and an all-padding row.
     */
    static int[][] raggedMask() {
        int L = 16;
        int[][] mask = new int[4][L];
        for (int l = 0; l < L; l++) {
            mask[0][l] = 1;
            mask[1][l] = l < 9 ? 1 : 0;
            mask[2][l] = (l % 3 == 0 || l == 7 || l > 12) && l != 0 ? 1 : 0;
            mask[3][l] = 0;
        }
        return mask;
    }

    /** Like {@link #raggedMask} but every row starts with a token (for pooling heads under SKIP). */
    static int[][] raggedMaskWithFirstTokens() {
        int[][] mask = raggedMask();
        mask[2][0] = 1;
        mask[3][0] = 1;
        mask[3][1] = 1;
        return mask;
    }

    static int[][] randomIds(int B, int L, int V, long seed) {
        Rand r = new Rand(seed);
        int[][] ids = new int[B][];
        for (int b = 0; b < B; b++) {
            ids[b] = r.ints(L, V);
        }
        return ids;
    }
}
