package distilbert.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

class InitializerTest {
    static final DistilBertConfig SMALL = DistilBertConfig.builder().vocabSize(50).maxPositionEmbeddings(16).dim(32).nHeads(4)
            .hiddenDim(64).nLayers(2).padTokenId(3).initializerRange(0.05).build().validate();

    @Test
    void followsHfInitWeights() {
        Map<String, float[]> p = Initializer.initialize(SMALL, Head.MASKED_LM, 7);
        assertFalse(p.containsKey("vocab_projector.weight"), "tied: owned by the word embeddings");
        for (var e : p.entrySet()) {
            String n = e.getKey();
            float[] v = e.getValue();
            if (n.contains("LayerNorm") || n.contains("layer_norm")) {
                float expected = n.endsWith("weight") ? 1f : 0f;
                for (float x : v) assertEquals(expected, x, n);
            } else if (n.endsWith(".bias")) {
                for (float x : v) assertEquals(0f, x, n);
            }
        }
        float[] word = p.get("distilbert.embeddings.word_embeddings.weight");
        for (int j = 0; j < 32; j++) assertEquals(0f, word[3 * 32 + j], "padding row");
        assertTrue(word[2 * 32] != 0f);
        // position embeddings are an ordinary Embedding: no padding row
        assertTrue(p.get("distilbert.embeddings.position_embeddings.weight")[0] != 0f);
    }

    @Test
    void normalHasTheConfiguredStd() {
        float[] v = new float[200_000];
        Initializer.normal(v, 0.02, 123);
        double sum = 0, sq = 0;
        for (float x : v) {
            sum += x;
            sq += x * (double) x;
        }
        double mean = sum / v.length, std = Math.sqrt(sq / v.length - mean * mean);
        assertEquals(0, mean, 2e-4);
        assertEquals(0.02, std, 2e-4);
    }

    @Test
    void deterministicPerNameAndIndependentOfHead() {
        Map<String, float[]> a = Initializer.initialize(SMALL, Head.SEQUENCE_CLASSIFICATION, 1);
        Map<String, float[]> b = Initializer.initialize(SMALL, Head.SEQUENCE_CLASSIFICATION, 1);
        Map<String, float[]> base = Initializer.initialize(SMALL, Head.BASE, 1);
        Map<String, float[]> other = Initializer.initialize(SMALL, Head.SEQUENCE_CLASSIFICATION, 2);
        for (var e : a.entrySet()) assertArrayEquals(e.getValue(), b.get(e.getKey()), e.getKey());
        assertArrayEquals(a.get("distilbert.transformer.layer.1.ffn.lin1.weight"), base.get("transformer.layer.1.ffn.lin1.weight"));
        assertFalse(java.util.Arrays.equals(a.get("classifier.weight"), other.get("classifier.weight")));
        assertFalse(java.util.Arrays.equals(a.get("distilbert.transformer.layer.0.attention.q_lin.weight"),
                a.get("distilbert.transformer.layer.0.attention.k_lin.weight")));
    }

    @Test
    void sinusoidalTableIsCreateSinusoidalEmbeddings() {
        float[] t = Initializer.sinusoidalPositions(5, 6);
        // position_enc[pos, j] = pos / 10000^(2*(j//2)/dim); even columns sin, odd columns cos
        for (int pos = 0; pos < 5; pos++) {
            for (int j = 0; j < 6; j++) {
                double angle = pos / Math.pow(10000, 2 * (j / 2) / 6.0);
                assertEquals((float) (j % 2 == 0 ? Math.sin(angle) : Math.cos(angle)), t[pos * 6 + j]);
            }
        }
        assertEquals(0f, t[0]);
        assertEquals(1f, t[1]);
        assertEquals((float) Math.sin(1.0), t[6]);
        assertEquals((float) Math.cos(1.0), t[7]);
        assertEquals((float) Math.sin(1 / Math.pow(10000, 2 / 6.0)), t[8]);
        DistilBertConfig sin = SMALL.toBuilder().sinusoidalPosEmbds(true).build();
        assertArrayEquals(Initializer.sinusoidalPositions(16, 32),
                Initializer.initialize(sin, Head.BASE, 9).get("embeddings.position_embeddings.weight"));
    }

    @Test
    void slabAndTiedValues() {
        var table = DistilBertParameters.table(SMALL, Head.MASKED_LM, 16);
        float[] slab = new float[(int) table.numel()];
        Initializer.initialize(SMALL, table, slab, 5);
        Checkpoint c = Checkpoint.initialized(SMALL, Head.MASKED_LM, 5);
        assertArrayEquals(slab, c.toSlab(table));
        assertArrayEquals(c.get("distilbert.embeddings.word_embeddings.weight"), c.get("vocab_projector.weight"));
        var untied = SMALL.toBuilder().tieWordEmbeddings(false).build();
        Map<String, float[]> u = Initializer.initialize(untied, Head.MASKED_LM, 5);
        assertTrue(u.containsKey("vocab_projector.weight"));
        assertFalse(java.util.Arrays.equals(u.get("vocab_projector.weight"), u.get("distilbert.embeddings.word_embeddings.weight")));
    }
}
