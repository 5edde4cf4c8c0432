package distilbert.model;

import distilbert.tokenizer.Direction;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.DistilBertConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * HF's {@code QuestionAnsweringPipeline} (transformers 4.x to 5.2; 5.3 removed it) on a
 * {@link DistilBertForQuestionAnswering}: a question and a context in, the best spans of the
 * context out, with HF's scores and character offsets.
 *
 * <pre>{@code
 * try (DistilBert db = DistilBert.load(dir, Device.AUTO)) {
 *     QuestionAnswering qa = new QuestionAnswering(db, Tokenizer.fromPretrained(dir));
 *     qa.answer("Who wrote Moby-Dick?", "Moby-Dick was written by Herman Melville.").getFirst();
 *     // Answer[score=0.97, start=25, end=40, answer=Herman Melville]
 *     qa.withTopK(3).withHandleImpossibleAnswer(true).answer(questions, contexts);   // a list per row
 * }
 * }</pre>
 *
 * <p>Steps, as HF's preprocess and postprocess with a fast tokenizer:
 * <ol>
 * <li>Tokenize {@code [CLS] question [SEP] context [SEP]}, truncating {@code only_second} to
 *     {@link #maxSeqLen()} tokens; the context that does not fit goes into further windows, each
 *     starting {@link #docStride()} context tokens before the previous one ended (tokenizers 0.22's
 *     windows, over the whole context: {@link Truncation#withWholeSequences}).</li>
 * <li>Run every window through the model (windows of all rows batched by length).</li>
 * <li>Per window: the logits of tokens that cannot be in an answer (the question, [SEP]; not
 *     [CLS], nor a context token) become −10000; softmax of the start and of the end logits; the
 *     null score is p_start[0]·p_end[0]; then p_start[0] = p_end[0] = 0; every span
 *     {@code start ≤ end < start + maxAnswerLen} of allowed tokens scores p_start[start]·p_end[end];
 *     the {@link #topK()} best are kept.</li>
 * <li>Each span becomes character offsets of the context, widened to whole words (HF's
 *     {@code align_to_words=True}: from the start of the start token's word to the end of the end
 *     token's word, among this window's tokens); a span from [CLS] keeps the raw token offsets.</li>
 * <li>Across windows, in window order, spans with the same text (compared lower-cased) are one
 *     answer whose score is the sum of theirs, at the first one's place. With
 *     {@link #handleImpossibleAnswer()}, the empty answer (0, 0, "") scores the smallest null
 *     score over the windows. Stable sort by score, highest first; the top k.</li>
 * </ol>
 *
 * <p>Scores are computed in double from the float32 logits; HF computes them in float32 with
 * numpy, so the two agree to about a float32 rounding. Where the order of two spans with exactly
 * equal scores is up to numpy's sort, spans here are in (start, end) order. Offsets are code points
 * of the context (Python's str indices), as HF reports them.
 *
 * <p>Differences from HF, all where HF's answer is not well defined or it fails: where fewer than
 * top_k spans of a window have a nonzero score, HF fills its list with zero-score pairs in numpy's
 * partition order, spans ending before they start included; here a window gives only spans within
 * the band. {@link #maxSeqLen()} defaults to at most max_position_embeddings (HF's default,
 * min(model_max_length, 384), fails on a model with fewer positions). HF returns a single answer
 * rather than a list when only one is left; here it is always a list.
 *
 * <p>Immutable; the {@code with…} methods return a changed copy over the same model.
 */
public final class QuestionAnswering {
    /** HF's defaults. */
    public static final int DEFAULT_TOP_K = 1, DEFAULT_MAX_SEQ_LEN = 384, DEFAULT_MAX_QUESTION_LEN = 64,
            DEFAULT_MAX_ANSWER_LEN = 15, MAX_DEFAULT_DOC_STRIDE = 128;
    /** What HF writes over the logits of tokens that cannot be in an answer. */
    static final float MASKED_LOGIT = -10000f;
    /** HF's starting null score, "large and positive". */
    static final double NO_NULL_SCORE = 1_000_000;

    /**
     * One answer. {@code start} and {@code end} are code point offsets of the context (Python str
     * indices), {@code answer} is the context between them; the empty answer is (0, 0, "").
     */
    public record Answer(double score, int start, int end, String answer) {
    }

    /** A span of one window: token indices (inclusive) and p_start[start]·p_end[end]. */
    record Span(int start, int end, double score) {
    }

    /** One window's decoded spans, best first, and its null score p_start[0]·p_end[0]. */
    record WindowSpans(List<Span> spans, double nullScore) {
    }

    private final DistilBertForQuestionAnswering model;
    private final Tokenizer tokenizer;
    private final int topK;
    private final int maxSeqLen;
    private final Integer docStride; // null: HF's default for maxSeqLen
    private final int maxQuestionLen;
    private final int maxAnswerLen;
    private final boolean handleImpossibleAnswer;
    private final int batchTokens;

    /**
     * A pipeline with HF's defaults: top 1, max_seq_len min(384, model_max_length,
     * max_position_embeddings), doc_stride min(max_seq_len / 2, 128), max_answer_len 15, no
     * impossible answer; batches of {@link LengthBatches#DEFAULT_BATCH_TOKENS} tokens.
     *
     * @throws IllegalStateException    when the model is not a DistilBertForQuestionAnswering
     * @throws IllegalArgumentException when the tokenizer has more tokens than the model's vocab_size
     */
    public QuestionAnswering(DistilBert model, Tokenizer tokenizer) {
        this(model.as(DistilBertForQuestionAnswering.class), tokenizer, DEFAULT_TOP_K,
                defaultMaxSeqLen(tokenizer, model.config()), null, DEFAULT_MAX_QUESTION_LEN, DEFAULT_MAX_ANSWER_LEN, false,
                LengthBatches.DEFAULT_BATCH_TOKENS);
    }

    private QuestionAnswering(DistilBertForQuestionAnswering model, Tokenizer tokenizer, int topK, int maxSeqLen,
                              Integer docStride, int maxQuestionLen, int maxAnswerLen, boolean handleImpossibleAnswer,
                              int batchTokens) {
        model.checkTokenizer(tokenizer);
        this.model = model;
        this.tokenizer = tokenizer;
        this.topK = topK;
        this.maxSeqLen = maxSeqLen;
        this.docStride = docStride;
        this.maxQuestionLen = maxQuestionLen;
        this.maxAnswerLen = maxAnswerLen;
        this.handleImpossibleAnswer = handleImpossibleAnswer;
        this.batchTokens = batchTokens;
    }

    /** min(384, the tokenizer's model_max_length, max_position_embeddings). */
    public static int defaultMaxSeqLen(Tokenizer tokenizer, DistilBertConfig config) {
        return Math.min(DEFAULT_MAX_SEQ_LEN, Math.min(tokenizer.modelMaxLength(), config.maxPositionEmbeddings()));
    }

    /** HF's default doc_stride for a max_seq_len: min(maxSeqLen / 2, 128). */
    public static int defaultDocStride(int maxSeqLen) {
        return Math.min(maxSeqLen / 2, MAX_DEFAULT_DOC_STRIDE);
    }

    /**
     * How a (question, context) pair is tokenized into windows: special tokens, {@code only_second}
     * truncation to {@code maxSeqLen} with stride {@code docStride}, windows over the whole context.
     *
     * @throws IllegalArgumentException when docStride is negative or larger than maxSeqLen (as HF)
     */
    public static EncodeOptions encodeOptions(int maxSeqLen, int docStride) {
        if (docStride < 0 || docStride > maxSeqLen) {
            throw new IllegalArgumentException("doc_stride (" + docStride + ") must be in [0, max_seq_len (" + maxSeqLen + ")]");
        }
        Truncation t = new Truncation(Truncation.Strategy.ONLY_SECOND, maxSeqLen, docStride, Direction.RIGHT);
        return new EncodeOptions(true, t.withWholeSequences(true), null);
    }

    /** The k best answers (HF's top_k); at least 1. */
    public QuestionAnswering withTopK(int k) {
        if (k < 1) {
            throw new IllegalArgumentException("top_k must be at least 1, got " + k);
        }
        return new QuestionAnswering(model, tokenizer, k, maxSeqLen, docStride, maxQuestionLen, maxAnswerLen,
                handleImpossibleAnswer, batchTokens);
    }

    /**
     * Windows of at most {@code n} tokens, special tokens and question included.
     *
     * @throws IllegalArgumentException unless 4 ≤ n ≤ max_position_embeddings
     */
    public QuestionAnswering withMaxSeqLen(int n) {
        int positions = model.config().maxPositionEmbeddings();
        if (n < 4 || n > positions) {
            throw new IllegalArgumentException("max_seq_len must be in [4, " + positions
                    + "] (three special tokens and a context token; max_position_embeddings), got " + n);
        }
        return new QuestionAnswering(model, tokenizer, topK, n, docStride, maxQuestionLen, maxAnswerLen,
                handleImpossibleAnswer, batchTokens);
    }

    /**
     * Context tokens each window shares with the one before; null: HF's default,
     * {@link #defaultDocStride}. It must be smaller than the room a window leaves for the context,
     * which tokenizing checks (and HF's tokenizer too).
     */
    public QuestionAnswering withDocStride(Integer n) {
        if (n != null && n < 0) {
            throw new IllegalArgumentException("doc_stride must be at least 0, got " + n);
        }
        return new QuestionAnswering(model, tokenizer, topK, maxSeqLen, n, maxQuestionLen, maxAnswerLen,
                handleImpossibleAnswer, batchTokens);
    }

    /**
     * HF's max_question_len. HF's pipeline uses it only with a slow (Python) tokenizer, which
     * transformers 5 no longer has; with a fast one, as here, it changes nothing.
     */
    public QuestionAnswering withMaxQuestionLen(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("max_question_len must be at least 1, got " + n);
        }
        return new QuestionAnswering(model, tokenizer, topK, maxSeqLen, docStride, n, maxAnswerLen,
                handleImpossibleAnswer, batchTokens);
    }

    /** Answers of at most {@code n} tokens; at least 1. */
    public QuestionAnswering withMaxAnswerLen(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("max_answer_len must be at least 1, got " + n);
        }
        return new QuestionAnswering(model, tokenizer, topK, maxSeqLen, docStride, maxQuestionLen, n,
                handleImpossibleAnswer, batchTokens);
    }

    /** Whether the empty answer competes, scored by the windows' smallest null score. */
    public QuestionAnswering withHandleImpossibleAnswer(boolean on) {
        return new QuestionAnswering(model, tokenizer, topK, maxSeqLen, docStride, maxQuestionLen, maxAnswerLen, on,
                batchTokens);
    }

    /** Batches of about {@code n} real tokens (a longer window runs alone). */
    public QuestionAnswering withBatchTokens(int n) {
        return new QuestionAnswering(model, tokenizer, topK, maxSeqLen, docStride, maxQuestionLen, maxAnswerLen,
                handleImpossibleAnswer, LengthBatches.checkBatchTokens(n));
    }

    public int topK() {
        return topK;
    }

    public int maxSeqLen() {
        return maxSeqLen;
    }

    /** The stride in use: as set, or {@link #defaultDocStride} of {@link #maxSeqLen()}. */
    public int docStride() {
        return docStride != null ? docStride : defaultDocStride(maxSeqLen);
    }

    public int maxQuestionLen() {
        return maxQuestionLen;
    }

    public int maxAnswerLen() {
        return maxAnswerLen;
    }

    public boolean handleImpossibleAnswer() {
        return handleImpossibleAnswer;
    }

    public int batchTokens() {
        return batchTokens;
    }

    public DistilBertForQuestionAnswering model() {
        return model;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** {@link #encodeOptions(int, int)} of this pipeline's max_seq_len and doc_stride. */
    public EncodeOptions encodeOptions() {
        return encodeOptions(maxSeqLen, docStride());
    }

    /** The best answers, at most {@link #topK()}, highest score first. */
    public List<Answer> answer(String question, String context) {
        return answer(List.of(question), List.of(context)).getFirst();
    }

    /** The answers of each (question, context) pair, in input order. */
    public List<List<Answer>> answer(List<String> questions, List<String> contexts) {
        return answerEncodings(encode(questions, contexts), contexts, LengthBatches.Listener.NONE);
    }

    /**
     * Tokenizes each pair on all cores: one encoding per pair, its further windows in
     * {@link Encoding#overflowing()} ({@link #windows}).
     *
     * @throws IllegalArgumentException when a question or context is empty (as HF) or the lists differ in size
     * @throws distilbert.tokenizer.TokenizerException when a question leaves no room for the context, or
     *                                                 doc_stride none for a new context token
     */
    public List<Encoding> encode(List<String> questions, List<String> contexts) {
        if (questions.size() != contexts.size()) {
            throw new IllegalArgumentException("questions and contexts differ in size: " + questions.size() + " vs "
                    + contexts.size());
        }
        for (int i = 0; i < questions.size(); i++) {
            checkNotEmpty("question", questions.get(i), i);
            checkNotEmpty("context", contexts.get(i), i);
        }
        return tokenizer.encodeBatch(questions, contexts, encodeOptions());
    }

    private static void checkNotEmpty(String what, String s, int row) {
        if (s == null || s.isEmpty()) {
            throw new IllegalArgumentException("row " + row + ": the " + what + " is " + (s == null ? "null" : "empty"));
        }
    }

    /** The windows of one encoded pair: the encoding itself, then its overflowing windows. */
    public static List<Encoding> windows(Encoding e) {
        List<Encoding> out = new ArrayList<>(1 + e.overflowing().size());
        out.add(e);
        out.addAll(e.overflowing());
        return out;
    }

    /**
     * Pairs already tokenized by {@link #encode}, with their contexts; answers in input order.
     * The windows of all rows run in batches of similar length; {@code listener} hears, after
     * each batch, of the rows whose last window it ran and of the batch's tokens.
     */
    public List<List<Answer>> answerEncodings(List<Encoding> encodings, List<String> contexts,
                                              LengthBatches.Listener listener) {
        if (encodings.size() != contexts.size()) {
            throw new IllegalArgumentException("encodings and contexts differ in size: " + encodings.size() + " vs "
                    + contexts.size());
        }
        int positions = model.config().maxPositionEmbeddings();
        List<Encoding> all = new ArrayList<>();
        List<Integer> rowOf = new ArrayList<>();
        int[] left = new int[encodings.size()];
        for (int r = 0; r < encodings.size(); r++) {
            for (Encoding w : windows(encodings.get(r))) {
                if (w.length() > positions) {
                    throw new IllegalArgumentException("row " + r + " has a window of " + w.length()
                            + " tokens, more than max_position_embeddings = " + positions);
                }
                all.add(w);
                rowOf.add(r);
                left[r]++;
            }
        }
        float[][] starts = new float[all.size()][], ends = new float[all.size()][];
        int padId = Math.max(0, tokenizer.padTokenId());
        LengthBatches.forEach(all, batchTokens, padId, LengthBatches.Listener.NONE, (rows, input, tokens) -> {
            QuestionAnsweringModelOutput out = model.forward(input);
            int L = input.length();
            float[] s = out.startLogits().data(), e = out.endLogits().data();   // (B, L)
            int done = 0;
            for (int b = 0; b < rows.length; b++) {
                int n = all.get(rows[b]).length();
                starts[rows[b]] = Arrays.copyOfRange(s, b * L, b * L + n);
                ends[rows[b]] = Arrays.copyOfRange(e, b * L, b * L + n);
                if (--left[rowOf.get(rows[b])] == 0) {
                    done++;
                }
            }
            listener.advance(done, tokens);
        });
        List<List<Answer>> answers = new ArrayList<>(encodings.size());
        for (int r = 0, w = 0; r < encodings.size(); r++) {
            int n = 1 + encodings.get(r).overflowing().size();
            answers.add(answers(windows(encodings.get(r)), Arrays.asList(starts).subList(w, w + n),
                    Arrays.asList(ends).subList(w, w + n), contexts.get(r)));
            w += n;
        }
        return answers;
    }

    /**
     * HF's postprocess for one row: its windows (as {@link #windows} gives them), each window's
     * start and end logits [window length], and the context they came from.
     */
    public List<Answer> answers(List<Encoding> windows, List<float[]> startLogits, List<float[]> endLogits, String context) {
        if (windows.size() != startLogits.size() || windows.size() != endLogits.size()) {
            throw new IllegalArgumentException(windows.size() + " windows but " + startLogits.size() + " start and "
                    + endLogits.size() + " end logit rows");
        }
        List<Answer> answers = new ArrayList<>();
        Map<String, Integer> byText = new HashMap<>();
        double minNull = NO_NULL_SCORE;
        for (int w = 0; w < windows.size(); w++) {
            Encoding window = windows.get(w);
            if (startLogits.get(w).length != window.length() || endLogits.get(w).length != window.length()) {
                throw new IllegalArgumentException("window " + w + " has " + window.length() + " tokens but "
                        + startLogits.get(w).length + " start and " + endLogits.get(w).length + " end logits");
            }
            WindowSpans ws = spans(startLogits.get(w), endLogits.get(w), allowed(window, tokenizer.clsTokenId()), topK,
                    maxAnswerLen);
            minNull = Math.min(minNull, ws.nullScore());
            for (Span span : ws.spans()) {
                int[] chars = characters(window, span.start(), span.end());
                String text = chars[0] <= chars[1] ? context.substring(chars[0], chars[1]) : "";
                Integer seen = byText.putIfAbsent(text.toLowerCase(Locale.ROOT), answers.size());
                if (seen != null) {
                    Answer a = answers.get(seen);
                    answers.set(seen, new Answer(a.score() + span.score(), a.start(), a.end(), a.answer()));
                } else {
                    answers.add(new Answer(span.score(), context.codePointCount(0, chars[0]),
                            context.codePointCount(0, Math.max(chars[0], chars[1])), text));
                }
            }
        }
        if (handleImpossibleAnswer) {
            answers.add(new Answer(minNull, 0, 0, ""));
        }
        answers.sort(Comparator.comparingDouble(Answer::score).reversed()); // stable, as Python's sorted
        return List.copyOf(answers.subList(0, Math.min(topK, answers.size())));
    }

    /** HF's p_mask inverted: the tokens that may be in an answer, the context's and [CLS]. */
    static boolean[] allowed(Encoding window, int clsId) {
        int[] seq = window.sequenceIds();
        boolean[] ok = new boolean[seq.length];
        for (int i = 0; i < ok.length; i++) {
            ok[i] = seq[i] == 1 || clsId >= 0 && window.id(i) == clsId;
        }
        return ok;
    }

    /**
     * HF's {@code select_starts_ends} and {@code decode_spans} for one window: masked softmax of
     * each row of logits, null score, token 0 zeroed, then the {@code topK} best spans within the
     * band {@code start ≤ end < start + maxAnswerLen} of allowed tokens, ties in (start, end) order.
     */
    static WindowSpans spans(float[] startLogits, float[] endLogits, boolean[] allowed, int topK, int maxAnswerLen) {
        double[] ps = maskedSoftmax(startLogits, allowed), pe = maskedSoftmax(endLogits, allowed);
        double nullScore = ps[0] * pe[0];
        ps[0] = 0;
        pe[0] = 0;
        List<Span> all = new ArrayList<>();
        int n = allowed.length;
        for (int s = 0; s < n; s++) {
            if (!allowed[s]) {
                continue;
            }
            for (int e = s; e < Math.min(n, s + maxAnswerLen); e++) {
                if (allowed[e]) {
                    all.add(new Span(s, e, ps[s] * pe[e]));
                }
            }
        }
        all.sort(Comparator.comparingDouble(Span::score).reversed()); // stable: ties stay in (start, end) order
        return new WindowSpans(List.copyOf(all.subList(0, Math.min(topK, all.size()))), nullScore);
    }

    /** exp(x − max) / Σ in double, over the logits with those of tokens not allowed set to −10000. */
    private static double[] maskedSoftmax(float[] logits, boolean[] allowed) {
        double[] p = new double[logits.length];
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int i = 0; i < p.length; i++) {
            p[i] = allowed[i] ? logits[i] : MASKED_LOGIT;
            max = Math.max(max, p[i]);
        }
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.exp(p[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    /**
     * The [start, end) String indices in the context of the span of tokens {@code s..e}: from the
     * first token of s's word to the last token of e's word among this window's context tokens
     * (HF's {@code word_to_chars}); the tokens' own offsets where either has no word there ([CLS]).
     */
    static int[] characters(Encoding window, int s, int e) {
        int[] seq = window.sequenceIds(), words = window.wordIds();
        int first = -1, last = -1;
        for (int i = 0; i < seq.length; i++) {
            if (seq[i] != 1) {
                continue;
            }
            if (words[s] >= 0 && words[i] == words[s] && first < 0) {
                first = i;
            }
            if (words[e] >= 0 && words[i] == words[e]) {
                last = i;
            }
        }
        return first >= 0 && last >= 0 ? new int[] {window.start(first), window.end(last)}
                : new int[] {window.start(s), window.end(e)};
    }
}
