package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.model.MultipleChoice.ChoiceScore;
import distilbert.model.MultipleChoice.Question;
import distilbert.model.MultipleChoice.Result;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.Activation;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Multiple choice against its definition: a question's logits are those
 * {@link DistilBertForMultipleChoice#forward(int[][][], int[][][], int[])} gives for that question
 * alone as one padded [1, NC, L] example (as HF's documentation runs the model), its scores their
 * softmax in double; batching changes nothing; questions of different sizes mix.
 */
class MultipleChoiceTest {

    @TempDir
    static Path dir;

    static Tokenizer tokenizer;

    @BeforeAll
    static void writeTokenizer() throws IOException {
        tokenizer = TinyTokenizer.create(dir);
    }

    static final List<Question> QUESTIONS = List.of(
            new Question("the cat sat on the", List.of("mat.", "moon.", "big red house and small blue tree")),
            new Question("who wrote this story ?", List.of("a dog", "the bird sang loud in the night")),
            new Question("it was a very good movie", List.of("not a bad one", "", "liked it", "hated it", "a book")),
            new Question("", List.of("the sun")));

    static DistilBertConfig config() {
        return TestModels.config(Activation.GELU, false, 2);
    }

    /** The question as HF's documentation runs it: [1, NC, L], padded to its longest choice. */
    static float[] directLogits(DistilBertForMultipleChoice head, Question q, MultipleChoice mc) {
        List<Encoding> rows = tokenizer.encodeBatch(q.choices().stream().map(c -> q.prompt()).toList(), q.choices(),
                mc.encodeOptions());
        int L = rows.stream().mapToInt(Encoding::length).max().orElseThrow(), NC = rows.size();
        int[][][] ids = new int[1][NC][L], mask = new int[1][NC][L];
        for (int c = 0; c < NC; c++) {
            int[] row = rows.get(c).ids();
            System.arraycopy(row, 0, ids[0][c], 0, row.length);
            java.util.Arrays.fill(mask[0][c], 0, row.length, 1);
        }
        return head.forward(ids, mask, null).logits().data();
    }

    @Test
    void eachQuestionIsItsOwnExampleThroughTheHead() {
        try (DistilBert db = TestModels.model(config(), Head.MULTIPLE_CHOICE, 41)) {
            MultipleChoice mc = new MultipleChoice(db, tokenizer);
            DistilBertForMultipleChoice head = db.as(DistilBertForMultipleChoice.class);
            List<Result> results = mc.choose(QUESTIONS);
            assertEquals(QUESTIONS.size(), results.size());
            for (int q = 0; q < QUESTIONS.size(); q++) {
                Result r = results.get(q);
                float[] want = directLogits(head, QUESTIONS.get(q), mc);
                assertEquals(QUESTIONS.get(q).choices().size(), r.numChoices(), "question " + q);
                double[] wantScores = TextClassificationTest.expectedScores(TextClassification.Function.SOFTMAX, want);
                double[] own = TextClassificationTest.expectedScores(TextClassification.Function.SOFTMAX, r.logits());
                double sum = 0;
                for (int c = 0; c < want.length; c++) {
                    String at = "question " + q + " choice " + c;
                    // another batch may sum in another order: 1e-5
                    assertEquals(want[c], r.logits()[c], 1e-5 + 1e-5 * Math.abs(want[c]), "logit of " + at);
                    assertEquals(wantScores[c], r.scores()[c], 1e-5, "score of " + at);
                    assertEquals((float) own[c], r.scores()[c], Math.ulp((float) own[c]), "score of " + at + " from its own logits");
                    sum += r.scores()[c];
                }
                assertEquals(1.0, sum, 1e-6, "a distribution over the choices of question " + q);
            }
            // a question of one choice is certain of it
            assertEquals(new ChoiceScore(0, 1f), results.get(3).best());
            // one question alone, and any batching: the same numbers, bit for bit on the CPU
            assertEquals(results.get(2), mc.choose(QUESTIONS.get(2).prompt(), QUESTIONS.get(2).choices()));
            for (int batchTokens : new int[] {1, 13, 100_000}) {
                assertEquals(results, mc.withBatchTokens(batchTokens).choose(QUESTIONS), "batch tokens " + batchTokens);
                // the listener hears of questions done and of every token run
                long[] heard = new long[2];
                List<Encoding> rows = mc.encode(QUESTIONS);
                mc.withBatchTokens(batchTokens).chooseEncodings(rows, MultipleChoice.numChoices(QUESTIONS), (n, tokens) -> {
                    heard[0] += n;
                    heard[1] += tokens;
                });
                assertEquals(QUESTIONS.size(), heard[0], "questions heard of, batch tokens " + batchTokens);
                assertEquals(rows.stream().mapToLong(Encoding::length).sum(), heard[1], "tokens heard of");
            }
        }
    }

    @Test
    void bestAndTopRankByScoreThenIndex() {
        Result r = MultipleChoice.result(new float[] {0.5f, 2f, 2f, -1f});
        assertEquals(1, r.best().index());
        assertEquals(List.of(1, 2, 0, 3), r.top(10).stream().map(ChoiceScore::index).toList());
        assertEquals(List.of(1, 2), r.top(2).stream().map(ChoiceScore::index).toList());
        assertEquals(r.scores()[1], r.scores()[2]);
        assertThrows(IllegalArgumentException.class, () -> r.top(0));
    }

    @Test
    void longRowsAreCutLongestFirstToTheMaxLength() {
        try (DistilBert db = TestModels.model(config(), Head.MULTIPLE_CHOICE, 42)) {
            MultipleChoice mc = new MultipleChoice(db, tokenizer).withMaxLength(8);
            assertEquals(8, mc.maxLength());
            List<Encoding> rows = mc.encode(QUESTIONS);
            assertEquals(11, rows.size(), "one row per choice");
            assertTrue(rows.stream().allMatch(e -> e.length() <= 8), "cut to 8");
            assertTrue(rows.stream().anyMatch(e -> !e.overflowing().isEmpty()), "some rows were cut");
            // each row the pair (prompt, choice) as the tokenizer truncates it: here 5 + 7 words to
            // [CLS] the cat [SEP] big red house [SEP] (the tokenizer is checked against HF's elsewhere)
            assertEquals("[2, 5, 7, 3, 16, 18, 20, 3]", java.util.Arrays.toString(rows.get(2).ids()));
            assertEquals(java.util.Arrays.toString(tokenizer.encode("the cat sat on the", "big red house and small blue tree",
                    mc.encodeOptions()).ids()), java.util.Arrays.toString(rows.get(2).ids()));
            DistilBertForMultipleChoice head = db.as(DistilBertForMultipleChoice.class);
            Result r = mc.choose(QUESTIONS.getFirst().prompt(), QUESTIONS.getFirst().choices());
            float[] want = directLogits(head, QUESTIONS.getFirst(), mc);
            for (int c = 0; c < want.length; c++) {
                assertEquals(want[c], r.logits()[c], 1e-5 + 1e-5 * Math.abs(want[c]), "choice " + c);
            }
        }
    }

    @Test
    void badInputIsRefusedSayingWhat() {
        assertEquals("a question needs at least one choice",
                assertThrows(IllegalArgumentException.class, () -> new Question("p", List.of())).getMessage());
        try (DistilBert db = TestModels.model(config(), Head.MULTIPLE_CHOICE, 43)) {
            MultipleChoice mc = new MultipleChoice(db, tokenizer);
            List<Encoding> rows = mc.encode(QUESTIONS.subList(0, 1));
            assertEquals("3 rows for 4 choices", assertThrows(IllegalArgumentException.class,
                    () -> mc.chooseEncodings(rows, new int[] {4}, LengthBatches.Listener.NONE)).getMessage());
            assertEquals("question 1 has no choice", assertThrows(IllegalArgumentException.class,
                    () -> mc.chooseEncodings(rows, new int[] {3, 0}, LengthBatches.Listener.NONE)).getMessage());
            assertThrows(IllegalArgumentException.class, () -> mc.withMaxLength(1));
        }
        try (DistilBert db = TestModels.model(config(), Head.SEQUENCE_CLASSIFICATION, 44)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> new MultipleChoice(db, tokenizer));
            assertTrue(e.getMessage().contains("DistilBertForMultipleChoice"), e.getMessage());
        }
    }
}
