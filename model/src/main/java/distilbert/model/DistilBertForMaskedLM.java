package distilbert.model;

import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.Head;
import java.util.Arrays;
import java.util.Objects;

/**
 * HF's {@code DistilBertForMaskedLM}: per token, vocab_transform → activation (config.activation)
 * → vocab_layer_norm → vocab_projector (tied to the word embeddings when tie_word_embeddings);
 * loss = mean cross-entropy over labels that are not −100.
 *
 * <p>{@link #forward(ModelInput, int[][])} computes logits at every position, as HF does;
 * {@link #forwardAt} only where asked, which avoids the V-wide projection everywhere else;
 * {@link #forwardAtInGroups} the same, a bounded group of positions at a time.
 */
public final class DistilBertForMaskedLM implements Architecture {

    /** Labels equal to this are ignored by the loss (torch's default ignore_index). */
    public static final int IGNORE_INDEX = HeadSupport.IGNORE_INDEX;

    private final DistilBertConfig config;
    private final Ops ops;
    private final DistilBertModel distilbert;
    private final Buffer transformW;  // (C, C)
    private final Buffer transformB;  // (C)
    private final Buffer lnW;         // (C)
    private final Buffer lnB;         // (C)
    private final Buffer projectorW;  // (V, C), the word embeddings when tied
    private final Buffer projectorB;  // (V)

    public DistilBertForMaskedLM(DistilBertConfig config, Ops ops, ParameterSlab params) {
        this.config = config;
        this.ops = ops;
        this.distilbert = new DistilBertModel(config, ops, params, DistilBertParameters.PREFIX);
        this.transformW = params.get("vocab_transform.weight");
        this.transformB = params.get("vocab_transform.bias");
        this.lnW = params.get("vocab_layer_norm.weight");
        this.lnB = params.get("vocab_layer_norm.bias");
        this.projectorW = params.get(DistilBertParameters.VOCAB_PROJECTOR_WEIGHT);
        this.projectorB = params.get("vocab_projector.bias");
    }

    /** Logits at every position, no loss. */
    public MaskedLMOutput forward(ModelInput input) {
        return forward(input, null);
    }

    /**
     * HF's forward: logits [B, L, V] at every position.
     *
     * @param labels [B][L] token ids or −100, or null for no loss
     */
    public MaskedLMOutput forward(ModelInput input, int[][] labels) {
        int[] flatLabels = labels == null ? null : HeadSupport.flatLabels(labels, input, "labels");
        if (flatLabels != null) {
            HeadSupport.checkClassLabels(flatLabels, config.vocabSize(), "labels", input.length());
        }
        try (Ops.Scope scope = ops.scope()) {
            DistilBertModel.Encoded e = distilbert.encode(input);
            PackedBatch pk = e.packed();
            int C = config.dim(), V = config.vocabSize();
            int N = HeadSupport.rowCount(pk);
            Buffer logits = predictionLogits(HeadSupport.rowsWithZero(ops, e, C), N);     // (N, V)
            Tensor out = Tensor.of(HeadSupport.unpack(pk, ops.download(logits), V), pk.batch(), pk.length(), V);
            Float loss = null;
            if (flatLabels != null) {
                int L = pk.length();
                int P = 0;
                for (int y : flatLabels) {
                    if (y != IGNORE_INDEX) {
                        P++;
                    }
                }
                int[] rows = new int[P], targets = new int[P];
                int p = 0;
                for (int i = 0; i < flatLabels.length; i++) {
                    if (flatLabels[i] != IGNORE_INDEX) {
                        rows[p] = HeadSupport.rowOf(pk, i / L, i % L);
                        targets[p++] = flatLabels[i];
                    }
                }
                Buffer labeled = ops.allocateUninitialized((long) P * V);                      // (P, V)
                ops.gatherRows(labeled, logits, ops.indicesOf(rows), P, V);
                loss = HeadSupport.crossEntropy(ops, labeled, targets, V, IGNORE_INDEX);
            }
            return new MaskedLMOutput(loss, out, e.hiddenStates(), e.attentions(), null);
        }
    }

    /**
     * Logits only at {@code at}: [P, V] in its order. The loss, when {@code labels} is given, is the
     * mean over the positions of {@code at} whose label is not −100; it equals HF's loss when
     * {@code at} holds every labeled position ({@link TokenPositions#labeled}).
     *
     * <p>The P × V logits are on the device and on the host at once; for many positions,
     * {@link #forwardAtInGroups} bounds that.
     */
    public MaskedLMOutput forwardAt(ModelInput input, TokenPositions at, int[][] labels) {
        checkPositions(input, at);
        int L = input.length();
        int[] flatLabels = labels == null ? null : HeadSupport.flatLabels(labels, input, "labels");
        if (flatLabels != null) {
            HeadSupport.checkClassLabels(flatLabels, config.vocabSize(), "labels", L);
        }
        try (Ops.Scope scope = ops.scope()) {
            DistilBertModel.Encoded e = distilbert.encode(input);
            int V = config.vocabSize(), P = at.size();
            Buffer logits = logitsAt(e, packedRows(e.packed(), at), 0, P);                     // (P, V)
            Tensor out = Tensor.of(ops.download(logits), P, V);
            Float loss = null;
            if (flatLabels != null) {
                int[] targets = new int[P];
                for (int p = 0; p < P; p++) {
                    targets[p] = flatLabels[at.rows()[p] * L + at.positions()[p]];
                }
                loss = HeadSupport.crossEntropy(ops, logits, targets, V, IGNORE_INDEX);
            }
            return new MaskedLMOutput(loss, out, e.hiddenStates(), e.attentions(), at);
        }
    }

    /**
     * A training step: the forward in training mode (dropout from {@code input.dropout()} where set;
     * the MLM head has none), the loss as {@link #forward(ModelInput, int[][])} computes it, and its
     * gradient times {@code lossScale} added into {@code grads}. The head runs only at the labeled
     * positions, which is all the loss reads. With tied embeddings, the projector's gradient lands in
     * the word embeddings' (one view).
     *
     * @param labels [B][L] token ids or −100
     * @return the loss, and the logits at the labeled positions [P, V] (positions in {@code labeledAt})
     */
    public MaskedLMOutput backward(ModelInput input, int[][] labels, ParameterSlab grads, float lossScale) {
        return backward(input, labels, grads, lossScale, true);
    }

    /**
     * {@link #backward(ModelInput, int[][], ParameterSlab, float)}, with the logits brought back only
     * when {@code withLogits}: they are [P, V] floats (150 MB for the 15% of 64 × 128 tokens over a
     * 30522-word vocabulary), which a training loop that reads only the loss need not copy off the GPU.
     *
     * @return the loss, and the logits at the labeled positions or null
     */
    public MaskedLMOutput backward(ModelInput input, int[][] labels, ParameterSlab grads, float lossScale,
                                   boolean withLogits) {
        BackwardOps bops = Training.backwardOps(ops);
        Training.checkGradients(grads, parameters());
        int L = input.length(), C = config.dim(), V = config.vocabSize();
        int[] flatLabels = HeadSupport.flatLabels(labels, input, "labels");
        HeadSupport.checkClassLabels(flatLabels, V, "labels", L);
        TokenPositions at = TokenPositions.labeled(labels);
        int P = at.size();
        int[] targets = new int[P];
        for (int p = 0; p < P; p++) {
            targets[p] = flatLabels[at.rows()[p] * L + at.positions()[p]];
        }
        try (Ops.Scope scope = ops.scope()) {
            DistilBertModel.Trace tr = distilbert.encodeTraining(input, bops);
            PackedBatch pk = tr.packed();
            IndexBuffer rows = ops.indicesOf(packedRows(pk, at));                                 // −1: a zero row
            long pc = (long) P * C;
            Buffer selected = ops.allocateUninitialized(pc), pre = ops.allocateUninitialized(pc);
            Buffer act = ops.allocateUninitialized(pc), normed = ops.allocateUninitialized(pc);
            Buffer mean = ops.allocateFloat32(P), rstd = ops.allocateFloat32(P);
            Buffer logits = ops.allocateUninitialized((long) P * V);
            ops.gatherRows(selected, tr.hidden(), rows, P, C);                                    // (P, C)
            ops.matmulForward(pre, selected, transformW, null, P, C, C);                          // vocab_transform
            ops.biasActivationForward(config.activation(), act, pre, transformB, P, C);           // activation
            ops.layerNormForward(normed, mean, rstd, act, lnW, lnB, P, C, DistilBertModel.EPS);   // vocab_layer_norm
            ops.matmulForward(logits, normed, projectorW, projectorB, P, C, V);                   // (P, V) vocab_projector
            Buffer dLogits = ops.allocateUninitialized((long) P * V);
            Training.Loss loss = Training.crossEntropy(bops, logits, dLogits, targets, V, IGNORE_INDEX,
                    lossScale * grads.lossScale());

            Buffer d = ops.allocateUninitialized(pc), dSelected = ops.allocateUninitialized(pc);
            bops.matmulBackward(d, grads.get(DistilBertParameters.VOCAB_PROJECTOR_WEIGHT), grads.get("vocab_projector.bias"),
                    dLogits, normed, projectorW, P, C, V, false);
            bops.layerNormBackward(d, grads.get("vocab_layer_norm.weight"), grads.get("vocab_layer_norm.bias"), d, act,
                    lnW, mean, rstd, P, C);
            bops.biasActivationBackward(config.activation(), d, grads.get("vocab_transform.bias"), d, pre, transformB, P,
                    C);
            bops.matmulBackward(dSelected, grads.get("vocab_transform.weight"), null, d, selected, transformW, P, C, C,
                    false);
            Buffer dHidden = ops.allocateUninitialized((long) pk.tokens() * C);
            bops.fill(dHidden, 0f, (long) pk.tokens() * C);
            bops.gatherRowsBackward(dHidden, dSelected, rows, P, C);
            distilbert.backward(tr, dHidden, grads, bops);
            // read back once the whole backward is queued
            Tensor out = withLogits ? Tensor.of(ops.download(logits), P, V) : null;
            return new MaskedLMOutput(loss.value(), out, null, null, at);
        }
    }

    /** Takes the logits of one group of positions from {@link #forwardAtInGroups}. */
    @FunctionalInterface
    public interface LogitsGroup {
        /**
         * @param first  the index in the request of the group's first position
         * @param logits [n, V]: the logits at positions {@code first … first + n − 1} of the request,
         *               in its order; a fresh array the consumer may keep
         */
        void accept(int first, Tensor logits);
    }

    /**
     * The logits {@link #forwardAt} gives at {@code at}, handed to {@code consumer} in groups of at most
     * {@code groupSize} positions, in request order. The encoder runs once; the MLM head then runs on
     * one group at a time, and the group's device buffers (its [n, C] hidden rows, its [n, V] logits)
     * are taken back before the consumer sees the group, so that at most {@code groupSize × V} logits
     * are held on the device, and one group's on the host, however many positions there are. The
     * values are forwardAt's bit for bit on the CPU; on a GPU another row count may make cuBLAS pick
     * another algorithm.
     *
     * <p>The consumer runs on the calling thread while the backend is held (on CUDA, forwards from
     * other threads wait for it): it may use the model on that thread, but must not wait for another
     * thread that does.
     *
     * @param groupSize the most positions per group, at least 1
     * @throws IllegalArgumentException when {@code groupSize} < 1 or a position is outside the batch
     */
    public void forwardAtInGroups(ModelInput input, TokenPositions at, int groupSize, LogitsGroup consumer) {
        Objects.requireNonNull(consumer, "consumer");
        int V = config.vocabSize();
        headInGroups(input, at, groupSize, (logits, n) -> Tensor.of(ops.download(logits), n, V), consumer::accept);
    }

    /**
     * The {@code k} most probable tokens at one position, most probable first: what the fill-mask
     * pipeline ranks (HF's {@code probs.topk(k)}).
     *
     * @param probs [n, k] softmax probabilities over the whole vocabulary
     * @param ids   [n, k] their token ids
     */
    public record TopTokens(float[] probs, int[] ids, int k) {
    }

    /** Takes the top tokens of one group of positions from {@link #topTokensAtInGroups}. */
    @FunctionalInterface
    public interface TopTokensGroup {
        /**
         * @param first the index in the request of the group's first position
         * @param top   the top tokens at positions {@code first …} of the request, in its order
         */
        void accept(int first, TopTokens top);
    }

    /**
     * Per position of {@code at}, the softmax over the vocabulary of {@link #forwardAt}'s logits and
     * its {@code k} most probable tokens ({@link Ops#softmaxTopKForward}), computed on the backend,
     * so that only [n, k] probabilities and ids come back, not [n, V] logits. Positions run in
     * groups of at most {@code groupSize}, as {@link #forwardAtInGroups} runs them.
     *
     * @throws IllegalArgumentException when {@code groupSize} < 1, k is outside [1, vocab_size] or a
     *                                  position is outside the batch
     */
    public void topTokensAtInGroups(ModelInput input, TokenPositions at, int groupSize, int k, TopTokensGroup consumer) {
        Objects.requireNonNull(consumer, "consumer");
        int V = config.vocabSize();
        if (k < 1 || k > V) {
            throw new IllegalArgumentException("k must be in [1, " + V + "] (vocab_size), got " + k);
        }
        headInGroups(input, at, groupSize, (logits, n) -> {
            Buffer probs = ops.allocateUninitialized((long) n * k);                              // (n, k)
            IndexBuffer ids = ops.allocateIndicesUninitialized((long) n * k);                  // (n, k)
            ops.softmaxTopKForward(probs, ids, logits, n, V, k);
            return new TopTokens(ops.download(probs), ops.downloadIndices(ids), k);
        }, consumer::accept);
    }

    /** Takes the target tokens' probabilities of one group of positions from {@link #targetProbsAtInGroups}. */
    @FunctionalInterface
    public interface TargetProbsGroup {
        /**
         * @param first the index in the request of the group's first position
         * @param probs [n, K]: at each of the group's positions, the probability of each target, in the targets' order
         */
        void accept(int first, float[] probs);
    }

    /**
     * Per position of {@code at}, the softmax over the vocabulary of {@link #forwardAt}'s logits at
     * the {@code targets} only ({@link Ops#softmaxGatherForward}), computed on the backend, so that
     * only [n, K] probabilities come back, not [n, V] logits: fill-mask's targets. Positions run in
     * groups of at most {@code groupSize}, as {@link #forwardAtInGroups} runs them.
     *
     * @throws IllegalArgumentException when {@code groupSize} < 1, there is no target or one is
     *                                  outside [0, vocab_size), or a position is outside the batch
     */
    public void targetProbsAtInGroups(ModelInput input, TokenPositions at, int groupSize, int[] targets,
                                      TargetProbsGroup consumer) {
        Objects.requireNonNull(consumer, "consumer");
        int V = config.vocabSize(), K = targets.length;
        if (K == 0) {
            throw new IllegalArgumentException("no target token");
        }
        for (int t : targets) {
            if (t < 0 || t >= V) {
                throw new IllegalArgumentException("target token id " + t + " is outside the vocabulary [0, " + V + ")");
            }
        }
        int[] columns = targets.clone();
        headInGroups(input, at, groupSize, (logits, n) -> {
            Buffer probs = ops.allocateUninitialized((long) n * K);                              // (n, K)
            ops.softmaxGatherForward(probs, logits, ops.indicesOf(columns), n, V, K);
            return ops.download(probs);
        }, consumer::accept);
    }

    /** What one group's logits [n, V] become on the backend, inside the group's scope. */
    @FunctionalInterface
    private interface GroupWork<R> {
        R apply(Buffer logits, int n);
    }

    /** A group's host result and the index of its first position in the request. */
    @FunctionalInterface
    private interface GroupResult<R> {
        void accept(int first, R result);
    }

    /**
     * The encoder once, then the MLM head on groups of at most {@code groupSize} positions: each
     * group's logits go through {@code work} in a scope of their own, whose buffers are taken back
     * before {@code consumer} gets the result.
     */
    private <R> void headInGroups(ModelInput input, TokenPositions at, int groupSize, GroupWork<R> work,
                                  GroupResult<R> consumer) {
        if (groupSize < 1) {
            throw new IllegalArgumentException("the group size must be at least 1 position, got " + groupSize);
        }
        checkPositions(input, at);
        try (Ops.Scope scope = ops.scope()) {
            DistilBertModel.Encoded e = distilbert.encode(input);
            int[] rows = packedRows(e.packed(), at);
            int P = at.size();
            for (int first = 0; first < P; first += groupSize) {
                int n = Math.min(groupSize, P - first);
                R result;
                try (Ops.Scope group = ops.scope()) {                                          // frees the group's buffers
                    result = work.apply(logitsAt(e, rows, first, n), n);                        // from (n, V)
                }
                consumer.accept(first, result);
            }
        }
    }

    private static void checkPositions(ModelInput input, TokenPositions at) {
        int B = input.batch(), L = input.length();
        for (int p = 0; p < at.size(); p++) {
            if (at.rows()[p] < 0 || at.rows()[p] >= B || at.positions()[p] < 0 || at.positions()[p] >= L) {
                throw new IllegalArgumentException("position " + p + " of the request, (" + at.rows()[p] + ", "
                        + at.positions()[p] + "), is outside the batch [" + B + ", " + L + "]");
            }
        }
    }

    /** The packed row of each position of {@code at}: −1 (a zero row) where the position is not packed. */
    private static int[] packedRows(PackedBatch pk, TokenPositions at) {
        int L = pk.length();
        int[] rows = new int[at.size()];
        for (int p = 0; p < rows.length; p++) {
            rows[p] = pk.packedIndex()[at.rows()[p] * L + at.positions()[p]];
        }
        return rows;
    }

    /** The MLM head on the encoder's packed rows {@code rows[first, first + n)}: (n, V). */
    private Buffer logitsAt(DistilBertModel.Encoded e, int[] rows, int first, int n) {
        int C = config.dim();
        Buffer selected = ops.allocateUninitialized((long) n * C);                              // (n, C)
        ops.gatherRows(selected, e.hidden(), ops.indicesOf(Arrays.copyOfRange(rows, first, first + n)), n, C);
        return predictionLogits(selected, n);
    }

    /** The MLM head on N rows of hidden states. */
    private Buffer predictionLogits(Buffer hidden, int N) {
        int C = config.dim(), V = config.vocabSize();
        Buffer t = ops.allocateUninitialized((long) N * C);
        ops.matmulForward(t, hidden, transformW, null, N, C, C);                      // (N, C) vocab_transform
        ops.biasActivationForward(config.activation(), t, t, transformB, N, C);        // (N, C) activation
        ops.layerNormForward(t, null, null, t, lnW, lnB, N, C, DistilBertModel.EPS);   // (N, C) vocab_layer_norm
        Buffer logits = ops.allocateUninitialized((long) N * V);
        ops.matmulForward(logits, t, projectorW, projectorB, N, C, V);                 // (N, V) vocab_projector
        return logits;
    }

    @Override
    public Head head() {
        return Head.MASKED_LM;
    }

    @Override
    public DistilBertModel distilbert() {
        return distilbert;
    }
}
