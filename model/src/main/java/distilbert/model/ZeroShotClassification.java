package distilbert.model;

import distilbert.tokenizer.Direction;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.TokenizerException;
import distilbert.tokenizer.Truncation;
import distilbert.weights.DistilBertConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * HF's {@code ZeroShotClassificationPipeline} on a {@link DistilBertForSequenceClassification}
 * fine-tuned for natural language inference (an MNLI model such as
 * {@code typeform/distilbert-base-uncased-mnli}): a sequence and candidate labels chosen at run
 * time in, the labels ranked by how well the model finds the sequence to entail "This example is
 * {label}." out, the numbers HF's pipeline gives.
 *
 * <pre>{@code
 * try (DistilBert db = DistilBert.load(dir, Device.AUTO)) {
 *     ZeroShotClassification zs = new ZeroShotClassification(db, Tokenizer.fromPretrained(dir));
 *     zs.classify("I have a problem with my iphone that needs to be resolved asap!!",
 *             List.of("urgent", "not urgent", "phone", "tablet", "computer")).labels();  // [urgent, phone, ...]
 *     zs.withMultiLabel(true).withHypothesisTemplate("This text is about {}.").classify(queries);
 * }
 * }</pre>
 *
 * <p>Steps, as HF's pipeline takes them:
 * <ol>
 * <li>each candidate label becomes a hypothesis, {@link #hypothesisTemplate()} formatted with it
 * (Python's {@code str.format}: {@code {}} or {@code {0}} is the label, {@code {{} and {@code }}} are
 * braces);</li>
 * <li>each (sequence, hypothesis) pair is tokenized {@code [CLS] sequence [SEP] hypothesis [SEP]},
 * truncated {@code only_first} to {@link #maxLength()} so that the hypothesis stays whole; a pair
 * whose hypothesis alone leaves no room is not truncated at all (HF's fallback; such a pair is then
 * refused if it is longer than the model's positions);</li>
 * <li>the model scores every pair (the pairs of all sequences run in batches of rows of similar
 * length, {@link LengthBatches}, about {@link #batchTokens()} real tokens each);</li>
 * <li>single-label (the default, and with two or more labels): the softmax over the sequence's
 * labels of each pair's entailment logit; multi-label, or a single candidate label: for each label
 * on its own, the softmax of (contradiction, entailment) logits, its entailment share.</li>
 * </ol>
 * The entailment label is the first of config.json's label2id whose name starts with "entail" (any
 * case); the contradiction label is label 0, or the last label when entailment is label 0. A model
 * with no such label gets HF's choice, the last label, with a warning (or name one with
 * the constructor that takes an entailment id). Scores are computed in double from the float32 logits (the softmax
 * after subtracting the maximum) and rounded once to float32; HF computes them in float32 with
 * numpy, so the two agree to a float32 rounding wherever HF's {@code exp} does not overflow.
 *
 * <p>Immutable; the {@code with…} methods return a changed copy over the same model.
 */
public final class ZeroShotClassification {

    /** HF's default hypothesis. */
    public static final String DEFAULT_TEMPLATE = "This example is {}.";

    /**
     * A sequence to classify and its candidate labels, at least one (they may repeat, and may be
     * empty strings); as HF's pipeline takes them per call, a query may bring its own hypothesis
     * template and multi-label choice (null: the classifier's).
     *
     * @throws IllegalArgumentException for no label, or a template {@link #checkTemplate} refuses
     */
    public record Query(String sequence, List<String> candidateLabels, String hypothesisTemplate, Boolean multiLabel) {
        public Query {
            Objects.requireNonNull(sequence, "sequence");
            candidateLabels = List.copyOf(candidateLabels);
            if (candidateLabels.isEmpty()) {
                throw new IllegalArgumentException("a query needs at least one candidate label");
            }
            if (hypothesisTemplate != null) {
                checkTemplate(hypothesisTemplate);
            }
        }

        /** A query with the classifier's template and multi-label choice. */
        public Query(String sequence, List<String> candidateLabels) {
            this(sequence, candidateLabels, null, null);
        }
    }

    /** One candidate label's score; {@code index} is its place among the query's candidate labels. */
    public record LabelScore(String label, int index, float score) {
    }

    /**
     * The result for one query; two are equal when their arrays hold the same values.
     *
     * @param sequence        the sequence classified
     * @param candidateLabels the candidate labels in the query's order
     * @param scores          [n], each candidate label's score, in the query's order
     * @param logits          [n × num_labels], the model's logits for each (sequence, hypothesis) pair, row-major
     */
    public record Result(String sequence, List<String> candidateLabels, float[] scores, float[] logits) {

        public Result {
            Objects.requireNonNull(sequence, "sequence");
            candidateLabels = List.copyOf(candidateLabels);
            if (scores.length != candidateLabels.size() || scores.length == 0 || logits.length % scores.length != 0) {
                throw new IllegalArgumentException("scores, labels and logits do not fit: " + scores.length + " scores, "
                        + candidateLabels.size() + " labels, " + logits.length + " logits");
            }
        }

        /**
         * Every candidate label, best first, as HF lists them: highest score first, NaN before every
         * number; equal scores (a label given twice) with the later one first, as HF's reversed
         * ascending sort puts them.
         */
        public List<LabelScore> ranked() {
            Integer[] order = new Integer[scores.length];
            for (int i = 0; i < order.length; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (a, b) -> {
                int c = Ranking.compare(scores[a], scores[b]);
                return c != 0 ? c : Integer.compare(b, a);
            });
            List<LabelScore> out = new ArrayList<>(order.length);
            for (int i : order) {
                out.add(new LabelScore(candidateLabels.get(i), i, scores[i]));
            }
            return Collections.unmodifiableList(out);
        }

        /** HF's {@code "labels"}: the candidate labels, best first. */
        public List<String> labels() {
            return ranked().stream().map(LabelScore::label).toList();
        }

        /** HF's {@code "scores"}: the scores, best first. */
        public float[] rankedScores() {
            List<LabelScore> r = ranked();
            float[] out = new float[r.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = r.get(i).score();
            }
            return out;
        }

        /** The best candidate label. */
        public LabelScore best() {
            return ranked().getFirst();
        }

        /** The model's logits for candidate label {@code i}'s pair: [num_labels], a fresh array. */
        public float[] logitsOf(int i) {
            int nl = logits.length / scores.length;
            Objects.checkIndex(i, scores.length);
            return Arrays.copyOfRange(logits, i * nl, (i + 1) * nl);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Result r && sequence.equals(r.sequence) && candidateLabels.equals(r.candidateLabels)
                    && Arrays.equals(scores, r.scores) && Arrays.equals(logits, r.logits);
        }

        @Override
        public int hashCode() {
            return Objects.hash(sequence, candidateLabels, Arrays.hashCode(scores), Arrays.hashCode(logits));
        }

        @Override
        public String toString() {
            return "Result[sequence=" + sequence + ", labels=" + labels() + ", scores=" + Arrays.toString(rankedScores()) + "]";
        }
    }

    private final DistilBertForSequenceClassification model;
    private final Tokenizer tokenizer;
    private final String template;
    private final boolean multiLabel;
    private final int entailmentId;
    private final int maxLength;
    private final int batchTokens;
    private final int padId;

    /**
     * Zero-shot classification with HF's defaults: {@link #DEFAULT_TEMPLATE}, single-label, the
     * entailment label found in label2id, pairs cut to the smaller of the tokenizer's
     * {@code model_max_length} and {@code max_position_embeddings}, batches of
     * {@link LengthBatches#DEFAULT_BATCH_TOKENS} tokens. Warns once on stderr when label2id has no
     * entailment label.
     *
     * @throws IllegalStateException    when the model is not a DistilBertForSequenceClassification, or
     *                                  has fewer than two labels (an NLI model has entailment and contradiction)
     * @throws IllegalArgumentException when the tokenizer has more tokens than the model's vocab_size
     */
    public ZeroShotClassification(DistilBert model, Tokenizer tokenizer) {
        this(model.as(DistilBertForSequenceClassification.class), tokenizer, DEFAULT_TEMPLATE, false,
                entailmentIdOf(model.config()), 0, LengthBatches.DEFAULT_BATCH_TOKENS);
        missingEntailmentWarning(model.config()).ifPresent(w -> Notices.once("zero-shot-entailment:" + model.config().label2id(),
                "distilbert: warning: " + w));
    }

    /**
     * As {@link #ZeroShotClassification(DistilBert, Tokenizer)}, taking label {@code entailmentId}
     * for entailment whatever label2id says (beyond HF, whose pipeline finds it by name only); no warning.
     *
     * @throws IndexOutOfBoundsException unless 0 ≤ entailmentId < num_labels
     */
    public ZeroShotClassification(DistilBert model, Tokenizer tokenizer, int entailmentId) {
        this(model.as(DistilBertForSequenceClassification.class), tokenizer, DEFAULT_TEMPLATE, false,
                Objects.checkIndex(entailmentId, model.config().numLabels()), 0, LengthBatches.DEFAULT_BATCH_TOKENS);
    }

    /** What to tell a user whose model's label2id names no entailment label (HF's pipeline then takes the last label); empty when it names one. */
    public static Optional<String> missingEntailmentWarning(DistilBertConfig c) {
        if (entailmentIdOf(c) >= 0) {
            return Optional.empty();
        }
        return Optional.of("the model's label2id " + c.label2id().keySet() + " has no label starting with \"entail\";"
                + " as HuggingFace's pipeline does, the last label (" + c.id2label().get(c.numLabels() - 1) + ") is taken for"
                + " entailment. Name the right one (CLI: --entailment-label), or give the model a descriptive label2id.");
    }

    private ZeroShotClassification(DistilBertForSequenceClassification model, Tokenizer tokenizer, String template,
                                   boolean multiLabel, int entailmentId, int maxLength, int batchTokens) {
        model.checkTokenizer(tokenizer);
        DistilBertConfig config = model.config();
        if (config.numLabels() < 2) {
            throw new IllegalStateException("zero-shot classification needs a natural language inference model, with at least"
                    + " an entailment and a contradiction label; this one has " + config.numLabels() + " label");
        }
        this.model = model;
        this.tokenizer = tokenizer;
        this.template = checkTemplate(template);
        this.multiLabel = multiLabel;
        this.entailmentId = entailmentId < 0 ? config.numLabels() - 1 : entailmentId;
        this.maxLength = maxLength > 0 ? maxLength
                : Math.min(tokenizer.modelMaxLength(), config.maxPositionEmbeddings());
        this.batchTokens = batchTokens;
        this.padId = Math.max(0, tokenizer.padTokenId());
    }

    /**
     * HF's {@code entailment_id}: the id of the first label of label2id (in config.json's order)
     * whose name starts with "entail" in any case; -1 when there is none.
     */
    public static int entailmentIdOf(DistilBertConfig config) {
        for (Map.Entry<String, Integer> e : config.label2id().entrySet()) {
            if (e.getKey().toLowerCase(Locale.ROOT).startsWith("entail")) {
                return e.getValue();
            }
        }
        return -1;
    }

    /**
     * The same, with hypotheses made from {@code template} (Python's {@code str.format} with the
     * label: {@code {}} or {@code {0}}, any number of times; {@code {{} and {@code }}} for braces).
     *
     * @throws IllegalArgumentException when the template has no place for the label, or another field
     */
    public ZeroShotClassification withHypothesisTemplate(String template) {
        return new ZeroShotClassification(model, tokenizer, template, multiLabel, entailmentId, maxLength, batchTokens);
    }

    /** The same, scoring each label on its own (true) or the labels against each other (false, the default). */
    public ZeroShotClassification withMultiLabel(boolean multiLabel) {
        return new ZeroShotClassification(model, tokenizer, template, multiLabel, entailmentId, maxLength, batchTokens);
    }

    /**
     * The same, cutting the sequence of each pair so that the pair has at most {@code n} tokens,
     * special tokens included.
     *
     * @throws IllegalArgumentException unless 2 ≤ n ≤ max_position_embeddings
     */
    public ZeroShotClassification withMaxLength(int n) {
        return new ZeroShotClassification(model, tokenizer, template, multiLabel, entailmentId,
                LengthBatches.checkMaxLength(n, model.config()), batchTokens);
    }

    /** The same, running batches of about {@code n} real tokens (a longer row runs alone). */
    public ZeroShotClassification withBatchTokens(int n) {
        return new ZeroShotClassification(model, tokenizer, template, multiLabel, entailmentId, maxLength,
                LengthBatches.checkBatchTokens(n));
    }

    public String hypothesisTemplate() {
        return template;
    }

    public boolean multiLabel() {
        return multiLabel;
    }

    /** The label whose logit says "entailment". */
    public int entailmentId() {
        return entailmentId;
    }

    /** The label whose logit says "contradiction" (multi-label scores): HF's 0, or the last label when entailment is 0. */
    public int contradictionId() {
        return contradictionIdFor(entailmentId, model.config().numLabels());
    }

    /** HF's contradiction label for an entailment label: 0, or the last label when entailment is label 0. */
    public static int contradictionIdFor(int entailmentId, int numLabels) {
        return entailmentId == 0 ? numLabels - 1 : 0;
    }

    /** The entailment label this class takes for a model: {@link #entailmentIdOf}, or the last label where label2id names none. */
    public static int entailmentIdFor(DistilBertConfig config) {
        int named = entailmentIdOf(config);
        return named < 0 ? config.numLabels() - 1 : named;
    }

    public int maxLength() {
        return maxLength;
    }

    public int batchTokens() {
        return batchTokens;
    }

    public DistilBertForSequenceClassification model() {
        return model;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The hypothesis for {@code label}: the template formatted with it. */
    public String hypothesis(String label) {
        return format(template, Objects.requireNonNull(label, "label"));
    }

    /** The hypothesis for one of {@code query}'s labels: its own template, or this classifier's. */
    public String hypothesis(Query query, String label) {
        return format(query.hypothesisTemplate() != null ? query.hypothesisTemplate() : template, Objects.requireNonNull(label, "label"));
    }

    /**
     * HF's {@code _parse_labels} for labels given as one string: split at commas, each stripped of
     * white space, empty ones dropped.
     */
    public static List<String> parseLabels(String labels) {
        List<String> out = new ArrayList<>();
        for (String s : labels.split(",", -1)) {
            String t = s.strip();
            if (!t.isEmpty()) {
                out.add(t);
            }
        }
        return List.copyOf(out);
    }

    /** How a (sequence, hypothesis) pair is tokenized: special tokens, {@code only_first} truncation to {@link #maxLength()}. */
    public EncodeOptions encodeOptions() {
        return encodeOptions(maxLength);
    }

    /** {@link #encodeOptions()} for pairs of at most {@code maxLength} tokens. */
    public static EncodeOptions encodeOptions(int maxLength) {
        return new EncodeOptions(true, new Truncation(Truncation.Strategy.ONLY_FIRST, maxLength, 0,
                Direction.RIGHT), null);
    }

    /** How a pair whose hypothesis leaves no room for the sequence is tokenized: special tokens, no truncation. */
    public static EncodeOptions untruncatedOptions() {
        return EncodeOptions.DEFAULT;
    }

    public Result classify(String sequence, List<String> candidateLabels) {
        return classify(List.of(new Query(sequence, candidateLabels))).getFirst();
    }

    /** Queries, results in input order; tokenized on all cores, then all their pairs run in batches by length. */
    public List<Result> classify(List<Query> queries) {
        return classifyEncodings(queries, encode(queries), LengthBatches.Listener.NONE);
    }

    /**
     * Tokenizes as {@link #classify(List)} does: one row per candidate label, a query's labels in
     * order, the queries one after the other; {@link Encoding#overflowing()} is non-empty where a
     * sequence was cut.
     */
    public List<Encoding> encode(List<Query> queries) {
        List<String> sequences = new ArrayList<>(), hypotheses = new ArrayList<>();
        for (Query q : queries) {
            for (String label : q.candidateLabels()) {
                sequences.add(q.sequence());
                hypotheses.add(hypothesis(q, label));
            }
        }
        return encodePairs(tokenizer, sequences, hypotheses, encodeOptions());
    }

    /**
     * Pairs tokenized with {@code options}, on all cores; a pair that {@code options}' truncation
     * cannot bring down to its max length (the hypothesis alone is too long) is tokenized without
     * truncation, as HF's pipeline does.
     */
    public static List<Encoding> encodePairs(Tokenizer tokenizer, List<String> sequences, List<String> hypotheses,
                                             EncodeOptions options) {
        try {
            return tokenizer.encodeBatch(sequences, hypotheses, options);
        } catch (TokenizerException e) {
            List<Encoding> out = new ArrayList<>(sequences.size());
            for (int i = 0; i < sequences.size(); i++) {
                out.add(encodePair(tokenizer, sequences.get(i), hypotheses.get(i), options));
            }
            return out;
        }
    }

    /** One pair, as {@link #encodePairs} tokenizes it. */
    public static Encoding encodePair(Tokenizer tokenizer, String sequence, String hypothesis, EncodeOptions options) {
        try {
            return tokenizer.encode(sequence, hypothesis, options);
        } catch (TokenizerException tooShort) {
            return tokenizer.encode(sequence, hypothesis, untruncatedOptions());
        }
    }

    /**
     * Rows already tokenized, as {@link #encode} lays them out. Runs them in batches of similar
     * length; after each, {@code listener} hears how many queries it finished (those whose last
     * label it ran) and how many tokens it ran.
     *
     * @throws IllegalArgumentException when the rows are not as many as the labels, or a row is
     *                                  longer than max_position_embeddings (naming its query and label)
     */
    public List<Result> classifyEncodings(List<Query> queries, List<Encoding> rows, LengthBatches.Listener listener) {
        int n = 0;
        for (Query q : queries) {
            n += q.candidateLabels().size();
        }
        if (n != rows.size()) {
            throw new IllegalArgumentException(rows.size() + " rows for " + n + " candidate labels");
        }
        int positions = model.config().maxPositionEmbeddings();
        int[] queryOf = new int[n], left = new int[queries.size()];
        for (int q = 0, r = 0; q < queries.size(); q++) {
            Query query = queries.get(q);
            left[q] = query.candidateLabels().size();
            for (int i = 0; i < left[q]; i++, r++) {
                queryOf[r] = q;
                if (rows.get(r).length() > positions) {
                    throw new IllegalArgumentException("query " + q + ", label " + i + " (\"" + query.candidateLabels().get(i)
                            + "\"): the pair is " + rows.get(r).length() + " tokens long, more than max_position_embeddings = "
                            + positions + ", and cannot be truncated: its hypothesis alone leaves no room for the sequence");
                }
            }
        }
        int nl = model.config().numLabels();
        float[] logits = new float[n * nl];
        LengthBatches.forEach(rows, batchTokens, padId, LengthBatches.Listener.NONE, (indices, input, tokens) -> {
            float[] batch = model.forward(input).logits().data();                    // (B, NL)
            int done = 0;
            for (int b = 0; b < indices.length; b++) {
                System.arraycopy(batch, b * nl, logits, indices[b] * nl, nl);
                if (--left[queryOf[indices[b]]] == 0) {
                    done++;
                }
            }
            listener.advance(done, tokens);
        });
        List<Result> out = new ArrayList<>(queries.size());
        int from = 0;
        for (Query q : queries) {
            int k = q.candidateLabels().size();
            out.add(result(q, Arrays.copyOfRange(logits, from * nl, (from + k) * nl)));
            from += k;
        }
        return out;
    }

    /** The result for one query from its pairs' logits [k × num_labels] (kept, not copied); the query's multi-label choice, or this classifier's. */
    public Result result(Query query, float[] logits) {
        int k = query.candidateLabels().size(), nl = model.config().numLabels();
        if (logits.length != k * nl) {
            throw new IllegalArgumentException(logits.length + " logits for " + k + " labels of " + nl + " classes");
        }
        float[] scores = new float[k];
        int e = entailmentId;
        boolean multi = query.multiLabel() != null ? query.multiLabel() : multiLabel;
        if (multi || k == 1) {
            int c = contradictionId();
            for (int i = 0; i < k; i++) {
                // softmax over (contradiction, entailment), the entailment share
                scores[i] = (float) (1.0 / (1.0 + Math.exp((double) logits[i * nl + c] - logits[i * nl + e])));
            }
        } else {
            float[] entail = new float[k];
            for (int i = 0; i < k; i++) {
                entail[i] = logits[i * nl + e];
            }
            scores = TextClassification.Function.SOFTMAX.apply(entail);     // over the query's labels
        }
        return new Result(query.sequence(), query.candidateLabels(), scores, logits);
    }

    /**
     * The template, checked: it formats, and has a place for the label (HF's check).
     *
     * @throws IllegalArgumentException naming the template and what is wrong with it
     */
    public static String checkTemplate(String template) {
        Objects.requireNonNull(template, "hypothesis template");
        if (format(template, "\u0000").equals(format(template, "\u0001"))) {
            throw new IllegalArgumentException("the hypothesis template \"" + template + "\" has no place for the label: put {}"
                    + " where the label goes, as in \"" + DEFAULT_TEMPLATE + "\"");
        }
        return template;
    }

    /**
     * Python's {@code template.format(label)} for the fields it can fill with one argument: {@code {}}
     * once, or {@code {0}} any number of times (not both: Python refuses to mix automatic and manual
     * numbering), {@code {{} and {@code }}} for braces.
     */
    public static String format(String template, String label) {
        StringBuilder out = new StringBuilder(template.length() + label.length());
        int automatic = 0, manual = 0;
        for (int i = 0; i < template.length(); i++) {
            char ch = template.charAt(i);
            if (ch == '{' && i + 1 < template.length() && template.charAt(i + 1) == '{') {
                out.append('{');
                i++;
            } else if (ch == '}' && i + 1 < template.length() && template.charAt(i + 1) == '}') {
                out.append('}');
                i++;
            } else if (ch == '{') {
                int close = template.indexOf('}', i);
                String field = close < 0 ? null : template.substring(i + 1, close);
                if (field == null || !(field.isEmpty() || field.equals("0"))) {
                    throw badTemplate(template, field == null ? "a '{' that is not closed" : "the field {" + field + "}");
                }
                if (field.isEmpty()) {
                    automatic++;
                } else {
                    manual++;
                }
                if (automatic > 1) {
                    throw badTemplate(template, "{} twice (Python would fill the second with a second argument)");
                }
                if (automatic > 0 && manual > 0) {
                    throw badTemplate(template, "both {} and {0} (Python refuses to mix them)");
                }
                out.append(label);
                i = close;
            } else if (ch == '}') {
                throw badTemplate(template, "a single '}'");
            } else {
                out.append(ch);
            }
        }
        return out.toString();
    }

    private static IllegalArgumentException badTemplate(String template, String what) {
        return new IllegalArgumentException("the hypothesis template \"" + template + "\" has " + what
                + "; the label goes in {} (or {0}, any number of times), and {{ and }} are braces");
    }
}
