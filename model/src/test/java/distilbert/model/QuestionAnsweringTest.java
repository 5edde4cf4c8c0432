package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.model.QuestionAnswering.Answer;
import distilbert.model.QuestionAnswering.Span;
import distilbert.model.QuestionAnswering.WindowSpans;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.TokenizerException;
import distilbert.weights.Activation;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The question-answering pipeline against HF's postprocess written out plainly in this test: every
 * (start, end) pair of every window scored in double, words found from the "##" pieces, answers of
 * equal text merged, the null answer, the top k. On a tiny random model with a tiny tokenizer,
 * with long contexts in many windows, and on logits made up to put answers where a case needs them.
 */
class QuestionAnsweringTest {

    @TempDir
    static Path dir;

    static Tokenizer tokenizer;
    static DistilBert db;
    static QuestionAnswering qa;

    static final String QUESTION = "who sang ?";
    static final String SHORT = "the cat sat on the mat.";
    /** 40 tokens: in 6 windows of 10 context tokens at max_seq_len 16 (question 3, specials 3), stride 4. */
    static final String LONG = "The big red bird loudly sang in the tree , and the small blue bird sang quietly . "
            + "It was a very good night , and the sun was not in the sky ; the moon was .";
    /** Two characters outside the BMP, one UTF-16 pair each (both [UNK]). */
    static final String NON_BMP = "the \uD83D\uDE42 cat sat on the \uD835\uDCB3 mat";

    @BeforeAll
    static void load() throws IOException {
        tokenizer = TinyTokenizer.create(dir);
        DistilBertConfig config = TestModels.config(Activation.GELU, false, 2);
        db = TestModels.model(config, Head.QUESTION_ANSWERING, 31);
        qa = new QuestionAnswering(db, tokenizer);
    }

    @AfterAll
    static void close() {
        db.close();
    }

    // ---- HF's postprocess, written out in full ---------------------------------------------------------------

    /** HF's softmax of one window's logits, in double, the tokens not allowed at −10000. */
    static double[] softmax(float[] logits, boolean[] allowed) {
        double[] x = new double[logits.length];
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int i = 0; i < x.length; i++) {
            x[i] = allowed[i] ? logits[i] : -10000.0;
            max = Math.max(max, x[i]);
        }
        for (int i = 0; i < x.length; i++) {
            sum += Math.exp(x[i] - max);
        }
        for (int i = 0; i < x.length; i++) {
            x[i] = Math.exp(x[i] - max) / sum;
        }
        return x;
    }

    /** Every (start, end) pair of the window, scored; those HF keeps, best first, ties in flat-index order. */
    static List<Span> bruteForce(float[] start, float[] end, boolean[] allowed, int topK, int maxAnswerLen) {
        double[] ps = softmax(start, allowed), pe = softmax(end, allowed);
        ps[0] = 0;
        pe[0] = 0;
        int n = start.length;
        List<Span> kept = new ArrayList<>();
        for (int flat = 0; flat < n * n; flat++) {
            int s = flat / n, e = flat % n;
            boolean inBand = e >= s && e - s <= maxAnswerLen - 1;
            if (inBand && allowed[s] && allowed[e]) {
                kept.add(new Span(s, e, ps[s] * pe[e]));
            }
        }
        kept.sort((a, b) -> a.score() != b.score() ? Double.compare(b.score(), a.score())
                : Integer.compare(a.start() * n + a.end(), b.start() * n + b.end()));
        return kept.subList(0, Math.min(topK, kept.size()));
    }

    /** The context's tokens and [CLS] may be in an answer: the complement of HF's p_mask. */
    static boolean[] allowedByHand(Encoding w) {
        boolean[] ok = new boolean[w.length()];
        for (int i = 0; i < ok.length; i++) {
            ok[i] = w.sequenceIds()[i] == 1 || w.tokens()[i].equals("[CLS]");
        }
        return ok;
    }

    /** The String offsets of span s..e widened to whole words, a word being a token and the "##" pieces after it. */
    static int[] wordChars(Encoding w, int s, int e) {
        int[] seq = w.sequenceIds();
        String[] tok = w.tokens();
        if (seq[s] != 1 || seq[e] != 1) {
            return new int[] {w.start(s), w.end(e)};
        }
        while (s > 0 && seq[s - 1] == 1 && tok[s].startsWith("##")) {
            s--;
        }
        while (e + 1 < tok.length && seq[e + 1] == 1 && tok[e + 1].startsWith("##")) {
            e++;
        }
        return new int[] {w.start(s), w.end(e)};
    }

    /** HF's postprocess of one row: spans per window, merged by lower-cased text, the null answer, the top k. */
    static List<Answer> reference(List<Encoding> windows, List<float[]> starts, List<float[]> ends, String context, int topK,
                                  int maxAnswerLen, boolean impossible) {
        List<Answer> answers = new ArrayList<>();
        double minNull = 1_000_000;
        for (int w = 0; w < windows.size(); w++) {
            boolean[] allowed = allowedByHand(windows.get(w));
            double[] ps = softmax(starts.get(w), allowed), pe = softmax(ends.get(w), allowed);
            minNull = Math.min(minNull, ps[0] * pe[0]);
            for (Span span : bruteForce(starts.get(w), ends.get(w), allowed, topK, maxAnswerLen)) {
                int[] c = wordChars(windows.get(w), span.start(), span.end());
                String text = context.substring(c[0], c[1]);
                int same = -1;
                for (int i = 0; i < answers.size(); i++) {
                    if (answers.get(i).answer().toLowerCase(Locale.ROOT).equals(text.toLowerCase(Locale.ROOT))) {
                        same = i;
                    }
                }
                if (same >= 0) {
                    Answer a = answers.get(same);
                    answers.set(same, new Answer(a.score() + span.score(), a.start(), a.end(), a.answer()));
                } else {
                    answers.add(new Answer(span.score(), context.codePointCount(0, c[0]), context.codePointCount(0, c[1]), text));
                }
            }
        }
        if (impossible) {
            answers.add(new Answer(minNull, 0, 0, ""));
        }
        List<Answer> sorted = new ArrayList<>(answers);
        sorted.sort(Comparator.comparingDouble(Answer::score).reversed());
        return sorted.subList(0, Math.min(topK, sorted.size()));
    }

    /** The logits of one window run alone through the head: [start, end]. */
    static float[][] alone(Encoding w) {
        QuestionAnsweringModelOutput out = db.as(DistilBertForQuestionAnswering.class).forward(ModelInput.ofIds(new int[][] {w.ids()}));
        return new float[][] {out.startLogits().data(), out.endLogits().data()};
    }

    static void assertSameAnswers(List<Answer> want, List<Answer> got, double relTol, String what) {
        assertEquals(want.size(), got.size(), what + ": " + got);
        for (int i = 0; i < want.size(); i++) {
            Answer w = want.get(i), g = got.get(i);
            String at = what + " answer " + i + ": want " + w + ", got " + g;
            assertEquals(w.answer(), g.answer(), at);
            assertEquals(w.start(), g.start(), at);
            assertEquals(w.end(), g.end(), at);
            assertEquals(w.score(), g.score(), relTol * Math.abs(w.score()) + 1e-300, at);
        }
    }

    /** The whole pipeline on the model against the reference fed with each window's own forward pass. */
    static void assertPipelineMatchesReference(QuestionAnswering p, String question, String context, String what) {
        Encoding e = p.encode(List.of(question), List.of(context)).getFirst();
        List<Encoding> windows = QuestionAnswering.windows(e);
        List<float[]> starts = new ArrayList<>(), ends = new ArrayList<>();
        for (Encoding w : windows) {
            float[][] logits = alone(w);
            starts.add(logits[0]);
            ends.add(logits[1]);
        }
        List<Answer> want = reference(windows, starts, ends, context, p.topK(), p.maxAnswerLen(), p.handleImpossibleAnswer());
        // another batch may sum in another order: the logits agree to ~1e-6, the scores to a few times that
        assertSameAnswers(want, p.answer(question, context), 1e-4, what);
        // the postprocess alone, on the same logits: exactly the reference's numbers, up to double rounding
        assertSameAnswers(want, p.answers(windows, starts, ends, context), 1e-12, what + " (postprocess)");
    }

    // ---- the span search ---------------------------------------------------------------------------------------

    @Test
    void spansAreTheBruteForceBestOfEveryPair() {
        Rand r = new Rand(5);
        for (int trial = 0; trial < 300; trial++) {
            int n = 1 + r.nextInt(40);
            float[] start = r.floats(n, 6), end = r.floats(n, 6);
            if (trial % 3 == 0) {
                // many exact ties: HF's flat-index order decides
                for (int i = 0; i < n; i++) {
                    start[i] = r.nextInt(3);
                    end[i] = r.nextInt(3);
                }
            }
            boolean[] allowed = new boolean[n];
            allowed[0] = true; // [CLS]
            for (int i = 1; i < n; i++) {
                allowed[i] = r.nextDouble() < 0.7;
            }
            int topK = 1 + r.nextInt(trial % 5 == 0 ? 200 : 6), maxAnswerLen = 1 + r.nextInt(n + 2);
            WindowSpans got = QuestionAnswering.spans(start, end, allowed, topK, maxAnswerLen);
            List<Span> want = bruteForce(start, end, allowed, topK, maxAnswerLen);
            String what = "trial " + trial + " n " + n + " top " + topK + " max len " + maxAnswerLen;
            assertEquals(want.size(), got.spans().size(), what);
            for (int i = 0; i < want.size(); i++) {
                assertEquals(want.get(i).start(), got.spans().get(i).start(), what + " span " + i);
                assertEquals(want.get(i).end(), got.spans().get(i).end(), what + " span " + i);
                assertEquals(want.get(i).score(), got.spans().get(i).score(), 1e-15, what + " span " + i);
                assertTrue(got.spans().get(i).end() - got.spans().get(i).start() < maxAnswerLen, what);
            }
            double[] ps = softmax(start, allowed), pe = softmax(end, allowed);
            assertEquals(ps[0] * pe[0], got.nullScore(), 1e-15, what + ": null score, before [CLS] is zeroed");
        }
    }

    @Test
    void maskedTokensNeverStartOrEndASpanAndDoNotTakeProbability() {
        // token 1 has the highest logits but is masked (a question token): HF's −10000 leaves it nothing
        float[] start = {0, 50, 1, 2, 0}, end = {0, 50, 0, 3, 1};
        boolean[] allowed = {true, false, true, true, true};
        WindowSpans ws = QuestionAnswering.spans(start, end, allowed, 3, 15);
        double zs = Math.exp(0) + Math.exp(1) + Math.exp(2) + Math.exp(0), ze = Math.exp(0) + Math.exp(0) + Math.exp(3) + Math.exp(1);
        assertSpan(3, 3, Math.exp(2) / zs * Math.exp(3) / ze, ws.spans().get(0));
        assertSpan(2, 3, Math.exp(1) / zs * Math.exp(3) / ze, ws.spans().get(1));
        assertEquals(1 / zs / ze, ws.nullScore(), 1e-17);
        assertEquals(3, ws.spans().size());
        assertTrue(ws.spans().stream().noneMatch(s -> s.start() == 1 || s.end() == 1));
    }

    static void assertSpan(int start, int end, double score, Span got) {
        assertEquals(start + ".." + end, got.start() + ".." + got.end());
        assertEquals(score, got.score(), 1e-15);
    }

    // ---- the pipeline on a model ---------------------------------------------------------------------------------

    @Test
    void defaultsAreHfs() {
        assertEquals(1, qa.topK());
        assertEquals(64, qa.maxSeqLen(), "min(384, model_max_length 512, max_position_embeddings 64)");
        assertEquals(32, qa.docStride(), "min(max_seq_len / 2, 128)");
        assertEquals(15, qa.maxAnswerLen());
        assertEquals(64, qa.maxQuestionLen());
        assertEquals(false, qa.handleImpossibleAnswer());
        assertEquals(5, qa.withMaxSeqLen(10).docStride());
        assertEquals(3, qa.withMaxSeqLen(10).withDocStride(3).docStride());
        assertEquals(5, qa.withDocStride(3).withDocStride(null).withMaxSeqLen(10).docStride(), "null: the default again");
    }

    @Test
    void shortContextsInOneWindow() {
        for (String context : List.of(SHORT, NON_BMP, "cat")) {
            Encoding e = qa.encode(List.of(QUESTION), List.of(context)).getFirst();
            assertEquals(List.of(), e.overflowing(), context);
            assertEquals("[CLS]", e.tokens()[0]);
            for (QuestionAnswering p : List.of(qa, qa.withTopK(3), qa.withTopK(3).withHandleImpossibleAnswer(true), qa.withMaxAnswerLen(1))) {
                assertPipelineMatchesReference(p, QUESTION, context, context + " top " + p.topK());
            }
        }
        Answer best = qa.answer(QUESTION, "cat").getFirst();
        assertEquals(new Answer(best.score(), 0, 3, "cat"), best, "the only span of a one-token context");
        assertTrue(best.score() > 0 && best.score() <= 1, best.toString());
    }

    @Test
    void longContextsRunInOverlappingWindows() {
        QuestionAnswering small = qa.withMaxSeqLen(16).withDocStride(4);
        Encoding e = small.encode(List.of(QUESTION), List.of(LONG)).getFirst();
        List<Encoding> windows = QuestionAnswering.windows(e);
        List<String> context = tokenizer.tokenize(LONG);
        assertEquals(40, context.size());
        assertEquals(6, windows.size(), "10 context tokens a window, each 4 back from the previous end");
        for (int w = 0; w < windows.size(); w++) {
            List<String> tokens = List.of(windows.get(w).tokens());
            assertEquals(List.of("[CLS]", "who", "sang", "?", "[SEP]"), tokens.subList(0, 5));
            assertEquals("[SEP]", tokens.getLast());
            assertEquals(context.subList(6 * w, Math.min(6 * w + 10, 40)), tokens.subList(5, tokens.size() - 1), "window " + w);
        }
        for (QuestionAnswering p : List.of(small, small.withTopK(5), small.withTopK(4).withHandleImpossibleAnswer(true),
                small.withMaxAnswerLen(2).withTopK(3), small.withDocStride(0), small.withMaxSeqLen(11).withDocStride(2).withTopK(2))) {
            assertPipelineMatchesReference(p, QUESTION, LONG, "top " + p.topK() + " stride " + p.docStride() + " max " + p.maxSeqLen());
        }
        assertPipelineMatchesReference(qa.withTopK(3), QUESTION, LONG, "one window at the default max_seq_len");
        assertEquals(1, QuestionAnswering.windows(qa.encode(List.of(QUESTION), List.of(LONG)).getFirst()).size());
    }

    @Test
    void batchingChangesNothing() {
        QuestionAnswering small = qa.withMaxSeqLen(16).withDocStride(4).withTopK(3).withHandleImpossibleAnswer(true);
        List<String> questions = List.of(QUESTION, "who wrote this story ?", QUESTION, "is it good ?"),
                contexts = List.of(LONG, SHORT, NON_BMP, LONG.substring(40));
        List<List<Answer>> all = small.answer(questions, contexts);
        for (int i = 0; i < questions.size(); i++) {
            assertEquals(small.answer(questions.get(i), contexts.get(i)), all.get(i), "row " + i + " alone");
        }
        for (int batchTokens : new int[] {1, 20, 100_000}) {
            assertEquals(all, small.withBatchTokens(batchTokens).answer(questions, contexts), "batch tokens " + batchTokens);
        }
        List<Encoding> encodings = small.encode(questions, contexts);
        long windows = encodings.stream().mapToLong(en -> 1 + en.overflowing().size()).sum();
        long tokens = encodings.stream().flatMap(en -> QuestionAnswering.windows(en).stream()).mapToLong(Encoding::length).sum();
        long[] heard = new long[3];
        small.withBatchTokens(20).answerEncodings(encodings, contexts, (rows, t) -> {
            heard[0] += rows;
            heard[1] += t;
            heard[2]++;
        });
        assertEquals(questions.size(), heard[0], "rows, each counted once its last window has run");
        assertEquals(tokens, heard[1]);
        assertTrue(heard[2] > 1 && windows > questions.size(), heard[2] + " batches, " + windows + " windows");
        assertEquals(List.of(), small.answer(List.of(), List.of()));
    }

    // ---- made-up logits: answers where a case needs them -----------------------------------------------------

    /** Logits of −5 everywhere but {@code high} at the given positions. */
    static float[] peaks(int n, float high, int... at) {
        float[] v = new float[n];
        Arrays.fill(v, -5);
        for (int i : at) {
            v[i] = high;
        }
        return v;
    }

    @Test
    void anAnswerSeenByTwoWindowsIsOneAnswerWithTheSumOfTheirScores() {
        QuestionAnswering p = qa.withMaxSeqLen(16).withDocStride(4).withTopK(3);
        List<Encoding> windows = QuestionAnswering.windows(p.encode(List.of(QUESTION), List.of(LONG)).getFirst());
        // context tokens 6..9 are in windows 0 and 1 (positions 11..14 of window 0, 5..8 of window 1);
        // "the tree", tokens 8 and 9, is at 13..14 of window 0 and 7..8 of window 1
        List<float[]> starts = new ArrayList<>(), ends = new ArrayList<>();
        for (int w = 0; w < windows.size(); w++) {
            int n = windows.get(w).length();
            starts.add(w == 0 ? peaks(n, 5, 13) : w == 1 ? peaks(n, 5, 7) : peaks(n, 0));
            ends.add(w == 0 ? peaks(n, 5, 14) : w == 1 ? peaks(n, 5, 8) : peaks(n, 0));
        }
        assertEquals("the tree", LONG.substring(windows.get(0).start(13), windows.get(0).end(14)));
        assertEquals("the tree", LONG.substring(windows.get(1).start(7), windows.get(1).end(8)));
        List<Answer> got = p.answers(windows, starts, ends, LONG);
        List<Answer> want = reference(windows, starts, ends, LONG, 3, 15, false);
        assertSameAnswers(want, got, 1e-12, "overlap");
        assertEquals("the tree", got.getFirst().answer());
        WindowSpans w0 = QuestionAnswering.spans(starts.get(0), ends.get(0), QuestionAnswering.allowed(windows.get(0), 2), 3, 15);
        WindowSpans w1 = QuestionAnswering.spans(starts.get(1), ends.get(1), QuestionAnswering.allowed(windows.get(1), 2), 3, 15);
        assertEquals(w0.spans().getFirst().score() + w1.spans().getFirst().score(), got.getFirst().score(), 1e-15);
        assertTrue(got.getFirst().score() > 1, "a sum of two window's bests can pass 1, as in HF");
        assertEquals(LONG.indexOf("the tree"), got.getFirst().start());
    }

    @Test
    void equalTextInAnyCaseIsOneAnswerAtTheFirstPlace() {
        String context = "The cat sat and the cat ran";
        Encoding e = qa.encode(List.of(QUESTION), List.of(context)).getFirst();
        int n = e.length();
        // "the cat" at context tokens 0-1 (positions 5, 6) and 4-5 (positions 9, 10); the latter scores higher
        float[] start = peaks(n, 4, 5, 9), end = peaks(n, 4, 6, 10);
        start[9] = 5;
        List<Answer> got = qa.withTopK(2).answers(List.of(e), List.of(start), List.of(end), context);
        assertSameAnswers(reference(List.of(e), List.of(start), List.of(end), context, 2, 15, false), got, 1e-12, "case");
        assertEquals("the cat", got.getFirst().answer(), "the better span comes first in its window: its text and place stay");
        assertEquals(16, got.getFirst().start());
        WindowSpans ws = QuestionAnswering.spans(start, end, QuestionAnswering.allowed(e, 2), 2, 15);
        assertEquals(ws.spans().get(0).score() + ws.spans().get(1).score(), got.getFirst().score(), 1e-15);
    }

    @Test
    void aWindowThatStartsInsideAWordWidensOnlyToItsOwnTokens() {
        // "loudly" is loud ##ly: with 8 context tokens a window and stride 3, window 1 starts at ##ly
        String context = "the big red bird loudly sang in the tree and it was good";
        QuestionAnswering p = qa.withMaxSeqLen(14).withDocStride(3).withTopK(2);
        List<Encoding> windows = QuestionAnswering.windows(p.encode(List.of(QUESTION), List.of(context)).getFirst());
        assertEquals("##ly", windows.get(1).tokens()[5]);
        assertEquals("loud", windows.get(0).tokens()[9]);
        List<float[]> starts = new ArrayList<>(), ends = new ArrayList<>();
        for (int w = 0; w < windows.size(); w++) {
            int n = windows.get(w).length();
            starts.add(w == 1 ? peaks(n, 6, 5) : w == 0 ? peaks(n, 3, 9) : peaks(n, 0));
            ends.add(w == 1 ? peaks(n, 6, 6) : w == 0 ? peaks(n, 3, 9) : peaks(n, 0));
        }
        List<Answer> got = p.answers(windows, starts, ends, context);
        assertSameAnswers(reference(windows, starts, ends, context, 2, 15, false), got, 1e-12, "border");
        assertEquals(new Answer(got.get(0).score(), 21, 28, "ly sang"), got.get(0), "from ##ly: the window has no 'loud'");
        assertEquals(new Answer(got.get(1).score(), 17, 23, "loudly"), got.get(1), "from loud in window 0: the whole word");
    }

    @Test
    void maxAnswerLenBoundsTheSpanInTokens() {
        Encoding e = qa.encode(List.of(QUESTION), List.of(SHORT)).getFirst();
        int n = e.length(); // [CLS] who sang ? [SEP] the cat sat on the mat . [SEP]: context at 5..11
        float[] start = peaks(n, 6, 5), end = peaks(n, 6, 10);
        assertEquals("the cat sat on the mat", qa.answers(List.of(e), List.of(start), List.of(end), SHORT).getFirst().answer());
        for (int m = 1; m <= 7; m++) {
            QuestionAnswering p = qa.withMaxAnswerLen(m).withTopK(4);
            List<Answer> got = p.answers(List.of(e), List.of(start), List.of(end), SHORT);
            assertSameAnswers(reference(List.of(e), List.of(start), List.of(end), SHORT, 4, m, false), got, 1e-12, "max " + m);
            for (Answer a : got) {
                assertTrue(tokenizer.tokenize(a.answer()).size() <= m, a + " within " + m + " tokens");
            }
        }
    }

    @Test
    void theImpossibleAnswerScoresTheSmallestNullScoreOfTheWindows() {
        QuestionAnswering p = qa.withMaxSeqLen(16).withDocStride(4).withTopK(3).withHandleImpossibleAnswer(true);
        List<Encoding> windows = QuestionAnswering.windows(p.encode(List.of(QUESTION), List.of(LONG)).getFirst());
        List<float[]> starts = new ArrayList<>(), ends = new ArrayList<>();
        double minNull = Double.MAX_VALUE;
        for (int w = 0; w < windows.size(); w++) {
            int n = windows.get(w).length();
            starts.add(peaks(n, 9 - w, 0));  // [CLS] high in every window: the null answer wins
            ends.add(peaks(n, 9, 0, 7));
            boolean[] allowed = allowedByHand(windows.get(w));
            minNull = Math.min(minNull, softmax(starts.get(w), allowed)[0] * softmax(ends.get(w), allowed)[0]);
        }
        List<Answer> got = p.answers(windows, starts, ends, LONG);
        assertSameAnswers(reference(windows, starts, ends, LONG, 3, 15, true), got, 1e-12, "impossible");
        assertEquals(new Answer(minNull, 0, 0, ""), got.getFirst());
        assertEquals(3, got.size());
        assertTrue(p.withHandleImpossibleAnswer(false).answers(windows, starts, ends, LONG).stream().noneMatch(a -> a.answer().isEmpty()));
        // a confident span beats it: the empty answer takes its place further down
        Encoding e = windows.getFirst();
        float[] start = peaks(e.length(), 8, 6), end = peaks(e.length(), 8, 7);
        start[0] = 2; // null e^-12 or so, above the other spans' e^-13
        end[0] = 2;
        List<Answer> one = p.answers(List.of(e), List.of(start), List.of(end), LONG);
        assertSameAnswers(reference(List.of(e), List.of(start), List.of(end), LONG, 3, 15, true), one, 1e-12, "span wins");
        assertEquals("big red", one.getFirst().answer());
        assertEquals("", one.get(1).answer(), "the null answer is second here: " + one);
        // a tie: [CLS] and the one context token equally likely, 0.5·0.5 each; the span came first, so it stays first
        Encoding cat = qa.encode(List.of(QUESTION), List.of("cat")).getFirst();
        float[] flat = peaks(cat.length(), 0);
        List<Answer> tie = qa.withTopK(2).withHandleImpossibleAnswer(true).answers(List.of(cat), List.of(flat), List.of(flat), "cat");
        assertEquals(List.of(new Answer(0.25, 0, 3, "cat"), new Answer(0.25, 0, 0, "")), tie);
        assertEquals(List.of(new Answer(0.25, 0, 3, "cat")),
                qa.withHandleImpossibleAnswer(true).answers(List.of(cat), List.of(flat), List.of(flat), "cat"));
    }

    @Test
    void offsetsCountCodePointsAsPythonDoes() {
        Encoding e = qa.encode(List.of(QUESTION), List.of(NON_BMP)).getFirst();
        assertEquals(List.of("[CLS]", "who", "sang", "?", "[SEP]", "the", "[UNK]", "cat", "sat", "on", "the", "[UNK]", "mat", "[SEP]"),
                List.of(e.tokens()));
        int n = e.length();
        float[] start = peaks(n, 6, 7), end = peaks(n, 6, 12);
        Answer a = qa.answers(List.of(e), List.of(start), List.of(end), NON_BMP).getFirst();
        // "the 🙂 " is 7 UTF-16 units but 6 code points; "cat sat on the 𝒳 mat" 21 code points
        assertEquals(new Answer(a.score(), 6, 26, "cat sat on the \uD835\uDCB3 mat"), a);
        assertEquals(a.answer(), NON_BMP.substring(NON_BMP.offsetByCodePoints(0, a.start()), NON_BMP.offsetByCodePoints(0, a.end())));
        start = peaks(n, 6, 6);
        end = peaks(n, 6, 6);
        assertEquals(new Answer(qa.answers(List.of(e), List.of(start), List.of(end), NON_BMP).getFirst().score(), 4, 5, "\uD83D\uDE42"),
                qa.answers(List.of(e), List.of(start), List.of(end), NON_BMP).getFirst(), "an answer of one character outside the BMP");
    }

    @Test
    void spansFromClsKeepTheTokensOwnOffsets() {
        // a one-token context with top 5: beyond the one real span, only zero-score spans from [CLS] are left
        Encoding e = qa.encode(List.of(QUESTION), List.of("cat")).getFirst();
        float[] logits = peaks(e.length(), 0);
        List<Answer> got = qa.withTopK(5).answers(List.of(e), List.of(logits), List.of(logits), "cat");
        assertSameAnswers(reference(List.of(e), List.of(logits), List.of(logits), "cat", 5, 15, false), got, 1e-12, "cls");
        // (5, 5) "cat" 0.5·0.5; (0, 0) "" 0; (0, 5) from [CLS]'s offset 0 to cat's end: "cat" again, merged
        assertEquals(List.of(new Answer(0.25, 0, 3, "cat"), new Answer(0.0, 0, 0, "")), got);
    }

    // ---- errors --------------------------------------------------------------------------------------------------

    @Test
    void badInputsAndSettingsAreRefusedClearly() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> qa.answer("", SHORT));
        assertEquals("row 0: the question is empty", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> qa.answer(List.of("a", "b"), List.of(SHORT, "")));
        assertEquals("row 1: the context is empty", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> qa.answer(List.of("a"), List.of()));
        TokenizerException t = assertThrows(TokenizerException.class,
                () -> qa.withMaxSeqLen(8).answer("who sang in the tree and the night ?", SHORT));
        assertTrue(t.getMessage().contains("only_second cannot reach max_length 8"), t.getMessage());
        t = assertThrows(TokenizerException.class, () -> qa.withMaxSeqLen(12).withDocStride(6).answer(QUESTION, LONG));
        assertTrue(t.getMessage().contains("stride 6 must be smaller"), t.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> qa.withMaxSeqLen(12).withDocStride(13).answer(QUESTION, LONG));
        assertEquals("doc_stride (13) must be in [0, max_seq_len (12)]", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> qa.withTopK(0));
        assertThrows(IllegalArgumentException.class, () -> qa.withMaxAnswerLen(0));
        assertThrows(IllegalArgumentException.class, () -> qa.withMaxQuestionLen(0));
        assertThrows(IllegalArgumentException.class, () -> qa.withDocStride(-1));
        assertThrows(IllegalArgumentException.class, () -> qa.withBatchTokens(0));
        e = assertThrows(IllegalArgumentException.class, () -> qa.withMaxSeqLen(65));
        assertTrue(e.getMessage().startsWith("max_seq_len must be in [4, 64]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> qa.withMaxSeqLen(3));
        assertEquals(qa.answer(QUESTION, SHORT), qa.withMaxQuestionLen(1).answer(QUESTION, SHORT),
                "max_question_len changes nothing with a fast tokenizer, as in HF");
        Encoding enc = qa.encode(List.of(QUESTION), List.of(SHORT)).getFirst();
        assertThrows(IllegalArgumentException.class, () -> qa.answers(List.of(enc), List.of(new float[3]), List.of(new float[3]), SHORT));
    }

    @Test
    void onlyAQuestionAnsweringModelWithAFittingTokenizer() {
        try (DistilBert base = TestModels.model(TestModels.config(Activation.GELU, false, 2), Head.BASE, 32)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> new QuestionAnswering(base, tokenizer));
            assertTrue(e.getMessage().startsWith("the model is a DistilBertModel, not a DistilBertForQuestionAnswering"), e.getMessage());
        }
        DistilBertConfig small = TestModels.config(Activation.GELU, false, 2).toBuilder().vocabSize(40).build();
        try (DistilBert m = TestModels.model(small, Head.QUESTION_ANSWERING, 33)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new QuestionAnswering(m, tokenizer));
            assertEquals("the tokenizer has " + tokenizer.vocabSize() + " tokens but the model's vocab_size is 40", e.getMessage());
        }
    }
}
