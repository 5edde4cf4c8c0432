package distilbert.model;

import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.DistilBertConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.stream.IntStream;

/**
 * HF's {@code FillMaskPipeline} on a {@link DistilBertForMaskedLM}: texts with {@code [MASK]} tokens
 * in, the likeliest tokens for each mask out, the numbers and strings HF's pipeline gives.
 *
 * <pre>{@code
 * try (DistilBert db = DistilBert.load(dir, Device.AUTO)) {
 *     FillMask fill = new FillMask(db, Tokenizer.fromPretrained(dir));
 *     fill.fill("Paris is the [MASK] of France.").predictions().getFirst();
 *     // [Prediction[score=0.9963, token=3007, tokenStr=capital, sequence=paris is the capital of france.], ...]
 *     fill.withTargets(List.of("capital", "heart")).fill(texts);   // scores of those tokens only
 * }
 * }</pre>
 *
 * <p>Steps, as HF's: tokenize ({@code [CLS] text [SEP]}), truncated {@code longest_first} to
 * {@link #maxLength()}; find the mask tokens (a row without one is an error, as HF raises); run the
 * encoder in batches of rows of similar length ({@link LengthBatches}) and the MLM head only at the
 * masks ({@link DistilBertForMaskedLM#forwardAtInGroups}, which skips the vocabulary projection
 * everywhere else; without targets and for top_k up to {@link #BACKEND_TOP_K_MAX}, its
 * {@link DistilBertForMaskedLM#topTokensAtInGroups topTokensAtInGroups}, which also ranks on the
 * backend; with targets, its {@link DistilBertForMaskedLM#targetProbsAtInGroups targetProbsAtInGroups},
 * which takes the softmax at the targets on the backend), on a group of masks at a time whose [n, V] float32 logits take at most
 * {@link #LOGITS_BUDGET_BYTES} (at least one mask: n = max(1, budget / 4V)), so that a batch of
 * many masks holds no more logits on the device or the host than that; per mask, the softmax over
 * the whole vocabulary, then the {@link #topK()} best tokens (of the targets only, when there are
 * targets: their probabilities in that softmax, not renormalised).
 * Each prediction carries the token, its decoding alone ({@code token_str}) and the row with that
 * mask replaced, padding dropped, decoded ({@code sequence}): special tokens skipped when the row
 * has one mask, kept when it has several (so the other masks show), as HF does.
 *
 * <p>Scores are computed in double from the float32 logits and rounded once to float32 (torch
 * computes them in float32): they agree with HF's to a float32 rounding. Equal scores rank in token
 * id order (torch's topk leaves their order unspecified).
 *
 * <p>Where HF's pipeline cannot take the input: it does not truncate by default, so a text longer
 * than the model's positions fails there; here it is cut to {@link #maxLength()} (HF's
 * {@code tokenizer_kwargs={"truncation": True}}), and a row whose masks all fall beyond the cut is
 * an error, as it is in HF with truncation (a row keeping some of its masks is filled at those). A
 * {@code top_k} larger than the vocabulary is an error, as in HF (torch's topk refuses it), unless
 * there are targets, which cap it. Tokens the model predicts that the tokenizer does not know (a
 * vocab_size larger than the tokenizer's) decode to nothing, as in HF's fast tokenizer.
 *
 * <p>Immutable; the {@code with…} methods return a changed copy over the same model.
 */
public final class FillMask {
    /** HF's default {@code top_k}. */
    public static final int DEFAULT_TOP_K = 5;

    /**
     * The most bytes of float32 logits one group of masks takes (64 MiB): 549 masks of the
     * 30522-token uncased vocabulary, where an all-mask batch of 16384 tokens would take 2 GB at once.
     */
    public static final long LOGITS_BUDGET_BYTES = 64L << 20;

    /**
     * Without targets and for a top_k up to this, the softmax and the ranking run on the model's
     * backend ({@link DistilBertForMaskedLM#topTokensAtInGroups}), and only k probabilities and ids per
     * mask come back from a GPU; with targets, the softmax runs there and only the targets'
     * probabilities come back ({@link DistilBertForMaskedLM#targetProbsAtInGroups}); otherwise the
     * logits come back and both run on the host.
     */
    public static final int BACKEND_TOP_K_MAX = 64;

    /**
     * One candidate for one mask: HF's {@code {"score", "token", "token_str", "sequence"}}.
     *
     * @param score    the token's probability at the mask (softmax over the whole vocabulary)
     * @param token    its id
     * @param tokenStr the token decoded alone
     * @param sequence the row with this mask replaced by the token, decoded
     */
    public record Prediction(float score, int token, String tokenStr, String sequence) {
    }

    /**
     * The result for one row.
     *
     * @param positions   the positions of the masks in the row's tokens, in order
     * @param predictions per mask (in that order), its {@link #topK()} predictions, highest score first
     */
    public record Result(List<Integer> positions, List<List<Prediction>> predictions) {

        public Result {
            if (positions.size() != predictions.size() || positions.isEmpty()) {
                throw new IllegalArgumentException(positions.size() + " masks but " + predictions.size() + " prediction lists");
            }
            positions = List.copyOf(positions);
            predictions = List.copyOf(predictions.stream().map(List::copyOf).toList());
        }

        /** Whether the row has one mask: HF then answers with its list alone, else with a list per mask. */
        public boolean singleMask() {
            return positions.size() == 1;
        }
    }

    /**
     * {@code targets} as HF's {@code get_target_ids} turns them into token ids: a target that is a
     * token of the vocabulary (added tokens included, matched exactly) is that token; any other is
     * tokenized and its first token taken, with a warning (an unknown word becomes [UNK]); one that
     * tokenizes to nothing is dropped, with a warning. Duplicates count once.
     *
     * @param ids      the token ids (kept distinct and ascending)
     * @param warnings HF's warnings, one per target that was not a token
     */
    public record Targets(int[] ids, List<String> warnings) {

        public Targets {
            ids = Arrays.stream(ids).distinct().sorted().toArray();
            warnings = List.copyOf(warnings);
        }

        /**
         * @throws IllegalArgumentException when no target is left (HF: "At least one target must be provided when passed.")
         */
        public static Targets resolve(Tokenizer tokenizer, List<String> targets) {
            List<Integer> ids = new ArrayList<>();
            List<String> warnings = new ArrayList<>();
            EncodeOptions bare = new EncodeOptions(false, null, null);
            for (String target : targets) {
                int id = tokenizer.tokenToId(target);
                if (id < 0) {
                    int[] tokens = tokenizer.encode(target, null, bare).ids();
                    if (tokens.length == 0) {
                        warnings.add("the target '" + target + "' is not in the vocabulary and has no tokens; ignoring it");
                        continue;
                    }
                    id = tokens[0];
                    warnings.add("the target '" + target + "' is not in the vocabulary; using its first token '"
                            + tokenizer.idToToken(id) + "' (id " + id + ")");
                }
                ids.add(id);
            }
            if (ids.isEmpty()) {
                throw new IllegalArgumentException("no target is left of " + targets + ": at least one must be given");
            }
            return new Targets(ids.stream().mapToInt(Integer::intValue).toArray(), warnings);
        }

        public int size() {
            return ids.length;
        }

        @Override
        public int[] ids() {
            return ids.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Targets t && Arrays.equals(ids, t.ids) && warnings.equals(t.warnings);
        }

        @Override
        public int hashCode() {
            return 31 * Arrays.hashCode(ids) + warnings.hashCode();
        }

        @Override
        public String toString() {
            return "Targets[ids=" + Arrays.toString(ids) + ", warnings=" + warnings + "]";
        }
    }

    private final DistilBertForMaskedLM model;
    private final Tokenizer tokenizer;
    private final int topK;
    private final Targets targets;
    private final int maxLength;
    private final int batchTokens;
    private final long logitsBudget;
    /** Whether a top k of at most {@link #BACKEND_TOP_K_MAX} without targets is ranked on the backend. */
    private final boolean rankOnBackend;
    private final int padId;
    private final int maskId;

    /**
     * A pipeline with HF's defaults: the 5 best tokens of the whole vocabulary, texts cut to the
     * smaller of the tokenizer's {@code model_max_length} and {@code max_position_embeddings},
     * batches of {@link LengthBatches#DEFAULT_BATCH_TOKENS} tokens.
     *
     * @throws IllegalStateException    when the model is not a DistilBertForMaskedLM
     * @throws IllegalArgumentException when the tokenizer has no mask token, or more tokens than the
     *                                  model's vocab_size
     */
    public FillMask(DistilBert model, Tokenizer tokenizer) {
        this(model.as(DistilBertForMaskedLM.class), tokenizer, DEFAULT_TOP_K, null, 0, LengthBatches.DEFAULT_BATCH_TOKENS,
                LOGITS_BUDGET_BYTES, true);
    }

    private FillMask(DistilBertForMaskedLM model, Tokenizer tokenizer, int topK, Targets targets, int maxLength,
                     int batchTokens, long logitsBudget, boolean rankOnBackend) {
        DistilBertConfig config = model.config();
        if (tokenizer.vocabSize() > config.vocabSize()) {
            throw new IllegalArgumentException("the tokenizer has " + tokenizer.vocabSize()
                    + " tokens but the model's vocab_size is " + config.vocabSize());
        }
        if (tokenizer.maskTokenId() < 0) {
            throw new IllegalArgumentException("the tokenizer has no mask token (" + tokenizer.specialTokens().mask()
                    + " is not in its vocabulary)");
        }
        if (topK < 1) {
            throw new IllegalArgumentException("top_k must be at least 1, got " + topK);
        }
        if (targets == null && topK > config.vocabSize()) {
            throw new IllegalArgumentException("top_k " + topK + " is more than the vocabulary's " + config.vocabSize()
                    + " tokens (give targets first to be capped by them)");
        }
        this.model = model;
        this.tokenizer = tokenizer;
        this.topK = topK;
        this.targets = targets;
        this.maxLength = maxLength > 0 ? maxLength
                : Math.min(tokenizer.modelMaxLength(), config.maxPositionEmbeddings());
        this.batchTokens = batchTokens;
        this.logitsBudget = logitsBudget;
        this.rankOnBackend = rankOnBackend;
        this.padId = tokenizer.padTokenId();
        this.maskId = tokenizer.maskTokenId();
    }

    /**
     * The same pipeline giving the {@code k} best tokens per mask (with targets, at most as many as
     * there are targets, as HF caps it).
     *
     * @throws IllegalArgumentException when k < 1, or without targets k > vocab_size
     */
    public FillMask withTopK(int k) {
        return new FillMask(model, tokenizer, k, targets, maxLength, batchTokens, logitsBudget, rankOnBackend);
    }

    /**
     * The same pipeline scoring only these words ({@link Targets#resolve}); null or none: the
     * whole vocabulary.
     *
     * @throws IllegalArgumentException when no target is left
     */
    public FillMask withTargets(List<String> words) {
        return withTargets(words == null || words.isEmpty() ? null : Targets.resolve(tokenizer, words));
    }

    /** The same pipeline scoring only these token ids; null: the whole vocabulary. */
    public FillMask withTargets(Targets t) {
        if (t != null) {
            for (int id : t.ids) {
                if (id < 0 || id >= model.config().vocabSize()) {
                    throw new IllegalArgumentException("target id " + id + " is outside the vocabulary [0, "
                            + model.config().vocabSize() + ")");
                }
            }
        }
        return new FillMask(model, tokenizer, topK, t, maxLength, batchTokens, logitsBudget, rankOnBackend);
    }

    /**
     * The same pipeline cutting rows to {@code n} tokens, special tokens included.
     *
     * @throws IllegalArgumentException unless 2 ≤ n ≤ max_position_embeddings
     */
    public FillMask withMaxLength(int n) {
        return new FillMask(model, tokenizer, topK, targets, LengthBatches.checkMaxLength(n, model.config()), batchTokens,
                logitsBudget, rankOnBackend);
    }

    /** The same pipeline running batches of about {@code n} real tokens (a longer row runs alone). */
    public FillMask withBatchTokens(int n) {
        return new FillMask(model, tokenizer, topK, targets, maxLength, LengthBatches.checkBatchTokens(n), logitsBudget,
                rankOnBackend);
    }

    /**
     * The same pipeline running the MLM head on groups of masks whose float32 logits take at most
     * {@code bytes} ({@link #masksPerGroup}); for tests, which make groups of one or two masks.
     */
    FillMask withLogitsBudget(long bytes) {
        if (bytes < 1) {
            throw new IllegalArgumentException("the logits budget must be at least 1 byte, got " + bytes);
        }
        return new FillMask(model, tokenizer, topK, targets, maxLength, batchTokens, bytes, rankOnBackend);
    }

    /** The same pipeline ranking on the host whatever the top k (the logits come back); for tests of the two paths. */
    FillMask withRankingOnTheHost() {
        return new FillMask(model, tokenizer, topK, targets, maxLength, batchTokens, logitsBudget, false);
    }

    /** Masks per group of the MLM head: as many as {@code budgetBytes} of float32 logits over V tokens hold, at least one. */
    static int masksPerGroup(long budgetBytes, int V) {
        return Math.clamp(budgetBytes / (4L * V), 1, Integer.MAX_VALUE);
    }

    /** The predictions per mask: as asked, capped by the number of targets when there are targets. */
    public int topK() {
        return targets == null ? topK : Math.min(topK, targets.size());
    }

    /** The targets, or null: the whole vocabulary. */
    public Targets targets() {
        return targets;
    }

    public int maxLength() {
        return maxLength;
    }

    public int batchTokens() {
        return batchTokens;
    }

    public DistilBertForMaskedLM model() {
        return model;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** How texts are tokenized: special tokens, {@code longest_first} truncation to {@link #maxLength()}. */
    public EncodeOptions encodeOptions() {
        return new EncodeOptions(true, Truncation.longestFirst(maxLength), null);
    }

    /**
     * @throws IllegalArgumentException when the text has no mask token (within {@link #maxLength()} tokens)
     */
    public Result fill(String text) {
        return fillEncodings(List.of(tokenizer.encode(text, null, encodeOptions()))).getFirst();
    }

    /**
     * Texts, results in input order; tokenized on all cores, then run in batches by length.
     *
     * @throws IllegalArgumentException naming the first row without a mask token
     */
    public List<Result> fill(List<String> texts) {
        return fillEncodings(encode(texts));
    }

    /** Tokenizes as {@link #fill(List)} does; {@link Encoding#overflowing()} is non-empty where a row was cut. */
    public List<Encoding> encode(List<String> texts) {
        return tokenizer.encodeBatch(texts, null, encodeOptions());
    }

    /**
     * Why a row cannot be filled, or null when it can: it has no mask token, or truncation cut off
     * every token after {@code maxLength} and no mask is left.
     */
    public String missingMask(Encoding e) {
        if (maskPositions(e).length > 0) {
            return null;
        }
        String what = "no mask token (" + tokenizer.specialTokens().mask() + ")";
        return e.overflowing().isEmpty() ? what + " in the text"
                : what + " in the " + e.length() + " tokens the text was truncated to";
    }

    /** Rows already tokenized; results in input order. */
    public List<Result> fillEncodings(List<Encoding> encodings) {
        return fillEncodings(encodings, LengthBatches.Listener.NONE);
    }

    /**
     * Rows already tokenized, run in batches of similar length; {@code listener} hears of each batch.
     *
     * @throws IllegalArgumentException naming the first row without a mask token, or one longer than
     *                                  max_position_embeddings
     */
    public List<Result> fillEncodings(List<Encoding> encodings, LengthBatches.Listener listener) {
        int positions = model.config().maxPositionEmbeddings();
        for (int i = 0; i < encodings.size(); i++) {
            Encoding e = encodings.get(i);
            LengthBatches.checkRowLength(e, i, positions);
            String missing = missingMask(e);
            if (missing != null) {
                throw new IllegalArgumentException("row " + i + " has " + missing);
            }
        }
        Result[] results = new Result[encodings.size()];
        LengthBatches.forEach(encodings, batchTokens, Math.max(0, padId), listener, (rows, input, tokens) -> {
            List<Result> batch = fillBatch(input);
            for (int b = 0; b < rows.length; b++) {
                results[rows[b]] = batch.get(b);
            }
        });
        return Arrays.asList(results);
    }

    /**
     * One forward pass over a padded batch [B, L] of token ids whose every row has a mask token where
     * its attention mask is 1; B results in row order. The MLM head runs at the masks only, a group of
     * at most {@link #LOGITS_BUDGET_BYTES} of logits at a time.
     */
    public List<Result> fillBatch(ModelInput input) {
        int B = input.batch(), L = input.length();
        int[] ids = input.inputIds();                                           // (B, L)
        int[][] rows = new int[B][];                                            // each row's real tokens, padding dropped
        List<Integer> rowOf = new ArrayList<>(), positionOf = new ArrayList<>(), indexOf = new ArrayList<>();
        int[] first = new int[B + 1];                                           // masks of row b: [first[b], first[b + 1])
        for (int b = 0; b < B; b++) {
            first[b] = rowOf.size();
            int[] row = new int[L];
            int n = 0;
            for (int l = 0; l < L; l++) {
                if (input.mask(b, l) == 1) {
                    if (ids[b * L + l] == maskId) {
                        rowOf.add(b);
                        positionOf.add(l);
                        indexOf.add(n);
                    }
                    row[n++] = ids[b * L + l];
                }
            }
            rows[b] = Arrays.copyOf(row, n);
            if (rowOf.size() == first[b]) {
                throw new IllegalArgumentException("row " + b + " of the batch has no mask token");
            }
        }
        first[B] = rowOf.size();
        int P = rowOf.size(), V = model.config().vocabSize();
        TokenPositions at = new TokenPositions(rowOf.stream().mapToInt(Integer::intValue).toArray(),
                positionOf.stream().mapToInt(Integer::intValue).toArray());
        List<List<Prediction>> perMask = new ArrayList<>(P);
        int groupSize = masksPerGroup(logitsBudget, V);
        if (rankOnBackend && targets == null && topK <= BACKEND_TOP_K_MAX) {
            // The softmax and the top k on the backend: [n, k] comes back per group, not [n, V] logits.
            model.topTokensAtInGroups(input, at, groupSize, topK, (firstMask, top) -> {
                int n = top.ids().length / topK;
                perMask.addAll(IntStream.range(firstMask, firstMask + n).parallel().mapToObj(p -> {
                    int b = rowOf.get(p);
                    return predictionsOf(top.ids(), top.probs(), (p - firstMask) * topK, topK, rows[b], indexOf.get(p),
                            first[b + 1] - first[b] == 1);
                }).toList());
            });
        } else if (rankOnBackend && targets != null) {
            // The softmax at the targets on the backend: [n, K] comes back per group, not [n, V] logits.
            int K = targets.ids.length;
            model.targetProbsAtInGroups(input, at, groupSize, targets.ids, (firstMask, probs) -> {
                int n = probs.length / K;
                perMask.addAll(IntStream.range(firstMask, firstMask + n).parallel().mapToObj(p -> {
                    int b = rowOf.get(p);
                    return targetPredictions(probs, (p - firstMask) * K, rows[b], indexOf.get(p), first[b + 1] - first[b] == 1);
                }).toList());
            });
        } else {
            model.forwardAtInGroups(input, at, groupSize, (firstMask, logits) -> {
                float[] group = logits.data();                                                  // (n, V)
                // Per mask of the group: a V-wide softmax, the top k and k decodings of its row, on all cores.
                perMask.addAll(IntStream.range(firstMask, firstMask + logits.dim(0)).parallel().mapToObj(p -> {
                    int b = rowOf.get(p);
                    return predictions(group, (p - firstMask) * V, V, rows[b], indexOf.get(p), first[b + 1] - first[b] == 1);
                }).toList());
            });
        }
        List<Result> out = new ArrayList<>(B);
        for (int b = 0; b < B; b++) {
            out.add(new Result(indexOf.subList(first[b], first[b + 1]), perMask.subList(first[b], first[b + 1])));
        }
        return out;
    }

    /**
     * The predictions at one mask: the best {@link #topK()} tokens by softmax of {@code logits} [V],
     * each with the row {@code ids} where {@code position} holds it, decoded (special tokens skipped
     * when {@code singleMask}, as HF).
     */
    public List<Prediction> predictions(float[] logits, int[] ids, int position, boolean singleMask) {
        Objects.requireNonNull(logits, "logits");
        return predictions(logits, 0, logits.length, ids, position, singleMask);
    }

    /**
     * The predictions at one mask from its targets' probabilities {@code probs[from, from + K)} (in
     * the targets' order): the best {@link #topK()} of them, ranked as {@link #predictions} ranks them.
     */
    private List<Prediction> targetPredictions(float[] probs, int from, int[] ids, int position, boolean singleMask) {
        float[] scores = Arrays.copyOfRange(probs, from, from + targets.ids.length);
        int[] best = Ranking.top(scores, topK);                       // ascending ids: equal scores keep id order
        int[] tokens = new int[best.length];
        float[] ranked = new float[best.length];
        for (int r = 0; r < best.length; r++) {
            tokens[r] = targets.ids[best[r]];
            ranked[r] = scores[best[r]];
        }
        return predictionsOf(tokens, ranked, 0, tokens.length, ids, position, singleMask);
    }

    /** {@link #predictions(float[], int[], int, boolean)} at the row {@code logits[from, from + V)}. */
    private List<Prediction> predictions(float[] logits, int from, int V, int[] ids, int position, boolean singleMask) {
        float[] probs = TextClassification.Function.SOFTMAX.apply(logits, from, V);
        if (targets != null) {
            float[] atTargets = new float[targets.ids.length];
            for (int t = 0; t < atTargets.length; t++) {
                atTargets[t] = probs[targets.ids[t]];
            }
            return targetPredictions(atTargets, 0, ids, position, singleMask);
        }
        int[] candidates = Ranking.top(probs, topK);
        float[] scores = new float[candidates.length];
        for (int r = 0; r < candidates.length; r++) {
            scores[r] = probs[candidates[r]];
        }
        return predictionsOf(candidates, scores, 0, candidates.length, ids, position, singleMask);
    }

    /**
     * The predictions for the ranked tokens {@code tokens[from, from + count)} with their
     * probabilities {@code scores[from, from + count)}, each with the row {@code ids} where
     * {@code position} holds it, decoded.
     */
    private List<Prediction> predictionsOf(int[] tokens, float[] scores, int from, int count, int[] ids, int position,
                                           boolean singleMask) {
        List<Prediction> out = new ArrayList<>(count);
        for (int r = from; r < from + count; r++) {
            int token = tokens[r];
            int[] filled = ids.clone();
            filled[position] = token;
            out.add(new Prediction(scores[r], token, decode(new int[] {token}, false), decode(withoutPadding(filled), singleMask)));
        }
        return Collections.unmodifiableList(out);
    }

    /** Positions of the mask tokens in a row. */
    private int[] maskPositions(Encoding e) {
        int[] ids = e.ids();
        return IntStream.range(0, ids.length).filter(i -> ids[i] == maskId).toArray();
    }

    /** HF drops every pad token before decoding a sequence (a predicted one too). */
    private int[] withoutPadding(int[] ids) {
        return padId < 0 ? ids : Arrays.stream(ids).filter(id -> id != padId).toArray();
    }

    /**
     * transformers' decode: ids the tokenizer does not know are dropped (the fast tokenizer's
     * decoder skips them), then its clean_up_tokenization_spaces.
     */
    private String decode(int[] ids, boolean skipSpecialTokens) {
        int[] known = Arrays.stream(ids).filter(id -> tokenizer.idToToken(id) != null).toArray();
        return tokenizer.decode(known, skipSpecialTokens, tokenizer.cleanUpTokenizationSpaces());
    }
}
