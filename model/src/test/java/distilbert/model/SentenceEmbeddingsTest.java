package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import distilbert.model.SentenceEmbeddings.Pooling;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sentence embeddings against their definition, computed here on the host from the last hidden
 * state that {@link DistilBertModel#forward} returns (itself checked against the reference model):
 * the mean over the tokens whose mask is 1, in double; token 0; the L2 normalization of torch's
 * {@code F.normalize}.
 */
class SentenceEmbeddingsTest {

    @TempDir
    static Path dir;

    static Tokenizer tokenizer;

    @BeforeAll
    static void writeTokenizer() throws IOException {
        tokenizer = TinyTokenizer.create(dir);
    }

    static final List<String> TEXTS = List.of("the cat sat on the mat.", "a dog", "who wrote this story ?", "",
            "big red house and small blue tree and the bird sang loud in the night");

    /** The mean of row b's hidden states where its mask is 1, in double, rounded once; zeros for none. */
    static float[] hostMean(float[] last, int[][] mask, int b, int L, int C) {
        double[] sum = new double[C];
        int n = 0;
        for (int l = 0; l < L; l++) {
            if (mask[b][l] == 1) {
                n++;
                for (int c = 0; c < C; c++) {
                    sum[c] += last[(b * L + l) * C + c];
                }
            }
        }
        float[] out = new float[C];
        for (int c = 0; c < C; c++) {
            out[c] = n == 0 ? 0f : (float) (sum[c] / n);
        }
        return out;
    }

    /**
     * sentence-transformers' Pooling.forward (padded path) over the forward pass's hidden states, in
     * double: the mask with positions below {@code skip} zeroed (include_prompt false), then each mode.
     */
    static float[] hostPool(float[] last, int[][] mask, int b, int L, int C, Pooling mode, int skip) {
        int[] m = new int[L];
        for (int l = 0; l < L; l++) m[l] = l < skip ? 0 : mask[b][l];
        float[] out = new float[C];
        switch (mode) {
            case CLS, LASTTOKEN -> {
                int p = -1;                                    // cls: argmax of the mask (0 where all are 0)
                for (int l = 0; l < L; l++) {
                    if (m[l] == 1 && (p < 0 || mode == Pooling.LASTTOKEN)) p = l;
                }
                if (p < 0 && mode == Pooling.CLS) p = 0;
                if (p >= 0) System.arraycopy(last, (b * L + p) * C, out, 0, C);  // lasttoken: x · mask, so zeros for none
            }
            case MAX -> {
                java.util.Arrays.fill(out, Float.NEGATIVE_INFINITY);
                for (int l = 0; l < L; l++) {
                    for (int c = 0; c < C && m[l] == 1; c++) out[c] = Math.max(out[c], last[(b * L + l) * C + c]);
                }
            }
            default -> {
                double[] sum = new double[C];
                double weights = 0;
                for (int l = 0; l < L; l++) {
                    double w = m[l] * (mode == Pooling.WEIGHTEDMEAN ? l + 1 : 1);
                    weights += w;
                    for (int c = 0; c < C; c++) sum[c] += w * last[(b * L + l) * C + c];
                }
                double divisor = Math.max(mode == Pooling.MEAN_SQRT_LEN_TOKENS ? Math.sqrt(weights) : weights, 1e-9);
                for (int c = 0; c < C; c++) out[c] = (float) (sum[c] / divisor);
            }
        }
        return out;
    }

    @Test
    void poolingOnTheBackendIsSentenceTransformersPoolingOfTheUnmaskedTokens() {
        DistilBertConfig config = TestModels.config();
        int[][] mask = TestModels.raggedMask();   // a full row, a padded row, holes (position 0 masked), all padding
        int B = mask.length, L = mask[0].length, C = config.dim();
        int[][] ids = TestModels.randomIds(B, L, config.vocabSize(), 5);
        try (DistilBert db = TestModels.model(config, Head.BASE, 31)) {
            DistilBertModel encoder = db.as(DistilBertModel.class);
            for (MaskedPositions mode : MaskedPositions.values()) {
                ModelInput input = ModelInput.ofIds(ids, mask).withMaskedPositions(mode);
                float[] last = encoder.forward(input).lastHiddenState().data();            // (B, L, C)
                for (int skip : new int[] {0, 2}) {
                    List<Pooling> all = List.of(Pooling.values());
                    float[] pooled = encoder.pool(input, all, skip).data();                 // (B, 6·C)
                    for (int b = 0; b < B; b++) {
                        for (int k = 0; k < all.size(); k++) {
                            Pooling p = all.get(k);
                            String what = mode + " skip " + skip + " row " + b + ": " + p;
                            float[] want = hostPool(last, mask, b, L, C, p, skip);
                            float[] got = slice(pooled, b * all.size() + k, C);
                            // cls of a row of padding: token 0, forward's zeros at a masked position under SKIP,
                            // its computed state under COMPUTE; max of a row without tokens: -inf
                            if (want[0] == Float.NEGATIVE_INFINITY) {
                                assertArrayEquals(want, got, what);
                                continue;
                            }
                            Check.close(what, toDouble(want), got, new int[] {C}, 1e-6, 1e-6);
                        }
                    }
                    assertArrayEquals(new float[C], slice(pooled, 3 * all.size() + 2, C), mode + ": a row without tokens: mean zeros");
                    assertEquals(Float.NEGATIVE_INFINITY, pooled[(3 * all.size() + 1) * C], mode + ": a row without tokens: max -inf");
                }
                assertArrayEquals(encoder.pool(input, List.of(Pooling.MEAN), 0).data(), encoder.pool(input, Pooling.MEAN).data(),
                        "pool(input, mode) is the one-mode list");
            }
        }
    }

    @Test
    void textsGiveTheVectorsOfTheirOwnBatchesNormalizedOnRequest() {
        DistilBertConfig config = TestModels.config();
        try (DistilBert db = TestModels.model(config, Head.SEQUENCE_CLASSIFICATION, 32)) {
            SentenceEmbeddings st = new SentenceEmbeddings(db, tokenizer);   // a head's encoder does
            assertEquals(Pooling.MEAN, st.pooling());
            assertEquals(config.dim(), st.dimension());
            DistilBertModel encoder = db.architecture().distilbert();
            for (Pooling pooling : Pooling.values()) {
                SentenceEmbeddings p = st.withPooling(pooling).withBatchTokens(7);   // several batches, sorted by length
                List<float[]> got = p.embed(TEXTS), unit = p.withNormalize(true).embed(TEXTS);
                for (int i = 0; i < TEXTS.size(); i++) {
                    int[] row = tokenizer.encode(TEXTS.get(i), null, p.encodeOptions()).ids();
                    float[] alone = encoder.pool(ModelInput.ofIds(new int[][] {row}), pooling).data();
                    Check.close(pooling + " text " + i, toDouble(alone), got.get(i), new int[] {config.dim()}, 1e-6, 1e-5);
                    double norm = 0;
                    for (float x : alone) norm += (double) x * x;
                    norm = Math.sqrt(norm);
                    double[] expected = new double[alone.length];
                    for (int c = 0; c < alone.length; c++) expected[c] = alone[c] / norm;
                    Check.close(pooling + " normalized text " + i, expected, unit.get(i), new int[] {config.dim()}, 1e-6, 1e-5);
                }
            }
            assertArrayEquals(st.embed(TEXTS.get(2)), st.embed(List.of(TEXTS.get(2))).getFirst(), "one text or a list of one");
        }
    }

    @Test
    void truncationKeepsTheFirstValuesAndNormalizeEmbeddingsComesAfterIt() {   // the Normalize module before it: golden st_truncate_dim
        DistilBertConfig config = TestModels.config();
        int C = config.dim(), d = 5;
        try (DistilBert db = TestModels.model(config, Head.BASE, 34)) {
            SentenceEmbeddings st = new SentenceEmbeddings(db, tokenizer);
            List<float[]> full = st.embed(TEXTS);
            SentenceEmbeddings cut = st.withTruncateDim(d);
            assertEquals(d, cut.dimension());
            assertEquals(d, cut.truncateDim());
            assertEquals(C, st.withTruncateDim(C + 3).dimension(), "past the width: whole, as sentence-transformers");
            assertArrayEquals(full.get(0), st.withTruncateDim(C + 3).embed(TEXTS.get(0)));
            List<float[]> cutOnly = cut.embed(TEXTS), cutThenUnit = cut.withNormalize(true).embed(TEXTS);
            for (int i = 0; i < TEXTS.size(); i++) {
                assertArrayEquals(java.util.Arrays.copyOf(full.get(i), d), cutOnly.get(i), "the first values as they were");
                float[] expected = java.util.Arrays.copyOf(full.get(i), d);
                SentenceEmbeddings.normalize(expected);
                assertArrayEquals(expected, cutThenUnit.get(i), "normalize_embeddings after the cut: unit vectors of d values");
            }
            assertEquals(0, st.withTruncateDim(0).truncateDim());
            assertEquals("truncate dim must be positive (or 0: none), got -1",
                    assertThrows(IllegalArgumentException.class, () -> st.withTruncateDim(-1)).getMessage());
        }
    }

    @Test
    void normalizeDividesByTheL2NormAndLeavesZeroAlone() {
        float[] v = {3, 4};
        SentenceEmbeddings.normalize(v);
        assertArrayEquals(new float[] {0.6f, 0.8f}, v);
        float[] zero = {0, 0, 0};
        SentenceEmbeddings.normalize(zero);
        assertArrayEquals(new float[] {0, 0, 0}, zero, "torch's F.normalize: x / max(‖x‖, 1e-12)");
        float[] tiny = {1e-30f, 0};
        SentenceEmbeddings.normalize(tiny);
        assertArrayEquals(new float[] {1e-18f, 0}, tiny, 1e-24f, "below the eps the divisor is 1e-12");
    }

    @Test
    void settingsOutsideTheModelAreRefused() {
        try (DistilBert db = TestModels.model(TestModels.config(), Head.BASE, 33)) {
            SentenceEmbeddings st = new SentenceEmbeddings(db, tokenizer);
            assertEquals("max length must be in [2, 64] (max_position_embeddings), got 65",
                    assertThrows(IllegalArgumentException.class, () -> st.withMaxLength(65)).getMessage());
            assertEquals("batch tokens must be at least 1, got 0",
                    assertThrows(IllegalArgumentException.class, () -> st.withBatchTokens(0)).getMessage());
            assertThrows(NullPointerException.class, () -> st.withPooling((Pooling) null));
        }
    }

    private static float[] slice(float[] a, int row, int C) {
        return java.util.Arrays.copyOfRange(a, row * C, (row + 1) * C);
    }

    private static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }
}
