package distilbert.model;

import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.DistilBertConfig;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Sentence embeddings as sentence-transformers computes them for a DistilBERT-architecture model
 * (all-MiniLM-L6-v2, msmarco-distilbert-base, distiluse-base-multilingual, …): tokenize, run the
 * encoder, pool its last hidden state into one vector per text ({@link Pooling}, one mode or
 * several side by side), run any {@link Dense} layers, and optionally scale it to unit L2 norm
 * (sentence-transformers' {@code Normalize} module).
 *
 * <pre>{@code
 * try (DistilBert db = DistilBert.load(SentenceTransformerDirectory.transformerDirectory(dir), Device.AUTO)) {
 *     SentenceEmbeddings st = SentenceEmbeddings.fromPretrained(db, dir);   // modules.json's pooling, Dense, Normalize, prompts
 *     List<float[]> vectors = st.embed(List.of("A man is eating food.", "Hello world!"));
 *     List<float[]> queries = st.withPromptName("query").embed(List.of("what is eaten?"));
 * }
 * }</pre>
 *
 * <p>The pooling and the Dense layers' matrix products run on the model's backend, where the hidden
 * states are: on a GPU only [B, modes·dim] floats per batch come back to the host, not
 * [B, L, dim]. Rows run in batches of similar length ({@link LengthBatches}, about
 * {@link #batchTokens()} real tokens each), truncated {@code longest_first} to {@link #maxLength()}
 * as sentence-transformers truncates at its {@code max_seq_length}. A prompt is prepended to each
 * text as sentence-transformers prepends it (the strings joined, nothing between them).
 *
 * <p>Any DistilBERT class will do: a head's encoder is used. Immutable; the {@code with…} methods
 * return a changed copy over the same model.
 */
public final class SentenceEmbeddings {

    /**
     * sentence-transformers' {@code Pooling} modes, in the order it concatenates them; {@link #toString()}
     * is the mode's name in {@code 1_Pooling/config.json}.
     */
    public enum Pooling {
        /**
         * The hidden state of the first token whose attention mask is 1, [CLS] for right-padded rows
         * ({@code cls}); with a prompt left out of the pooling, the first token after it.
         */
        CLS("pooling_mode_cls_token"),
        /** The largest value per dimension over the tokens whose attention mask is 1 ({@code max}); -inf for none. */
        MAX("pooling_mode_max_tokens"),
        /**
         * The average of the hidden states of the tokens whose attention mask is 1, [CLS] and [SEP]
         * included ({@code mean}); zeros for a row with no such token (the mask's sum is clamped to 1e-9).
         */
        MEAN("pooling_mode_mean_tokens"),
        /** Their sum divided by the square root of their number ({@code mean_sqrt_len_tokens}). */
        MEAN_SQRT_LEN_TOKENS("pooling_mode_mean_sqrt_len_tokens"),
        /** Their average weighted by position, the token at index i weighing i + 1 ({@code weightedmean}). */
        WEIGHTEDMEAN("pooling_mode_weightedmean_tokens"),
        /** The hidden state of the last token whose attention mask is 1 ({@code lasttoken}). */
        LASTTOKEN("pooling_mode_lasttoken");

        private final String legacyFlag;

        Pooling(String legacyFlag) {
            this.legacyFlag = legacyFlag;
        }

        /**
         * The modes named in {@code names}, comma-separated, in that order (sentence-transformers'
         * names: {@code "mean"}, {@code "cls,max"}, …).
         *
         * @throws IllegalArgumentException naming a name that is no mode, and the modes there are
         */
        public static List<Pooling> parse(String names) {
            List<Pooling> modes = new java.util.ArrayList<>();
            for (String name : names.split(",", -1)) {
                String n = name.strip();
                modes.add(Arrays.stream(values()).filter(p -> p.toString().equals(n)).findFirst().orElseThrow(
                        () -> new IllegalArgumentException("pooling mode '" + n + "' is not one of "
                                + Arrays.stream(values()).map(Pooling::toString).toList())));
            }
            return modes;
        }

        /** The mode's flag in the Pooling config of sentence-transformers before 6. */
        public String legacyFlag() {
            return legacyFlag;
        }

        /** The backend's reduction for the modes that reduce over tokens (not CLS and LASTTOKEN, which gather one). */
        Ops.RowPooling rowPooling() {
            return switch (this) {
                case MEAN -> Ops.RowPooling.MEAN;
                case MEAN_SQRT_LEN_TOKENS -> Ops.RowPooling.MEAN_SQRT_LEN;
                case WEIGHTEDMEAN -> Ops.RowPooling.WEIGHTED_MEAN;
                case MAX -> Ops.RowPooling.MAX;
                case CLS, LASTTOKEN -> throw new IllegalStateException(this + " gathers a token; it does not reduce");
            };
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * sentence-transformers' similarity functions ({@code similarity_fn_name}), as {@code model.similarity}
     * scores two embeddings: larger is more similar. Computed in double, rounded once.
     */
    public enum Similarity {
        /** {@code cos_sim}: the dot product of the two vectors each divided by max(‖v‖, 1e-12). */
        COSINE,
        /** {@code dot_score}: the dot product. */
        DOT,
        /** {@code euclidean_sim}: minus the L2 distance. */
        EUCLIDEAN,
        /** {@code manhattan_sim}: minus the L1 distance. */
        MANHATTAN;

        /** The function of a {@code similarity_fn_name} ("cosine", "dot", "euclidean", "manhattan"). */
        public static Similarity named(String name) {
            for (Similarity s : values()) {
                if (s.toString().equals(name)) return s;
            }
            throw new IllegalArgumentException("similarity function '" + name + "' is not one of "
                    + Arrays.stream(values()).map(Similarity::toString).toList());
        }

        /** The score of {@code a} and {@code b}, vectors of one length. */
        public float score(float[] a, float[] b) {
            if (a.length != b.length) {
                throw new IllegalArgumentException("similarity of vectors of " + a.length + " and " + b.length + " values");
            }
            double s = 0, na = 0, nb = 0;
            for (int i = 0; i < a.length; i++) {
                double x = a[i], y = b[i];
                switch (this) {
                    case COSINE, DOT -> {
                        s += x * y;
                        na += x * x;
                        nb += y * y;
                    }
                    case EUCLIDEAN -> s += (x - y) * (x - y);
                    case MANHATTAN -> s += Math.abs(x - y);
                }
            }
            return (float) switch (this) {
                case COSINE -> s / (Math.max(Math.sqrt(na), 1e-12) * Math.max(Math.sqrt(nb), 1e-12));
                case DOT -> s;
                case EUCLIDEAN -> -Math.sqrt(s);
                case MANHATTAN -> -s;
            };
        }

        /** Every row of {@code a} against every row of {@code b}: [a.size(), b.size()], as {@code model.similarity(a, b)}. */
        public float[][] matrix(List<float[]> a, List<float[]> b) {
            float[][] out = new float[a.size()][b.size()];
            for (int i = 0; i < a.size(); i++) {
                for (int j = 0; j < b.size(); j++) {
                    out[i][j] = score(a.get(i), b.get(j));
                }
            }
            return out;
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * sentence-transformers' {@code Dense} module: {@code y = activation(x·weightᵀ + bias)}, plus
     * {@code x} (or {@code x·residualWeightᵀ} when the sizes differ) with {@code use_residual}.
     *
     * @param weight         [outFeatures, inFeatures], torch's Linear layout
     * @param bias           [outFeatures] or null
     * @param residualWeight [outFeatures, inFeatures] when residual and the sizes differ, else null
     */
    public record Dense(int inFeatures, int outFeatures, float[] weight, float[] bias, Activation activation,
                        boolean residual, float[] residualWeight) {

        /** The torch activation modules a Dense module's {@code activation_function} may name. */
        public enum Activation {
            IDENTITY("torch.nn.modules.linear.Identity"),
            TANH("torch.nn.modules.activation.Tanh"),
            RELU("torch.nn.modules.activation.ReLU"),
            GELU("torch.nn.modules.activation.GELU"),
            SIGMOID("torch.nn.modules.activation.Sigmoid"),
            SILU("torch.nn.modules.activation.SiLU");

            private final String torchName;

            Activation(String torchName) {
                this.torchName = torchName;
            }

            public String torchName() {
                return torchName;
            }

            /**
             * The activation of a class name, in full ({@code torch.nn.modules.activation.Tanh}), short
             * ({@code torch.nn.Tanh}) or plain ({@code tanh}, any case).
             *
             * @param what names the value in the error, as "FILE: activation_function"
             * @throws IllegalArgumentException naming {@code what}, the name and the activations there are
             */
            public static Activation named(String name, String what) {
                for (Activation a : values()) {
                    String simple = a.torchName.substring(a.torchName.lastIndexOf('.') + 1);
                    if (name.equals(a.torchName) || name.equals("torch.nn." + simple) || name.equalsIgnoreCase(simple)) return a;
                }
                throw new IllegalArgumentException(what + " '" + name + "' is not supported; supported: "
                        + Arrays.stream(values()).map(Activation::torchName).toList());
            }

            /** In double, rounded once, as the CPU reference computes activations. */
            public float apply(float x) {
                double v = x;
                return switch (this) {
                    case IDENTITY -> x;
                    case TANH -> (float) Math.tanh(v);
                    case RELU -> x > 0 ? x : (x != x ? x : 0f);
                    case GELU -> (float) (0.5 * v * Erf.erfc(-v / Math.sqrt(2)));
                    case SIGMOID -> (float) (1 / (1 + Math.exp(-v)));
                    case SILU -> (float) (v / (1 + Math.exp(-v)));
                };
            }
        }

        public Dense {
            if (inFeatures < 1 || outFeatures < 1) {
                throw new IllegalArgumentException("Dense: in_features " + inFeatures + " and out_features " + outFeatures
                        + " must be positive");
            }
            check("weight", weight, (long) outFeatures * inFeatures);
            if (bias != null) check("bias", bias, outFeatures);
            Objects.requireNonNull(activation, "activation");
            if (residual && inFeatures != outFeatures) {
                check("residual weight", residualWeight, (long) outFeatures * inFeatures);
            } else if (residualWeight != null) {
                throw new IllegalArgumentException("Dense: a residual weight is only for use_residual with in_features != out_features");
            }
        }

        private static void check(String what, float[] v, long n) {
            if (v == null || v.length != n) {
                throw new IllegalArgumentException("Dense: the " + what + " has " + (v == null ? "no" : v.length)
                        + " values; expected " + n);
            }
        }
    }

    /**
     * What becomes of a vector after the Dense layers, in sentence-transformers' order: the model's
     * Normalize module, the truncation to {@code truncateDim} values (0: none), then encode's
     * normalize_embeddings.
     */
    private record Output(boolean normalizeModule, int truncateDim, boolean normalize) {
        static final Output NONE = new Output(false, 0, false);

        Output withNormalize(boolean n) {
            return new Output(normalizeModule, truncateDim, n);
        }

        /** {@code v} (owned) as the output vector: normalized once where cutting it does not undo a normalization. */
        float[] apply(float[] v) {
            boolean cut = truncateDim > 0 && truncateDim < v.length;
            if (normalizeModule && (cut || !normalize)) SentenceEmbeddings.normalize(v);
            if (cut) v = Arrays.copyOf(v, truncateDim);
            if (normalize) SentenceEmbeddings.normalize(v);
            return v;
        }
    }

    private final DistilBertModel encoder;
    private final Tokenizer tokenizer;
    private final List<Pooling> pooling;
    private final List<Dense> dense;
    private final Output output;
    private final int maxLength;
    private final int batchTokens;
    private final int padId;
    private final Map<String, String> prompts;
    private final String prompt;          // prepended to every text, or null
    private final boolean includePrompt;
    private final int promptLength;       // tokens left out of the pooling: 0, or [CLS] and the prompt's
    private final Similarity similarity;

    /** Mean pooling, not normalized, texts cut to the smaller of the tokenizer's and the model's limit. */
    public SentenceEmbeddings(DistilBert model, Tokenizer tokenizer) {
        this(model.architecture().distilbert(), tokenizer, List.of(Pooling.MEAN), List.of(), Output.NONE, 0,
                LengthBatches.DEFAULT_BATCH_TOKENS, Map.of(), null, true, Similarity.COSINE);
    }

    private SentenceEmbeddings(DistilBertModel encoder, Tokenizer tokenizer, List<Pooling> pooling, List<Dense> dense,
                               Output output, int maxLength, int batchTokens, Map<String, String> prompts,
                               String prompt, boolean includePrompt, Similarity similarity) {
        encoder.checkTokenizer(tokenizer);
        DistilBertConfig config = encoder.config();
        this.encoder = encoder;
        this.tokenizer = tokenizer;
        if (pooling.isEmpty()) throw new IllegalArgumentException("pooling: give at least one mode");
        this.pooling = List.copyOf(pooling);
        this.dense = List.copyOf(dense);
        width(this.pooling, config.dim(), this.dense);
        this.output = output;
        this.maxLength = maxLength > 0 ? maxLength : Math.min(tokenizer.modelMaxLength(), config.maxPositionEmbeddings());
        this.batchTokens = batchTokens;
        this.padId = Math.max(0, tokenizer.padTokenId());
        this.prompts = Collections.unmodifiableMap(new LinkedHashMap<>(prompts));
        this.prompt = prompt == null || prompt.isEmpty() ? null : prompt;   // sentence-transformers: `if prompt:`
        this.includePrompt = includePrompt;
        this.promptLength = this.prompt == null || includePrompt ? 0 : promptTokens(this.prompt);
        this.similarity = Objects.requireNonNull(similarity, "similarity");
    }

    /**
     * The sentence-transformers model of {@code dir} ({@link SentenceTransformerDirectory}): its
     * tokenizer (lowercasing first with do_lower_case), max_seq_length, pooling modes, Dense layers,
     * Normalize, prompts and default prompt; for a plain model directory, mean pooling as
     * sentence-transformers wraps one.
     *
     * @param model the DistilBERT model of the directory's Transformer module
     *              ({@link SentenceTransformerDirectory#transformerDirectory}), on any backend
     * @throws IllegalArgumentException naming the file and the problem
     */
    public static SentenceEmbeddings fromPretrained(DistilBert model, Path dir) {
        return fromDirectory(model, SentenceTransformerDirectory.read(dir));
    }

    /** {@link #fromPretrained} over a directory already read. */
    public static SentenceEmbeddings fromDirectory(DistilBert model, SentenceTransformerDirectory st) {
        DistilBertConfig config = model.config();
        st.dimension(config.dim());
        Tokenizer tokenizer = Tokenizer.fromPretrained(st.transformer());
        if (st.doLowerCase()) tokenizer = tokenizer.withLowercase();
        int maxLength = Math.min(tokenizer.modelMaxLength(), config.maxPositionEmbeddings());
        if (st.maxSeqLength().isPresent()) maxLength = Math.min(maxLength, st.maxSeqLength().getAsInt());
        String prompt = st.defaultPromptName() == null ? null : st.prompts().get(st.defaultPromptName());
        return new SentenceEmbeddings(model.architecture().distilbert(), tokenizer, st.pooling(), st.dense(),
                new Output(st.normalize(), st.truncateDim(), false), maxLength, LengthBatches.DEFAULT_BATCH_TOKENS, st.prompts(),
                prompt, st.includePrompt(),
                st.similarityFnName() == null ? Similarity.COSINE : Similarity.named(st.similarityFnName()));
    }

    /**
     * The vectors' length after {@code pooling} over hidden states of size {@code dim} and the
     * {@code dense} layers: the last one's out_features, else modes × dim.
     *
     * @throws IllegalArgumentException when a Dense layer does not take the vectors before it
     */
    static int width(List<Pooling> pooling, int dim, List<Dense> dense) {
        int width = pooling.size() * dim;
        for (int i = 0; i < dense.size(); i++) {
            Dense d = dense.get(i);
            if (d.inFeatures() != width) {
                throw new IllegalArgumentException((i == 0 ? "the first Dense module takes vectors of " + d.inFeatures()
                        + " values but the pooling "
                        + String.join(",", pooling.stream().map(Pooling::toString).toList()) + " gives " + width + " (" + pooling.size()
                        + (pooling.size() == 1 ? " mode" : " modes") + " of dim " + dim + ")"
                        : "Dense module " + (i + 1) + " takes vectors of " + d.inFeatures() + " values but the one before it gives "
                        + width));
            }
            width = d.outFeatures();
        }
        return width;
    }

    /** One pooling mode. */
    public SentenceEmbeddings withPooling(Pooling p) {
        return withPooling(List.of(p));
    }

    /** Several pooling modes, their vectors side by side in this order (the Dense layers must take that width). */
    public SentenceEmbeddings withPooling(List<Pooling> modes) {
        return new SentenceEmbeddings(encoder, tokenizer, modes, dense, output, maxLength, batchTokens, prompts, prompt,
                includePrompt, similarity);
    }

    /** Dense layers after the pooling, in order (none: the pooled vectors as they are). */
    public SentenceEmbeddings withDense(List<Dense> layers) {
        return new SentenceEmbeddings(encoder, tokenizer, pooling, layers, output, maxLength, batchTokens, prompts,
                prompt, includePrompt, similarity);
    }

    /**
     * With {@code true}, each vector is divided by max(‖v‖, 1e-12), as torch's {@code F.normalize}
     * ({@code encode}'s normalize_embeddings): after the truncation, if any, so that the vectors
     * are unit vectors of {@link #dimension()} values.
     */
    public SentenceEmbeddings withNormalize(boolean n) {
        return new SentenceEmbeddings(encoder, tokenizer, pooling, dense, output.withNormalize(n), maxLength, batchTokens,
                prompts, prompt, includePrompt, similarity);
    }

    /**
     * The vectors cut to their first {@code n} values ({@code encode}'s truncate_dim, for Matryoshka
     * models): after the Dense layers and the model's Normalize module, before {@link #withNormalize}'s
     * normalization; 0: not cut. An {@code n} past the width leaves the vectors whole, as
     * sentence-transformers does.
     *
     * @throws IllegalArgumentException when n is negative
     */
    public SentenceEmbeddings withTruncateDim(int n) {
        if (n < 0) throw new IllegalArgumentException("truncate dim must be positive (or 0: none), got " + n);
        return new SentenceEmbeddings(encoder, tokenizer, pooling, dense, new Output(output.normalizeModule(), n,
                output.normalize()), maxLength, batchTokens, prompts, prompt, includePrompt, similarity);
    }

    /** Texts are cut to {@code n} tokens, [CLS] and [SEP] included (sentence-transformers' max_seq_length). */
    public SentenceEmbeddings withMaxLength(int n) {
        return new SentenceEmbeddings(encoder, tokenizer, pooling, dense, output,
                LengthBatches.checkMaxLength(n, encoder.config()), batchTokens, prompts, prompt, includePrompt, similarity);
    }

    public SentenceEmbeddings withBatchTokens(int n) {
        return new SentenceEmbeddings(encoder, tokenizer, pooling, dense, output, maxLength,
                LengthBatches.checkBatchTokens(n), prompts, prompt, includePrompt, similarity);
    }

    /**
     * A prompt prepended to every text, as {@code encode(texts, prompt=...)} prepends it; null or
     * empty for none (this also drops a default prompt).
     */
    public SentenceEmbeddings withPrompt(String text) {
        return new SentenceEmbeddings(encoder, tokenizer, pooling, dense, output, maxLength, batchTokens, prompts, text,
                includePrompt, similarity);
    }

    /**
     * The prompt of that name ({@code encode(texts, prompt_name=...)}).
     *
     * @throws IllegalArgumentException listing the prompts there are, when there is none of that name
     */
    public SentenceEmbeddings withPromptName(String name) {
        return withPrompt(SentenceTransformerDirectory.prompt(prompts, name));
    }

    /**
     * For queries, as {@code encode_query}: with the prompt named "query" when the model has one,
     * else this (its prompt, if any, unchanged).
     */
    public SentenceEmbeddings forQueries() {
        return prompts.containsKey("query") ? withPromptName("query") : this;
    }

    /**
     * For documents, as {@code encode_document}: with the first of the prompts named "document",
     * "passage" and "corpus" that the model has, else this (its prompt, if any, unchanged).
     */
    public SentenceEmbeddings forDocuments() {
        String name = documentPromptName(prompts);
        return name == null ? this : withPromptName(name);
    }

    /** The first of "document", "passage" and "corpus" among {@code prompts}' names, or null: encode_document's prompt. */
    public static String documentPromptName(Map<String, String> prompts) {
        return DOCUMENT_PROMPTS.stream().filter(prompts::containsKey).findFirst().orElse(null);
    }

    /** The prompt names {@link #forDocuments} looks for, in order (sentence-transformers' encode_document). */
    public static final List<String> DOCUMENT_PROMPTS = List.of("document", "passage", "corpus");

    /** With {@code false}, a prompt's tokens ([CLS] included) are left out of the pooling (the Pooling module's include_prompt). */
    public SentenceEmbeddings withIncludePrompt(boolean include) {
        return new SentenceEmbeddings(encoder, tokenizer, pooling, dense, output, maxLength, batchTokens, prompts, prompt,
                include, similarity);
    }

    /** Scores with {@code f} ({@link #similarity(float[], float[])}). */
    public SentenceEmbeddings withSimilarity(Similarity f) {
        return new SentenceEmbeddings(encoder, tokenizer, pooling, dense, output, maxLength, batchTokens, prompts, prompt,
                includePrompt, f);
    }

    /** The model's similarity function (config_sentence_transformers.json's similarity_fn_name; cosine when not given). */
    public Similarity similarity() {
        return similarity;
    }

    /** The similarity of two embeddings, as {@code model.similarity} scores them. */
    public float similarity(float[] a, float[] b) {
        return similarity.score(a, b);
    }

    /** Every embedding of {@code a} against every one of {@code b}, [a.size(), b.size()], as {@code model.similarity(a, b)}. */
    public float[][] similarity(List<float[]> a, List<float[]> b) {
        return similarity.matrix(a, b);
    }

    /** The first pooling mode (the only one, unless several were asked for). */
    public Pooling pooling() {
        return pooling.getFirst();
    }

    /** Every pooling mode, in the order their vectors are concatenated. */
    public List<Pooling> poolings() {
        return pooling;
    }

    public List<Dense> dense() {
        return dense;
    }

    /** Whether the vectors are normalized after the truncation ({@link #withNormalize}). */
    public boolean normalize() {
        return output.normalize();
    }

    /** Whether the model ends with a Normalize module (applied before the truncation). */
    public boolean normalizeModule() {
        return output.normalizeModule();
    }

    /** The width the vectors are cut to ({@link #withTruncateDim}); 0: not cut. */
    public int truncateDim() {
        return output.truncateDim();
    }

    public int maxLength() {
        return maxLength;
    }

    public int batchTokens() {
        return batchTokens;
    }

    /** The prompt prepended to every text, or null. */
    public String prompt() {
        return prompt;
    }

    /** The model's prompts by name (config_sentence_transformers.json's), in file order. */
    public Map<String, String> prompts() {
        return prompts;
    }

    public boolean includePrompt() {
        return includePrompt;
    }

    /** The tokenizer the texts go through (lowercasing first where the model asks for it). */
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /**
     * The vectors' length: the last Dense layer's out_features, else the number of pooling modes ×
     * the model's dim; at most {@link #truncateDim()}.
     */
    public int dimension() {
        int width = dense.isEmpty() ? pooling.size() * encoder.config().dim() : dense.getLast().outFeatures();
        return output.truncateDim() > 0 ? Math.min(width, output.truncateDim()) : width;
    }

    public EncodeOptions encodeOptions() {
        return new EncodeOptions(true, Truncation.longestFirst(maxLength), null);
    }

    /** The text as it is tokenized: the prompt, if any, then the text. */
    public String prompted(String text) {
        return prompt == null ? text : prompt + text;
    }

    /** The rows the model runs on: each text with the prompt before it, tokenized and truncated. */
    public List<Encoding> encode(List<String> texts) {
        List<String> prompted = texts.stream().map(this::prompted).toList();
        return tokenizer.encodeBatch(prompted, Arrays.asList(new String[texts.size()]), encodeOptions());
    }

    public float[] embed(String text) {
        return embedEncodings(encode(List.of(text))).getFirst();
    }

    /** One vector per text, in order. */
    public List<float[]> embed(List<String> texts) {
        return embedEncodings(encode(texts));
    }

    public List<float[]> embedEncodings(List<Encoding> encodings) {
        return embedEncodings(encodings, LengthBatches.Listener.NONE);
    }

    /**
     * Rows already tokenized ({@link #encode}: the prompt is not added here), run in batches of
     * similar length; {@code listener} hears of each batch. One vector per row, in order.
     *
     * @throws IllegalArgumentException naming the first row longer than max_position_embeddings
     */
    public List<float[]> embedEncodings(List<Encoding> encodings, LengthBatches.Listener listener) {
        LengthBatches.checkRowLengths(encodings, encoder.config().maxPositionEmbeddings());
        float[][] out = new float[encodings.size()][];
        LengthBatches.forEach(encodings, batchTokens, padId, listener, (rows, input, tokens) -> {
            float[][] batch = embedBatch(input);
            for (int b = 0; b < rows.length; b++) {
                out[rows[b]] = batch[b];
            }
        });
        return Arrays.asList(out);
    }

    /** One forward pass over a padded batch [B, L]: B vectors in row order. */
    public float[][] embedBatch(ModelInput input) {
        Tensor pooled = encoder.pool(input, pooling, promptLength);                    // (B, k·C)
        int B = pooled.dim(0);
        float[] x = pooled.data();
        int width = pooled.dim(1);
        for (Dense d : dense) {
            x = dense(d, x, B);
            width = d.outFeatures();
        }
        float[][] out = new float[B][];
        for (int b = 0; b < B; b++) {
            out[b] = output.apply(Arrays.copyOfRange(x, b * width, (b + 1) * width));
        }
        return out;
    }

    /** A Dense layer over [B, in]: the matrix products on the model's backend, the activation and residual here. */
    private float[] dense(Dense d, float[] x, int B) {
        Ops ops = encoder.ops();
        int in = d.inFeatures(), outF = d.outFeatures();
        float[] y, projected = null;
        try (Ops.Scope scope = ops.scope()) {
            Buffer input = ops.bufferOf(x);
            Buffer out = ops.allocateUninitialized((long) B * outF);
            ops.matmulForward(out, input, ops.bufferOf(d.weight()), d.bias() == null ? null : ops.bufferOf(d.bias()), B, in,
                    outF);
            y = ops.download(out);
            if (d.residualWeight() != null) {
                Buffer r = ops.allocateUninitialized((long) B * outF);
                ops.matmulForward(r, input, ops.bufferOf(d.residualWeight()), null, B, in, outF);
                projected = ops.download(r);
            }
        }
        for (int i = 0; i < y.length; i++) {
            y[i] = d.activation().apply(y[i]);
            if (d.residual()) {
                y[i] += projected != null ? projected[i] : x[i];
            }
        }
        return y;
    }

    /** [CLS] and the prompt's tokens: the prompt alone tokenized, less a trailing special token ([SEP]). */
    private int promptTokens(String text) {
        Encoding e = tokenizer.encode(text, null, encodeOptions());
        int n = e.length();
        return n > 0 && e.specialTokensMask()[n - 1] == 1 ? n - 1 : n;
    }

    /**
     * L2 normalization in place, as torch's {@code F.normalize(x, p=2, dim=1)} (sentence-transformers'
     * Normalize): x / max(‖x‖, 1e-12) in double, rounded once, so a zero vector stays zero.
     */
    public static void normalize(float[] v) {
        double sq = 0;
        for (float x : v) {
            sq += (double) x * x;
        }
        double norm = Math.max(Math.sqrt(sq), 1e-12);
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (v[i] / norm);
        }
    }
}
