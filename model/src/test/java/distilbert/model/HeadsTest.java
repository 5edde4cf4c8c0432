package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.Head;
import distilbert.weights.ProblemType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The five heads against {@link ReferenceDistilBert}: logits, the documented values at masked
 * positions, and each loss with HF's selection rules, −100 ignoring and QA clamping.
 */
class HeadsTest {

    static final double ATOL = DistilBertModelTest.ATOL, RTOL = DistilBertModelTest.RTOL;
    static final int B = 4, L = 16;

    private static int[] flat(int[][] a) {
        return DistilBertModelTest.flat(a);
    }

    /** Reference rows [B·L·width] with every masked position replaced by {@code fill}. */
    private static double[] fillMasked(double[] ref, int[] mask, int width, double[] fill) {
        double[] out = ref.clone();
        for (int i = 0; i < mask.length; i++) {
            if (mask[i] == 0) {
                System.arraycopy(fill, 0, out, i * width, width);
            }
        }
        return out;
    }

    private static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }

    private static void assertLoss(String what, double expected, Float actual) {
        assertTrue(actual != null, what + ": no loss");
        assertEquals(expected, actual, 1e-6 + 1e-5 * Math.abs(expected), what);
    }

    // ---------------------------------------------------------------------------------------------
    // masked LM

    @Test
    void maskedLmLogitsAndLoss() {
        DistilBertConfig config = TestModels.config();
        Checkpoint ckpt = TestModels.checkpoint(config, Head.MASKED_LM, 41);
        int V = config.vocabSize(), C = config.dim();
        int[][] ids = TestModels.randomIds(B, L, V, 42);
        int[][] mask = TestModels.raggedMask();
        int[][] labels = new int[B][L];
        Rand r = new Rand(43);
        for (int b = 0; b < B; b++) {
            for (int l = 0; l < L; l++) {
                labels[b][l] = mask[b][l] == 1 && r.nextInt(3) == 0 ? r.nextInt(V) : -100;
            }
        }
        ReferenceDistilBert ref = new ReferenceDistilBert(ckpt);
        double[] refLogits = ref.mlmLogits(ref.encode(B, L, flat(ids), null, flat(mask), null).last());
        double refLoss = ReferenceDistilBert.crossEntropy(refLogits, flat(labels), V, -100);
        double[] zeroRowLogits = ref.mlmLogits(new double[C]);
        try (DistilBert db = DistilBert.of(ckpt, new CpuOps(2, MatmulKernel.best()))) {
            DistilBertForMaskedLM mlm = db.as(DistilBertForMaskedLM.class);
            MaskedLMOutput out = mlm.forward(ModelInput.ofIds(ids, mask), labels);
            Check.close("MLM logits", fillMasked(refLogits, flat(mask), V, zeroRowLogits), out.logits().data(),
                    new int[] {B, L, V}, ATOL, RTOL);
            assertLoss("MLM loss", refLoss, out.loss());

            // only at the labeled positions: the same rows and the same loss
            TokenPositions at = TokenPositions.labeled(labels);
            MaskedLMOutput sparse = mlm.forwardAt(ModelInput.ofIds(ids, mask), at, labels);
            assertEquals(at.size(), sparse.logits().dim(0));
            for (int p = 0; p < at.size(); p++) {
                int i = at.rows()[p] * L + at.positions()[p];
                Check.close("MLM logits at " + at.rows()[p] + "," + at.positions()[p],
                        Arrays.copyOfRange(out.logits().data(), i * V, (i + 1) * V),
                        Arrays.copyOfRange(sparse.logits().data(), p * V, (p + 1) * V), new int[] {V}, ATOL, RTOL);
            }
            assertEquals(out.loss(), sparse.loss(), 1e-5);

            // a label on a masked position: HF's logits there need COMPUTE
            labels[1][12] = 7;
            double hfLoss = ReferenceDistilBert.crossEntropy(refLogits, flat(labels), V, -100);
            MaskedLMOutput computed = mlm.forward(ModelInput.ofIds(ids, mask).withMaskedPositions(MaskedPositions.COMPUTE),
                    labels);
            Check.close("MLM logits (COMPUTE)", refLogits, computed.logits().data(), new int[] {B, L, V}, ATOL, RTOL);
            assertLoss("MLM loss with a masked label (COMPUTE)", hfLoss, computed.loss());

            // no labels at all: NaN, as torch's mean over nothing
            int[][] none = new int[B][L];
            for (int[] row : none) {
                Arrays.fill(row, -100);
            }
            assertTrue(Float.isNaN(mlm.forward(ModelInput.ofIds(ids, mask), none).loss()), "all-ignored loss is NaN");
        }
    }

    /**
     * {@link DistilBertForMaskedLM#forwardAtInGroups} hands out forwardAt's logits bit for bit, in
     * request order, in groups of the size asked (the last one shorter): positions in any order,
     * repeated, and on padding (a zero row).
     */
    @Test
    void maskedLmInGroupsGivesForwardAtsLogitsBitForBit() {
        DistilBertConfig config = TestModels.config();
        int V = config.vocabSize();
        int[][] ids = TestModels.randomIds(B, L, V, 47);
        int[][] mask = TestModels.raggedMask();
        ModelInput in = ModelInput.ofIds(ids, mask);
        TokenPositions at = new TokenPositions(new int[] {0, 2, 1, 0, 3, 2, 1, 0, 2, 1, 0},
                new int[] {5, 15, 0, 0, 4, 3, 12, 5, 7, 8, 15});                  // (3, 4) and (1, 12) are padding
        int P = at.size();
        try (DistilBert db = TestModels.model(config, Head.MASKED_LM, 48)) {
            DistilBertForMaskedLM mlm = db.as(DistilBertForMaskedLM.class);
            float[] whole = mlm.forwardAt(in, at, null).logits().data();                   // (P, V)
            float[] full = mlm.forward(in).logits().data();                                // (B, L, V)
            for (int p = 0; p < P; p++) {
                int i = at.rows()[p] * L + at.positions()[p];
                assertTrue(Arrays.equals(full, i * V, (i + 1) * V, whole, p * V, (p + 1) * V),
                        "forwardAt at " + p + " is forward's row");
            }
            assertTrue(!Arrays.equals(whole, 0, V, whole, V, 2 * V), "positions differ");
            for (int groupSize : new int[] {1, 2, 3, P - 1, P, P + 5}) {
                float[] got = new float[P * V];
                List<Integer> firsts = new ArrayList<>(), sizes = new ArrayList<>();
                mlm.forwardAtInGroups(in, at, groupSize, (first, logits) -> {
                    assertEquals(2, logits.rank());
                    assertEquals(V, logits.dim(1));
                    firsts.add(first);
                    sizes.add(logits.dim(0));
                    System.arraycopy(logits.data(), 0, got, first * V, logits.size());
                });
                List<Integer> wantFirsts = new ArrayList<>(), wantSizes = new ArrayList<>();
                for (int first = 0; first < P; first += groupSize) {
                    wantFirsts.add(first);
                    wantSizes.add(Math.min(groupSize, P - first));
                }
                assertEquals(wantFirsts, firsts, "group size " + groupSize + ": the groups' first positions");
                assertEquals(wantSizes, sizes, "group size " + groupSize + ": the groups' sizes");
                assertArrayEquals(whole, got, "group size " + groupSize + ": forwardAt's logits, bit for bit");
            }
        }
    }

    @Test
    void topTokensInGroupsAreTheRankingOfForwardAtsSoftmax() {
        DistilBertConfig config = TestModels.config();
        int V = config.vocabSize();
        ModelInput in = ModelInput.ofIds(TestModels.randomIds(B, L, V, 51), TestModels.raggedMask());
        TokenPositions at = new TokenPositions(new int[] {0, 2, 1, 0, 3, 2, 1}, new int[] {5, 15, 0, 0, 4, 3, 12});
        int P = at.size();
        try (DistilBert db = TestModels.model(config, Head.MASKED_LM, 52)) {
            DistilBertForMaskedLM mlm = db.as(DistilBertForMaskedLM.class);
            float[] logits = mlm.forwardAt(in, at, null).logits().data();                  // (P, V)
            for (int k : new int[] {1, 5, V}) {
                // the definition: the softmax of each row of logits in double, ranked (NaN first, ties by id)
                float[] wantProbs = new float[P * k];
                int[] wantIds = new int[P * k];
                for (int p = 0; p < P; p++) {
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int v = 0; v < V; v++) max = Math.max(max, logits[p * V + v]);
                    for (int v = 0; v < V; v++) sum += Math.exp(logits[p * V + v] - max);
                    float[] probs = new float[V];
                    for (int v = 0; v < V; v++) probs[v] = (float) (Math.exp(logits[p * V + v] - max) / sum);
                    Integer[] order = new Integer[V];
                    for (int v = 0; v < V; v++) order[v] = v;
                    Arrays.sort(order, (a, b) -> Float.compare(probs[b], probs[a]));      // stable: equal ones by id
                    for (int r = 0; r < k; r++) {
                        wantIds[p * k + r] = order[r];
                        wantProbs[p * k + r] = probs[order[r]];
                    }
                }
                for (int groupSize : new int[] {1, 3, P}) {
                    float[] gotProbs = new float[P * k];
                    int[] gotIds = new int[P * k];
                    int K = k;
                    mlm.topTokensAtInGroups(in, at, groupSize, k, (first, top) -> {
                        assertEquals(K, top.k());
                        assertEquals(Math.min(groupSize, P - first) * K, top.ids().length);
                        System.arraycopy(top.probs(), 0, gotProbs, first * K, top.probs().length);
                        System.arraycopy(top.ids(), 0, gotIds, first * K, top.ids().length);
                    });
                    assertArrayEquals(wantIds, gotIds, "k " + k + ", groups of " + groupSize + ": ids");
                    assertArrayEquals(wantProbs, gotProbs, "k " + k + ", groups of " + groupSize + ": probabilities");
                }
            }
            for (int k : new int[] {0, V + 1}) {
                IllegalArgumentException x = assertThrows(IllegalArgumentException.class,
                        () -> mlm.topTokensAtInGroups(in, at, 2, k, (first, top) -> { }));
                assertEquals("k must be in [1, " + V + "] (vocab_size), got " + k, x.getMessage());
            }
        }
    }

    @Test
    void maskedLmInGroupsRefusesAnEmptyGroupAndPositionsOutsideTheBatch() {
        DistilBertConfig config = TestModels.config();
        ModelInput in = ModelInput.ofIds(TestModels.randomIds(2, 5, config.vocabSize(), 49));
        TokenPositions at = new TokenPositions(new int[] {0, 1}, new int[] {1, 4});
        try (DistilBert db = TestModels.model(config, Head.MASKED_LM, 50)) {
            DistilBertForMaskedLM mlm = db.as(DistilBertForMaskedLM.class);
            List<Integer> heard = new ArrayList<>();
            DistilBertForMaskedLM.LogitsGroup record = (first, logits) -> heard.add(first);
            for (int groupSize : new int[] {0, -1, Integer.MIN_VALUE}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> mlm.forwardAtInGroups(in, at, groupSize, record));
                assertEquals("the group size must be at least 1 position, got " + groupSize, e.getMessage());
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> mlm.forwardAtInGroups(in, new TokenPositions(new int[] {0, 2}, new int[] {1, 0}), 4, record));
            assertEquals("position 1 of the request, (2, 0), is outside the batch [2, 5]", e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> mlm.forwardAtInGroups(in, new TokenPositions(new int[] {1}, new int[] {5}), 1, record));
            assertEquals("position 0 of the request, (1, 5), is outside the batch [2, 5]", e.getMessage());
            assertThrows(NullPointerException.class, () -> mlm.forwardAtInGroups(in, at, 1, null));
            assertEquals(List.of(), heard, "nothing is handed out when the request is refused");
            mlm.forwardAtInGroups(in, new TokenPositions(new int[0], new int[0]), 1, record);
            assertEquals(List.of(), heard, "no positions, no groups");
            mlm.forwardAtInGroups(in, at, 1, record);
            assertEquals(List.of(0, 1), heard);
        }
    }

    @Test
    void vocabProjectorIsTheWordEmbeddingsUnlessUntied() {
        DistilBertConfig tied = TestModels.config();
        try (DistilBert db = TestModels.model(tied, Head.MASKED_LM, 44)) {
            ParameterSlab p = db.architecture().parameters();
            assertEquals(p.get(DistilBertParameters.PREFIX + DistilBertParameters.WORD_EMBEDDINGS),
                    p.get(DistilBertParameters.VOCAB_PROJECTOR_WEIGHT), "tied views differ");
        }
        DistilBertConfig untied = tied.toBuilder().tieWordEmbeddings(false).build();
        Checkpoint ckpt = TestModels.checkpoint(untied, Head.MASKED_LM, 45);
        int[][] ids = TestModels.randomIds(2, 6, untied.vocabSize(), 46);
        ReferenceDistilBert ref = new ReferenceDistilBert(ckpt);
        double[] refLogits = ref.mlmLogits(ref.encode(2, 6, flat(ids), null, null, null).last());
        try (DistilBert db = DistilBert.of(ckpt, new CpuOps(2, MatmulKernel.best()))) {
            ParameterSlab p = db.architecture().parameters();
            assertTrue(!p.get(DistilBertParameters.PREFIX + DistilBertParameters.WORD_EMBEDDINGS)
                    .equals(p.get(DistilBertParameters.VOCAB_PROJECTOR_WEIGHT)), "untied views coincide");
            Check.close("untied MLM logits", refLogits,
                    db.as(DistilBertForMaskedLM.class).forward(ModelInput.ofIds(ids)).logits().data(),
                    new int[] {2, 6, untied.vocabSize()}, ATOL, RTOL);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // sequence classification

    private record Pooled(double[] logits, DistilBertForSequenceClassification head, DistilBert db)
            implements AutoCloseable {
        @Override
        public void close() {
            db.close();
        }
    }

    private static Pooled sequenceClassifier(DistilBertConfig config, int[][] ids, int[][] mask, long seed) {
        Checkpoint ckpt = TestModels.checkpoint(config, Head.SEQUENCE_CLASSIFICATION, seed);
        ReferenceDistilBert ref = new ReferenceDistilBert(ckpt);
        double[] logits = ref.pooledLogits(ref.encode(B, L, flat(ids), null, flat(mask), null).last(), B, L,
                config.numLabels());
        DistilBert db = DistilBert.of(ckpt, new CpuOps(2, MatmulKernel.best()));
        return new Pooled(logits, db.as(DistilBertForSequenceClassification.class), db);
    }

    @Test
    void sequenceClassificationLossFollowsProblemTypeAndLabels() {
        int[][] ids = TestModels.randomIds(B, L, 100, 47);
        int[][] mask = TestModels.raggedMaskWithFirstTokens();
        ModelInput in = ModelInput.ofIds(ids, mask);

        // num_labels = 3, integer labels → single-label cross-entropy, −100 ignored
        try (Pooled three = sequenceClassifier(TestModels.config(), ids, mask, 48)) {
            SequenceClassifierOutput out = three.head().forward(in, SequenceLabels.classes(2, 0, -100, 1));
            Check.close("classifier logits", three.logits(), out.logits().data(), new int[] {B, 3}, ATOL, RTOL);
            assertLoss("single-label CE", ReferenceDistilBert.crossEntropy(three.logits(), new int[] {2, 0, -100, 1}, 3,
                    -100), out.loss());

            // float labels [B, 3] → multi-label BCE, mean over B·3
            float[] y = new Rand(49).floats(B * 3, 0, 1);
            double bce = 0;
            for (int i = 0; i < y.length; i++) {
                bce += NaiveOps.bce(three.logits()[i], y[i]);
            }
            assertLoss("multi-label BCE", bce / y.length,
                    three.head().forward(in, SequenceLabels.values(Tensor.of(y, B, 3))).loss());
            assertThrows(IllegalArgumentException.class,
                    () -> three.head().forward(in, SequenceLabels.values(1f, 0f, 1f, 0f)),
                    "float labels [B] for a 3-label multi-label problem");
            assertThrows(IllegalArgumentException.class, () -> three.head().forward(in, SequenceLabels.classes(0, 3, 1, 1)),
                    "class 3 of 3");
            assertNull(three.head().forward(in).loss());
        }

        // num_labels = 1 → regression (MSE over B), float or integer targets
        DistilBertConfig oneLabel = TestModels.config(distilbert.weights.Activation.GELU, false, 1);
        try (Pooled one = sequenceClassifier(oneLabel, ids, mask, 50)) {
            float[] t = {0.5f, -1f, 2f, 0f};
            double mse = 0;
            for (int b = 0; b < B; b++) {
                mse += Math.pow(one.logits()[b] - t[b], 2) / B;
            }
            assertLoss("regression MSE", mse, one.head().forward(in, SequenceLabels.values(t)).loss());
            assertLoss("regression MSE, [B, 1] targets", mse,
                    one.head().forward(in, SequenceLabels.values(Tensor.of(t, B, 1))).loss());
            double mseInt = 0;
            int[] ti = {1, 0, 2, -1};
            for (int b = 0; b < B; b++) {
                mseInt += Math.pow(one.logits()[b] - ti[b], 2) / B;
            }
            assertLoss("regression MSE, integer targets", mseInt, one.head().forward(in, SequenceLabels.classes(ti)).loss());
        }

        // problem_type set explicitly overrides the rule: regression over 3 outputs, MSE over B·3
        DistilBertConfig regression3 = TestModels.config().toBuilder().problemType(ProblemType.REGRESSION).build();
        try (Pooled reg = sequenceClassifier(regression3, ids, mask, 48)) {
            float[] t = new Rand(51).floats(B * 3, 2);
            double mse = 0;
            for (int i = 0; i < t.length; i++) {
                mse += Math.pow(reg.logits()[i] - t[i], 2) / t.length;
            }
            assertLoss("explicit regression", mse, reg.head().forward(in, SequenceLabels.values(Tensor.of(t, B, 3))).loss());
            assertThrows(IllegalArgumentException.class, () -> reg.head().forward(in, SequenceLabels.classes(0, 1, 2, 0)));
        }
        DistilBertConfig single = TestModels.config().toBuilder().problemType(ProblemType.SINGLE_LABEL_CLASSIFICATION)
                .build();
        try (Pooled sl = sequenceClassifier(single, ids, mask, 48)) {
            assertThrows(IllegalArgumentException.class,
                    () -> sl.head().forward(in, SequenceLabels.values(Tensor.of(new float[B * 3], B, 3))));
        }
        DistilBertConfig multi = TestModels.config().toBuilder().problemType(ProblemType.MULTI_LABEL_CLASSIFICATION)
                .build();
        try (Pooled ml = sequenceClassifier(multi, ids, mask, 48)) {
            assertThrows(IllegalArgumentException.class, () -> ml.head().forward(in, SequenceLabels.classes(0, 1, 2, 0)));
        }
    }

    private static void assertNull(Float loss) {
        assertTrue(loss == null, "loss without labels");
    }

    @Test
    void poolingAMaskedFirstPositionNeedsComputeMode() {
        int[][] ids = TestModels.randomIds(B, L, 100, 52);
        int[][] mask = TestModels.raggedMask(); // row 2 and row 3 start with padding
        try (Pooled p = sequenceClassifier(TestModels.config(), ids, mask, 53)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> p.head().forward(ModelInput.ofIds(ids, mask)));
            assertTrue(e.getMessage().contains("attention_mask[2][0]"), e.getMessage());
            SequenceClassifierOutput out = p.head().forward(ModelInput.ofIds(ids, mask)
                    .withMaskedPositions(MaskedPositions.COMPUTE));
            Check.close("pooled logits with masked [CLS] (COMPUTE)", p.logits(), out.logits().data(), new int[] {B, 3},
                    ATOL, RTOL);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // multiple choice

    @Test
    void multipleChoiceScoresEachChoiceAndTakesCrossEntropyOverThem() {
        DistilBertConfig config = TestModels.config();
        Checkpoint ckpt = TestModels.checkpoint(config, Head.MULTIPLE_CHOICE, 54);
        int examples = 2, NC = 2; // B·NC = 4 rows
        int[][] ids = TestModels.randomIds(B, L, config.vocabSize(), 55);
        int[][] mask = TestModels.raggedMaskWithFirstTokens();
        ReferenceDistilBert ref = new ReferenceDistilBert(ckpt);
        double[] scores = ref.pooledLogits(ref.encode(B, L, flat(ids), null, flat(mask), null).last(), B, L, 1);
        int[][][] ids3 = {{ids[0], ids[1]}, {ids[2], ids[3]}};
        int[][][] mask3 = {{mask[0], mask[1]}, {mask[2], mask[3]}};
        try (DistilBert db = DistilBert.of(ckpt, new CpuOps(2, MatmulKernel.best()))) {
            DistilBertForMultipleChoice mc = db.as(DistilBertForMultipleChoice.class);
            MultipleChoiceModelOutput out = mc.forward(ids3, mask3, new int[] {1, 0});
            Check.close("choice logits", scores, out.logits().data(), new int[] {examples, NC}, ATOL, RTOL);
            assertLoss("choice CE", ReferenceDistilBert.crossEntropy(scores, new int[] {1, 0}, NC, -100), out.loss());
            assertLoss("choice CE, one ignored", ReferenceDistilBert.crossEntropy(scores, new int[] {-100, 1}, NC, -100),
                    mc.forward(ids3, mask3, new int[] {-100, 1}).loss());
            assertThrows(IllegalArgumentException.class, () -> mc.forward(ids3, mask3, new int[] {2, 0}));
            assertThrows(IllegalArgumentException.class, () -> mc.forward(ModelInput.ofIds(ids, mask), 3, null));
        }
    }

    // ---------------------------------------------------------------------------------------------
    // token classification

    @Test
    void tokenClassificationLogitsAndLossIgnoringPadding() {
        DistilBertConfig config = TestModels.config();
        int NL = config.numLabels(), C = config.dim();
        Checkpoint ckpt = TestModels.checkpoint(config, Head.TOKEN_CLASSIFICATION, 56);
        int[][] ids = TestModels.randomIds(B, L, config.vocabSize(), 57);
        int[][] mask = TestModels.raggedMask();
        int[][] labels = new int[B][L];
        Rand r = new Rand(58);
        for (int b = 0; b < B; b++) {
            for (int l = 0; l < L; l++) {
                labels[b][l] = mask[b][l] == 1 ? r.nextInt(NL) : -100; // HF's collators pad labels with −100
            }
        }
        labels[0][3] = -100;
        ReferenceDistilBert ref = new ReferenceDistilBert(ckpt);
        double[] refLogits = ref.linear(ref.encode(B, L, flat(ids), null, flat(mask), null).last(), "classifier", C, NL);
        double[] bias = toDouble(ckpt.get("classifier.bias"));
        try (DistilBert db = DistilBert.of(ckpt, new CpuOps(2, MatmulKernel.best()))) {
            TokenClassifierOutput out = db.as(DistilBertForTokenClassification.class)
                    .forward(ModelInput.ofIds(ids, mask), labels);
            Check.close("token logits (bias at padding)", fillMasked(refLogits, flat(mask), NL, bias),
                    out.logits().data(), new int[] {B, L, NL}, ATOL, RTOL);
            assertLoss("token CE", ReferenceDistilBert.crossEntropy(refLogits, flat(labels), NL, -100), out.loss());
        }
    }

    // ---------------------------------------------------------------------------------------------
    // question answering

    @Test
    void questionAnsweringClampsPositionsAndAveragesStartAndEnd() {
        DistilBertConfig config = TestModels.config(distilbert.weights.Activation.GELU, false, 2);
        int C = config.dim();
        Checkpoint ckpt = TestModels.checkpoint(config, Head.QUESTION_ANSWERING, 59);
        int[][] ids = TestModels.randomIds(B, L, config.vocabSize(), 60);
        int[][] mask = TestModels.raggedMask();
        ReferenceDistilBert ref = new ReferenceDistilBert(ckpt);
        double[] both = ref.linear(ref.encode(B, L, flat(ids), null, flat(mask), null).last(), "qa_outputs", C, 2);
        double[] start = new double[B * L], end = new double[B * L];
        for (int i = 0; i < B * L; i++) {
            start[i] = both[2 * i];
            end[i] = both[2 * i + 1];
        }
        int[] s = {-3, 5, 100, L - 1};  // clamp: −3 → 0; 100 → L, ignored
        int[] e = {2, L, 7, 40};        // L and 40 → L, ignored
        int[] sc = {0, 5, L, L - 1}, ec = {2, L, 7, L};
        double expected = (ReferenceDistilBert.crossEntropy(start, sc, L, L)
                + ReferenceDistilBert.crossEntropy(end, ec, L, L)) / 2;
        float[] qaBias = ckpt.get("qa_outputs.bias");
        try (DistilBert db = DistilBert.of(ckpt, new CpuOps(2, MatmulKernel.best()))) {
            DistilBertForQuestionAnswering qa = db.as(DistilBertForQuestionAnswering.class);
            QuestionAnsweringModelOutput skip = qa.forward(ModelInput.ofIds(ids, mask), s, e);
            Check.close("start logits (bias at padding)", fillMasked(start, flat(mask), 1, new double[] {qaBias[0]}),
                    skip.startLogits().data(), new int[] {B, L}, ATOL, RTOL);
            Check.close("end logits (bias at padding)", fillMasked(end, flat(mask), 1, new double[] {qaBias[1]}),
                    skip.endLogits().data(), new int[] {B, L}, ATOL, RTOL);
            // HF's loss softmaxes over the padding's logits too: COMPUTE reproduces it
            QuestionAnsweringModelOutput hf = qa.forward(ModelInput.ofIds(ids, mask)
                    .withMaskedPositions(MaskedPositions.COMPUTE), s, e);
            Check.close("start logits (COMPUTE)", start, hf.startLogits().data(), new int[] {B, L}, ATOL, RTOL);
            assertLoss("QA loss (COMPUTE)", expected, hf.loss());
            // without padding both modes give HF's loss
            int[][] full = new int[B][L];
            for (int[] row : full) {
                Arrays.fill(row, 1);
            }
            double[] bothFull = ref.linear(ref.encode(B, L, flat(ids), null, null, null).last(), "qa_outputs", C, 2);
            double[] sf = new double[B * L], ef = new double[B * L];
            for (int i = 0; i < B * L; i++) {
                sf[i] = bothFull[2 * i];
                ef[i] = bothFull[2 * i + 1];
            }
            double expectedFull = (ReferenceDistilBert.crossEntropy(sf, sc, L, L)
                    + ReferenceDistilBert.crossEntropy(ef, ec, L, L)) / 2;
            assertLoss("QA loss, no padding", expectedFull, qa.forward(ModelInput.ofIds(ids, full), s, e).loss());
            // every position out of range: NaN, as torch
            int[] out = {L, L + 3, 99, L};
            assertTrue(Float.isNaN(qa.forward(ModelInput.ofIds(ids, mask), out, out).loss()), "all-ignored QA loss");
            assertThrows(IllegalArgumentException.class, () -> qa.forward(ModelInput.ofIds(ids, mask), s, null));
        }
        DistilBertConfig three = TestModels.config(distilbert.weights.Activation.GELU, false, 3);
        assertThrows(IllegalArgumentException.class,
                () -> DistilBert.of(TestModels.checkpoint(three, Head.QUESTION_ANSWERING, 61), new CpuOps(1,
                        MatmulKernel.SCALAR)));
    }
}
