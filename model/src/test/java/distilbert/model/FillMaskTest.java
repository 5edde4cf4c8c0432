package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.model.FillMask.Prediction;
import distilbert.model.FillMask.Result;
import distilbert.model.FillMask.Targets;
import distilbert.tokenizer.BertNormalizer;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fill-mask pipeline against its definition: at each mask, the softmax in double of the logits
 * that {@link DistilBertForMaskedLM#forward} (every position, the row alone) gives there; the best
 * tokens in score order, ties in id order; targets; the decoded sequences as HF builds them;
 * truncation, rows without a mask, batching.
 */
class FillMaskTest {

    @TempDir
    static Path dir;

    static Tokenizer tokenizer;

    /** The tiny tokenizer's vocabulary exactly: every prediction decodes. */
    static DistilBertConfig config;

    @BeforeAll
    static void setUp() throws IOException {
        tokenizer = TinyTokenizer.create(dir);
        config = TestModels.config().toBuilder().vocabSize(tokenizer.vocabSize()).build();
    }

    static final List<String> TEXTS = List.of("the cat sat on the [MASK] .", "[MASK] dog ran away", "who wrote this [MASK] ?",
            "the [MASK] sat on the [MASK] .", "[MASK]", "it was a very good movie , not a bad [MASK] [MASK] and the bird sang [MASK]");

    /** HF's softmax at position {@code l} of the row's full-forward logits, in double. */
    static double[] softmaxAt(float[] logits, int l, int V) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int v = 0; v < V; v++) {
            max = Math.max(max, logits[l * V + v]);
        }
        double[] p = new double[V];
        for (int v = 0; v < V; v++) {
            p[v] = Math.exp(logits[l * V + v] - max);
            sum += p[v];
        }
        for (int v = 0; v < V; v++) {
            p[v] /= sum;
        }
        return p;
    }

    /** The row's sequence with {@code position} set to {@code token}, as HF decodes it: pads dropped. */
    static String sequence(int[] ids, int position, int token, boolean singleMask) {
        int[] filled = ids.clone();
        filled[position] = token;
        int[] kept = Arrays.stream(filled).filter(id -> id != tokenizer.padTokenId()).toArray();
        return tokenizer.decode(kept, singleMask, tokenizer.cleanUpTokenizationSpaces());
    }

    /**
     * Checks each result against the full forward of its row alone: mask positions, scores (1e-5),
     * the ranking (exact, except among scores closer than 1e-6), token strings and sequences.
     *
     * @param targets null, or the ids the predictions are restricted to
     */
    static void assertMatchesFullForward(DistilBertForMaskedLM mlm, List<Encoding> encodings, List<Result> results, int k,
                                         int[] targets) {
        assertEquals(encodings.size(), results.size());
        int V = mlm.config().vocabSize();
        for (int i = 0; i < encodings.size(); i++) {
            int[] ids = encodings.get(i).ids();
            float[] logits = mlm.forward(ModelInput.ofIds(new int[][] {ids})).logits().data();      // (1, L, V)
            Result r = results.get(i);
            List<Integer> masks = IntStream.range(0, ids.length).filter(l -> ids[l] == tokenizer.maskTokenId()).boxed().toList();
            assertEquals(masks, r.positions(), "row " + i + ": the masks");
            assertEquals(masks.size() == 1, r.singleMask());
            for (int m = 0; m < masks.size(); m++) {
                int l = masks.get(m);
                double[] p = softmaxAt(logits, l, V);
                int[] candidates = targets != null ? targets : IntStream.range(0, V).toArray();
                Integer[] order = Arrays.stream(candidates).boxed().toArray(Integer[]::new);
                Arrays.sort(order, (a, b) -> p[a] != p[b] ? Double.compare(p[b], p[a]) : Integer.compare(a, b));
                List<Prediction> got = r.predictions().get(m);
                assertEquals(Math.min(k, candidates.length), got.size(), "row " + i + " mask " + m + ": top k");
                for (int j = 0; j < got.size(); j++) {
                    Prediction g = got.get(j);
                    String at = "row " + i + " mask " + m + " place " + j;
                    if (Math.abs(p[order[j]] - p[g.token()]) > 1e-6) {
                        assertEquals(order[j], g.token(), at + ": token");
                    }
                    assertEquals(p[g.token()], g.score(), 1e-5 + 1e-5 * p[g.token()], at + ": score");
                    assertEquals((float) p[g.token()], g.score(), 1e-6, at + ": score");
                    assertEquals(tokenizer.decode(new int[] {g.token()}, false), g.tokenStr(), at + ": token_str");
                    assertEquals(sequence(ids, l, g.token(), masks.size() == 1), g.sequence(), at + ": sequence");
                    if (j > 0) {
                        assertTrue(got.get(j - 1).score() > g.score()
                                || got.get(j - 1).score() == g.score() && got.get(j - 1).token() < g.token(), at + ": order");
                    }
                }
            }
        }
    }

    @Test
    void eachMaskGetsTheBestTokensOfTheSoftmaxOfTheFullForward() {
        try (DistilBert db = TestModels.model(config, Head.MASKED_LM, 31)) {
            FillMask fm = new FillMask(db, tokenizer);
            assertEquals(FillMask.DEFAULT_TOP_K, fm.topK());
            DistilBertForMaskedLM mlm = db.as(DistilBertForMaskedLM.class);
            List<Encoding> encodings = fm.encode(TEXTS);
            List<Result> results = fm.fill(TEXTS);
            assertMatchesFullForward(mlm, encodings, results, 5, null);
            assertEquals(List.of(1, 1, 1, 2, 1, 3), results.stream().map(r -> r.positions().size()).toList());
            for (int k : new int[] {1, 3, 17, config.vocabSize()}) {
                assertMatchesFullForward(mlm, encodings, fm.withTopK(k).fill(TEXTS), k, null);
            }
            // the whole vocabulary is a distribution
            Result all = fm.withTopK(config.vocabSize()).fill(TEXTS.getFirst());
            double sum = all.predictions().getFirst().stream().mapToDouble(Prediction::score).sum();
            assertEquals(1, sum, 1e-5);
            assertEquals(config.vocabSize(), all.predictions().getFirst().stream().map(Prediction::token).distinct().count());
            assertEquals(fm.fill(TEXTS.get(3)), results.get(3), "one text alone as in a list");
            // ranked on the backend (top_k up to BACKEND_TOP_K_MAX, no targets) or on the host: the same predictions
            assertEquals(fm.withRankingOnTheHost().fill(TEXTS), results);
            assertEquals(fm.withTopK(17).withRankingOnTheHost().fill(TEXTS), fm.withTopK(17).fill(TEXTS));
        }
    }

    @Test
    void theSequenceIsTheRowWithTheMaskReplacedSpecialTokensOnlyWithSeveralMasks() {
        try (DistilBert db = TestModels.model(config, Head.MASKED_LM, 32)) {
            FillMask fm = new FillMask(db, tokenizer).withTargets(List.of("mat", "dog"));
            List<Prediction> one = fm.fill("the cat sat on the [MASK] .").predictions().getFirst();
            assertEquals(List.of("dog", "mat"), one.stream().map(Prediction::tokenStr).sorted().toList());
            for (Prediction p : one) {
                assertEquals("the cat sat on the " + p.tokenStr() + ".", p.sequence(), "one mask: special tokens skipped");
            }
            Result two = fm.fill("the [MASK] sat on the [MASK] .");
            assertFalse(two.singleMask());
            for (Prediction p : two.predictions().get(0)) {
                assertEquals("[CLS] the " + p.tokenStr() + " sat on the [MASK]. [SEP]", p.sequence(), "the other mask shows");
            }
            for (Prediction p : two.predictions().get(1)) {
                assertEquals("[CLS] the [MASK] sat on the " + p.tokenStr() + ". [SEP]", p.sequence());
            }
            // HF drops pad tokens from the sequence, a [PAD] in the text too
            Result padded = fm.fill("[PAD] the [MASK] sat on the [MASK] .");
            assertEquals("[CLS] the dog sat on the [MASK]. [SEP]",
                    padded.predictions().get(0).stream().filter(p -> p.token() == tokenizer.tokenToId("dog")).findFirst()
                            .orElseThrow().sequence());
            // a subword decodes alone with its ##, and glued in the sequence
            Prediction s = new FillMask(db, tokenizer).withTargets(List.of("##s")).fill("the cat [MASK] sat").predictions()
                    .getFirst().getFirst();
            assertEquals("##s", s.tokenStr());
            assertEquals("the cats sat", s.sequence());
        }
    }

    @Test
    void targetsRestrictTheCandidatesToTheirUnrenormalisedProbabilities() {
        try (DistilBert db = TestModels.model(config, Head.MASKED_LM, 33)) {
            FillMask fm = new FillMask(db, tokenizer);
            DistilBertForMaskedLM mlm = db.as(DistilBertForMaskedLM.class);
            List<String> words = List.of("cat", "dog", "tree", "bird", "dog", ".");
            FillMask targeted = fm.withTargets(words);
            int[] ids = Arrays.stream(new String[] {"cat", "dog", "tree", "bird", "."}).mapToInt(tokenizer::tokenToId).sorted().toArray();
            assertArrayEquals(ids, targeted.targets().ids(), "distinct, ascending");
            assertEquals(List.of(), targeted.targets().warnings());
            assertEquals(5, targeted.topK());
            List<Encoding> encodings = fm.encode(TEXTS);
            assertMatchesFullForward(mlm, encodings, targeted.fill(TEXTS), 5, ids);
            assertEquals(2, targeted.withTopK(2).topK());
            assertMatchesFullForward(mlm, encodings, targeted.withTopK(2).fill(TEXTS), 2, ids);
            assertEquals(5, targeted.withTopK(1000).topK(), "top_k capped by the targets, as HF");
            assertMatchesFullForward(mlm, encodings, targeted.withTopK(1000).fill(TEXTS), 5, ids);
            // a target's score is its probability over the whole vocabulary: the same as without targets
            List<Prediction> everything = fm.withTopK(config.vocabSize()).fill(TEXTS.getFirst()).predictions().getFirst();
            for (Prediction p : targeted.fill(TEXTS.getFirst()).predictions().getFirst()) {
                assertEquals(everything.stream().filter(e -> e.token() == p.token()).findFirst().orElseThrow(), p);
            }
            assertEquals(fm.fill(TEXTS), fm.withTargets(List.of()).fill(TEXTS), "no targets: the whole vocabulary");
            assertEquals(fm.fill(TEXTS), targeted.withTargets((List<String>) null).fill(TEXTS));
            // the targets' softmax on the backend (only [n, K] back) or on the host from the logits: the same,
            // in groups of one mask too
            assertEquals(targeted.withRankingOnTheHost().fill(TEXTS), targeted.fill(TEXTS));
            assertEquals(targeted.withTopK(2).withRankingOnTheHost().withLogitsBudget(1).fill(TEXTS),
                    targeted.withTopK(2).withLogitsBudget(1).fill(TEXTS));
        }
    }

    /** softmaxGatherForward: the softmax over the whole row at the target columns, and its refusals. */
    @Test
    void theSoftmaxAtTargetsIsTheFullSoftmaxAtThoseColumns() {
        try (Ops ops = CpuOps.create()) {
            float[] logits = {1f, 2f, 3f, -1f, 0.5f, 0.5f, 0.5f, 0.5f};               // 2 rows of 4
            Buffer probs = ops.allocateUninitialized(6);
            ops.softmaxGatherForward(probs, ops.bufferOf(logits), ops.indicesOf(new int[] {2, 0, 2}), 2, 4, 3);
            float[] p = ops.download(probs);
            double z = Math.exp(1) + Math.exp(2) + Math.exp(3) + Math.exp(-1);
            assertArrayEquals(new float[] {(float) (Math.exp(3) / z), (float) (Math.exp(1) / z), (float) (Math.exp(3) / z),
                    0.25f, 0.25f, 0.25f}, p, 0f);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ops.softmaxGatherForward(probs, ops.bufferOf(logits), ops.indicesOf(new int[] {4}), 2, 4, 1));
            assertEquals("softmax gather: target 0 is column 4, not in [0, V = 4)", e.getMessage());
            DistilBertConfig c = config;
            try (DistilBert db = TestModels.model(c, Head.MASKED_LM, 34)) {
                DistilBertForMaskedLM mlm = db.as(DistilBertForMaskedLM.class);
                ModelInput in = ModelInput.ofIds(new int[][] {{1, 2, 3}});
                TokenPositions at = new TokenPositions(new int[] {0}, new int[] {1});
                IllegalArgumentException outside = assertThrows(IllegalArgumentException.class,
                        () -> mlm.targetProbsAtInGroups(in, at, 1, new int[] {c.vocabSize()}, (f, q) -> { }));
                assertEquals("target token id " + c.vocabSize() + " is outside the vocabulary [0, " + c.vocabSize() + ")",
                        outside.getMessage());
                assertThrows(IllegalArgumentException.class, () -> mlm.targetProbsAtInGroups(in, at, 1, new int[0], (f, q) -> { }));
            }
        }
    }

    @Test
    void targetsThatAreNoTokenTakeTheirFirstTokenWithAWarningAsHfDoes() {
        Targets t = Targets.resolve(tokenizer, List.of("Cat", "cats", "zebra", "", "  ", "[MASK]", "##ly", "dog"));
        int cat = tokenizer.tokenToId("cat");
        assertArrayEquals(new int[] {tokenizer.unkTokenId(), tokenizer.maskTokenId(), cat, tokenizer.tokenToId("dog"),
                tokenizer.tokenToId("##ly")}, t.ids());
        assertEquals(List.of(
                "the target 'Cat' is not in the vocabulary; using its first token 'cat' (id " + cat + ")",
                "the target 'cats' is not in the vocabulary; using its first token 'cat' (id " + cat + ")",
                "the target 'zebra' is not in the vocabulary; using its first token '[UNK]' (id 1)",
                "the target '' is not in the vocabulary and has no tokens; ignoring it",
                "the target '  ' is not in the vocabulary and has no tokens; ignoring it"), t.warnings());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Targets.resolve(tokenizer, List.of("", " ")));
        assertEquals("no target is left of [,  ]: at least one must be given", e.getMessage());
        try (DistilBert db = TestModels.model(config, Head.MASKED_LM, 34)) {
            FillMask fm = new FillMask(db, tokenizer);
            assertThrows(IllegalArgumentException.class, () -> fm.withTargets(List.of("")));
            assertEquals(t, fm.withTargets(List.of("Cat", "cats", "zebra", "", "  ", "[MASK]", "##ly", "dog")).targets());
            assertThrows(IllegalArgumentException.class, () -> fm.withTargets(new Targets(new int[] {config.vocabSize()}, List.of())));
        }
    }

    @Test
    void equalScoresRankInTokenIdOrderAndTopKBeyondTheVocabularyFailsAsInHf() {
        try (DistilBert db = TestModels.model(config, Head.MASKED_LM, 35)) {
            FillMask fm = new FillMask(db, tokenizer).withTopK(6);
            int V = config.vocabSize();
            float[] logits = new float[V];
            Arrays.fill(logits, -1);
            for (int id : new int[] {40, 7, 30, 12}) {
                logits[id] = 2;                                             // four equal bests
            }
            logits[50] = 1;
            int[] ids = tokenizer.encode("the [MASK] sat").ids();
            List<Prediction> got = fm.predictions(logits, ids, 2, true);
            assertEquals(List.of(7, 12, 30, 40, 50, 0), got.stream().map(Prediction::token).toList());
            assertEquals(got.get(0).score(), got.get(3).score());
            List<Prediction> targeted = fm.withTargets(new Targets(new int[] {5, 30, 40, 12}, List.of())).predictions(logits, ids, 2, true);
            assertEquals(List.of(12, 30, 40, 5), targeted.stream().map(Prediction::token).toList());

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> fm.withTopK(V + 1));
            assertEquals("top_k " + (V + 1) + " is more than the vocabulary's " + V + " tokens (give targets first to be capped by them)",
                    e.getMessage());
            assertEquals(V, fm.withTopK(V).topK());
            assertThrows(IllegalArgumentException.class, () -> fm.withTopK(0));
            assertThrows(IllegalArgumentException.class, () -> fm.withTargets(List.of("cat")).withTopK(V + 1).withTargets((Targets) null));
            assertEquals(1, fm.withTargets(List.of("cat")).withTopK(V + 1).topK());
        }
    }

    @Test
    void rankingKeepsTheBestInOrderWithTiesByIndexAndNanFirst() {
        Random random = new Random(5);
        for (int trial = 0; trial < 300; trial++) {
            int n = 1 + random.nextInt(200);
            float[] scores = new float[n];
            for (int i = 0; i < n; i++) {
                float v = random.nextInt(6) / 4f;
                scores[i] = random.nextInt(8) == 0 ? Float.NaN : v == 0 && random.nextBoolean() ? -0.0f : v;
            }
            Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
            Arrays.sort(order, (a, b) -> {
                float x = scores[a], y = scores[b];
                if (Float.isNaN(x) != Float.isNaN(y)) return Float.isNaN(x) ? -1 : 1;
                if (!Float.isNaN(x) && x != y) return x > y ? -1 : 1;
                return Integer.compare(a, b);
            });
            for (int k : new int[] {1, 2, 5, n / 3 + 1, n, n + 4}) {
                int[] want = Arrays.stream(order).limit(k).mapToInt(Integer::intValue).toArray();
                assertArrayEquals(want, Ranking.top(scores, k), "n " + n + " k " + k + " " + Arrays.toString(scores));
            }
        }
        assertArrayEquals(new int[] {0, 1, 2}, Ranking.top(new float[] {-0.0f, 0.0f, -0.0f}, 3), "-0.0 and 0.0 tie");
    }

    @Test
    void aRowWithoutAMaskIsAnErrorNamingIt() {
        try (DistilBert db = TestModels.model(config, Head.MASKED_LM, 36)) {
            FillMask fm = new FillMask(db, tokenizer);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> fm.fill("the cat sat"));
            assertEquals("row 0 has no mask token ([MASK]) in the text", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> fm.fill(List.of("a [MASK]", "[MASK] [MASK]", "", "the [MASK]")));
            assertEquals("row 2 has no mask token ([MASK]) in the text", e.getMessage());
            assertEquals("no mask token ([MASK]) in the text", fm.missingMask(tokenizer.encode("mask")));
            assertEquals(null, fm.missingMask(tokenizer.encode("the[MASK]")));
            // a batch built by hand without a mask in a row
            assertThrows(IllegalArgumentException.class, () -> fm.fillBatch(ModelInput.ofIds(new int[][] {tokenizer.encode("a [MASK]").ids(),
                    tokenizer.encode("a b").ids()})));
        }
    }

    @Test
    void truncationKeepsTheMasksBeforeTheCutAndFailsWhereItCutsThemAll() {
        try (DistilBert db = TestModels.model(config, Head.MASKED_LM, 37)) {
            FillMask fm = new FillMask(db, tokenizer);
            assertEquals(64, fm.maxLength(), "max_position_embeddings 64, below the tokenizer's 512");
            String tail = " the cat sat on the mat and".repeat(20);
            DistilBertForMaskedLM mlm = db.as(DistilBertForMaskedLM.class);
            // the mask survives the cut: the row is filled as the cut row alone
            for (FillMask f : List.of(fm, fm.withMaxLength(10))) {
                Encoding cut = tokenizer.encode("a [MASK]" + tail, null, new EncodeOptions(true, Truncation.longestFirst(f.maxLength()), null));
                assertEquals(f.maxLength(), cut.length());
                assertMatchesFullForward(mlm, List.of(cut), List.of(f.fill("a [MASK]" + tail)), 5, null);
            }
            // the only mask is cut off: HF (with truncation) finds no mask and raises
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> fm.withMaxLength(10).fill("a" + tail + " [MASK]"));
            assertEquals("row 0 has no mask token ([MASK]) in the 10 tokens the text was truncated to", e.getMessage());
            // one of two masks is cut off: the other is filled, as a single mask (HF counts the masks it gets)
            Result one = fm.withMaxLength(10).fill("a [MASK]" + tail + " [MASK]");
            assertTrue(one.singleMask());
            assertEquals(List.of(2), one.positions());
            assertFalse(one.predictions().getFirst().getFirst().sequence().contains("[CLS]"));
            // rows longer than the model takes are refused, not cut, when given as encodings
            Encoding whole = tokenizer.encode("[MASK]" + tail);
            e = assertThrows(IllegalArgumentException.class, () -> fm.fillEncodings(List.of(tokenizer.encode("[MASK]"), whole)));
            assertEquals("row 1 is " + whole.length() + " tokens long, more than max_position_embeddings = 64; truncate it", e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> fm.withMaxLength(65));
            assertThrows(IllegalArgumentException.class, () -> fm.withMaxLength(1));
            assertThrows(IllegalArgumentException.class, () -> fm.withBatchTokens(0));
        }
    }

    @Test
    void batchingChangesNothingAndTheListenerHearsEveryRow() {
        Random random = new Random(9);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            StringBuilder t = new StringBuilder();
            int n = 1 + random.nextInt(25);
            int mask = random.nextInt(n);
            for (int w = 0; w < n; w++) {
                t.append(w == mask || random.nextInt(12) == 0 ? "[MASK]" : TinyTokenizer.WORDS.get(random.nextInt(TinyTokenizer.WORDS.size())))
                        .append(' ');
            }
            texts.add(t.toString().strip());
        }
        try (DistilBert db = TestModels.model(config, Head.MASKED_LM, 38)) {
            FillMask fm = new FillMask(db, tokenizer).withTopK(4);
            List<Result> alone = texts.stream().map(fm::fill).toList();
            assertMatchesFullForward(db.as(DistilBertForMaskedLM.class), fm.encode(texts), alone, 4, null);
            for (int batchTokens : new int[] {1, 20, 100_000}) {
                long[] heard = new long[3];
                List<Encoding> encodings = fm.encode(texts);
                List<Result> batched = fm.withBatchTokens(batchTokens).fillEncodings(encodings, (rows, tokens) -> {
                    heard[0] += rows;
                    heard[1] += tokens;
                    heard[2]++;
                });
                assertEquals(alone, batched, "batch tokens " + batchTokens + ": the same numbers, bit for bit on the CPU");
                assertEquals(texts.size(), heard[0]);
                assertEquals(encodings.stream().mapToLong(Encoding::length).sum(), heard[1]);
                assertTrue(batchTokens > 1000 ? heard[2] == 1 : heard[2] > 1);
            }
            assertEquals(List.of(), fm.fill(List.of()));
        }
    }

    @Test
    void theMlmHeadRunsOnGroupsOfMasksThatChangeNothing() {
        int V = config.vocabSize();
        assertEquals(549, FillMask.masksPerGroup(FillMask.LOGITS_BUDGET_BYTES, 30522), "64 MiB of bert-base-uncased logits");
        assertEquals(1, FillMask.masksPerGroup(4L * V, V));
        assertEquals(1, FillMask.masksPerGroup(8L * V - 1, V));
        assertEquals(2, FillMask.masksPerGroup(8L * V, V));
        assertEquals(2, FillMask.masksPerGroup(12L * V - 1, V));
        assertEquals(1, FillMask.masksPerGroup(1, V), "at least one mask, however small the budget");
        assertEquals(Integer.MAX_VALUE, FillMask.masksPerGroup(Long.MAX_VALUE, 1));
        // several rows of one batch, up to three masks a row: nine masks, so groups of 1 and 2 split rows
        List<String> texts = new ArrayList<>(TEXTS);
        texts.add("[MASK] [MASK] cat [MASK] dog [MASK]");
        try (DistilBert db = TestModels.model(config, Head.MASKED_LM, 43)) {
            FillMask fm = new FillMask(db, tokenizer).withTopK(V);
            List<Encoding> encodings = fm.encode(texts);
            List<Result> whole = fm.fill(texts);
            assertMatchesFullForward(db.as(DistilBertForMaskedLM.class), encodings, whole, V, null);
            assertEquals(List.of(1, 1, 1, 2, 1, 3, 4), whole.stream().map(r -> r.positions().size()).toList());
            for (long budget : new long[] {1, 4L * V, 8L * V, 12L * V - 1, 4L * V * 13}) {
                assertEquals(whole, fm.withLogitsBudget(budget).fill(texts), "budget " + budget + " bytes: the same, bit for bit");
            }
            FillMask targeted = fm.withTopK(3).withTargets(List.of("cat", "dog", "mat", "tree"));
            assertEquals(targeted.fill(texts), targeted.withLogitsBudget(8L * V).fill(texts), "with targets, groups of 2");
            // one padded batch by hand, a mask at a time
            int[] longer = encodings.get(5).ids(), shorter = encodings.get(6).ids();
            int[] padded = Arrays.copyOf(shorter, longer.length), mask = new int[longer.length];
            Arrays.fill(padded, shorter.length, longer.length, tokenizer.padTokenId());
            Arrays.fill(mask, 0, shorter.length, 1);
            int[] ones = new int[longer.length];
            Arrays.fill(ones, 1);
            ModelInput batch = ModelInput.ofIds(new int[][] {longer, padded}, new int[][] {ones, mask});
            assertEquals(List.of(whole.get(5), whole.get(6)), fm.withLogitsBudget(4L * V).fillBatch(batch));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> fm.withLogitsBudget(0));
            assertEquals("the logits budget must be at least 1 byte, got 0", e.getMessage());
        }
    }

    @Test
    void tokensTheTokenizerDoesNotKnowDecodeToNothingAsInHfsFastTokenizer() {
        DistilBertConfig wide = TestModels.config();                        // vocab 100, the tokenizer 57
        try (DistilBert db = TestModels.model(wide, Head.MASKED_LM, 39)) {
            FillMask fm = new FillMask(db, tokenizer).withTopK(wide.vocabSize());
            List<Prediction> all = fm.fill("the cat sat on the [MASK] .").predictions().getFirst();
            assertEquals(100, all.size());
            for (Prediction p : all) {
                if (p.token() >= tokenizer.vocabSize()) {
                    assertEquals("", p.tokenStr());
                    assertEquals("the cat sat on the.", p.sequence());
                } else {
                    assertNotEquals("", p.tokenStr());
                }
            }
            assertTrue(all.stream().limit(20).anyMatch(p -> p.token() >= tokenizer.vocabSize()), "some unknown ids rank high");
        }
    }

    @Test
    void onlyAMaskedLmWithAMaskToken() throws IOException {
        try (DistilBert db = TestModels.model(config, Head.BASE, 40)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> new FillMask(db, tokenizer));
            assertTrue(e.getMessage().startsWith("the model is a DistilBertModel, not a DistilBertForMaskedLM"), e.getMessage());
        }
        Path noMask = Files.createDirectories(dir.resolve("no-mask"));
        Files.write(noMask.resolve("vocab.txt"), List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat"));
        Tokenizer tok = Tokenizer.fromVocab(noMask.resolve("vocab.txt"), BertNormalizer.UNCASED);
        try (DistilBert db = TestModels.model(config, Head.MASKED_LM, 41)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new FillMask(db, tok));
            assertEquals("the tokenizer has no mask token ([MASK] is not in its vocabulary)", e.getMessage());
        }
        try (DistilBert db = TestModels.model(config.toBuilder().vocabSize(40).build(), Head.MASKED_LM, 42)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new FillMask(db, tokenizer));
            assertEquals("the tokenizer has " + tokenizer.vocabSize() + " tokens but the model's vocab_size is 40", e.getMessage());
        }
    }
}
