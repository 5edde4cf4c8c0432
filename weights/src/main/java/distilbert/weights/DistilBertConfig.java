package distilbert.weights;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Everything in a DistilBERT {@code config.json}: the fields of transformers' {@code DistilBertConfig}
 * (names in camelCase, JSON keys in snake_case) plus the {@code PretrainedConfig} keys that change
 * what a model computes or reports. Keys this record does not model are kept in {@link #extra()} and
 * written back unchanged, so a round trip through Java loses nothing.
 *
 * <p>Defaults are HF's, which are distilbert-base-uncased's. {@link #read(Path)} validates;
 * a record built by hand is validated by {@link #validate()}.
 *
 * @param vocabSize             {@code vocab_size}, V
 * @param maxPositionEmbeddings {@code max_position_embeddings}, P
 * @param sinusoidalPosEmbds    {@code sinusoidal_pos_embds}: position table fixed to sin/cos (see {@link Initializer})
 * @param nLayers               {@code n_layers} (HF alias {@code num_hidden_layers})
 * @param nHeads                {@code n_heads}, NH (HF alias {@code num_attention_heads})
 * @param dim                   {@code dim}, C (HF alias {@code hidden_size})
 * @param hiddenDim             {@code hidden_dim}, F: the feed-forward width
 * @param dropout               {@code dropout}: embeddings, attention output, FFN output
 * @param attentionDropout      {@code attention_dropout}: on attention probabilities
 * @param activation            {@code activation} of the FFN (and of the MLM head's vocab_transform)
 * @param initializerRange      {@code initializer_range}: std of the normal init
 * @param qaDropout             {@code qa_dropout}: before qa_outputs
 * @param seqClassifDropout     {@code seq_classif_dropout}: before classifier (sequence classification, multiple choice)
 * @param padTokenId            {@code pad_token_id}: word_embeddings' padding_idx
 * @param architectures         {@code architectures}, e.g. ["DistilBertForMaskedLM"]; empty when absent
 * @param id2label              {@code id2label}, keys 0..numLabels-1 (strings in JSON)
 * @param label2id              {@code label2id}
 * @param problemType           {@code problem_type}, or null (HF decides from num_labels and label dtype)
 * @param outputAttentions      {@code output_attentions}
 * @param outputHiddenStates    {@code output_hidden_states}
 * @param tieWordEmbeddings     {@code tie_word_embeddings}: vocab_projector.weight is word_embeddings.weight
 * @param extra                 every other key of the file, in file order, values as Jackson reads them
 *                              (String, Integer/Long/BigInteger, Double, Boolean, null, List, Map)
 */
public record DistilBertConfig(
        int vocabSize,
        int maxPositionEmbeddings,
        boolean sinusoidalPosEmbds,
        int nLayers,
        int nHeads,
        int dim,
        int hiddenDim,
        double dropout,
        double attentionDropout,
        Activation activation,
        double initializerRange,
        double qaDropout,
        double seqClassifDropout,
        int padTokenId,
        List<String> architectures,
        SortedMap<Integer, String> id2label,
        Map<String, Integer> label2id,
        ProblemType problemType,
        boolean outputAttentions,
        boolean outputHiddenStates,
        boolean tieWordEmbeddings,
        Map<String, Object> extra) {

    public static final String MODEL_TYPE = "distilbert";
    /** HF's layer_norm eps for every LayerNorm in DistilBERT (hard-coded there, not a config field). */
    public static final float LAYER_NORM_EPS = 1e-12f;

    /** Keys this record models; everything else goes to {@link #extra()}. */
    private static final Set<String> MODELED = Set.of(
            "vocab_size", "max_position_embeddings", "sinusoidal_pos_embds", "n_layers", "n_heads", "dim",
            "hidden_dim", "dropout", "attention_dropout", "activation", "initializer_range", "qa_dropout",
            "seq_classif_dropout", "pad_token_id", "architectures", "id2label", "label2id", "num_labels",
            "problem_type", "output_attentions", "output_hidden_states", "tie_word_embeddings", "model_type",
            // DistilBertConfig.attribute_map: HF reads these as dim / n_heads / n_layers
            "hidden_size", "num_attention_heads", "num_hidden_layers");

    public DistilBertConfig {
        Objects.requireNonNull(activation, "activation");
        architectures = architectures == null ? List.of() : List.copyOf(architectures);
        id2label = Collections.unmodifiableSortedMap(new TreeMap<>(id2label == null ? defaultId2Label(2) : id2label));
        label2id = Collections.unmodifiableMap(new LinkedHashMap<>(label2id == null ? inverse(id2label) : label2id));
        Map<String, Object> e = new LinkedHashMap<>(extra == null ? Map.of() : extra);
        for (String k : e.keySet()) {
            if (MODELED.contains(k)) throw new IllegalArgumentException("extra must not hold the modeled key '" + k + "'");
        }
        extra = Collections.unmodifiableMap(e);
    }

    /** distilbert-base-uncased: HF's defaults. */
    public static DistilBertConfig defaults() {
        return new DistilBertConfig(30522, 512, false, 6, 12, 768, 3072, 0.1, 0.1, Activation.GELU, 0.02, 0.1, 0.2, 0,
                List.of(), null, null, null, false, false, true, Map.of());
    }

    public static Builder builder() {
        return new Builder(defaults());
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    /** HS = C / NH. */
    public int headSize() {
        return dim / nHeads;
    }

    /** {@code num_labels} as HF derives it: the size of id2label (2 by default). */
    public int numLabels() {
        return id2label.size();
    }

    /**
     * The loss DistilBertForSequenceClassification uses, as HF decides it when problem_type is null:
     * one label → regression; several and integer labels → single-label; otherwise multi-label.
     */
    public ProblemType resolveProblemType(boolean integerLabels) {
        if (problemType != null) return problemType;
        if (numLabels() == 1) return ProblemType.REGRESSION;
        return integerLabels ? ProblemType.SINGLE_LABEL_CLASSIFICATION : ProblemType.MULTI_LABEL_CLASSIFICATION;
    }

    // ---------------------------------------------------------------------------------------------
    // validation

    /** {@link #validate(String)} with "config.json" as the source name. */
    public DistilBertConfig validate() {
        return validate("config.json");
    }

    /** Checks sizes, ratios and label maps; throws {@link CheckpointException} naming {@code source} and the field. */
    public DistilBertConfig validate(String source) {
        positive(source, "vocab_size", vocabSize);
        positive(source, "max_position_embeddings", maxPositionEmbeddings);
        positive(source, "n_layers", nLayers);
        positive(source, "n_heads", nHeads);
        positive(source, "dim", dim);
        positive(source, "hidden_dim", hiddenDim);
        if (dim % nHeads != 0) {
            throw new CheckpointException(source + ": dim " + dim + " is not a multiple of n_heads " + nHeads);
        }
        probability(source, "dropout", dropout);
        probability(source, "attention_dropout", attentionDropout);
        probability(source, "qa_dropout", qaDropout);
        probability(source, "seq_classif_dropout", seqClassifDropout);
        if (!(initializerRange >= 0) || Double.isInfinite(initializerRange)) {
            throw new CheckpointException(source + ": initializer_range " + initializerRange + " must be a finite number >= 0");
        }
        if (padTokenId < 0 || padTokenId >= vocabSize) {
            throw new CheckpointException(source + ": pad_token_id " + padTokenId + " is outside the vocabulary [0, " + vocabSize + ")");
        }
        if (id2label.isEmpty()) {
            throw new CheckpointException(source + ": id2label is empty; a model needs at least one label");
        }
        int expected = 0;
        for (int id : id2label.keySet()) {
            if (id != expected) {
                throw new CheckpointException(source + ": id2label must have the keys 0.." + (id2label.size() - 1)
                        + " (one per output of the classifier), but key " + expected + " is missing (keys: " + id2label.keySet() + ")");
            }
            expected++;
        }
        for (var e : label2id.entrySet()) {
            Integer id = e.getValue();
            if (id == null || !id2label.containsKey(id)) {
                throw new CheckpointException(source + ": label2id maps '" + e.getKey() + "' to " + id
                        + ", which is not an id of id2label (0.." + (id2label.size() - 1) + ")");
            }
            if (!id2label.get(id).equals(e.getKey())) {
                throw new CheckpointException(source + ": label2id maps '" + e.getKey() + "' to " + id
                        + " but id2label maps " + id + " to '" + id2label.get(id) + "'");
            }
        }
        return this;
    }

    private static void positive(String source, String key, int value) {
        if (value <= 0) throw new CheckpointException(source + ": " + key + " must be positive, got " + value);
    }

    private static void probability(String source, String key, double p) {
        if (!(p >= 0 && p < 1)) throw new CheckpointException(source + ": " + key + " " + p + " is not a probability in [0, 1)");
    }

    // ---------------------------------------------------------------------------------------------
    // reading

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Reads and validates an HF config.json. */
    public static DistilBertConfig read(Path configJson) throws IOException {
        String source = configJson.getFileName() == null ? configJson.toString() : configJson.getFileName().toString();
        String text;
        try {
            text = Files.readString(configJson);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(configJson + ": no such file (a model directory needs config.json)", e);
        } catch (java.nio.charset.MalformedInputException e) {
            throw new CheckpointException(source + ": not UTF-8 text", e);
        }
        return parse(text, source);
    }

    /** Parses config.json text; {@code source} names the file in error messages. */
    public static DistilBertConfig parse(String json, String source) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JacksonException e) {
            throw new CheckpointException(source + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (!(root instanceof ObjectNode obj)) {
            throw new CheckpointException(source + ": must hold a JSON object, got " + (root == null ? "nothing" : root.getNodeType()));
        }
        Fields f = new Fields(source, obj);
        String modelType = f.string("model_type", MODEL_TYPE);
        if (!MODEL_TYPE.equals(modelType)) {
            throw new CheckpointException(source + ": model_type '" + modelType + "' is not 'distilbert'");
        }
        DistilBertConfig d = defaults();
        int dim = f.integer("dim", d.dim);
        int nHeads = f.integer("n_heads", d.nHeads);
        int nLayers = f.integer("n_layers", d.nLayers);
        // attribute_map aliases: HF applies them after the named arguments, so they win.
        dim = f.integer("hidden_size", dim);
        nHeads = f.integer("num_attention_heads", nHeads);
        nLayers = f.integer("num_hidden_layers", nLayers);

        String act = f.string("activation", d.activation.hfName());
        Activation activation = Activation.fromHf(act).orElseThrow(() -> new CheckpointException(
                source + ": activation '" + act + "' is not one of " + Activation.choices()));
        String pt = f.nullableString("problem_type");
        ProblemType problemType = pt == null ? null : ProblemType.fromHf(pt).orElseThrow(() -> new CheckpointException(
                source + ": problem_type '" + pt + "' is not one of " + ProblemType.choices() + " (or null)"));

        SortedMap<Integer, String> id2label = f.id2label();
        if (id2label == null) {
            // HF: without id2label, num_labels (default 2) makes LABEL_0..LABEL_{n-1}.
            int n = f.integer("num_labels", 2);
            if (n <= 0) throw new CheckpointException(source + ": num_labels must be positive, got " + n);
            id2label = defaultId2Label(n);
        }
        Map<String, Integer> label2id = f.label2id();

        DistilBertConfig c = new DistilBertConfig(
                f.integer("vocab_size", d.vocabSize),
                f.integer("max_position_embeddings", d.maxPositionEmbeddings),
                f.bool("sinusoidal_pos_embds", d.sinusoidalPosEmbds),
                nLayers, nHeads, dim,
                f.integer("hidden_dim", d.hiddenDim),
                f.number("dropout", d.dropout),
                f.number("attention_dropout", d.attentionDropout),
                activation,
                f.number("initializer_range", d.initializerRange),
                f.number("qa_dropout", d.qaDropout),
                f.number("seq_classif_dropout", d.seqClassifDropout),
                f.integer("pad_token_id", d.padTokenId),
                f.stringList("architectures"),
                id2label,
                label2id,
                problemType,
                f.bool("output_attentions", false),
                f.bool("output_hidden_states", false),
                f.bool("tie_word_embeddings", true),
                f.extra());
        return c.validate(source);
    }

    /** Typed access to config.json's fields with messages naming the file and key. */
    private record Fields(String source, ObjectNode obj) {
        JsonNode get(String key) {
            JsonNode n = obj.get(key);
            return n == null || n.isMissingNode() ? null : n;
        }

        int integer(String key, int dflt) {
            JsonNode n = get(key);
            if (n == null) return dflt;
            if (!n.isIntegralNumber() || !n.canConvertToInt()) {
                throw new CheckpointException(source + ": " + key + " must be an integer, got " + n);
            }
            return n.intValue();
        }

        double number(String key, double dflt) {
            JsonNode n = get(key);
            if (n == null) return dflt;
            if (!n.isNumber()) throw new CheckpointException(source + ": " + key + " must be a number, got " + n);
            return n.doubleValue();
        }

        boolean bool(String key, boolean dflt) {
            JsonNode n = get(key);
            if (n == null) return dflt;
            if (!n.isBoolean()) throw new CheckpointException(source + ": " + key + " must be true or false, got " + n);
            return n.booleanValue();
        }

        String string(String key, String dflt) {
            JsonNode n = get(key);
            if (n == null) return dflt;
            if (!n.isTextual()) throw new CheckpointException(source + ": " + key + " must be a string, got " + n);
            return n.textValue();
        }

        String nullableString(String key) {
            JsonNode n = get(key);
            if (n == null || n.isNull()) return null;
            if (!n.isTextual()) throw new CheckpointException(source + ": " + key + " must be a string or null, got " + n);
            return n.textValue();
        }

        List<String> stringList(String key) {
            JsonNode n = get(key);
            if (n == null || n.isNull()) return List.of();
            if (!n.isArray()) throw new CheckpointException(source + ": " + key + " must be a list of strings, got " + n);
            List<String> out = new ArrayList<>();
            for (JsonNode item : n) {
                if (!item.isTextual()) throw new CheckpointException(source + ": " + key + " must be a list of strings, got " + n);
                out.add(item.textValue());
            }
            return out;
        }

        SortedMap<Integer, String> id2label() {
            JsonNode n = get("id2label");
            if (n == null || n.isNull()) return null;
            if (!n.isObject()) throw new CheckpointException(source + ": id2label must be an object {\"0\": \"LABEL\", ...}, got " + n);
            SortedMap<Integer, String> out = new TreeMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                var e = it.next();
                int id;
                try {
                    id = Integer.parseInt(e.getKey().strip());
                } catch (NumberFormatException ex) {
                    throw new CheckpointException(source + ": id2label key '" + e.getKey() + "' is not an integer id");
                }
                if (!e.getValue().isTextual()) {
                    throw new CheckpointException(source + ": id2label[" + e.getKey() + "] must be a string, got " + e.getValue());
                }
                if (out.put(id, e.getValue().textValue()) != null) {
                    throw new CheckpointException(source + ": id2label has the id " + id + " twice");
                }
            }
            return out;
        }

        Map<String, Integer> label2id() {
            JsonNode n = get("label2id");
            if (n == null || n.isNull()) return null;
            if (!n.isObject()) throw new CheckpointException(source + ": label2id must be an object {\"LABEL\": 0, ...}, got " + n);
            Map<String, Integer> out = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                var e = it.next();
                if (!e.getValue().isIntegralNumber() || !e.getValue().canConvertToInt()) {
                    throw new CheckpointException(source + ": label2id['" + e.getKey() + "'] must be an integer id, got " + e.getValue());
                }
                out.put(e.getKey(), e.getValue().intValue());
            }
            return out;
        }

        Map<String, Object> extra() {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = obj.fields(); it.hasNext(); ) {
                var e = it.next();
                if (!MODELED.contains(e.getKey())) out.put(e.getKey(), JSON.convertValue(e.getValue(), Object.class));
            }
            return out;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // writing

    /**
     * The JSON text HF's {@code save_pretrained} would write: keys sorted, two-space indent, every
     * DistilBERT field, PretrainedConfig fields only where they differ from PretrainedConfig's
     * defaults (as {@code to_diff_dict} does), then every extra key.
     */
    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>(extra);
        m.put("activation", activation.hfName());
        m.put("attention_dropout", attentionDropout);
        m.put("dim", dim);
        m.put("dropout", dropout);
        m.put("hidden_dim", hiddenDim);
        m.put("initializer_range", initializerRange);
        m.put("max_position_embeddings", maxPositionEmbeddings);
        m.put("model_type", MODEL_TYPE);
        m.put("n_heads", nHeads);
        m.put("n_layers", nLayers);
        m.put("pad_token_id", padTokenId);
        m.put("qa_dropout", qaDropout);
        m.put("seq_classif_dropout", seqClassifDropout);
        m.put("sinusoidal_pos_embds", sinusoidalPosEmbds);
        m.put("vocab_size", vocabSize);
        if (!architectures.isEmpty()) m.put("architectures", architectures);
        if (!id2label.equals(defaultId2Label(2))) m.put("id2label", id2label);
        if (!label2id.equals(inverse(defaultId2Label(2)))) m.put("label2id", label2id);
        if (problemType != null) m.put("problem_type", problemType.hfName());
        if (outputAttentions) m.put("output_attentions", true);
        if (outputHiddenStates) m.put("output_hidden_states", true);
        if (!tieWordEmbeddings) m.put("tie_word_embeddings", false);
        return PyJson.dumps(m) + "\n";
    }

    /** Writes {@link #toJson()} to {@code configJson} atomically. */
    public void write(Path configJson) throws IOException {
        AtomicFiles.writeString(configJson, toJson());
    }

    // ---------------------------------------------------------------------------------------------

    /** {0: "LABEL_0", ..., n-1: "LABEL_{n-1}"}, HF's default label names. */
    public static SortedMap<Integer, String> defaultId2Label(int n) {
        SortedMap<Integer, String> m = new TreeMap<>();
        for (int i = 0; i < n; i++) m.put(i, "LABEL_" + i);
        return m;
    }

    private static Map<String, Integer> inverse(Map<Integer, String> id2label) {
        Map<String, Integer> m = new LinkedHashMap<>();
        id2label.forEach((id, label) -> m.put(label, id));
        return m;
    }

    /** Mutable copy of a config for tests and tools; {@link #build()} does not validate, {@link DistilBertConfig#validate()} does. */
    public static final class Builder {
        private int vocabSize, maxPositionEmbeddings, nLayers, nHeads, dim, hiddenDim, padTokenId;
        private boolean sinusoidalPosEmbds, outputAttentions, outputHiddenStates, tieWordEmbeddings;
        private double dropout, attentionDropout, initializerRange, qaDropout, seqClassifDropout;
        private Activation activation;
        private List<String> architectures;
        private SortedMap<Integer, String> id2label;
        private Map<String, Integer> label2id;
        private ProblemType problemType;
        private Map<String, Object> extra;

        private Builder(DistilBertConfig c) {
            vocabSize = c.vocabSize; maxPositionEmbeddings = c.maxPositionEmbeddings; sinusoidalPosEmbds = c.sinusoidalPosEmbds;
            nLayers = c.nLayers; nHeads = c.nHeads; dim = c.dim; hiddenDim = c.hiddenDim; dropout = c.dropout;
            attentionDropout = c.attentionDropout; activation = c.activation; initializerRange = c.initializerRange;
            qaDropout = c.qaDropout; seqClassifDropout = c.seqClassifDropout; padTokenId = c.padTokenId;
            architectures = c.architectures; id2label = c.id2label; label2id = c.label2id; problemType = c.problemType;
            outputAttentions = c.outputAttentions; outputHiddenStates = c.outputHiddenStates;
            tieWordEmbeddings = c.tieWordEmbeddings; extra = c.extra;
        }

        public Builder vocabSize(int v) { vocabSize = v; return this; }
        public Builder maxPositionEmbeddings(int v) { maxPositionEmbeddings = v; return this; }
        public Builder sinusoidalPosEmbds(boolean v) { sinusoidalPosEmbds = v; return this; }
        public Builder nLayers(int v) { nLayers = v; return this; }
        public Builder nHeads(int v) { nHeads = v; return this; }
        public Builder dim(int v) { dim = v; return this; }
        public Builder hiddenDim(int v) { hiddenDim = v; return this; }
        public Builder dropout(double v) { dropout = v; return this; }
        public Builder attentionDropout(double v) { attentionDropout = v; return this; }
        public Builder activation(Activation v) { activation = v; return this; }
        public Builder initializerRange(double v) { initializerRange = v; return this; }
        public Builder qaDropout(double v) { qaDropout = v; return this; }
        public Builder seqClassifDropout(double v) { seqClassifDropout = v; return this; }
        public Builder padTokenId(int v) { padTokenId = v; return this; }
        public Builder architectures(List<String> v) { architectures = v; return this; }
        public Builder problemType(ProblemType v) { problemType = v; return this; }
        public Builder outputAttentions(boolean v) { outputAttentions = v; return this; }
        public Builder outputHiddenStates(boolean v) { outputHiddenStates = v; return this; }
        public Builder tieWordEmbeddings(boolean v) { tieWordEmbeddings = v; return this; }
        public Builder extra(Map<String, Object> v) { extra = v; return this; }

        /** Sets id2label and label2id together (label2id derived as the inverse). */
        public Builder id2label(Map<Integer, String> v) {
            id2label = new TreeMap<>(v);
            label2id = inverse(v);
            return this;
        }

        /** Sets both maps by hand (for testing inconsistent maps). */
        public Builder labelMaps(Map<Integer, String> id2label, Map<String, Integer> label2id) {
            this.id2label = new TreeMap<>(id2label);
            this.label2id = label2id;
            return this;
        }

        /** {@code num_labels = n}: labels LABEL_0..LABEL_{n-1}, as HF's num_labels setter does. */
        public Builder numLabels(int n) {
            return id2label(defaultId2Label(n));
        }

        /** Labels in id order. */
        public Builder labels(List<String> names) {
            SortedMap<Integer, String> m = new TreeMap<>();
            for (int i = 0; i < names.size(); i++) m.put(i, names.get(i));
            return id2label(m);
        }

        public DistilBertConfig build() {
            return new DistilBertConfig(vocabSize, maxPositionEmbeddings, sinusoidalPosEmbds, nLayers, nHeads, dim, hiddenDim,
                    dropout, attentionDropout, activation, initializerRange, qaDropout, seqClassifDropout, padTokenId,
                    architectures, id2label, label2id, problemType, outputAttentions, outputHiddenStates, tieWordEmbeddings, extra);
        }
    }
}
