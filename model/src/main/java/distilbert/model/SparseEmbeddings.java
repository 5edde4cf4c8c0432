package distilbert.model;

import com.fasterxml.jackson.databind.JsonNode;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.DistilBertConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * sentence-transformers' {@code SparseEncoder} with SPLADE pooling on a {@link DistilBertForMaskedLM}:
 * learned sparse embeddings, one weight per vocabulary token, most of them zero (for lexical
 * search engines and inverted indexes). For every real token of a text the masked-LM head's logits
 * over the vocabulary go through log(1 + relu(x)) (twice for {@code log1p_relu}), and are pooled over
 * the tokens by their maximum or their sum, as {@code SpladePooling} does; {@link #withMaxActiveDims}
 * keeps only the largest weights, as encode's {@code max_active_dims}.
 *
 * <pre>{@code
 * try (DistilBert db = DistilBert.load(SparseEmbeddings.Directory.read(dir).transformer(), Device.AUTO)) {
 *     SparseEmbeddings splade = SparseEmbeddings.fromPretrained(db, dir);
 *     SparseEmbeddings.Vector v = splade.embed("what is splade?");   // token ids and weights, ids ascending
 *     splade.decode(v, 10);                                          // the ten heaviest tokens, as decode does
 * }
 * }</pre>
 *
 * <p>The head runs on the model's backend over groups of positions, so that at most a group's
 * [positions, vocab_size] logits are held at once; the pooling runs on the host. Weights are
 * computed in double from the float32 logits and rounded once (sums too).
 *
 * <p>Immutable; the {@code with…} methods return a changed copy over the same model.
 */
public final class SparseEmbeddings {

    /** Positions whose logits are held at once (each vocab_size floats). */
    static final int GROUP_POSITIONS = 256;

    /** How the token weights of a text are pooled: SpladePooling's pooling_strategy. */
    public enum Strategy {
        MAX, SUM;

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** What turns a logit into a weight before the pooling: SpladePooling's activation_function. */
    public enum Activation {
        /** log(1 + relu(x)), as every SPLADE model. */
        RELU,
        /** log(1 + log(1 + relu(x))), as OpenSearch's SPLADE models. */
        LOG1P_RELU;

        double apply(float x) {
            double v = x > 0 ? Math.log1p(x) : 0;
            return this == LOG1P_RELU ? Math.log1p(v) : v;
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * A sparse embedding: the ids of its non-zero dimensions (vocabulary tokens), ascending, and their
     * weights.
     */
    public record Vector(int[] indices, float[] values, int dimension) {
        public Vector {
            if (indices.length != values.length) {
                throw new IllegalArgumentException(indices.length + " indices but " + values.length + " values");
            }
        }

        /** The dense vector of {@link #dimension} values. */
        public float[] dense() {
            float[] out = new float[dimension];
            for (int i = 0; i < indices.length; i++) out[indices[i]] = values[i];
            return out;
        }

        /** The dot product with another sparse vector (sentence-transformers' default similarity), in double. */
        public double dot(Vector o) {
            double s = 0;
            for (int i = 0, j = 0; i < indices.length && j < o.indices.length; ) {
                if (indices[i] == o.indices[j]) s += (double) values[i++] * o.values[j++];
                else if (indices[i] < o.indices[j]) i++;
                else j++;
            }
            return s;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Vector v && dimension == v.dimension && Arrays.equals(indices, v.indices)
                    && Arrays.equals(values, v.values);
        }

        @Override
        public int hashCode() {
            return 31 * Arrays.hashCode(indices) + Arrays.hashCode(values);
        }

        @Override
        public String toString() {
            return "Vector[" + indices.length + " of " + dimension + " active]";
        }
    }

    /** One decoded dimension: its token and weight. */
    public record TokenWeight(String token, float weight) {
    }

    /**
     * A sparse-encoder directory as {@code SparseEncoder(dir)} reads it: {@code modules.json} with the
     * masked-LM Transformer (sentence-transformers 6's {@code MLMTransformer} or a Transformer of
     * {@code transformer_task} fill-mask; 5's {@code sparse_encoder.models.MLMTransformer}) and a
     * {@code SpladePooling} module, {@code config_sentence_transformers.json}'s prompts.
     */
    public record Directory(Path dir, Path transformer, OptionalInt maxSeqLength, boolean doLowerCase, Strategy strategy,
                            Activation activation, Map<String, String> prompts, String defaultPromptName) {

        /** config_sentence_transformers.json's model_type for a sparse encoder. */
        public static final String MODEL_TYPE = "SparseEncoder";

        public Directory {
            prompts = Collections.unmodifiableMap(new LinkedHashMap<>(prompts));
        }

        /** Whether {@code dir} is a sparse encoder: config_sentence_transformers.json says so, or modules.json has SpladePooling. */
        public static boolean isSparseEncoder(Path dir) {
            if (MODEL_TYPE.equals(SentenceTransformerDirectory.modelType(dir))) return true;
            Path modules = dir.resolve(SentenceTransformerDirectory.MODULES_FILE);
            if (!Files.isRegularFile(modules)) return false;
            for (JsonNode m : SentenceTransformerDirectory.readJson(modules)) {
                if (m.path("type").asText("").endsWith(".SpladePooling")) return true;
            }
            return false;
        }

        /**
         * Reads {@code dir}.
         *
         * @throws IllegalArgumentException naming the file: modules other than the masked-LM Transformer
         *         and SpladePooling (a Router, SparseStaticEmbedding, SparseAutoEncoder), a pooling strategy
         *         or activation that SpladePooling does not have
         */
        public static Directory read(Path dir) {
            Path modulesFile = dir.resolve(SentenceTransformerDirectory.MODULES_FILE);
            if (!Files.isRegularFile(modulesFile)) {
                throw new IllegalArgumentException(dir + ": no " + SentenceTransformerDirectory.MODULES_FILE
                        + "; a sparse encoder is a sentence-transformers directory (a masked-LM Transformer, then SpladePooling)");
            }
            JsonNode modules = SentenceTransformerDirectory.readJson(modulesFile);
            if (!modules.isArray() || modules.size() != 2) {
                throw new IllegalArgumentException(modulesFile + ": expected two modules (a masked-LM Transformer, then "
                        + "SpladePooling), found " + (modules.isArray() ? modules.size() + ": " + types(modules) : modules));
            }
            String first = modules.get(0).path("type").asText(""), second = modules.get(1).path("type").asText("");
            if (!(first.endsWith(".MLMTransformer") || first.endsWith(".Transformer")) || !second.endsWith(".SpladePooling")) {
                throw new IllegalArgumentException(modulesFile + ": modules " + types(modules) + "; a sparse encoder this "
                        + "library runs is a masked-LM Transformer, then SpladePooling (not a Router, SparseStaticEmbedding "
                        + "or SparseAutoEncoder)");
            }
            Path transformer = dir.resolve(modules.get(0).path("path").asText(""));
            SentenceTransformerDirectory.TransformerConfig t = SentenceTransformerDirectory.readTransformerConfig(transformer);
            Path poolingFile = dir.resolve(modules.get(1).path("path").asText("")).resolve("config.json");
            JsonNode pooling = Files.isRegularFile(poolingFile) ? SentenceTransformerDirectory.readJson(poolingFile) : null;
            String strategy = pooling == null ? "max" : pooling.path("pooling_strategy").asText("max");
            String activation = pooling == null ? "relu" : pooling.path("activation_function").asText("relu");
            Strategy s = Arrays.stream(Strategy.values()).filter(x -> x.toString().equals(strategy)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException(poolingFile + ": pooling_strategy '" + strategy
                            + "' is not one of " + Arrays.toString(Strategy.values())));
            Activation a = Arrays.stream(Activation.values()).filter(x -> x.toString().equals(activation)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException(poolingFile + ": activation_function '" + activation
                            + "' is not one of " + Arrays.toString(Activation.values())));
            Map<String, String> prompts = new LinkedHashMap<>();
            String[] defaults = new String[2];
            SentenceTransformerDirectory.readModelConfig(dir, prompts, defaults);
            return new Directory(dir, transformer, t.maxSeqLength(), t.doLowerCase(), s, a, prompts, defaults[0]);
        }

        private static List<String> types(JsonNode modules) {
            List<String> out = new ArrayList<>();
            modules.forEach(m -> out.add(m.path("type").asText("?")));
            return out;
        }
    }

    private final DistilBertForMaskedLM model;
    private final Tokenizer tokenizer;
    private final Strategy strategy;
    private final Activation activation;
    private final int maxActiveDims;
    private final int maxLength;
    private final int batchTokens;
    private final Map<String, String> prompts;
    private final String prompt;

    private SparseEmbeddings(DistilBertForMaskedLM model, Tokenizer tokenizer, Strategy strategy, Activation activation,
                             int maxActiveDims, int maxLength, int batchTokens, Map<String, String> prompts, String prompt) {
        model.checkTokenizer(tokenizer);
        this.model = model;
        this.tokenizer = tokenizer;
        this.strategy = Objects.requireNonNull(strategy, "strategy");
        this.activation = Objects.requireNonNull(activation, "activation");
        this.maxActiveDims = maxActiveDims;
        DistilBertConfig config = model.config();
        this.maxLength = maxLength > 0 ? maxLength : Math.min(tokenizer.modelMaxLength(), config.maxPositionEmbeddings());
        this.batchTokens = batchTokens;
        this.prompts = Collections.unmodifiableMap(new LinkedHashMap<>(prompts));
        this.prompt = prompt == null || prompt.isEmpty() ? null : prompt;
    }

    /**
     * SPLADE with SpladePooling's defaults (max pooling, relu), no prompts, texts cut to the smaller
     * of the tokenizer's model_max_length and max_position_embeddings.
     *
     * @throws IllegalStateException when the model is not a DistilBertForMaskedLM
     */
    public SparseEmbeddings(DistilBert model, Tokenizer tokenizer) {
        this(model.as(DistilBertForMaskedLM.class), tokenizer, Strategy.MAX, Activation.RELU, 0, 0,
                LengthBatches.DEFAULT_BATCH_TOKENS, Map.of(), null);
    }

    /**
     * The sparse encoder of {@code dir} ({@link Directory}): its tokenizer (lowercasing first with
     * do_lower_case), max_seq_length, pooling, activation, prompts and default prompt.
     *
     * @param model the DistilBertForMaskedLM of the directory's Transformer module
     * @throws IllegalArgumentException naming the file and the problem
     * @throws IllegalStateException    when the model is not a DistilBertForMaskedLM
     */
    public static SparseEmbeddings fromPretrained(DistilBert model, Path dir) {
        return fromDirectory(model, Directory.read(dir));
    }

    /** {@link #fromPretrained} over a directory already read. */
    public static SparseEmbeddings fromDirectory(DistilBert model, Directory d) {
        Tokenizer tokenizer = Tokenizer.fromPretrained(d.transformer());
        if (d.doLowerCase()) tokenizer = tokenizer.withLowercase();
        DistilBertConfig config = model.config();
        int maxLength = Math.min(tokenizer.modelMaxLength(), config.maxPositionEmbeddings());
        if (d.maxSeqLength().isPresent()) maxLength = Math.min(maxLength, d.maxSeqLength().getAsInt());
        String prompt = d.defaultPromptName() == null ? null : d.prompts().get(d.defaultPromptName());
        return new SparseEmbeddings(model.as(DistilBertForMaskedLM.class), tokenizer, d.strategy(), d.activation(), 0, maxLength,
                LengthBatches.DEFAULT_BATCH_TOKENS, d.prompts(), prompt);
    }

    /** The same encoder pooling by {@code s}. */
    public SparseEmbeddings withStrategy(Strategy s) {
        return new SparseEmbeddings(model, tokenizer, s, activation, maxActiveDims, maxLength, batchTokens, prompts, prompt);
    }

    /** The same encoder with activation {@code a}. */
    public SparseEmbeddings withActivation(Activation a) {
        return new SparseEmbeddings(model, tokenizer, strategy, a, maxActiveDims, maxLength, batchTokens, prompts, prompt);
    }

    /**
     * The same encoder keeping the {@code n} largest weights of each vector (encode's max_active_dims);
     * 0: all of them.
     *
     * @throws IllegalArgumentException when n is negative
     */
    public SparseEmbeddings withMaxActiveDims(int n) {
        if (n < 0) throw new IllegalArgumentException("max active dims must be positive (or 0: all), got " + n);
        return new SparseEmbeddings(model, tokenizer, strategy, activation, n, maxLength, batchTokens, prompts, prompt);
    }

    /** The same encoder prepending {@code text} to every text; null or "": none. */
    public SparseEmbeddings withPrompt(String text) {
        return new SparseEmbeddings(model, tokenizer, strategy, activation, maxActiveDims, maxLength, batchTokens, prompts, text);
    }

    /**
     * The same encoder with the prompt of that name.
     *
     * @throws IllegalArgumentException naming the prompts there are, when there is none of that name
     */
    public SparseEmbeddings withPromptName(String name) {
        return withPrompt(SentenceTransformerDirectory.prompt(prompts, name));
    }

    /**
     * Texts cut to {@code n} tokens, special tokens included.
     *
     * @throws IllegalArgumentException unless 2 ≤ n ≤ max_position_embeddings
     */
    public SparseEmbeddings withMaxLength(int n) {
        return new SparseEmbeddings(model, tokenizer, strategy, activation, maxActiveDims,
                LengthBatches.checkMaxLength(n, model.config()), batchTokens, prompts, prompt);
    }

    /** Batches of about {@code n} real tokens (a longer row runs alone). */
    public SparseEmbeddings withBatchTokens(int n) {
        return new SparseEmbeddings(model, tokenizer, strategy, activation, maxActiveDims, maxLength,
                LengthBatches.checkBatchTokens(n), prompts, prompt);
    }

    public Strategy strategy() {
        return strategy;
    }

    public Activation activation() {
        return activation;
    }

    public int maxActiveDims() {
        return maxActiveDims;
    }

    public int maxLength() {
        return maxLength;
    }

    public int batchTokens() {
        return batchTokens;
    }

    public Map<String, String> prompts() {
        return prompts;
    }

    /** The prompt prepended to every text, or null. */
    public String prompt() {
        return prompt;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The vectors' dimension: the vocabulary size. */
    public int dimension() {
        return model.config().vocabSize();
    }

    public EncodeOptions encodeOptions() {
        return new EncodeOptions(true, Truncation.longestFirst(maxLength), null);
    }

    /** The rows the model runs on: each text with the prompt before it, tokenized and truncated. */
    public List<Encoding> encode(List<String> texts) {
        List<String> prompted = texts.stream().map(t -> prompt == null ? t : prompt + t).toList();
        return tokenizer.encodeBatch(prompted, Arrays.asList(new String[texts.size()]), encodeOptions());
    }

    public Vector embed(String text) {
        return embed(List.of(text)).getFirst();
    }

    /** One vector per text, in order. */
    public List<Vector> embed(List<String> texts) {
        return embedEncodings(encode(texts), LengthBatches.Listener.NONE);
    }

    /**
     * Rows already tokenized ({@link #encode}: the prompt is not added here), run in batches of similar
     * length; {@code listener} hears of each batch. One vector per row, in order.
     *
     * @throws IllegalArgumentException naming the first row longer than max_position_embeddings
     */
    public List<Vector> embedEncodings(List<Encoding> encodings, LengthBatches.Listener listener) {
        LengthBatches.checkRowLengths(encodings, model.config().maxPositionEmbeddings());
        Vector[] out = new Vector[encodings.size()];
        int padId = Math.max(0, tokenizer.padTokenId());
        LengthBatches.forEach(encodings, batchTokens, padId, listener, (rows, input, tokens) -> {
            Vector[] batch = embedBatch(input);
            for (int b = 0; b < rows.length; b++) out[rows[b]] = batch[b];
        });
        return Arrays.asList(out);
    }

    /** One forward pass over a padded batch [B, L]: B vectors in row order. */
    public Vector[] embedBatch(ModelInput input) {
        int B = input.batch(), L = input.length(), V = dimension();
        int n = 0;
        for (int b = 0; b < B; b++) for (int l = 0; l < L; l++) if (input.mask(b, l) != 0) n++;
        int[] rows = new int[n], positions = new int[n];
        for (int b = 0, p = 0; b < B; b++) {
            for (int l = 0; l < L; l++) {
                if (input.mask(b, l) != 0) {
                    rows[p] = b;
                    positions[p++] = l;
                }
            }
        }
        double[][] pooled = new double[B][V];             // 0: the weight of a masked position (SpladePooling multiplies by the mask)
        if (n > 0) {
            model.forwardAtInGroups(input, new TokenPositions(rows, positions), GROUP_POSITIONS, (first, logits) -> {
                float[] x = logits.data();
                for (int i = 0; i < logits.dim(0); i++) {
                    double[] row = pooled[rows[first + i]];
                    for (int v = 0, at = i * V; v < V; v++, at++) {
                        double w = activation.apply(x[at]);
                        if (strategy == Strategy.MAX) {
                            if (w > row[v] || w != w) row[v] = w;
                        } else {
                            row[v] += (float) w;
                        }
                    }
                }
            });
        }
        Vector[] out = new Vector[B];
        for (int b = 0; b < B; b++) out[b] = sparse(pooled[b], V);
        return out;
    }

    /** The non-zero weights of a pooled row, the largest {@link #maxActiveDims} of them where set. */
    private Vector sparse(double[] row, int V) {
        float[] w = new float[V];
        for (int v = 0; v < V; v++) w[v] = (float) row[v];
        boolean[] keep = new boolean[V];
        if (maxActiveDims > 0 && maxActiveDims < V) {
            float[] magnitude = new float[V];
            for (int v = 0; v < V; v++) magnitude[v] = Math.abs(w[v]);
            for (int v : Ranking.top(magnitude, maxActiveDims)) keep[v] = true;
        } else {
            Arrays.fill(keep, true);
        }
        int n = 0;
        for (int v = 0; v < V; v++) if (keep[v] && w[v] != 0) n++;
        int[] indices = new int[n];
        float[] values = new float[n];
        for (int v = 0, i = 0; v < V; v++) {
            if (keep[v] && w[v] != 0) {
                indices[i] = v;
                values[i++] = w[v];
            }
        }
        return new Vector(indices, values, V);
    }

    /**
     * Search over sparse vectors by their dot product (a SparseEncoder's similarity): each query's
     * {@code topK} best corpus rows, best first, equal scores by smaller corpus id, as
     * {@link SemanticSearch} answers for dense ones. An inverted index of the corpus (per vocabulary
     * id, the rows that weigh it) makes a query cost the postings of its own ids, not the whole
     * corpus; rows that share no id with a query score 0. Scores are summed in double and rounded once.
     *
     * @throws IllegalArgumentException when topK &lt; 1 or the vectors' dimensions differ
     */
    public static List<List<SemanticSearch.Hit>> search(List<Vector> queries, List<Vector> corpus, int topK) {
        if (topK < 1) throw new IllegalArgumentException("top k must be at least 1, got " + topK);
        int V = 0;
        for (List<Vector> list : List.of(queries, corpus)) {
            for (Vector v : list) {
                if (V != 0 && v.dimension() != V) {
                    throw new IllegalArgumentException("sparse search: vectors of " + V + " and of " + v.dimension() + " dimensions");
                }
                V = v.dimension();
            }
        }
        int[] count = new int[V + 1];
        for (Vector v : corpus) for (int id : v.indices()) count[id + 1]++;
        for (int i = 0; i < V; i++) count[i + 1] += count[i];
        int[] rows = new int[count[V]];
        float[] weights = new float[count[V]];
        int[] at = Arrays.copyOf(count, V);
        for (int r = 0; r < corpus.size(); r++) {
            Vector v = corpus.get(r);
            for (int k = 0; k < v.indices().length; k++) {
                int p = at[v.indices()[k]]++;
                rows[p] = r;
                weights[p] = v.values()[k];
            }
        }
        List<List<SemanticSearch.Hit>> out = new ArrayList<>(java.util.Collections.nCopies(queries.size(), null));
        java.util.stream.IntStream.range(0, queries.size()).parallel().forEach(q -> {
            double[] score = new double[corpus.size()];
            Vector v = queries.get(q);
            for (int k = 0; k < v.indices().length; k++) {
                int id = v.indices()[k];
                double w = v.values()[k];
                for (int p = count[id]; p < count[id + 1]; p++) score[rows[p]] += w * weights[p];
            }
            float[] rounded = new float[score.length];
            for (int r = 0; r < score.length; r++) rounded[r] = (float) score[r];
            int[] best = Ranking.top(rounded, topK);
            List<SemanticSearch.Hit> hits = new ArrayList<>(best.length);
            for (int r : best) hits.add(new SemanticSearch.Hit(r, rounded[r]));
            out.set(q, hits);
        });
        return out;
    }

    /**
     * The {@code k} heaviest tokens of {@code v}, heaviest first, as sentence-transformers' decode
     * (ties in id order).
     */
    public List<TokenWeight> decode(Vector v, int k) {
        int[] order = Ranking.top(v.values(), Math.min(k, v.values().length));
        List<TokenWeight> out = new ArrayList<>(order.length);
        for (int i : order) out.add(new TokenWeight(tokenizer.idToToken(v.indices()[i]), v.values()[i]));
        return out;
    }
}
