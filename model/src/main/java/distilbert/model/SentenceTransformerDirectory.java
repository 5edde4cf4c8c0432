package distilbert.model;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.model.SentenceEmbeddings.Dense;
import distilbert.model.SentenceEmbeddings.Pooling;
import distilbert.weights.CheckpointException;
import distilbert.weights.ModelDirectory;
import distilbert.weights.NamedTensor;
import distilbert.weights.TensorSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A sentence-transformers model directory, as {@code SentenceTransformer(dir)} reads it:
 * {@code modules.json} lists the modules in order, a {@code Transformer} (the DistilBERT model and
 * its tokenizer, in the directory itself or a subfolder such as {@code 0_Transformer}, with
 * {@code sentence_bert_config.json}), a {@code Pooling} ({@code 1_Pooling/config.json}, in
 * sentence-transformers 6's {@code pooling_mode} form or the older {@code pooling_mode_*} flags),
 * then any {@code Dense} modules (their {@code config.json} and {@code linear.weight},
 * {@code linear.bias}, {@code residual.weight} in {@code model.safetensors} or
 * {@code pytorch_model.bin}) and a final {@code Normalize}; {@code config_sentence_transformers.json}
 * holds the prompts, the default prompt's name and the similarity function's name.
 *
 * <p>A directory without {@code modules.json} is a plain HuggingFace model, which
 * sentence-transformers wraps in mean pooling: {@link #read} answers that too, with the
 * {@code max_seq_length} of a {@code sentence_bert_config.json} if there is one.
 *
 * @param transformer      the directory of the DistilBERT model and its tokenizer
 * @param maxSeqLength     sentence_bert_config.json's max_seq_length, if given
 * @param doLowerCase      sentence_bert_config.json's do_lower_case: texts are lowercased before the
 *                         tokenizer's own normalization
 * @param pooling          the Pooling module's modes, in the order their vectors are concatenated
 * @param poolingDimension the Pooling module's embedding_dimension (the model's dim), or 0 when not given
 * @param includePrompt    false: a prompt's tokens are left out of the pooling
 * @param dense            the Dense modules, in order
 * @param normalize        whether a Normalize module ends the model
 * @param prompts          prompt names to prompt texts
 * @param defaultPromptName the prompt applied when none is asked for, or null
 * @param similarityFnName "cosine", "dot", "euclidean" or "manhattan", or null when not given
 * @param truncateDim      config_sentence_transformers.json's truncate_dim: the vectors are cut to their
 *                         first truncateDim values after the Normalize module (Matryoshka models); 0: not cut
 */
public record SentenceTransformerDirectory(Path dir, Path transformer, OptionalInt maxSeqLength, boolean doLowerCase,
                                           List<Pooling> pooling, int poolingDimension, boolean includePrompt,
                                           List<Dense> dense, boolean normalize, Map<String, String> prompts,
                                           String defaultPromptName, String similarityFnName, int truncateDim) {

    public static final String MODULES_FILE = "modules.json";
    public static final String TRANSFORMER_CONFIG_FILE = "sentence_bert_config.json";
    public static final String MODEL_CONFIG_FILE = "config_sentence_transformers.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    public SentenceTransformerDirectory {
        pooling = List.copyOf(pooling);
        dense = List.copyOf(dense);
        prompts = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(prompts));
    }

    /** Whether {@code dir} is a sentence-transformers directory (it has modules.json). */
    public static boolean isSentenceTransformer(Path dir) {
        return Files.isRegularFile(dir.resolve(MODULES_FILE));
    }

    /**
     * The directory that holds the DistilBERT model of {@code dir}: its Transformer module's path
     * when {@code dir} has a modules.json, else {@code dir} itself.
     */
    public static Path transformerDirectory(Path dir) {
        if (!isSentenceTransformer(dir)) return dir;
        JsonNode modules = readJson(dir.resolve(MODULES_FILE));
        return dir.resolve(transformerEntry(modules, dir.resolve(MODULES_FILE)).path("path").asText(""));
    }

    /**
     * Reads the directory's modules (a plain model directory as sentence-transformers wraps it:
     * mean pooling).
     *
     * @throws IllegalArgumentException naming the file and what is wrong: a module
     *         sentence-transformers has that this library does not run (LSTM, CNN, …), a pooling
     *         mode, dimensions that do not chain, a Dense weight of the wrong shape
     * @throws UncheckedIOException when a file cannot be read
     */
    public static SentenceTransformerDirectory read(Path dir) {
        if (CrossEncoder.Directory.isCrossEncoder(dir)) {
            throw new IllegalArgumentException(dir + " is a sentence-transformers CrossEncoder (" + MODEL_CONFIG_FILE
                    + ": model_type), which scores (query, document) pairs rather than embedding texts: rerank with it");
        }
        if (SparseEmbeddings.Directory.isSparseEncoder(dir)) {
            throw new IllegalArgumentException(dir + " is a sentence-transformers SparseEncoder (SPLADE), whose embeddings are "
                    + "sparse vocabulary weights (SparseEmbeddings; `distilbert embed` writes them), not dense vectors");
        }
        Map<String, String> prompts = new LinkedHashMap<>();
        String[] defaults = new String[2];
        readModelConfig(dir, prompts, defaults);
        if (!isSentenceTransformer(dir)) {
            TransformerConfig t = readTransformerConfig(dir);
            return new SentenceTransformerDirectory(dir, dir, t.maxSeqLength, t.doLowerCase, List.of(Pooling.MEAN), 0,
                    true, List.of(), false, prompts, defaults[0], defaults[1], readTruncateDim(dir));
        }
        Path modulesFile = dir.resolve(MODULES_FILE);
        JsonNode modules = readJson(modulesFile);
        Path transformer = dir.resolve(transformerEntry(modules, modulesFile).path("path").asText(""));
        TransformerConfig t = readTransformerConfig(transformer);
        List<Pooling> pooling = null;
        int poolingDimension = 0, width = 0;
        boolean includePrompt = true, normalize = false;
        List<Dense> dense = new ArrayList<>();
        for (int i = 1; i < modules.size(); i++) {
            JsonNode m = modules.get(i);
            String type = moduleType(m, modulesFile, i);
            Path path = dir.resolve(m.path("path").asText(""));
            String where = modulesFile + ": module " + i + " (" + m.path("type").asText() + " at '"
                    + m.path("path").asText("") + "')";
            if (normalize) {
                throw new IllegalArgumentException(where + " follows Normalize; only a final Normalize is supported");
            }
            switch (type) {
                case "Pooling" -> {
                    if (pooling != null) throw new IllegalArgumentException(where + ": a second Pooling module");
                    Path file = path.resolve("config.json");
                    JsonNode cfg = readJson(file);
                    pooling = poolingModes(cfg, file);
                    JsonNode d = cfg.has("embedding_dimension") ? cfg.get("embedding_dimension")
                            : cfg.get("word_embedding_dimension");
                    if (d != null && !d.isNull()) {
                        if (!d.canConvertToInt() || d.intValue() < 1) {
                            throw new IllegalArgumentException(file + ": embedding_dimension must be a positive integer, got " + d);
                        }
                        poolingDimension = d.intValue();
                    }
                    JsonNode ip = cfg.get("include_prompt");
                    if (ip != null && !ip.isNull()) {
                        if (!ip.isBoolean()) throw new IllegalArgumentException(file + ": include_prompt must be true or false, got " + ip);
                        includePrompt = ip.booleanValue();
                    }
                    width = poolingDimension * pooling.size();
                }
                case "Dense" -> {
                    if (pooling == null) throw new IllegalArgumentException(where + " comes before the Pooling module");
                    Dense layer = readDense(path, poolingDimension > 0 ? width : 0);
                    dense.add(layer);
                    width = layer.outFeatures();
                }
                case "Normalize" -> {
                    if (pooling == null) throw new IllegalArgumentException(where + " comes before the Pooling module");
                    normalize = true;
                }
                default -> throw new IllegalArgumentException(where + ": " + type + " modules are not supported; "
                        + "supported: Transformer, then Pooling, Dense and a final Normalize");
            }
        }
        if (pooling == null) {
            throw new IllegalArgumentException(modulesFile + ": no Pooling module; a sentence embedding model needs one "
                    + "(token-level models are not supported)");
        }
        return new SentenceTransformerDirectory(dir, transformer, t.maxSeqLength, t.doLowerCase, pooling,
                poolingDimension, includePrompt, dense, normalize, prompts, defaults[0], defaults[1], readTruncateDim(dir));
    }

    /**
     * The vectors' length for a model of hidden size {@code dim}: the last Dense's out_features, else
     * modes × dim; at most truncate_dim.
     *
     * @throws IllegalArgumentException as {@link #dimension(int, List, Integer)}
     */
    public int dimension(int dim) {
        return dimension(dim, null, null);
    }

    /** {@link #dimension(int, List, Integer)} cut to truncate_dim. */
    public int dimension(int dim, List<Pooling> modes) {
        return dimension(dim, modes, null);
    }

    /**
     * The vectors' length for a model of hidden size {@code dim} pooled with {@code modes} (null: the
     * Pooling module's) and cut to {@code truncate} values (null: truncate_dim; 0: not cut).
     *
     * @throws IllegalArgumentException naming the directory when the Pooling module's embedding_dimension
     *                                  is not {@code dim}, or the first Dense module does not take what the
     *                                  pooling gives
     */
    public int dimension(int dim, List<Pooling> modes, Integer truncate) {
        if (poolingDimension > 0 && poolingDimension != dim) {
            throw new IllegalArgumentException(dir + ": the Pooling module's embedding_dimension is " + poolingDimension
                    + " but the model's dim is " + dim);
        }
        int width;
        try {
            width = SentenceEmbeddings.width(modes == null ? pooling : modes, dim, dense);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(dir + ": " + e.getMessage(), e);
        }
        int cut = truncate == null ? truncateDim : truncate;
        return cut > 0 ? Math.min(width, cut) : width;
    }

    // ---------------------------------------------------------------------------------------------

    record TransformerConfig(OptionalInt maxSeqLength, boolean doLowerCase) {
    }

    static TransformerConfig readTransformerConfig(Path transformer) {
        Path file = transformer.resolve(TRANSFORMER_CONFIG_FILE);
        if (!Files.isRegularFile(file)) return new TransformerConfig(OptionalInt.empty(), false);
        JsonNode cfg = readJson(file);
        OptionalInt max = OptionalInt.empty();
        JsonNode n = cfg.get("max_seq_length");
        if (n != null && !n.isNull()) {
            if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() < 2) {
                throw new IllegalArgumentException(file + ": max_seq_length must be an integer of at least 2, got " + n);
            }
            max = OptionalInt.of(n.intValue());
        }
        JsonNode lower = cfg.get("do_lower_case");
        if (lower != null && !lower.isNull() && !lower.isBoolean()) {
            throw new IllegalArgumentException(file + ": do_lower_case must be true or false, got " + lower);
        }
        return new TransformerConfig(max, lower != null && lower.asBoolean(false));
    }

    static void readModelConfig(Path dir, Map<String, String> prompts, String[] defaults) {
        Path file = dir.resolve(MODEL_CONFIG_FILE);
        if (!Files.isRegularFile(file)) return;
        JsonNode cfg = readJson(file);
        JsonNode p = cfg.get("prompts");
        if (p != null && !p.isNull()) {
            if (!p.isObject()) throw new IllegalArgumentException(file + ": prompts must be an object of names to texts");
            for (Iterator<Map.Entry<String, JsonNode>> it = p.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (!e.getValue().isTextual()) {
                    throw new IllegalArgumentException(file + ": prompts." + e.getKey() + " must be a string");
                }
                prompts.put(e.getKey(), e.getValue().textValue());
            }
        }
        JsonNode d = cfg.get("default_prompt_name");
        if (d != null && !d.isNull()) {
            if (!prompts.containsKey(d.asText())) {
                throw new IllegalArgumentException(file + ": default_prompt_name '" + d.asText()
                        + "' is not one of the prompts " + prompts.keySet());
            }
            defaults[0] = d.asText();
        }
        JsonNode s = cfg.get("similarity_fn_name");
        if (s != null && !s.isNull()) {
            if (Arrays.stream(SentenceEmbeddings.Similarity.values()).noneMatch(f -> f.toString().equals(s.asText()))) {
                throw new IllegalArgumentException(file + ": similarity_fn_name '" + s.asText() + "' is not one of "
                        + Arrays.stream(SentenceEmbeddings.Similarity.values()).map(Object::toString).toList());
            }
            defaults[1] = s.asText();
        }
    }

    /** config_sentence_transformers.json's model_type (SentenceTransformer, CrossEncoder, SparseEncoder), or null. */
    public static String modelType(Path dir) {
        Path file = dir.resolve(MODEL_CONFIG_FILE);
        return Files.isRegularFile(file) ? readJson(file).path("model_type").asText(null) : null;
    }

    /**
     * The text of the prompt called {@code name} among {@code prompts} (config_sentence_transformers.json's).
     *
     * @throws IllegalArgumentException naming the prompts there are, when there is none of that name
     */
    public static String prompt(Map<String, String> prompts, String name) {
        String text = prompts.get(name);
        if (text == null) {
            throw new IllegalArgumentException("no prompt named '" + name + "'; the model's prompts are "
                    + (prompts.isEmpty() ? "none" : String.join(", ", prompts.keySet())));
        }
        return text;
    }

    /** config_sentence_transformers.json's truncate_dim (a positive integer, or null or absent: 0). */
    private static int readTruncateDim(Path dir) {
        Path file = dir.resolve(MODEL_CONFIG_FILE);
        if (!Files.isRegularFile(file)) return 0;
        JsonNode n = readJson(file).get("truncate_dim");
        if (n == null || n.isNull()) return 0;
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() < 1) {
            throw new IllegalArgumentException(file + ": truncate_dim must be a positive integer or null, got " + n);
        }
        return n.intValue();
    }

    static JsonNode transformerEntry(JsonNode modules, Path file) {
        if (modules == null || !modules.isArray() || modules.isEmpty()) {
            throw new IllegalArgumentException(file + ": expected a list of modules");
        }
        JsonNode first = modules.get(0);
        String type = moduleType(first, file, 0);
        if (!type.equals("Transformer")) {
            throw new IllegalArgumentException(file + ": module 0 is " + first.path("type").asText()
                    + "; the first module must be a Transformer (a DistilBERT model)");
        }
        return first;
    }

    /** The class name of a modules.json entry, whatever the package (sentence_transformers.models.Pooling, …). */
    private static String moduleType(JsonNode m, Path file, int i) {
        if (m == null || !m.isObject() || !m.path("type").isTextual()) {
            throw new IllegalArgumentException(file + ": module " + i + " has no \"type\"");
        }
        String type = m.get("type").textValue();
        if (!type.startsWith("sentence_transformers.")) {
            throw new IllegalArgumentException(file + ": module " + i + " is " + type
                    + ", custom code that this library cannot run");
        }
        return type.substring(type.lastIndexOf('.') + 1);
    }

    /** pooling_mode (a name or a list) or, before sentence-transformers 6, the pooling_mode_* flags (none set: mean). */
    private static List<Pooling> poolingModes(JsonNode cfg, Path file) {
        JsonNode mode = cfg.get("pooling_mode");
        List<Pooling> modes = new ArrayList<>();
        if (mode != null && !mode.isNull()) {
            if (mode.isTextual()) {
                modes.add(poolingNamed(mode.textValue(), file));
            } else if (mode.isArray() && !mode.isEmpty()) {
                for (JsonNode m : mode) {
                    if (!m.isTextual()) throw new IllegalArgumentException(file + ": pooling_mode has " + m + ", not a mode's name");
                    modes.add(poolingNamed(m.textValue(), file));
                }
            } else {
                throw new IllegalArgumentException(file + ": pooling_mode must be a mode's name or a list of them, got " + mode);
            }
            return modes;
        }
        for (Pooling p : Pooling.values()) {          // the order sentence-transformers concatenates them in
            JsonNode flag = cfg.get(p.legacyFlag());
            if (flag != null && !flag.isNull()) {
                if (!flag.isBoolean()) throw new IllegalArgumentException(file + ": " + p.legacyFlag() + " must be true or false, got " + flag);
                if (flag.booleanValue()) modes.add(p);
            }
        }
        return modes.isEmpty() ? List.of(Pooling.MEAN) : modes;
    }

    private static Pooling poolingNamed(String name, Path file) {
        if (name.contains(",")) throw new IllegalArgumentException(file + ": pooling mode '" + name + "' is not one mode");
        try {
            return Pooling.parse(name).getFirst();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /** A Dense module, whose in_features must be {@code width} (0: not known). */
    private static Dense readDense(Path path, int width) {
        Path file = path.resolve("config.json");
        JsonNode cfg = readJson(file);
        int in = positive(cfg, "in_features", file), out = positive(cfg, "out_features", file);
        if (width > 0 && in != width) {
            throw new IllegalArgumentException(file + ": in_features is " + in + " but the module before it gives vectors of "
                    + width);
        }
        boolean bias = flag(cfg, "bias", true, file), residual = flag(cfg, "use_residual", false, file);
        for (String key : List.of("module_input_name", "module_output_name")) {
            JsonNode n = cfg.get(key);
            if (n != null && !n.isNull() && !n.asText().equals("sentence_embedding")) {
                throw new IllegalArgumentException(file + ": " + key + " is '" + n.asText()
                        + "'; only Dense modules over the sentence embedding are supported");
            }
        }
        JsonNode act = cfg.get("activation_function");
        Dense.Activation activation = act == null || act.isNull() ? Dense.Activation.TANH
                : Dense.Activation.named(act.asText(), file + ": activation_function");
        try (TensorSource weights = ModelDirectory.openWeights(path)) {
            float[] w = floats(weights, "linear.weight", new long[] {out, in});
            float[] b = bias ? floats(weights, "linear.bias", new long[] {out}) : null;
            float[] r = residual && in != out ? floats(weights, "residual.weight", new long[] {out, in}) : null;
            return new Dense(in, out, w, b, activation, residual, r);
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot read the Dense module's weights: " + e.getMessage(), e);
        }
    }

    private static float[] floats(TensorSource source, String name, long[] shape) {
        if (!source.contains(name)) {
            throw new CheckpointException(source.description() + ": no tensor '" + name + "' (a Dense module's " + name + ")");
        }
        NamedTensor t = source.tensor(name);
        if (!Arrays.equals(t.shape(), shape)) {
            throw new CheckpointException(source.fileOf(name) + ": " + name + " has shape " + t.shapeString()
                    + " but the module's config.json gives " + Arrays.toString(shape));
        }
        return t.toFloats();
    }

    private static int positive(JsonNode cfg, String key, Path file) {
        JsonNode n = cfg.get(key);
        if (n == null || !n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() < 1) {
            throw new IllegalArgumentException(file + ": " + key + " must be a positive integer, got " + n);
        }
        return n.intValue();
    }

    private static boolean flag(JsonNode cfg, String key, boolean absent, Path file) {
        JsonNode n = cfg.get(key);
        if (n == null || n.isNull()) return absent;
        if (!n.isBoolean()) throw new IllegalArgumentException(file + ": " + key + " must be true or false, got " + n);
        return n.booleanValue();
    }

    static JsonNode readJson(Path file) {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException(file + ": no such file");
        try {
            JsonNode n = JSON.readTree(file.toFile());
            if (n == null || n.isMissingNode()) throw new IllegalArgumentException(file + ": empty");
            return n;
        } catch (JacksonException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String toString() {
        return "SentenceTransformerDirectory[" + dir + ": pooling " + pooling.stream().map(Pooling::toString).toList()
                + (dense.isEmpty() ? "" : ", " + dense.size() + " Dense") + (normalize ? ", Normalize" : "")
                + (prompts.isEmpty() ? "" : ", prompts " + prompts.keySet()) + "]";
    }
}
