package distilbert.model;

import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.DistilBertConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * HF's {@code TokenClassificationPipeline} ("ner") on a {@link DistilBertForTokenClassification}:
 * texts in, the entities HF's pipeline gives out: per token, or grouped by an {@link Aggregation}.
 *
 * <pre>{@code
 * try (DistilBert db = DistilBert.load(dir, Device.AUTO)) {
 *     TokenClassification ner = new TokenClassification(db, Tokenizer.fromPretrained(dir))
 *             .withAggregation(TokenClassification.Aggregation.SIMPLE);
 *     ner.classify("My name is Wolfgang and I live in Berlin");
 *     // [Entity[label=PER, score=0.9987, index=-1, word=wolfgang, start=11, end=19], Entity[label=LOC, ...]]
 * }
 * }</pre>
 *
 * <p>Steps, as HF's {@code preprocess} / {@code postprocess}: tokenize with offsets, truncated to
 * {@link #maxLength()} (or, with a {@link #stride()}, cut into overlapping windows over the whole
 * text); run the model in batches of rows of similar length; per token, a softmax over the labels
 * (in double from the float32 logits, rounded once to float32; HF uses float32 numpy, so the two
 * agree to a float32 rounding); drop special tokens; aggregate ({@code aggregate},
 * {@code aggregate_words}, {@code group_entities}); drop entities whose label is in
 * {@link #ignoreLabels()}; with several windows, merge the entities they share
 * ({@link #mergeOverlapping}).
 *
 * <p>A token is a subword (it continues the word before it, for FIRST, AVERAGE and MAX) when its
 * vocabulary string and the text its offsets cover differ in length (in code points, as Python's
 * {@code len}): {@code "##ing"} against {@code "ing"}. HF's test for WordPiece tokenizers; the
 * unknown token takes the text it covers as its word and is never a subword.
 *
 * <p>Differences from HF, all about input HF cannot take: a text longer than the model's positions
 * is cut to {@link #maxLength()} (HF truncates to the tokenizer's {@code model_max_length}, which may
 * exceed the positions); the windows of a stride cover the whole text, as with tokenizers up to 0.22
 * (0.23.1+ stops tokenizing at the max length, so that HF's windows cover only the start: see
 * {@link Tokenizer#encodeWindows}); pairs are refused (HF's pipeline takes single strings). This
 * class takes only a model whose class is DistilBertForTokenClassification.
 *
 * <p>Immutable; the {@code with…} methods return a changed copy over the same model.
 */
public final class TokenClassification {

    /** HF's {@code AggregationStrategy}: how tokens become entities. */
    public enum Aggregation {
        /** Every token on its own, with its best label ({@code "entity"}) and its index. */
        NONE,
        /** Tokens with their best labels, then adjacent ones of the same tag grouped (B- starts a new group). */
        SIMPLE,
        /** Words (a token and its subwords) take the best label of their first token, then grouped. */
        FIRST,
        /** Words take the best label of their tokens' average scores, then grouped. */
        AVERAGE,
        /** Words take the best label of their token with the highest score, then grouped. */
        MAX;

        /** HF's name: "none", "simple", "first", "average", "max". */
        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * One entity of a text. Under {@link Aggregation#NONE} a token: HF's {@code {"entity", "score",
     * "index", "word", "start", "end"}}; otherwise a group of tokens: {@code {"entity_group", "score",
     * "word", "start", "end"}}, and {@code index} is {@link #NO_INDEX}.
     *
     * @param label the token's label (HF's {@code entity}), or the group's tag, the first token's
     *              label after its first "-" ({@code entity_group}: B-PER → PER, O → O)
     * @param score the label's probability; a group's is the mean of its tokens' (or words') scores
     * @param index the token's position in its encoding, [CLS] being 0; {@link #NO_INDEX} for a group
     * @param word  the token as the vocabulary has it ("##ing"; the text it covers for the unknown
     *              token), or the group's tokens joined by the tokenizer's decoder
     * @param start where the entity starts in the text, in code points (Python's str indices, as HF
     *              gives them; {@link #in} gives the text)
     * @param end   where it ends, exclusive, in code points
     */
    public record Entity(String label, float score, int index, String word, int start, int end) {
        /** The index of a group, which has none. */
        public static final int NO_INDEX = -1;

        /** Whether this is a group of tokens (any aggregation but NONE) rather than one token. */
        public boolean isGroup() {
            return index == NO_INDEX;
        }

        /** The part of {@code text} (the text this entity was found in) that the entity covers. */
        public String in(String text) {
            int from = text.offsetByCodePoints(0, start);
            return text.substring(from, text.offsetByCodePoints(from, end - start));
        }
    }

    /** One token of the text with its scores: HF's pre-entity. */
    private record Token(String word, float[] scores, int start, int end, int index, boolean subword) {
    }

    private final DistilBertForTokenClassification model;
    private final Tokenizer tokenizer;
    private final List<String> labels;
    private final Aggregation aggregation;
    private final List<String> ignoreLabels;
    private final int maxLength;
    private final Integer stride;
    private final int batchTokens;
    private final int padId;
    private final int unkId;

    /**
     * A pipeline with HF's defaults: no aggregation, the label "O" ignored, texts cut to the smaller
     * of the tokenizer's {@code model_max_length} and {@code max_position_embeddings}, no stride,
     * batches of {@link LengthBatches#DEFAULT_BATCH_TOKENS} tokens.
     *
     * @throws IllegalStateException    when the model is not a DistilBertForTokenClassification
     * @throws IllegalArgumentException when the tokenizer has more tokens than the model's vocab_size
     */
    public TokenClassification(DistilBert model, Tokenizer tokenizer) {
        this(model.as(DistilBertForTokenClassification.class), tokenizer, Aggregation.NONE, List.of("O"), 0, null,
                LengthBatches.DEFAULT_BATCH_TOKENS);
    }

    private TokenClassification(DistilBertForTokenClassification model, Tokenizer tokenizer, Aggregation aggregation,
                                List<String> ignoreLabels, int maxLength, Integer stride, int batchTokens) {
        DistilBertConfig config = model.config();
        if (tokenizer.vocabSize() > config.vocabSize()) {
            throw new IllegalArgumentException("the tokenizer has " + tokenizer.vocabSize()
                    + " tokens but the model's vocab_size is " + config.vocabSize());
        }
        this.model = model;
        this.tokenizer = tokenizer;
        this.labels = List.copyOf(config.id2label().values());
        this.aggregation = aggregation;
        this.ignoreLabels = List.copyOf(ignoreLabels);
        this.maxLength = maxLength > 0 ? maxLength
                : Math.min(tokenizer.modelMaxLength(), config.maxPositionEmbeddings());
        this.stride = stride;
        this.batchTokens = batchTokens;
        this.padId = Math.max(0, tokenizer.padTokenId());
        this.unkId = tokenizer.unkTokenId();
    }

    /** The same pipeline aggregating tokens by {@code a}. */
    public TokenClassification withAggregation(Aggregation a) {
        if (a == null) {
            throw new IllegalArgumentException("aggregation must not be null (NONE for none)");
        }
        return new TokenClassification(model, tokenizer, a, ignoreLabels, maxLength, stride, batchTokens);
    }

    /** The same pipeline dropping the entities with these labels (HF's {@code ignore_labels}; empty: keep all). */
    public TokenClassification withIgnoreLabels(Collection<String> labels) {
        return new TokenClassification(model, tokenizer, aggregation, List.copyOf(labels), maxLength, stride, batchTokens);
    }

    /**
     * The same pipeline cutting texts (or windows) to {@code n} tokens, special tokens included.
     *
     * @throws IllegalArgumentException unless 2 ≤ n ≤ max_position_embeddings
     */
    public TokenClassification withMaxLength(int n) {
        int positions = model.config().maxPositionEmbeddings();
        if (n < 2 || n > positions) {
            throw new IllegalArgumentException("max length must be in [2, " + positions
                    + "] ([CLS] and [SEP]; max_position_embeddings), got " + n);
        }
        return new TokenClassification(model, tokenizer, aggregation, ignoreLabels, n, stride, batchTokens);
    }

    /**
     * The same pipeline running a text longer than {@link #maxLength()} in windows that overlap by
     * {@code n} tokens (HF's {@code stride}), or cutting it when {@code n} is null. Each window is
     * classified on its own; then {@link #mergeOverlapping} keeps one entity where windows found
     * overlapping ones. As in HF it needs an aggregation other than NONE, and {@code n} must be
     * smaller than the max length less the 2 special tokens: both checked when texts are classified.
     */
    public TokenClassification withStride(Integer n) {
        if (n != null && n < 0) {
            throw new IllegalArgumentException("stride must be at least 0, got " + n);
        }
        return new TokenClassification(model, tokenizer, aggregation, ignoreLabels, maxLength, n, batchTokens);
    }

    /** The same pipeline running batches of about {@code n} real tokens (a longer row runs alone). */
    public TokenClassification withBatchTokens(int n) {
        return new TokenClassification(model, tokenizer, aggregation, ignoreLabels, maxLength, stride,
                LengthBatches.checkBatchTokens(n));
    }

    public Aggregation aggregation() {
        return aggregation;
    }

    public List<String> ignoreLabels() {
        return ignoreLabels;
    }

    public int maxLength() {
        return maxLength;
    }

    /** The overlap of windows, or null: long texts are cut. */
    public Integer stride() {
        return stride;
    }

    public int batchTokens() {
        return batchTokens;
    }

    /** id2label in id order. */
    public List<String> labels() {
        return labels;
    }

    public DistilBertForTokenClassification model() {
        return model;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** How texts are tokenized: special tokens, truncation to {@link #maxLength()} (the first window, with a stride). */
    public EncodeOptions encodeOptions() {
        return new EncodeOptions(true, Truncation.longestFirst(maxLength), null);
    }

    public List<Entity> classify(String text) {
        return classify(List.of(text)).getFirst();
    }

    /** Each text's entities, in input order; tokenized on all cores, run in batches by length. */
    public List<List<Entity>> classify(List<String> texts) {
        return classifyEncodings(encode(texts));
    }

    /** Tokenizes as {@link #classify(List)} does; {@link Encoding#overflowing()} is non-empty where a text was cut. */
    public List<Encoding> encode(List<String> texts) {
        return tokenizer.encodeBatch(texts, null, encodeOptions());
    }

    /** Texts already tokenized (with {@link #encodeOptions()}); entities in input order. */
    public List<List<Entity>> classifyEncodings(List<Encoding> encodings) {
        return classifyEncodings(encodings, LengthBatches.Listener.NONE);
    }

    /**
     * Texts already tokenized (with {@link #encodeOptions()}), run in batches of similar length;
     * {@code listener} hears of each batch (rows counted at their first window). With a stride, a
     * text that was cut is tokenized again into windows over its whole length.
     *
     * @throws IllegalArgumentException naming the row when it is a pair, or longer than max_position_embeddings
     * @throws IllegalStateException    when a stride is set without an aggregation, or is too large for the max length
     */
    public List<List<Entity>> classifyEncodings(List<Encoding> encodings, LengthBatches.Listener listener) {
        checkStride();
        int positions = model.config().maxPositionEmbeddings();
        List<Encoding> windows = new ArrayList<>(encodings.size());
        int[] firstWindow = new int[encodings.size() + 1];                     // row i: windows [first[i], first[i+1])
        for (int i = 0; i < encodings.size(); i++) {
            Encoding e = encodings.get(i);
            if (e.text(1) != null) {
                throw new IllegalArgumentException("row " + i + " is a text pair; token classification takes single texts");
            }
            firstWindow[i] = windows.size();
            if (stride != null && (!e.overflowing().isEmpty() || e.length() > maxLength)) {
                windows.addAll(tokenizer.encodeWindows(e.text(0), maxLength, stride));
            } else {
                LengthBatches.checkRowLength(e, i, positions);
                windows.add(e);
            }
        }
        firstWindow[encodings.size()] = windows.size();
        boolean[] isFirst = new boolean[windows.size()];
        for (int i = 0; i < encodings.size(); i++) {
            isFirst[firstWindow[i]] = true;
        }
        List<List<Entity>> perWindow = new ArrayList<>(java.util.Collections.nCopies(windows.size(), null));
        int NL = labels.size();
        LengthBatches.forEach(windows, batchTokens, padId, LengthBatches.Listener.NONE, (rows, input, tokens) -> {
            float[] logits = model.forward(input).logits().data();              // (B, L, NL)
            int L = input.length();
            long firsts = 0;
            for (int b = 0; b < rows.length; b++) {
                Encoding w = windows.get(rows[b]);
                int from = b * L * NL;
                perWindow.set(rows[b], entities(w, Arrays.copyOfRange(logits, from, from + w.length() * NL)));
                if (isFirst[rows[b]]) firsts++;
            }
            listener.advance(firsts, tokens);
        });
        List<List<Entity>> out = new ArrayList<>(encodings.size());
        for (int i = 0; i < encodings.size(); i++) {
            int from = firstWindow[i], to = firstWindow[i + 1];
            if (to - from == 1) {
                out.add(perWindow.get(from));
            } else {
                List<Entity> all = new ArrayList<>();
                for (int w = from; w < to; w++) all.addAll(perWindow.get(w));
                out.add(mergeOverlapping(all));
            }
        }
        return out;
    }

    private void checkStride() {
        if (stride == null) {
            return;
        }
        if (aggregation == Aggregation.NONE) {
            throw new IllegalStateException("a stride needs an aggregation other than none, as in HF (the tokens of "
                    + "overlapping windows cannot be told apart)");
        }
        int room = maxLength - tokenizer.numSpecialTokensToAdd(false);
        if (stride >= room) {
            throw new IllegalStateException("stride " + stride + " must be smaller than the " + room + " tokens a window of "
                    + maxLength + " has for the text");
        }
    }

    /**
     * HF's {@code postprocess} of one encoding (one window), before windows are merged: the scores
     * of each token, special tokens dropped, aggregated, ignored labels dropped.
     *
     * @param window an encoding of a single text with its offsets
     * @param logits [L, num_labels], row-major: the model's logits for the window's L tokens
     */
    public List<Entity> entities(Encoding window, float[] logits) {
        int NL = labels.size();
        if (logits.length != window.length() * NL) {
            throw new IllegalArgumentException("logits hold " + logits.length + " values, but the window's " + window.length()
                    + " tokens need " + window.length() * NL + " (" + NL + " labels each)");
        }
        List<Token> tokens = gather(window, logits);
        List<Entity> entities = switch (aggregation) {
            case NONE -> tokenEntities(tokens);
            case SIMPLE -> groupEntities(tokenEntities(tokens));
            case FIRST, AVERAGE, MAX -> groupEntities(aggregateWords(tokens));
        };
        List<Entity> kept = new ArrayList<>(entities.size());
        for (Entity e : entities) {
            if (!ignoreLabels.contains(e.label())) kept.add(e);
        }
        return kept;
    }

    /** HF's {@code gather_pre_entities}: the non-special tokens with their scores, offsets and whether they are subwords. */
    private List<Token> gather(Encoding window, float[] logits) {
        int NL = labels.size();
        String text = window.text(0);
        int[] special = window.specialTokensMask();
        int[][] cp = window.codePointOffsets();
        List<Token> tokens = new ArrayList<>(window.length());
        for (int i = 0; i < window.length(); i++) {
            if (special[i] != 0) continue;
            int id = window.id(i);
            String word = tokenizer.idToToken(id);
            int start = cp[i][0], end = cp[i][1];
            boolean subword = word.codePointCount(0, word.length()) != end - start;
            if (id == unkId) {
                word = text.substring(window.start(i), window.end(i));
                subword = false;
            }
            float[] scores = TextClassification.Function.SOFTMAX.apply(Arrays.copyOfRange(logits, i * NL, (i + 1) * NL));
            tokens.add(new Token(word, scores, start, end, i, subword));
        }
        return tokens;
    }

    /** NONE and SIMPLE: each token with its best label. */
    private List<Entity> tokenEntities(List<Token> tokens) {
        List<Entity> out = new ArrayList<>(tokens.size());
        for (Token t : tokens) {
            int best = argmax(t.scores());
            out.add(new Entity(labels.get(best), t.scores()[best], t.index(), t.word(), t.start(), t.end()));
        }
        return out;
    }

    /** HF's {@code aggregate_words}: a token and the subwords after it make a word. */
    private List<Entity> aggregateWords(List<Token> tokens) {
        List<Entity> words = new ArrayList<>();
        List<Token> word = new ArrayList<>();
        for (Token t : tokens) {
            if (!word.isEmpty() && !t.subword()) {
                words.add(aggregateWord(word));
                word = new ArrayList<>();
            }
            word.add(t);
        }
        if (!word.isEmpty()) words.add(aggregateWord(word));
        return words;
    }

    /** HF's {@code aggregate_word}: one label and score for the tokens of a word. */
    private Entity aggregateWord(List<Token> tokens) {
        String word = tokenizer.convertTokensToString(tokens.stream().map(Token::word).toList());
        float[] scores = switch (aggregation) {
            case FIRST -> tokens.getFirst().scores();
            case MAX -> {
                // Python's max(): the first token whose highest score is greatest (NaN never replaces nor is replaced)
                Token best = tokens.getFirst();
                float bestMax = npMax(best.scores());
                for (Token t : tokens.subList(1, tokens.size())) {
                    float m = npMax(t.scores());
                    if (m > bestMax) {
                        best = t;
                        bestMax = m;
                    }
                }
                yield best.scores();
            }
            case AVERAGE -> {
                float[] avg = new float[labels.size()];
                double[] column = new double[tokens.size()];
                for (int j = 0; j < avg.length; j++) {
                    for (int k = 0; k < tokens.size(); k++) column[k] = tokens.get(k).scores()[j];
                    avg[j] = nanMean(column, tokens.size());
                }
                yield avg;
            }
            default -> throw new IllegalStateException(aggregation + " does not aggregate words");
        };
        int best = argmax(scores);
        return new Entity(labels.get(best), scores[best], Entity.NO_INDEX, word, tokens.getFirst().start(), tokens.getLast().end());
    }

    /**
     * HF's {@code group_entities}: runs of entities with the same tag (B-X, I-X and X share tag X)
     * where every one after the first is not a B-, each run one group.
     */
    private List<Entity> groupEntities(List<Entity> entities) {
        List<Entity> groups = new ArrayList<>();
        List<Entity> run = new ArrayList<>();
        for (Entity e : entities) {
            if (!run.isEmpty()) {
                String label = e.label();
                boolean begins = label.startsWith("B-");
                if (begins || !tag(label).equals(tag(run.getLast().label()))) {
                    groups.add(group(run));
                    run = new ArrayList<>();
                }
            }
            run.add(e);
        }
        if (!run.isEmpty()) groups.add(group(run));
        return groups;
    }

    /** HF's {@code get_tag}, the tag part: a B- or I- prefix removed, any other label whole. */
    private static String tag(String label) {
        return label.startsWith("B-") || label.startsWith("I-") ? label.substring(2) : label;
    }

    /** HF's {@code group_sub_entities}: the first label after its first "-", the mean score, the words decoded. */
    private Entity group(List<Entity> run) {
        String first = run.getFirst().label();
        String entityGroup = first.substring(first.indexOf('-') + 1);            // split("-", 1)[-1]
        double[] scores = new double[run.size()];
        for (int i = 0; i < scores.length; i++) scores[i] = run.get(i).score();
        String word = tokenizer.convertTokensToString(run.stream().map(Entity::word).toList());
        return new Entity(entityGroup, nanMean(scores, scores.length), Entity.NO_INDEX, word, run.getFirst().start(),
                run.getLast().end());
    }

    /**
     * HF's {@code aggregate_overlapping_entities}, for the entities of a text's windows: sorted by
     * start (stably); where an entity starts inside the one kept before it, the longer of the two is
     * kept, or at equal length the one with the higher score (the earlier on a tie).
     */
    public static List<Entity> mergeOverlapping(List<Entity> entities) {
        if (entities.isEmpty()) {
            return List.of();
        }
        List<Entity> sorted = new ArrayList<>(entities);
        sorted.sort(Comparator.comparingInt(Entity::start));                  // List.sort is stable, as Python's sorted
        List<Entity> out = new ArrayList<>();
        Entity previous = sorted.getFirst();
        for (Entity e : sorted) {                                              // the first meets itself, as in HF
            if (previous.start() <= e.start() && e.start() < previous.end()) {
                int length = e.end() - e.start(), previousLength = previous.end() - previous.start();
                if (length > previousLength || length == previousLength && e.score() > previous.score()) {
                    previous = e;
                }
            } else {
                out.add(previous);
                previous = e;
            }
        }
        out.add(previous);
        return out;
    }

    /** numpy's argmax: the first NaN if there is one, else the first of the highest. */
    static int argmax(float[] v) {
        int best = 0;
        for (int i = 0; i < v.length; i++) {
            if (Float.isNaN(v[i])) return i;
            if (v[i] > v[best]) best = i;
        }
        return best;
    }

    /** numpy's max: NaN if there is one. */
    private static float npMax(float[] v) {
        float m = v[0];
        for (float x : v) {
            if (Float.isNaN(x)) return Float.NaN;
            m = Math.max(m, x);
        }
        return m;
    }

    /** numpy's nanmean of {@code v[0, n)}, in double, rounded once to float32: NaN only when every value is. */
    static float nanMean(double[] v, int n) {
        double sum = 0;
        int count = 0;
        for (int i = 0; i < n; i++) {
            if (!Double.isNaN(v[i])) {
                sum += v[i];
                count++;
            }
        }
        return count == 0 ? Float.NaN : (float) (sum / count);
    }
}
