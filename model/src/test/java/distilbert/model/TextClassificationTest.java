package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.model.TextClassification.Function;
import distilbert.model.TextClassification.LabelScore;
import distilbert.model.TextClassification.Result;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.Activation;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import distilbert.weights.ProblemType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The text-classification pipeline against its definition: each row's scores are the function HF's
 * pipeline picks, computed here in double, of the logits that {@link DistilBertForSequenceClassification#forward}
 * gives for that row alone; labels from id2label; top-k order and ties.
 */
class TextClassificationTest {

    @TempDir
    static Path dir;

    static Tokenizer tokenizer;

    @BeforeAll
    static void writeTokenizer() throws IOException {
        tokenizer = TinyTokenizer.create(dir);
    }

    static final List<String> TEXTS = List.of("the cat sat on the mat.", "a dog", "who wrote this story ?",
            "it was a very good movie , not a bad one", "", "big red house and small blue tree and the bird sang loud in the night");
    static final List<String> PAIRS = Arrays.asList(null, "the dog ran away", null, "i liked it", "quiet", null);

    static DistilBertConfig config(int numLabels, ProblemType problem, List<String> labels) {
        DistilBertConfig.Builder b = TestModels.config(Activation.GELU, false, numLabels).toBuilder().problemType(problem);
        if (labels != null) {
            b.labels(labels);
        }
        return b.build();
    }

    /** HF's function, in double, applied to float32 logits. */
    static double[] expectedScores(Function f, float[] logits) {
        double[] out = new double[logits.length];
        switch (f) {
            case SOFTMAX -> {
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (float x : logits) {
                    max = Math.max(max, x);
                }
                for (int i = 0; i < logits.length; i++) {
                    out[i] = Math.exp(logits[i] - max);
                    sum += out[i];
                }
                for (int i = 0; i < logits.length; i++) {
                    out[i] /= sum;
                }
            }
            case SIGMOID -> {
                for (int i = 0; i < logits.length; i++) {
                    out[i] = 1 / (1 + Math.exp(-(double) logits[i]));
                }
            }
            case NONE -> {
                for (int i = 0; i < logits.length; i++) {
                    out[i] = logits[i];
                }
            }
        }
        return out;
    }

    /** The logits of one row run alone through the head's forward: [num_labels]. */
    static float[] directLogits(DistilBertForSequenceClassification head, Encoding e) {
        return head.forward(ModelInput.ofIds(new int[][] {e.ids()})).logits().data();
    }

    /**
     * Checks {@code results} row by row: logits as the row alone gives them (1e-5: another batch may
     * sum in another order), scores the function of those logits (1e-5), and exactly — to one float32
     * rounding — the function of the result's own logits; labels from id2label.
     */
    static void assertMatchesForward(DistilBertForSequenceClassification head, List<Encoding> encodings, List<Result> results,
                                     Function f, List<String> labels) {
        assertEquals(encodings.size(), results.size());
        for (int i = 0; i < encodings.size(); i++) {
            Result r = results.get(i);
            float[] want = directLogits(head, encodings.get(i));
            assertEquals(labels, r.labels(), "labels of row " + i);
            assertEquals(labels.size(), r.logits().length);
            double[] wantScores = expectedScores(f, want), ownScores = expectedScores(f, r.logits());
            for (int j = 0; j < want.length; j++) {
                String at = "row " + i + " label " + j;
                assertEquals(want[j], r.logits()[j], 1e-5 + 1e-5 * Math.abs(want[j]), "logit of " + at);
                assertEquals(wantScores[j], r.scores()[j], 1e-5 + 1e-5 * Math.abs(wantScores[j]), "score of " + at);
                float own = (float) ownScores[j];
                assertEquals(own, r.scores()[j], Math.ulp(own), "score of " + at + " from its own logits");
            }
        }
    }

    @Test
    void twoLabelsWithoutId2labelAreSoftmaxOverLabel0AndLabel1() {
        DistilBertConfig config = config(2, null, null);
        try (DistilBert db = TestModels.model(config, Head.SEQUENCE_CLASSIFICATION, 11)) {
            TextClassification tc = new TextClassification(db, tokenizer);
            assertEquals(Function.SOFTMAX, tc.function());
            assertEquals(List.of("LABEL_0", "LABEL_1"), tc.labels());
            DistilBertForSequenceClassification head = db.as(DistilBertForSequenceClassification.class);
            for (String text : TEXTS) {
                Result r = tc.classify(text);
                assertMatchesForward(head, List.of(tokenizer.encode(text)), List.of(r), Function.SOFTMAX, tc.labels());
                double sum = r.scores()[0] + r.scores()[1];
                assertEquals(1.0, sum, 1e-6, "a distribution");
                int argmax = r.scores()[1] > r.scores()[0] ? 1 : 0;
                assertEquals(new LabelScore(argmax, "LABEL_" + argmax, r.scores()[argmax]), r.best());
            }
        }
    }

    @Test
    void pairsAndRaggedBatchesOfFiveNamedLabels() {
        List<String> names = List.of("anger", "joy", "fear", "love", "surprise");
        DistilBertConfig config = config(5, null, names);
        try (DistilBert db = TestModels.model(config, Head.SEQUENCE_CLASSIFICATION, 12)) {
            TextClassification tc = new TextClassification(db, tokenizer);
            DistilBertForSequenceClassification head = db.as(DistilBertForSequenceClassification.class);
            List<Encoding> encodings = new ArrayList<>();
            for (int i = 0; i < TEXTS.size(); i++) {
                encodings.add(tokenizer.encode(TEXTS.get(i), PAIRS.get(i)));
            }
            assertTrue(encodings.stream().mapToInt(Encoding::length).distinct().count() >= 4,
                    "rows of many lengths: " + encodings.stream().map(Encoding::length).toList());
            List<Result> batched = tc.classify(TEXTS, PAIRS);
            assertMatchesForward(head, encodings, batched, Function.SOFTMAX, names);
            // one row at a time, and batches of a few tokens: the same numbers, bit for bit on the CPU
            for (int batchTokens : new int[] {1, 20, 100_000}) {
                assertEquals(batched, tc.withBatchTokens(batchTokens).classify(TEXTS, PAIRS), "batch tokens " + batchTokens);
            }
            Result pair = tc.classify(TEXTS.get(1), PAIRS.get(1));
            assertMatchesForward(head, List.of(encodings.get(1)), List.of(pair), Function.SOFTMAX, names);
        }
    }

    @Test
    void hfPicksTheFunctionFromProblemTypeThenNumLabels() {
        record Case(int numLabels, ProblemType problem, Function expected) {}
        List<Case> cases = List.of(
                new Case(1, null, Function.SIGMOID),
                new Case(2, null, Function.SOFTMAX),
                new Case(5, null, Function.SOFTMAX),
                new Case(1, ProblemType.REGRESSION, Function.NONE),
                new Case(3, ProblemType.REGRESSION, Function.NONE),
                new Case(5, ProblemType.MULTI_LABEL_CLASSIFICATION, Function.SIGMOID),
                new Case(1, ProblemType.SINGLE_LABEL_CLASSIFICATION, Function.SIGMOID), // num_labels == 1 is checked first
                new Case(5, ProblemType.SINGLE_LABEL_CLASSIFICATION, Function.SOFTMAX));
        for (Case c : cases) {
            assertEquals(c.expected(), Function.defaultFor(config(c.numLabels(), c.problem(), null)), c.toString());
        }
    }

    @Test
    void oneLabelIsASigmoidAndRegressionGivesTheLogits() {
        for (ProblemType problem : Arrays.asList(null, ProblemType.REGRESSION, ProblemType.MULTI_LABEL_CLASSIFICATION)) {
            for (int numLabels : new int[] {1, 5}) {
                DistilBertConfig config = config(numLabels, problem, null);
                try (DistilBert db = TestModels.model(config, Head.SEQUENCE_CLASSIFICATION, 13 + numLabels)) {
                    TextClassification tc = new TextClassification(db, tokenizer);
                    Function f = Function.defaultFor(config);
                    assertEquals(f, tc.function());
                    List<Encoding> encodings = tokenizer.encodeBatch(TEXTS, PAIRS, EncodeOptions.DEFAULT);
                    List<Result> results = tc.classify(TEXTS, PAIRS);
                    assertMatchesForward(db.as(DistilBertForSequenceClassification.class), encodings, results, f,
                            DistilBertConfig.defaultId2Label(numLabels).values().stream().toList());
                    if (f == Function.NONE) {
                        for (Result r : results) {
                            assertEquals(Arrays.toString(r.logits()), Arrays.toString(r.scores()), "regression: scores are the logits");
                        }
                    }
                }
            }
        }
    }

    @Test
    void theFunctionCanBeChosen() {
        DistilBertConfig config = config(3, null, List.of("neg", "neu", "pos"));
        try (DistilBert db = TestModels.model(config, Head.SEQUENCE_CLASSIFICATION, 21)) {
            TextClassification tc = new TextClassification(db, tokenizer);
            DistilBertForSequenceClassification head = db.as(DistilBertForSequenceClassification.class);
            List<Encoding> encodings = tokenizer.encodeBatch(TEXTS);
            for (Function f : Function.values()) {
                TextClassification chosen = tc.withFunction(f);
                assertEquals(f, chosen.function());
                assertMatchesForward(head, encodings, chosen.classify(TEXTS), f, List.of("neg", "neu", "pos"));
            }
            assertEquals(Function.SOFTMAX, tc.withFunction(Function.NONE).withFunction(null).function(), "null: the default again");
            assertEquals(List.of("softmax", "sigmoid", "none"), Arrays.stream(Function.values()).map(Function::toString).toList());
        }
    }

    @Test
    void topKSortsByScoreKeepingIdOrderForTies() {
        List<String> labels = List.of("a", "b", "c", "d", "e");
        Result r = new Result(new float[5], new float[] {1, 3, 3, 0, 3}, labels);
        assertEquals(new LabelScore(1, "b", 3), r.best(), "the first of the best, as numpy's argmax");
        assertEquals(List.of(new LabelScore(1, "b", 3), new LabelScore(2, "c", 3)), r.top(2));
        List<LabelScore> all = List.of(new LabelScore(1, "b", 3), new LabelScore(2, "c", 3), new LabelScore(4, "e", 3),
                new LabelScore(0, "a", 1), new LabelScore(3, "d", 0));
        assertEquals(all, r.all());
        assertEquals(all, r.top(5));
        assertEquals(all, r.top(100), "k beyond the labels: all of them");
        assertThrows(IllegalArgumentException.class, () -> r.top(0));

        Result zeros = new Result(new float[3], new float[] {-0.0f, 0.0f, -1}, List.of("x", "y", "z"));
        assertEquals(List.of(0, 1, 2), zeros.all().stream().map(LabelScore::id).toList(), "-0.0 and 0.0 tie, as in Python");
        Result nan = new Result(new float[3], new float[] {1, Float.NaN, 2}, List.of("x", "y", "z"));
        assertEquals(1, nan.best().id(), "NaN first, as numpy's argmax");

        // random scores with many ties, against a plain ranking
        Random random = new Random(3);
        for (int trial = 0; trial < 100; trial++) {
            int n = 1 + random.nextInt(12);
            float[] scores = new float[n];
            for (int i = 0; i < n; i++) {
                scores[i] = random.nextInt(4) / 4f;
            }
            Result rr = new Result(new float[n], scores, DistilBertConfig.defaultId2Label(n).values().stream().toList());
            List<LabelScore> sorted = rr.all();
            for (int i = 0; i + 1 < n; i++) {
                LabelScore x = sorted.get(i), y = sorted.get(i + 1);
                assertTrue(x.score() > y.score() || x.score() == y.score() && x.id() < y.id(), Arrays.toString(scores));
            }
            assertEquals(n, sorted.stream().map(LabelScore::id).distinct().count());
        }
    }

    @Test
    void resultOfALogitsRowAppliesTheFunction() {
        DistilBertConfig config = config(2, null, List.of("NEGATIVE", "POSITIVE"));
        try (DistilBert db = TestModels.model(config, Head.SEQUENCE_CLASSIFICATION, 22)) {
            TextClassification tc = new TextClassification(db, tokenizer);
            Result r = tc.result(new float[] {-1.5f, 2.25f});
            double p = 1 / (1 + Math.exp(-(2.25 + 1.5)));
            assertEquals((float) p, r.scores()[1]);
            assertEquals((float) (1 - p), r.scores()[0], 1e-7f);
            assertEquals(new LabelScore(1, "POSITIVE", (float) p), r.best());
            assertThrows(IllegalArgumentException.class, () -> new Result(new float[2], new float[3], List.of("a", "b")));
        }
    }

    @Test
    void longTextsAreCutToTheMaxLength() {
        DistilBertConfig config = config(2, null, null);
        String longText = "the cat sat on the mat and ".repeat(30);
        try (DistilBert db = TestModels.model(config, Head.SEQUENCE_CLASSIFICATION, 23)) {
            TextClassification tc = new TextClassification(db, tokenizer);
            assertEquals(64, tc.maxLength(), "max_position_embeddings 64, below the tokenizer's 512");
            DistilBertForSequenceClassification head = db.as(DistilBertForSequenceClassification.class);
            for (TextClassification t : List.of(tc, tc.withMaxLength(10))) {
                Encoding cut = tokenizer.encode(longText, null, new EncodeOptions(true, Truncation.longestFirst(t.maxLength()), null));
                assertEquals(t.maxLength(), cut.length());
                assertEquals(List.of(cut.length()), t.encode(List.of(longText), null).stream().map(Encoding::length).toList());
                assertMatchesForward(head, List.of(cut), List.of(t.classify(longText)), Function.SOFTMAX, tc.labels());
            }
            Encoding whole = tokenizer.encode(longText);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> tc.classifyEncodings(List.of(tokenizer.encode("a dog"), whole)));
            assertEquals("row 1 is " + whole.length() + " tokens long, more than max_position_embeddings = 64; truncate it",
                    e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> tc.withMaxLength(65));
            assertThrows(IllegalArgumentException.class, () -> tc.withMaxLength(1));
            assertThrows(IllegalArgumentException.class, () -> tc.withBatchTokens(0));
        }
    }

    @Test
    void theListenerHearsOfEveryRowAndToken() {
        DistilBertConfig config = config(2, null, null);
        try (DistilBert db = TestModels.model(config, Head.SEQUENCE_CLASSIFICATION, 24)) {
            TextClassification tc = new TextClassification(db, tokenizer).withBatchTokens(16);
            List<Encoding> encodings = tc.encode(TEXTS, PAIRS);
            long[] heard = new long[3];
            List<Result> results = tc.classifyEncodings(encodings, (rows, tokens) -> {
                heard[0] += rows;
                heard[1] += tokens;
                heard[2]++;
            });
            assertEquals(TEXTS.size(), results.size());
            assertEquals(TEXTS.size(), heard[0]);
            assertEquals(encodings.stream().mapToLong(Encoding::length).sum(), heard[1]);
            assertTrue(heard[2] > 1, "several batches of 16 tokens");
            assertEquals(List.of(), tc.classify(List.of()));
        }
    }

    @Test
    void onlyASequenceClassificationModelWithAFittingTokenizer() {
        try (DistilBert db = TestModels.model(config(2, null, null), Head.BASE, 25)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> new TextClassification(db, tokenizer));
            assertTrue(e.getMessage().startsWith("the model is a DistilBertModel, not a DistilBertForSequenceClassification"),
                    e.getMessage());
        }
        DistilBertConfig small = config(2, null, null).toBuilder().vocabSize(40).build();
        try (DistilBert db = TestModels.model(small, Head.SEQUENCE_CLASSIFICATION, 26)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new TextClassification(db, tokenizer));
            assertEquals("the tokenizer has " + tokenizer.vocabSize() + " tokens but the model's vocab_size is 40", e.getMessage());
        }
    }
}
