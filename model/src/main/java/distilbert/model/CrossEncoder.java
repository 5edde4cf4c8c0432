package distilbert.model;

import com.fasterxml.jackson.databind.JsonNode;
import distilbert.model.SentenceEmbeddings.Dense.Activation;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.DistilBertConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * sentence-transformers' {@code CrossEncoder} on a {@link DistilBertForSequenceClassification}: each
 * (query, document) pair runs through the model together and gets a score, for reranking what a
 * {@link SemanticSearch} (or any first stage) found. {@link #predict} is {@code CrossEncoder.predict},
 * {@link #rank} is {@code CrossEncoder.rank}, with the numbers sentence-transformers gives.
 *
 * <pre>{@code
 * try (DistilBert db = DistilBert.load(dir, Device.AUTO)) {
 *     CrossEncoder reranker = CrossEncoder.fromPretrained(db, dir);
 *     reranker.rank("how old is the universe?", documents, 3);   // the three best: corpus_id, score, text
 *     reranker.predict("how old is the universe?", documents.get(0));  // [num_labels] scores
 * }
 * }</pre>
 *
 * <p>Steps: the prompt, if any, is prepended to the first text of each pair; each pair is tokenized
 * {@code [CLS] first [SEP] second [SEP]}, truncated {@code longest_first} to {@link #maxLength()};
 * the model runs in batches of pairs of similar length; {@link #activation()} is applied to each
 * logit, then, with {@link #withSoftmax}, the softmax over the labels. The activation is the
 * directory's ({@link Directory}): sentence-transformers 6 keeps it in
 * {@code config_sentence_transformers.json} ({@code activation_fn}), 4 and 5 in config.json's
 * {@code sentence_transformers} entry, older versions in {@code sbert_ce_default_activation_function};
 * without one it is Sigmoid for a model of one label and Identity for more, as sentence-transformers
 * chooses. Scores are computed in double from the float32 logits and rounded once.
 *
 * <p>Immutable; the {@code with…} methods return a changed copy over the same model.
 */
public final class CrossEncoder {

    /** One ranked document: its index in the documents given, its score, and its text. */
    public record Hit(int corpusId, float score, String text) {
    }

    /**
     * What a cross-encoder directory says beside its model: sentence-transformers' files as
     * {@code CrossEncoder(dir)} reads them, or a plain HuggingFace sequence-classification directory.
     *
     * @param transformer       the directory of the DistilBERT model and its tokenizer (the Transformer
     *                          module's path; the directory itself for a plain one)
     * @param maxSeqLength      sentence_bert_config.json's max_seq_length, if given
     * @param doLowerCase       sentence_bert_config.json's do_lower_case
     * @param activation        the stored activation, or null: the default for the number of labels
     * @param activationSource  where {@code activation} was read ("FILE: key"), or null
     * @param prompts           prompt names to texts (config_sentence_transformers.json)
     * @param defaultPromptName the prompt applied when none is asked for, or null
     */
    public record Directory(Path dir, Path transformer, OptionalInt maxSeqLength, boolean doLowerCase, Activation activation,
                            String activationSource, Map<String, String> prompts, String defaultPromptName) {

        /** config_sentence_transformers.json's model_type for a cross-encoder. */
        public static final String MODEL_TYPE = "CrossEncoder";

        public Directory {
            prompts = Collections.unmodifiableMap(new LinkedHashMap<>(prompts));
        }

        /** Whether config_sentence_transformers.json calls {@code dir} a CrossEncoder. */
        public static boolean isCrossEncoder(Path dir) {
            return MODEL_TYPE.equals(SentenceTransformerDirectory.modelType(dir));
        }

        /**
         * Reads {@code dir}.
         *
         * @throws IllegalArgumentException naming the file: a sentence-transformers directory of another
         *         kind (an embedding model, with a Pooling module), modules after the Transformer, an
         *         activation this library does not have, a bad max_seq_length or prompt
         */
        public static Directory read(Path dir) {
            Path modelConfig = dir.resolve(SentenceTransformerDirectory.MODEL_CONFIG_FILE);
            JsonNode stConfig = Files.isRegularFile(modelConfig) ? SentenceTransformerDirectory.readJson(modelConfig) : null;
            String type = stConfig == null ? null : stConfig.path("model_type").asText(null);
            if (type != null && !type.equals(MODEL_TYPE)) {
                throw new IllegalArgumentException(modelConfig + ": model_type is " + type + ", not " + MODEL_TYPE
                        + (type.equals("SentenceTransformer") ? " (an embedding model: embed or search with it)" : ""));
            }
            Path transformer = dir;
            if (SentenceTransformerDirectory.isSentenceTransformer(dir)) {
                Path modulesFile = dir.resolve(SentenceTransformerDirectory.MODULES_FILE);
                JsonNode modules = SentenceTransformerDirectory.readJson(modulesFile);
                JsonNode entry = SentenceTransformerDirectory.transformerEntry(modules, modulesFile);
                if (modules.size() > 1) {
                    throw new IllegalArgumentException(modulesFile + ": a cross-encoder is one Transformer module, but module 1 is "
                            + modules.get(1).path("type").asText("?")
                            + (type == null ? " (a sentence embedding model: embed or search with it)" : ""));
                }
                transformer = dir.resolve(entry.path("path").asText(""));
            }
            SentenceTransformerDirectory.TransformerConfig t = SentenceTransformerDirectory.readTransformerConfig(transformer);
            Map<String, String> prompts = new LinkedHashMap<>();
            String[] defaults = new String[2];
            SentenceTransformerDirectory.readModelConfig(dir, prompts, defaults);
            Activation activation = null;
            String source = null;
            if (stConfig != null && stConfig.hasNonNull("activation_fn")) {
                source = modelConfig + ": activation_fn";
                activation = Activation.named(stConfig.get("activation_fn").asText(), source);
            } else {
                Path configFile = transformer.resolve("config.json");
                JsonNode config = Files.isRegularFile(configFile) ? SentenceTransformerDirectory.readJson(configFile) : null;
                if (config != null && config.path("sentence_transformers").hasNonNull("activation_fn")) {
                    source = configFile + ": sentence_transformers.activation_fn";
                    activation = Activation.named(config.get("sentence_transformers").get("activation_fn").asText(), source);
                } else if (config != null && config.hasNonNull("sbert_ce_default_activation_function")) {
                    source = configFile + ": sbert_ce_default_activation_function";
                    activation = Activation.named(config.get("sbert_ce_default_activation_function").asText(), source);
                }
            }
            return new Directory(dir, transformer, t.maxSeqLength(), t.doLowerCase(), activation, source, prompts, defaults[0]);
        }
    }

    private final TextClassification classifier;     // Function.NONE: the logits
    private final int numLabels;
    private final Activation activation;
    private final boolean softmax;
    private final Map<String, String> prompts;
    private final String prompt;

    private CrossEncoder(TextClassification classifier, Activation activation, boolean softmax, Map<String, String> prompts,
                         String prompt) {
        this.classifier = classifier;
        this.numLabels = classifier.model().config().numLabels();
        this.activation = activation != null ? activation : defaultActivation(numLabels);
        if (softmax && numLabels == 1) {
            throw new IllegalArgumentException("softmax over a model of one label gives 1 for every pair; it is for models "
                    + "of several labels");
        }
        this.softmax = softmax;
        this.prompts = Collections.unmodifiableMap(new LinkedHashMap<>(prompts));
        this.prompt = prompt == null || prompt.isEmpty() ? null : prompt;
    }

    /**
     * A cross-encoder with sentence-transformers' defaults for a model without its files: the
     * default activation, no prompts, pairs cut to the smaller of the tokenizer's
     * {@code model_max_length} and {@code max_position_embeddings}.
     *
     * @throws IllegalStateException    when the model is not a DistilBertForSequenceClassification
     * @throws IllegalArgumentException when the tokenizer has more tokens than the model's vocab_size
     */
    public CrossEncoder(DistilBert model, Tokenizer tokenizer) {
        this(new TextClassification(model, tokenizer).withFunction(TextClassification.Function.NONE), null, false, Map.of(), null);
    }

    /**
     * The cross-encoder of {@code dir} ({@link Directory}): its tokenizer (lowercasing first with
     * do_lower_case), max length (max_seq_length, else the tokenizer's model_max_length, at most
     * max_position_embeddings), activation, prompts and default prompt.
     *
     * @param model the DistilBertForSequenceClassification of the directory's Transformer module
     * @throws IllegalArgumentException naming the file and the problem
     * @throws IllegalStateException    when the model is not a DistilBertForSequenceClassification
     */
    public static CrossEncoder fromPretrained(DistilBert model, Path dir) {
        return fromDirectory(model, Directory.read(dir));
    }

    /** {@link #fromPretrained} over a directory already read. */
    public static CrossEncoder fromDirectory(DistilBert model, Directory d) {
        Tokenizer tokenizer = Tokenizer.fromPretrained(d.transformer());
        if (d.doLowerCase()) tokenizer = tokenizer.withLowercase();
        TextClassification classifier = new TextClassification(model, tokenizer).withFunction(TextClassification.Function.NONE);
        if (d.maxSeqLength().isPresent()) {
            classifier = classifier.withMaxLength(Math.min(classifier.maxLength(), d.maxSeqLength().getAsInt()));
        }
        String prompt = d.defaultPromptName() == null ? null : d.prompts().get(d.defaultPromptName());
        return new CrossEncoder(classifier, d.activation(), false, d.prompts(), prompt);
    }

    /** sentence-transformers' default: Sigmoid for a model of one label, Identity for more. */
    public static Activation defaultActivation(int numLabels) {
        return numLabels == 1 ? Activation.SIGMOID : Activation.IDENTITY;
    }

    /** The same cross-encoder applying {@code a} to the logits; null: the default for the number of labels. */
    public CrossEncoder withActivation(Activation a) {
        return new CrossEncoder(classifier, a, softmax, prompts, prompt);
    }

    /**
     * The same cross-encoder with the softmax over the labels after the activation (predict's
     * {@code apply_softmax}).
     *
     * @throws IllegalArgumentException for a model of one label, where it would give 1 for every pair
     */
    public CrossEncoder withSoftmax(boolean on) {
        return new CrossEncoder(classifier, activation, on, prompts, prompt);
    }

    /** The same cross-encoder prepending {@code text} to the first text of each pair; null or "": none. */
    public CrossEncoder withPrompt(String text) {
        return new CrossEncoder(classifier, activation, softmax, prompts, text);
    }

    /**
     * The same cross-encoder with the prompt of that name.
     *
     * @throws IllegalArgumentException naming the prompts there are, when there is none of that name
     */
    public CrossEncoder withPromptName(String name) {
        return withPrompt(SentenceTransformerDirectory.prompt(prompts, name));
    }

    /**
     * The same cross-encoder cutting pairs to {@code n} tokens, special tokens included.
     *
     * @throws IllegalArgumentException unless 2 ≤ n ≤ max_position_embeddings
     */
    public CrossEncoder withMaxLength(int n) {
        return new CrossEncoder(classifier.withMaxLength(n), activation, softmax, prompts, prompt);
    }

    /** The same cross-encoder running batches of about {@code n} real tokens. */
    public CrossEncoder withBatchTokens(int n) {
        return new CrossEncoder(classifier.withBatchTokens(n), activation, softmax, prompts, prompt);
    }

    public Activation activation() {
        return activation;
    }

    public boolean softmax() {
        return softmax;
    }

    public int numLabels() {
        return numLabels;
    }

    public int maxLength() {
        return classifier.maxLength();
    }

    public int batchTokens() {
        return classifier.batchTokens();
    }

    /** Prompt names to texts. */
    public Map<String, String> prompts() {
        return prompts;
    }

    /** The prompt prepended to each pair's first text, or null. */
    public String prompt() {
        return prompt;
    }

    public Tokenizer tokenizer() {
        return classifier.tokenizer();
    }

    public DistilBertConfig config() {
        return classifier.model().config();
    }

    /** How pairs are tokenized: special tokens, {@code longest_first} truncation to {@link #maxLength()}. */
    public EncodeOptions encodeOptions() {
        return classifier.encodeOptions();
    }

    /** The scores of one pair: [num_labels]. */
    public float[] predict(String first, String second) {
        return predict(List.of(first), List.of(second)).getFirst();
    }

    /**
     * The scores of each pair (firsts[i], seconds[i]), [num_labels] each, in input order. Tokenized on
     * all cores, then run in batches by length.
     *
     * @throws IllegalArgumentException when the lists differ in length or hold null
     */
    public List<float[]> predict(List<String> firsts, List<String> seconds) {
        return predictEncodings(encode(firsts, seconds), LengthBatches.Listener.NONE);
    }

    /**
     * Tokenizes pairs as {@link #predict(List, List)} does (the prompt prepended to each first text);
     * {@link Encoding#overflowing()} is non-empty where a pair was cut.
     */
    public List<Encoding> encode(List<String> firsts, List<String> seconds) {
        if (firsts.size() != seconds.size()) {
            throw new IllegalArgumentException(firsts.size() + " first texts but " + seconds.size() + " second texts");
        }
        List<String> a = new ArrayList<>(firsts.size());
        for (int i = 0; i < firsts.size(); i++) {
            String first = Objects.requireNonNull(firsts.get(i), "first text " + i);
            Objects.requireNonNull(seconds.get(i), "second text " + i);
            a.add(prompt == null ? first : prompt + first);
        }
        return classifier.encode(a, seconds);
    }

    /**
     * Pairs already tokenized, run in batches of similar length; {@code listener} hears of each
     * batch. The scores in input order, [num_labels] each.
     *
     * @throws IllegalArgumentException naming the row when one is longer than max_position_embeddings
     */
    public List<float[]> predictEncodings(List<Encoding> encodings, LengthBatches.Listener listener) {
        List<TextClassification.Result> results = classifier.classifyEncodings(encodings, listener);
        List<float[]> out = new ArrayList<>(results.size());
        for (TextClassification.Result r : results) out.add(scores(r.logits()));
        return out;
    }

    /** The scores of one pair's logits [num_labels]: the activation, then the softmax if on; a fresh array. */
    public float[] scores(float[] logits) {
        float[] s = new float[logits.length];
        for (int i = 0; i < s.length; i++) s[i] = activation.apply(logits[i]);
        return softmax ? TextClassification.Function.SOFTMAX.apply(s) : s;
    }

    /**
     * The documents ranked by the score of (query, document), best first, at most {@code topK}
     * (all: {@link Integer#MAX_VALUE}); equal scores in document order, as sentence-transformers'
     * stable sort leaves them.
     *
     * @throws IllegalStateException    for a model of more than one label (sentence-transformers refuses it too)
     * @throws IllegalArgumentException when topK &lt; 1
     */
    public List<Hit> rank(String query, List<String> documents, int topK) {
        checkRankable();
        List<Encoding> pairs = encode(Collections.nCopies(documents.size(), query), documents);
        return rankEncodings(pairs, new int[] {documents.size()}, List.of(documents), topK, LengthBatches.Listener.NONE)
                .getFirst();
    }

    /**
     * Many queries' rankings at once, their pairs run together in batches by length: {@code pairs}
     * holds {@code numDocuments[q]} consecutive (query, document) pairs for query q, tokenized as
     * {@link #encode} does; {@code documents}, when not null, the texts the hits carry. After each
     * batch {@code listener} hears how many queries it finished (those whose last pair it ran; a
     * query of no documents is finished first) and how many tokens it ran.
     *
     * @throws IllegalStateException    for a model of more than one label
     * @throws IllegalArgumentException when the pairs are not as many as the documents, topK &lt; 1, or
     *                                  a pair is longer than max_position_embeddings (naming it)
     */
    public List<List<Hit>> rankEncodings(List<Encoding> pairs, int[] numDocuments, List<List<String>> documents, int topK,
                                         LengthBatches.Listener listener) {
        checkRankable();
        if (topK < 1) throw new IllegalArgumentException("topK must be at least 1, got " + topK);
        long total = 0;
        int empty = 0;
        for (int n : numDocuments) {
            if (n < 0) throw new IllegalArgumentException("a query of " + n + " documents");
            total += n;
            if (n == 0) empty++;
        }
        if (total != pairs.size()) throw new IllegalArgumentException(pairs.size() + " pairs for " + total + " documents");
        if (documents != null && documents.size() != numDocuments.length) {
            throw new IllegalArgumentException(documents.size() + " document lists for " + numDocuments.length + " queries");
        }
        LengthBatches.checkRowLengths(pairs, config().maxPositionEmbeddings());
        float[] scores = new float[pairs.size()];
        int[] queryOf = new int[pairs.size()], left = numDocuments.clone();
        for (int q = 0, r = 0; q < numDocuments.length; q++) {
            for (int d = 0; d < numDocuments[q]; d++) queryOf[r++] = q;
        }
        if (empty > 0) listener.advance(empty, 0);
        LengthBatches.forEach(pairs, classifier.batchTokens(), Math.max(0, tokenizer().padTokenId()), LengthBatches.Listener.NONE,
                (indices, input, tokens) -> {
                    List<TextClassification.Result> batch = classifier.classifyBatch(input);
                    int done = 0;
                    for (int b = 0; b < indices.length; b++) {
                        scores[indices[b]] = scores(batch.get(b).logits())[0];
                        if (--left[queryOf[indices[b]]] == 0) done++;
                    }
                    listener.advance(done, tokens);
                });
        List<List<Hit>> out = new ArrayList<>(numDocuments.length);
        for (int q = 0, from = 0; q < numDocuments.length; q++) {
            float[] s = java.util.Arrays.copyOfRange(scores, from, from + numDocuments[q]);
            from += numDocuments[q];
            out.add(ranking(s, documents == null ? null : documents.get(q), topK));
        }
        return out;
    }

    /**
     * {@code scores[i]}, the score of document i, as a ranking: best first, at most {@code topK},
     * each with its document's text ({@code documents} may be null: no texts).
     */
    public static List<Hit> ranking(float[] scores, List<String> documents, int topK) {
        if (topK < 1) throw new IllegalArgumentException("topK must be at least 1, got " + topK);
        int[] order = Ranking.top(scores, topK);
        List<Hit> hits = new ArrayList<>(order.length);
        for (int i : order) hits.add(new Hit(i, scores[i], documents == null ? null : documents.get(i)));
        return hits;
    }

    /** @throws IllegalStateException unless the model has one label, as {@link #rank} needs */
    public void checkRankable() {
        if (numLabels != 1) {
            throw new IllegalStateException("ranking needs a model of one label (a relevance score), but this one has "
                    + numLabels + " (" + String.join(", ", config().id2label().values()) + ")");
        }
    }
}
