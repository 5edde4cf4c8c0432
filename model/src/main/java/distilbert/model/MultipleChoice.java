package distilbert.model;

import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * Multiple choice on a {@link DistilBertForMultipleChoice}: a prompt and its choices in, one score
 * per choice out, the numbers HF's model gives when it is run as its documentation and its SWAG
 * example run it (transformers has no pipeline for this task):
 *
 * <pre>{@code
 * enc = tokenizer([prompt] * n, choices, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
 * logits = model(**{k: v.unsqueeze(0) for k, v in enc.items()}).logits[0]          # (n,)
 * scores = logits.softmax(-1)
 * }</pre>
 *
 * <pre>{@code
 * try (DistilBert db = DistilBert.load(dir, Device.AUTO)) {
 *     MultipleChoice mc = new MultipleChoice(db, Tokenizer.fromPretrained(dir));
 *     mc.choose("The chef put the pizza", List.of("in the oven.", "on the moon.")).best();   // ChoiceScore[index=0, score=0.93]
 * }
 * }</pre>
 *
 * <p>Steps: each choice is tokenized as the pair {@code [CLS] prompt [SEP] choice [SEP]}, truncated
 * {@code longest_first} to {@link #maxLength()}; the rows of all questions run in batches of rows of
 * similar length ({@link LengthBatches}, about {@link #batchTokens()} real tokens each), each row
 * giving its choice's logit (the head scores every row on its own, so a question's choices need not
 * share a batch, and questions may have different numbers of choices); the softmax over a question's
 * logits, in double from the float32 logits and rounded once to float32, is its scores.
 *
 * <p>Immutable; the {@code with…} methods return a changed copy over the same model.
 */
public final class MultipleChoice {

    /** A prompt (HF's first sentence, the context) and its choices (the endings), at least one. */
    public record Question(String prompt, List<String> choices) {
        public Question {
            Objects.requireNonNull(prompt, "prompt");
            choices = List.copyOf(choices);
            if (choices.isEmpty()) {
                throw new IllegalArgumentException("a question needs at least one choice");
            }
        }
    }

    /** One choice's score; {@code index} is its place in the question's choices. */
    public record ChoiceScore(int index, float score) {
    }

    /**
     * The result for one question; two are equal when their arrays hold the same values.
     *
     * @param logits [num_choices], the head's output for each choice
     * @param scores [num_choices], their softmax
     */
    public record Result(float[] logits, float[] scores) {

        public Result {
            if (logits.length != scores.length || logits.length == 0) {
                throw new IllegalArgumentException("logits and scores must be the same non-zero size: " + logits.length
                        + ", " + scores.length);
            }
        }

        public int numChoices() {
            return scores.length;
        }

        /** The best choice: the highest score, the lowest index among equal ones (argmax). */
        public ChoiceScore best() {
            return top(1).getFirst();
        }

        /** The {@code k} best choices, highest score first, equal scores in index order; all when k ≥ num_choices. */
        public List<ChoiceScore> top(int k) {
            if (k < 1) {
                throw new IllegalArgumentException("k must be at least 1, got " + k);
            }
            List<ChoiceScore> out = new ArrayList<>();
            for (int i : Ranking.top(scores, k)) {
                out.add(new ChoiceScore(i, scores[i]));
            }
            return Collections.unmodifiableList(out);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Result r && Arrays.equals(logits, r.logits) && Arrays.equals(scores, r.scores);
        }

        @Override
        public int hashCode() {
            return 31 * Arrays.hashCode(logits) + Arrays.hashCode(scores);
        }

        @Override
        public String toString() {
            return "Result[scores=" + Arrays.toString(scores) + ", logits=" + Arrays.toString(logits) + "]";
        }
    }

    private final DistilBertForMultipleChoice model;
    private final Tokenizer tokenizer;
    private final int maxLength;
    private final int batchTokens;
    private final int padId;

    /**
     * Multiple choice with HF's defaults: rows cut to the smaller of the tokenizer's
     * {@code model_max_length} and {@code max_position_embeddings} (what {@code truncation=True}
     * does), batches of {@link LengthBatches#DEFAULT_BATCH_TOKENS} tokens.
     *
     * @throws IllegalStateException    when the model is not a DistilBertForMultipleChoice
     * @throws IllegalArgumentException when the tokenizer has more tokens than the model's vocab_size
     */
    public MultipleChoice(DistilBert model, Tokenizer tokenizer) {
        this(model.as(DistilBertForMultipleChoice.class), tokenizer, 0, LengthBatches.DEFAULT_BATCH_TOKENS);
    }

    private MultipleChoice(DistilBertForMultipleChoice model, Tokenizer tokenizer, int maxLength, int batchTokens) {
        model.checkTokenizer(tokenizer);
        this.model = model;
        this.tokenizer = tokenizer;
        this.maxLength = maxLength > 0 ? maxLength
                : Math.min(tokenizer.modelMaxLength(), model.config().maxPositionEmbeddings());
        this.batchTokens = batchTokens;
        this.padId = Math.max(0, tokenizer.padTokenId());
    }

    /**
     * The same, cutting each (prompt, choice) row to {@code n} tokens, special tokens included.
     *
     * @throws IllegalArgumentException unless 2 ≤ n ≤ max_position_embeddings
     */
    public MultipleChoice withMaxLength(int n) {
        return new MultipleChoice(model, tokenizer, LengthBatches.checkMaxLength(n, model.config()), batchTokens);
    }

    /** The same, running batches of about {@code n} real tokens (a longer row runs alone). */
    public MultipleChoice withBatchTokens(int n) {
        return new MultipleChoice(model, tokenizer, maxLength, LengthBatches.checkBatchTokens(n));
    }

    public int maxLength() {
        return maxLength;
    }

    public int batchTokens() {
        return batchTokens;
    }

    public DistilBertForMultipleChoice model() {
        return model;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** How a (prompt, choice) row is tokenized: special tokens, {@code longest_first} truncation to {@link #maxLength()}. */
    public EncodeOptions encodeOptions() {
        return encodeOptions(maxLength);
    }

    /** {@link #encodeOptions()} for rows of at most {@code maxLength} tokens. */
    public static EncodeOptions encodeOptions(int maxLength) {
        return new EncodeOptions(true, Truncation.longestFirst(maxLength), null);
    }

    public Result choose(String prompt, List<String> choices) {
        return choose(List.of(new Question(prompt, choices))).getFirst();
    }

    /** Questions, results in input order; tokenized on all cores, then run in batches by length. */
    public List<Result> choose(List<Question> questions) {
        return chooseEncodings(encode(questions), numChoices(questions), LengthBatches.Listener.NONE);
    }

    /**
     * Tokenizes as {@link #choose(List)} does: one row per choice, a question's choices in order, the
     * questions one after the other; {@link Encoding#overflowing()} is non-empty where a row was cut.
     */
    public List<Encoding> encode(List<Question> questions) {
        List<String> prompts = new ArrayList<>(), choices = new ArrayList<>();
        for (Question q : questions) {
            for (String c : q.choices()) {
                prompts.add(q.prompt());
                choices.add(c);
            }
        }
        return tokenizer.encodeBatch(prompts, choices, encodeOptions());
    }

    /** Each question's number of choices, for {@link #chooseEncodings}. */
    public static int[] numChoices(List<Question> questions) {
        return questions.stream().mapToInt(q -> q.choices().size()).toArray();
    }

    /**
     * Rows already tokenized, as {@link #encode} lays them out: {@code numChoices[q]} consecutive rows
     * for question q. Runs them in batches of similar length; after each, {@code listener} hears how
     * many questions it finished (those whose last choice it ran) and how many tokens it ran.
     *
     * @throws IllegalArgumentException when the rows are not as many as the choices, a question has
     *                                  no choice, or a row is longer than max_position_embeddings (naming it)
     */
    public List<Result> chooseEncodings(List<Encoding> rows, int[] numChoices, LengthBatches.Listener listener) {
        long total = 0;
        for (int q = 0; q < numChoices.length; q++) {
            if (numChoices[q] < 1) {
                throw new IllegalArgumentException("question " + q + " has no choice");
            }
            total += numChoices[q];
        }
        if (total != rows.size()) {
            throw new IllegalArgumentException(rows.size() + " rows for " + total + " choices");
        }
        LengthBatches.checkRowLengths(rows, model.config().maxPositionEmbeddings());
        float[] logits = new float[rows.size()];
        // the listener hears of questions: one is done when the last of its choices is
        int[] questionOf = new int[rows.size()], left = numChoices.clone();
        for (int q = 0, r = 0; q < numChoices.length; q++) {
            for (int c = 0; c < numChoices[q]; c++) {
                questionOf[r++] = q;
            }
        }
        LengthBatches.forEach(rows, batchTokens, padId, LengthBatches.Listener.NONE, (indices, input, tokens) -> {
            // each row its own one-choice example: the head's logit of that choice
            float[] batch = model.forward(input, 1, null).logits().data();           // (B, 1)
            int done = 0;
            for (int b = 0; b < indices.length; b++) {
                logits[indices[b]] = batch[b];
                if (--left[questionOf[indices[b]]] == 0) {
                    done++;
                }
            }
            listener.advance(done, tokens);
        });
        List<Result> out = new ArrayList<>(numChoices.length);
        int from = 0;
        for (int n : numChoices) {
            out.add(result(Arrays.copyOfRange(logits, from, from + n)));
            from += n;
        }
        return out;
    }

    /** The result for one question's logits [num_choices] (kept, not copied): their softmax in double. */
    public static Result result(float[] logits) {
        return new Result(logits, TextClassification.Function.SOFTMAX.apply(logits));
    }
}
