package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import distilbert.weights.ProblemType;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The model allocates every activation with {@link Ops#allocateUninitialized} (on a GPU: whatever
 * the previous step left in the arena), on the promise that the op producing a buffer writes all of
 * it before anything reads it. This holds the model to that promise without a GPU: the same forward
 * passes on a {@link CpuOps#poisoningUninitialized} backend, whose uninitialised buffers start as
 * NaN (index buffers as {@link Integer#MIN_VALUE}), must give bit for bit what the ordinary CPU
 * backend gives: the encoder and all five heads, both {@link MaskedPositions} modes, every optional
 * output (hidden states, attentions, head mask), every loss. A read before the write shows as NaN
 * in some output, or as an index out of range.
 */
class UninitializedBuffersTest {

    static final int B = 4, L = 16;

    @Test
    void poisoningModeFillsOnlyUninitialisedAllocations() {
        try (CpuOps ops = CpuOps.poisoningUninitialized(1, MatmulKernel.SCALAR)) {
            for (float v : ops.download(ops.allocateUninitialized(5))) {
                assertTrue(Float.isNaN(v), "an uninitialised buffer starts as NaN");
            }
            for (float v : ops.download(ops.allocate(5))) {
                assertEquals(0f, v, "allocate still zero-fills");
            }
            HostIndexBuffer ids = (HostIndexBuffer) ops.allocateIndicesUninitialized(3);
            assertEquals(Integer.MIN_VALUE, ids.data()[0]);
            assertEquals(0, ((HostIndexBuffer) ops.allocateIndices(3)).data()[2]);
            // what a caller writes in full comes back as written
            assertEquals(2.5f, ops.download(ops.bufferOf(new float[] {2.5f}))[0]);
        }
    }

    @ParameterizedTest
    @EnumSource(MaskedPositions.class)
    void encoder(MaskedPositions mode) {
        DistilBertConfig config = TestModels.config();
        int[][] mask = TestModels.raggedMask();
        ModelInput ids = everything(ModelInput.ofIds(TestModels.randomIds(B, L, config.vocabSize(), 71), mask), mode,
                config);
        float[] embeds = new Rand(72).floats(B * L * config.dim(), 1);
        ModelInput fromEmbeds = everything(ModelInput.ofEmbeds(Tensor.of(embeds, B, L, config.dim()), flat(mask)), mode,
                config);
        same(mode + " DistilBertModel", config, Head.BASE, 70, db -> db.as(DistilBertModel.class).forward(ids));
        same(mode + " DistilBertModel (inputs_embeds)", config, Head.BASE, 70,
                db -> db.as(DistilBertModel.class).forward(fromEmbeds));
        for (SentenceEmbeddings.Pooling pooling : SentenceEmbeddings.Pooling.values()) {
            same(mode + " DistilBertModel.pool " + pooling, config, Head.BASE, 70,
                    db -> db.as(DistilBertModel.class).pool(ids, pooling));
        }
    }

    @ParameterizedTest
    @EnumSource(MaskedPositions.class)
    void maskedLm(MaskedPositions mode) {
        DistilBertConfig config = TestModels.config();
        int V = config.vocabSize();
        int[][] mask = TestModels.raggedMask();
        ModelInput in = everything(ModelInput.ofIds(TestModels.randomIds(B, L, V, 73), mask), mode, config);
        int[][] labels = new int[B][L];
        Rand r = new Rand(74);
        for (int b = 0; b < B; b++) {
            for (int l = 0; l < L; l++) {
                labels[b][l] = mask[b][l] == 1 && r.nextInt(3) == 0 ? r.nextInt(V) : -100;
            }
        }
        // the labeled positions, then two masked ones (row 3 is all padding)
        TokenPositions labeled = TokenPositions.labeled(labels);
        int n = labeled.size();
        int[] rows = Arrays.copyOf(labeled.rows(), n + 2), positions = Arrays.copyOf(labeled.positions(), n + 2);
        rows[n] = 3;
        rows[n + 1] = 1;
        positions[n + 1] = 12;
        TokenPositions at = new TokenPositions(rows, positions);
        same(mode + " DistilBertForMaskedLM", config, Head.MASKED_LM, 75,
                db -> db.as(DistilBertForMaskedLM.class).forward(in, labels));
        same(mode + " DistilBertForMaskedLM at positions", config, Head.MASKED_LM, 75,
                db -> db.as(DistilBertForMaskedLM.class).forwardAt(in, at, labels));
    }

    @ParameterizedTest
    @EnumSource(MaskedPositions.class)
    void sequenceClassification(MaskedPositions mode) {
        DistilBertConfig config = TestModels.config();
        ModelInput in = everything(ModelInput.ofIds(TestModels.randomIds(B, L, config.vocabSize(), 76),
                TestModels.raggedMaskWithFirstTokens()), mode, config);
        same(mode + " single-label", config, Head.SEQUENCE_CLASSIFICATION, 77,
                db -> db.as(DistilBertForSequenceClassification.class).forward(in,
                        SequenceLabels.classes(2, 0, -100, 1)));
        DistilBertConfig regression = config.toBuilder().problemType(ProblemType.REGRESSION).build();
        float[] targets = new Rand(78).floats(B * 3, 2);
        same(mode + " regression", regression, Head.SEQUENCE_CLASSIFICATION, 77,
                db -> db.as(DistilBertForSequenceClassification.class).forward(in,
                        SequenceLabels.values(Tensor.of(targets, B, 3))));
        DistilBertConfig multi = config.toBuilder().problemType(ProblemType.MULTI_LABEL_CLASSIFICATION).build();
        float[] bits = {1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1};
        same(mode + " multi-label", multi, Head.SEQUENCE_CLASSIFICATION, 77,
                db -> db.as(DistilBertForSequenceClassification.class).forward(in,
                        SequenceLabels.values(Tensor.of(bits, B, 3))));
    }

    @ParameterizedTest
    @EnumSource(MaskedPositions.class)
    void multipleChoice(MaskedPositions mode) {
        DistilBertConfig config = TestModels.config();
        int NC = 2;
        int[][] ids = TestModels.randomIds(B, L, config.vocabSize(), 79);
        int[][] mask = TestModels.raggedMaskWithFirstTokens();
        int[][][] choiceIds = new int[B / NC][NC][], choiceMask = new int[B / NC][NC][];
        for (int i = 0; i < B; i++) {
            choiceIds[i / NC][i % NC] = ids[i];
            choiceMask[i / NC][i % NC] = mask[i];
        }
        ModelInput in = everything(ModelInput.ofChoices(choiceIds, choiceMask), mode, config);
        same(mode + " DistilBertForMultipleChoice", config, Head.MULTIPLE_CHOICE, 80,
                db -> db.as(DistilBertForMultipleChoice.class).forward(in, NC, new int[] {1, 0}));
    }

    @ParameterizedTest
    @EnumSource(MaskedPositions.class)
    void tokenClassification(MaskedPositions mode) {
        DistilBertConfig config = TestModels.config();
        int[][] mask = TestModels.raggedMask();
        ModelInput in = everything(ModelInput.ofIds(TestModels.randomIds(B, L, config.vocabSize(), 81), mask), mode,
                config);
        int[][] labels = new int[B][L];
        Rand r = new Rand(82);
        for (int b = 0; b < B; b++) {
            for (int l = 0; l < L; l++) {
                labels[b][l] = mask[b][l] == 1 ? r.nextInt(config.numLabels()) : -100;
            }
        }
        same(mode + " DistilBertForTokenClassification", config, Head.TOKEN_CLASSIFICATION, 83,
                db -> db.as(DistilBertForTokenClassification.class).forward(in, labels));
    }

    @ParameterizedTest
    @EnumSource(MaskedPositions.class)
    void questionAnswering(MaskedPositions mode) {
        DistilBertConfig config = TestModels.config(distilbert.weights.Activation.GELU, false, 2);
        ModelInput in = everything(ModelInput.ofIds(TestModels.randomIds(B, L, config.vocabSize(), 84),
                TestModels.raggedMask()), mode, config);
        same(mode + " DistilBertForQuestionAnswering", config, Head.QUESTION_ANSWERING, 85,
                db -> db.as(DistilBertForQuestionAnswering.class).forward(in, new int[] {-3, 5, 100, L - 1},
                        new int[] {2, L, 7, 40}));
    }

    // ---------------------------------------------------------------------------------------------

    /** Every optional output on, a per-layer head mask with a zero, {@code mode}. */
    private static ModelInput everything(ModelInput in, MaskedPositions mode, DistilBertConfig config) {
        int layers = config.nLayers(), NH = config.nHeads();
        float[] headMask = new float[layers * NH];
        for (int i = 0; i < headMask.length; i++) {
            headMask[i] = i % 3 == 1 ? 0f : 0.5f + i % 2;
        }
        return in.withMaskedPositions(mode).withOutputAttentions(true).withOutputHiddenStates(true)
                .withHeadMask(Tensor.of(headMask, layers, NH));
    }

    /** Runs {@code forward} on a model of {@code head} on both backends and compares every output bit for bit. */
    private static void same(String what, DistilBertConfig config, Head head, long seed,
                             Function<DistilBert, Object> forward) {
        Checkpoint ckpt = TestModels.checkpoint(config, head, seed);
        Map<String, float[]> expected, actual;
        try (DistilBert db = DistilBert.of(ckpt, new CpuOps(2, MatmulKernel.best()))) {
            expected = values(forward.apply(db));
        }
        try (DistilBert db = DistilBert.of(ckpt, CpuOps.poisoningUninitialized(2, MatmulKernel.best()))) {
            actual = values(forward.apply(db));
        }
        assertEquals(expected.keySet(), actual.keySet(), what);
        for (var e : expected.entrySet()) {
            bitwise(what + ": " + e.getKey(), e.getValue(), actual.get(e.getKey()));
        }
    }

    /** Every tensor (and the loss) of a model output, by HF's field name. */
    private static Map<String, float[]> values(Object output) {
        Map<String, float[]> v = new LinkedHashMap<>();
        switch (output) {
            case Tensor pooled -> v.put("pooled", pooled.data());
            case BaseModelOutput o -> {
                v.put("last_hidden_state", o.lastHiddenState().data());
                states(v, o.hiddenStates(), o.attentions());
            }
            case MaskedLMOutput o -> {
                loss(v, o.loss());
                v.put("logits", o.logits().data());
                states(v, o.hiddenStates(), o.attentions());
            }
            case SequenceClassifierOutput o -> {
                loss(v, o.loss());
                v.put("logits", o.logits().data());
                states(v, o.hiddenStates(), o.attentions());
            }
            case MultipleChoiceModelOutput o -> {
                loss(v, o.loss());
                v.put("logits", o.logits().data());
                states(v, o.hiddenStates(), o.attentions());
            }
            case TokenClassifierOutput o -> {
                loss(v, o.loss());
                v.put("logits", o.logits().data());
                states(v, o.hiddenStates(), o.attentions());
            }
            case QuestionAnsweringModelOutput o -> {
                loss(v, o.loss());
                v.put("start_logits", o.startLogits().data());
                v.put("end_logits", o.endLogits().data());
                states(v, o.hiddenStates(), o.attentions());
            }
            default -> throw new IllegalArgumentException("no comparison for " + output.getClass());
        }
        return v;
    }

    private static void loss(Map<String, float[]> v, Float loss) {
        assertTrue(loss != null, "every case here computes a loss");
        v.put("loss", new float[] {loss});
    }

    private static void states(Map<String, float[]> v, List<Tensor> hiddenStates, List<Tensor> attentions) {
        assertTrue(hiddenStates != null && attentions != null, "every case here asks for both");
        for (int i = 0; i < hiddenStates.size(); i++) {
            v.put("hidden_states[" + i + "]", hiddenStates.get(i).data());
        }
        for (int i = 0; i < attentions.size(); i++) {
            v.put("attentions[" + i + "]", attentions.get(i).data());
        }
    }

    /** The same bits everywhere, and no NaN in the expected values (so that NaN = NaN proves nothing). */
    private static void bitwise(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            if (Float.isNaN(expected[i])) {
                fail(what + ": the ordinary backend gave NaN at " + i + "; the comparison needs finite values");
            }
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                fail(what + ": element " + i + " is " + actual[i] + " with NaN-poisoned uninitialised buffers, "
                        + expected[i] + " without: some buffer is read before it is written");
            }
        }
    }

    private static int[] flat(int[][] a) {
        return DistilBertModelTest.flat(a);
    }
}
