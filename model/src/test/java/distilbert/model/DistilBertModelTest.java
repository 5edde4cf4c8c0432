package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import distilbert.weights.Activation;
import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The packed float32 encoder against {@link ReferenceDistilBert}, the unpacked double-precision one.
 *
 * <p>Tolerance {@code 1e-5 + 1e-5·|ref|}: the model computes in float32 (unit roundoff 6e-8); each
 * value passes through ~10 roundings per op and sums of up to 64 terms in 2 layers, which stays
 * below ~2e-6 on these layer-normed O(1) values; 1e-5 leaves room without admitting a wrong index,
 * mask or scale (those give errors of order 1e-2 to 1).
 */
class DistilBertModelTest {

    static final double ATOL = 1e-5, RTOL = 1e-5;
    static final int B = 4, L = 16;

    static Stream<Arguments> activationsAndPositions() {
        return Stream.of(Activation.values()).flatMap(a -> Stream.of(Arguments.of(a, false), Arguments.of(a, true)));
    }

    /** The reference with the SKIP convention applied: zeros wherever the query position is masked. */
    static double[] zeroMasked(double[] ref, int[] mask, int width) {
        double[] out = ref.clone();
        for (int i = 0; i < mask.length; i++) {
            if (mask[i] == 0) {
                java.util.Arrays.fill(out, i * width, (i + 1) * width, 0);
            }
        }
        return out;
    }

    /** Attentions [B, NH, L, L] with whole query rows zeroed where the query is masked. */
    static double[] zeroMaskedQueries(double[] ref, int[] mask, int NH) {
        double[] out = ref.clone();
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                for (int i = 0; i < L; i++) {
                    if (mask[b * L + i] == 0) {
                        int row = ((b * NH + h) * L + i) * L;
                        java.util.Arrays.fill(out, row, row + L, 0);
                    }
                }
            }
        }
        return out;
    }

    static int[] flat(int[][] a) {
        return ModelInput.ofIds(a).inputIds();
    }

    @ParameterizedTest(name = "{0}, sinusoidal {1}")
    @MethodSource("activationsAndPositions")
    void packedForwardMatchesDenseReferenceAtUnmaskedPositions(Activation act, boolean sinusoidal) {
        DistilBertConfig config = TestModels.config(act, sinusoidal, 2);
        Checkpoint ckpt = TestModels.checkpoint(config, Head.BASE, 21);
        int[][] ids = TestModels.randomIds(B, L, config.vocabSize(), 22);
        int[][] mask = TestModels.raggedMask();
        int[] m = flat(mask);
        ReferenceDistilBert.Output ref = new ReferenceDistilBert(ckpt).encode(B, L, flat(ids), null, m, null);
        try (DistilBert db = DistilBert.of(ckpt, new CpuOps(2, MatmulKernel.best()))) {
            BaseModelOutput out = db.as(DistilBertModel.class).forward(
                    ModelInput.ofIds(ids, mask).withOutputHiddenStates(true).withOutputAttentions(true));
            int C = config.dim(), NH = config.nHeads();
            Check.close("last_hidden_state", zeroMasked(ref.last(), m, C), out.lastHiddenState().data(),
                    new int[] {B, L, C}, ATOL, RTOL);
            assertEquals(config.nLayers() + 1, out.hiddenStates().size());
            for (int i = 0; i < out.hiddenStates().size(); i++) {
                Check.close("hidden_states[" + i + "]", zeroMasked(ref.hidden().get(i), m, C),
                        out.hiddenStates().get(i).data(), new int[] {B, L, C}, ATOL, RTOL);
            }
            assertEquals(config.nLayers(), out.attentions().size());
            for (int i = 0; i < out.attentions().size(); i++) {
                Check.close("attentions[" + i + "]", zeroMaskedQueries(ref.attentions().get(i), m, NH),
                        out.attentions().get(i).data(), new int[] {B, NH, L, L}, 1e-6, RTOL);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("activationsAndPositions")
    void computeModeMatchesReferenceEverywhere(Activation act, boolean sinusoidal) {
        if (sinusoidal) {
            return; // one position table is enough here
        }
        DistilBertConfig config = TestModels.config(act, false, 2);
        Checkpoint ckpt = TestModels.checkpoint(config, Head.BASE, 23);
        int[][] ids = TestModels.randomIds(B, L, config.vocabSize(), 24);
        int[] m = flat(TestModels.raggedMask());
        ReferenceDistilBert.Output ref = new ReferenceDistilBert(ckpt).encode(B, L, flat(ids), null, m, null);
        try (DistilBert db = DistilBert.of(ckpt, new CpuOps(2, MatmulKernel.best()))) {
            BaseModelOutput out = db.as(DistilBertModel.class).forward(ModelInput.ofIds(ids, TestModels.raggedMask())
                    .withMaskedPositions(MaskedPositions.COMPUTE).withOutputAttentions(true));
            int C = config.dim(), NH = config.nHeads();
            // every position, the masked ones and the all-padding row (uniform attention) included
            Check.close("last_hidden_state (COMPUTE)", ref.last(), out.lastHiddenState().data(), new int[] {B, L, C},
                    ATOL, RTOL);
            for (int i = 0; i < config.nLayers(); i++) {
                Check.close("attentions[" + i + "] (COMPUTE)", ref.attentions().get(i), out.attentions().get(i).data(),
                        new int[] {B, NH, L, L}, 1e-6, RTOL);
            }
        }
    }

    @Test
    void paddedBatchEqualsTheSequencesOneAtATime() {
        DistilBertConfig config = TestModels.config();
        int[][] ids = TestModels.randomIds(B, L, config.vocabSize(), 25);
        int[][] mask = TestModels.raggedMask();
        try (DistilBert db = TestModels.model(config, Head.BASE, 26)) {
            DistilBertModel model = db.as(DistilBertModel.class);
            Tensor batch = model.forward(ModelInput.ofIds(ids, mask)).lastHiddenState();
            int C = config.dim();
            for (int b = 0; b < B; b++) {
                // the row alone, with its mask
                Tensor alone = model.forward(ModelInput.ofIds(new int[][] {ids[b]}, new int[][] {mask[b]}))
                        .lastHiddenState();
                float[] rowOfBatch = java.util.Arrays.copyOfRange(batch.data(), b * L * C, (b + 1) * L * C);
                Check.close("row " + b + " alone vs in the batch", rowOfBatch, alone.data(), new int[] {L, C}, ATOL,
                        RTOL);
            }
            // the right-padded row, trimmed to its tokens and given no mask at all
            int len = 9;
            Tensor trimmed = model.forward(ModelInput.ofIds(new int[][] {java.util.Arrays.copyOf(ids[1], len)}))
                    .lastHiddenState();
            float[] rowOfBatch = java.util.Arrays.copyOfRange(batch.data(), L * C, L * C + len * C);
            Check.close("row 1 trimmed vs padded", rowOfBatch, trimmed.data(), new int[] {len, C}, ATOL, RTOL);
        }
    }

    @Test
    void attentionProbabilitiesSumToOneOverUnmaskedKeysAndAreZeroOnMaskedOnes() {
        DistilBertConfig config = TestModels.config();
        int[][] ids = TestModels.randomIds(B, L, config.vocabSize(), 27);
        int[][] mask = TestModels.raggedMask();
        try (DistilBert db = TestModels.model(config, Head.BASE, 28)) {
            BaseModelOutput out = db.as(DistilBertModel.class)
                    .forward(ModelInput.ofIds(ids, mask).withOutputAttentions(true));
            int NH = config.nHeads();
            for (Tensor att : out.attentions()) {
                for (int b = 0; b < B; b++) {
                    for (int h = 0; h < NH; h++) {
                        for (int i = 0; i < L; i++) {
                            double sum = 0;
                            for (int j = 0; j < L; j++) {
                                float p = att.get(b, h, i, j);
                                if (mask[b][j] == 0) {
                                    assertEquals(0f, p, "probability of masked key " + j + " at " + b + "," + h + "," + i);
                                }
                                sum += p;
                            }
                            assertEquals(mask[b][i] == 1 ? 1.0 : 0.0, sum, 1e-6, "row sum at " + b + "," + h + "," + i);
                        }
                    }
                }
            }
        }
    }

    @Test
    void headMaskZeroesAHeadAndItsTwoFormsAgree() {
        DistilBertConfig config = TestModels.config();
        int NH = config.nHeads(), nl = config.nLayers();
        Checkpoint ckpt = TestModels.checkpoint(config, Head.BASE, 29);
        int[][] ids = TestModels.randomIds(B, L, config.vocabSize(), 30);
        int[][] mask = TestModels.raggedMask();
        try (DistilBert db = DistilBert.of(ckpt, new CpuOps(2, MatmulKernel.best()))) {
            DistilBertModel model = db.as(DistilBertModel.class);
            ModelInput in = ModelInput.ofIds(ids, mask).withOutputAttentions(true);
            BaseModelOutput plain = model.forward(in);
            float[] perHead = {1f, 0f, 1f, 0.5f};
            float[] perLayer = new float[nl * NH];
            for (int l = 0; l < nl; l++) {
                System.arraycopy(perHead, 0, perLayer, l * NH, NH);
            }
            BaseModelOutput a = model.forward(in.withHeadMask(Tensor.of(perHead, NH)));
            BaseModelOutput b = model.forward(in.withHeadMask(Tensor.of(perLayer, nl, NH)));
            Check.close("[NH] vs [n_layers, NH] head mask", a.lastHiddenState(), b.lastHiddenState(), 0, 0);
            for (int l = 0; l < nl; l++) {
                Tensor att = a.attentions().get(l);
                Tensor base = plain.attentions().get(l);
                for (int bi = 0; bi < B; bi++) {
                    for (int i = 0; i < L; i++) {
                        for (int j = 0; j < L; j++) {
                            assertEquals(0f, att.get(bi, 1, i, j), "masked head 1 of layer " + l);
                            if (l == 0) {
                                // layer 0 sees the same input with and without the mask: head 3 is halved
                                assertEquals(0.5f * base.get(bi, 3, i, j), att.get(bi, 3, i, j), 1e-7, "head 3, layer 0");
                                assertEquals(base.get(bi, 0, i, j), att.get(bi, 0, i, j), "head 0, layer 0");
                            }
                        }
                    }
                }
            }
            assertNotEquals(plain.lastHiddenState(), a.lastHiddenState(), "the head mask changed nothing");
            // against the reference, per layer with different masks
            float[] varied = {1f, 0f, 0.25f, 1f, 0f, 1f, 1f, 0.5f};
            ReferenceDistilBert.Output ref = new ReferenceDistilBert(ckpt).encode(B, L, flat(ids), null, flat(mask),
                    varied);
            Tensor out = model.forward(ModelInput.ofIds(ids, mask).withHeadMask(Tensor.of(varied, nl, NH)))
                    .lastHiddenState();
            Check.close("head mask vs reference", zeroMasked(ref.last(), flat(mask), config.dim()), out.data(),
                    new int[] {B, L, config.dim()}, ATOL, RTOL);
        }
    }

    @Test
    void inputsEmbedsGoThroughPositionsAndLayerNormLikeIds() {
        DistilBertConfig config = TestModels.config();
        Checkpoint ckpt = TestModels.checkpoint(config, Head.BASE, 31);
        int[][] ids = TestModels.randomIds(B, L, config.vocabSize(), 32);
        int[][] mask = TestModels.raggedMask();
        int C = config.dim();
        float[] wte = ckpt.get("embeddings.word_embeddings.weight");
        float[] embeds = new float[B * L * C];
        for (int b = 0; b < B; b++) {
            for (int l = 0; l < L; l++) {
                System.arraycopy(wte, ids[b][l] * C, embeds, (b * L + l) * C, C);
            }
        }
        try (DistilBert db = DistilBert.of(ckpt, new CpuOps(2, MatmulKernel.best()))) {
            DistilBertModel model = db.as(DistilBertModel.class);
            Tensor fromIds = model.forward(ModelInput.ofIds(ids, mask)).lastHiddenState();
            Tensor fromEmbeds = model.forward(ModelInput.ofEmbeds(Tensor.of(embeds, B, L, C), flat(mask)))
                    .lastHiddenState();
            Check.close("inputs_embeds vs input_ids", fromIds, fromEmbeds, 0, 0);
            // and arbitrary embeddings against the reference
            float[] random = new Rand(33).floats(B * L * C, 1);
            ReferenceDistilBert.Output ref = new ReferenceDistilBert(ckpt).encode(B, L, null, random, flat(mask), null);
            Tensor out = model.forward(ModelInput.ofEmbeds(Tensor.of(random, B, L, C), flat(mask))).lastHiddenState();
            Check.close("inputs_embeds vs reference", zeroMasked(ref.last(), flat(mask), C), out.data(),
                    new int[] {B, L, C}, ATOL, RTOL);
        }
    }

    @Test
    void outputsFollowTheConfigUnlessAsked() {
        DistilBertConfig config = TestModels.config().toBuilder().outputHiddenStates(true).build();
        try (DistilBert db = TestModels.model(config, Head.BASE, 34)) {
            DistilBertModel model = db.as(DistilBertModel.class);
            int[][] ids = TestModels.randomIds(2, 5, config.vocabSize(), 35);
            BaseModelOutput byConfig = model.forward(ModelInput.ofIds(ids));
            assertEquals(config.nLayers() + 1, byConfig.hiddenStates().size());
            assertNull(byConfig.attentions());
            BaseModelOutput off = model.forward(ModelInput.ofIds(ids).withOutputHiddenStates(false));
            assertNull(off.hiddenStates());
        }
    }

    @Test
    void emptyAndFullyMaskedBatchesGiveZeros() {
        DistilBertConfig config = TestModels.config();
        try (DistilBert db = TestModels.model(config, Head.BASE, 36)) {
            DistilBertModel model = db.as(DistilBertModel.class);
            Tensor none = model.forward(ModelInput.ofIds(new int[0][])).lastHiddenState();
            assertEquals(List.of(0, 0, config.dim()), List.of(none.dim(0), none.dim(1), none.dim(2)));
            int[][] ids = TestModels.randomIds(2, 3, config.vocabSize(), 37);
            Tensor masked = model.forward(ModelInput.ofIds(ids, new int[2][3]).withOutputAttentions(true))
                    .lastHiddenState();
            for (float v : masked.data()) {
                assertEquals(0f, v);
            }
        }
    }
}
