package distilbert.cli;

import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.TokenizerException;
import distilbert.weights.CheckpointException;
import distilbert.weights.DType;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import distilbert.weights.NamedTensor;
import distilbert.weights.ParameterSpec;
import distilbert.weights.PytorchBinFile;
import distilbert.weights.SafetensorsFile;
import distilbert.weights.ShardedSafetensors;
import distilbert.weights.TensorInfo;
import distilbert.weights.TensorSource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What {@code distilbert info} says about a model directory, gathered without running the model:
 * config.json, the parameter layout ({@link DistilBertParameters#layout}), the weights' headers (for
 * safetensors, nothing past the header is read), the tokenizer, and memory estimates.
 *
 * <p>The weights are checked against the layout as {@link ModelDirectory#fromSource} checks them on
 * loading, by name, shape and dtype only: what loading would refuse goes to {@link #errors}, what it
 * would warn about to {@link #warnings}.
 *
 * @param dir        the model directory
 * @param config     config.json
 * @param head       the model class config.json names
 * @param parameters counts from the layout
 * @param weights    what the weight files hold
 * @param tokenizer  the tokenizer, or null when the directory has none (or it cannot be read: see warnings)
 * @param memory     parameters and activations in bytes
 * @param warnings   what loading would warn about, and mismatches between tokenizer and config
 * @param errors     why loading would fail; empty when it would not
 */
record ModelReport(Path dir, DistilBertConfig config, Head head, Parameters parameters, Weights weights,
                   TokenizerSummary tokenizer, Memory memory, List<String> warnings, List<String> errors) {

    /** A batch shape: B sequences of L tokens. */
    record Shape(int batch, int length) {
        @Override
        public String toString() {
            return batch + "x" + length;
        }
    }

    /** Parameters counted in one group, e.g. "word_embeddings"; {@code note} (shape, tying) may be null. */
    record Part(String name, long count, String note) {}

    /**
     * @param total       every parameter that owns storage (tied ones counted once): the slab's size
     * @param trainable   total less the frozen sinusoidal position table
     * @param embeddings  word + position embeddings + their LayerNorm
     * @param layers      per transformer layer, in order
     * @param layerParts  the parts of layer 0 (every layer has the same)
     * @param headParts   the head's modules; a tied one has count 0
     * @param tied        "vocab_projector.weight → distilbert.embeddings.word_embeddings.weight"
     * @param tensors     entries of the layout, tied ones included
     */
    record Parameters(long total, long trainable, long embeddings, List<Part> embeddingParts, List<Long> layers,
                      List<Part> layerParts, long head, List<Part> headParts, List<String> tied, int tensors) {
        long layersTotal() {
            return layers.stream().mapToLong(Long::longValue).sum();
        }
    }

    record FileSize(String name, long bytes) {}

    record DTypeCount(DType dtype, int tensors, long values, long bytes) {}

    /**
     * @param format   "safetensors", "sharded safetensors" or "pytorch_model.bin"
     * @param files    the files read, with their sizes (index first for shards)
     * @param tensors  tensors in the files
     * @param dtypes   per element type, in DType order
     * @param metadata safetensors {@code __metadata__} (of the first shard), or the index's metadata
     */
    record Weights(String format, List<FileSize> files, int tensors, List<DTypeCount> dtypes, Map<String, String> metadata) {
        long bytes() {
            return files.stream().mapToLong(FileSize::bytes).sum();
        }
    }

    /**
     * @param file           the file it was read from: tokenizer.json or vocab.txt
     * @param hasConfig      whether tokenizer_config.json is there too
     * @param stripAccents   null: as lowercase (BERT's default)
     */
    record TokenizerSummary(String file, boolean hasConfig, int vocabSize, boolean lowercase, Boolean stripAccents,
                            int modelMaxLength, Tokenizer.SpecialTokenNames specialTokens) {}

    /**
     * @param elements activation values of one forward pass (see {@link #activationElements})
     * @param fits     false when L is more than max_position_embeddings: the model cannot run it
     */
    record Activations(Shape shape, long tokens, long elements, boolean fits) {}

    /** Bytes: parameters at 4 (fp32) and 2 (bf16) bytes each; activations per shape. */
    record Memory(long parametersFp32, long parametersBf16, long trainingFp32, long trainingBf16,
                  List<Activations> activations) {}

    /** Bytes per parameter for training with AdamW in fp32: weights, gradients, first and second moments. */
    static final int TRAINING_BYTES_PER_PARAMETER = 16;
    /** In bf16 or fp16 mixed precision: the 16-bit weights the forward reads beside the fp32 state above. */
    static final int TRAINING_BF16_BYTES_PER_PARAMETER = 18;

    /** The default shapes: one sequence as long as the model takes, and 32 sequences of 128 (or less). */
    static List<Shape> defaultShapes(DistilBertConfig config) {
        int p = config.maxPositionEmbeddings();
        return List.of(new Shape(1, p), new Shape(32, Math.min(128, p)));
    }

    /** Reads {@code dir}; a config.json or weights file that cannot be read at all is a {@link CheckpointException}. */
    static ModelReport of(Path dir, List<Shape> shapes) throws IOException {
        DistilBertConfig config = ModelDirectory.readConfig(dir);
        Head head = ModelDirectory.headOf(config);
        List<String> warnings = new ArrayList<>();
        List<String> errors = new ArrayList<>();
        Parameters parameters = parameters(config, head);
        Weights weights;
        try (TensorSource source = ModelDirectory.openWeights(dir)) {
            List<Entry> entries = entries(source);
            weights = weights(dir, source, entries);
            check(config, head, source, entries, warnings, errors);
        }
        TokenizerSummary tokenizer = tokenizer(dir, config, warnings);
        List<Activations> activations = new ArrayList<>();
        for (Shape s : (shapes == null || shapes.isEmpty() ? defaultShapes(config) : shapes)) {
            long T = (long) s.batch() * s.length();
            activations.add(new Activations(s, T, activationElements(config, head, s.batch(), s.length()),
                    s.length() <= config.maxPositionEmbeddings()));
        }
        Memory memory = new Memory(parameters.total() * 4, parameters.total() * 2, parameters.total() * TRAINING_BYTES_PER_PARAMETER,
                parameters.total() * TRAINING_BF16_BYTES_PER_PARAMETER, List.copyOf(activations));
        return new ModelReport(dir, config, head, parameters, weights, tokenizer, memory, List.copyOf(warnings), List.copyOf(errors));
    }

    // ---- parameters --------------------------------------------------------------------------------

    private static final Pattern LAYER = Pattern.compile("transformer\\.layer\\.(\\d+)\\.(.+)");

    /** Counts from the layout, grouped: embeddings, each layer (by part), the head (by module). */
    static Parameters parameters(DistilBertConfig config, Head head) {
        List<ParameterSpec> specs = DistilBertParameters.layout(config, head);
        long total = 0, trainable = 0, embeddings = 0, headCount = 0;
        Map<String, Part> embeddingParts = new LinkedHashMap<>(), layerParts = new LinkedHashMap<>(), headParts = new LinkedHashMap<>();
        long[] layers = new long[config.nLayers()];
        List<String> tied = new ArrayList<>();
        for (ParameterSpec s : specs) {
            long n = s.isTied() ? 0 : s.numel();
            if (s.isTied()) tied.add(s.name() + " → " + s.tiedTo());
            total += n;
            if (DistilBertParameters.isTrainable(config, s.name())) trainable += n;
            String bare = DistilBertParameters.stripPrefix(s.name());
            Matcher m = LAYER.matcher(bare);
            if (!DistilBertParameters.isEncoderParameter(s.name())) {
                headCount += n;
                add(headParts, module(s.name()), n, s.isTied() ? "weight tied to " + s.tiedTo() : null);
            } else if (m.matches()) {
                int layer = Integer.parseInt(m.group(1));
                layers[layer] += n;
                if (layer == 0) add(layerParts, layerPart(m.group(2)), n, null);
            } else {
                embeddings += n;
                String part = module(bare).substring("embeddings.".length());
                add(embeddingParts, part, n, part.equals("LayerNorm") ? null : s.shapeString());
            }
        }
        List<Long> perLayer = Arrays.stream(layers).boxed().toList();
        return new Parameters(total, trainable, embeddings, List.copyOf(embeddingParts.values()), perLayer,
                List.copyOf(layerParts.values()), headCount, List.copyOf(headParts.values()), List.copyOf(tied), specs.size());
    }

    private static void add(Map<String, Part> parts, String name, long n, String shape) {
        parts.merge(name, new Part(name, n, shape), (a, b) -> new Part(name, a.count() + b.count(), a.note() != null ? a.note() : b.note()));
    }

    /** "embeddings.word_embeddings.weight" → "embeddings.word_embeddings". */
    private static String module(String name) {
        int dot = name.lastIndexOf('.');
        return dot < 0 ? name : name.substring(0, dot);
    }

    /** The four parts of a layer: attention (q, k, v, out_lin), sa_layer_norm, ffn (lin1, lin2), output_layer_norm. */
    private static String layerPart(String rest) {
        return rest.substring(0, rest.indexOf('.'));
    }

    // ---- activations -------------------------------------------------------------------------------

    /**
     * Activation values of one inference forward pass over B sequences of L tokens, every position a
     * real token (T = B·L; padding is not computed, so a padded batch needs less):
     * <pre>
     *   (6·C + F)·T   the encoder's arena (DistilBertModel.encode): residual stream, attention context
     *                 and attention output, T×C each, the fused q/k/v projection T×3C, the FFN hidden T×F
     * + output        what the model class returns, with the packed buffer it is scattered from:
     *                 2·T·C for DistilBertModel, T·C + 2·T·V for MaskedLM, 2·T·N for token classification,
     *                 4·T for question answering, B·(2·C + N) for sequence classification, B·(2·C + 1) for
     *                 multiple choice (B = rows = examples × choices)
     * </pre>
     * Times 4 bytes in fp32, 2 in bf16. Left out as small: a few ints per token (ids, positions),
     * and the CPU backend's attention scores, L² + HS·L floats per worker thread.
     */
    static long activationElements(DistilBertConfig config, Head head, int B, int L) {
        long T = (long) B * L, C = config.dim(), F = config.hiddenDim(), V = config.vocabSize(), N = config.numLabels();
        long arena = (6 * C + F) * T;
        long output = switch (head) {
            case BASE -> 2 * T * C;
            case MASKED_LM -> T * C + 2 * T * V;
            case TOKEN_CLASSIFICATION -> 2 * T * N;
            case QUESTION_ANSWERING -> 4 * T;
            case SEQUENCE_CLASSIFICATION -> B * (2 * C + N);
            case MULTIPLE_CHOICE -> B * (2 * C + 1);
        };
        return arena + output;
    }

    /** The formula of {@link #activationElements}, in one line, for people. */
    static String activationFormula(Head head) {
        String output = switch (head) {
            case BASE -> "2·T·C";
            case MASKED_LM -> "T·C + 2·T·V";
            case TOKEN_CLASSIFICATION -> "2·T·N";
            case QUESTION_ANSWERING -> "4·T";
            case SEQUENCE_CLASSIFICATION -> "B·(2·C + N)";
            case MULTIPLE_CHOICE -> "B·(2·C + 1)";
        };
        return "bytes = (4 fp32 | 2 bf16) × ((6·C + F)·T + " + output + "), T = B·L (every position a real token)";
    }

    // ---- weights -----------------------------------------------------------------------------------

    /** One tensor of the weight files: name, type and shape, from the header where the format has one. */
    private record Entry(String name, DType dtype, long[] shape, String file) {}

    private static List<Entry> entries(TensorSource source) {
        List<Entry> out = new ArrayList<>();
        switch (source) {
            case SafetensorsFile f -> {
                for (TensorInfo t : f.infos()) out.add(new Entry(t.name(), t.dtype(), t.shape(), f.description()));
            }
            case ShardedSafetensors s -> {
                for (SafetensorsFile f : s.shards()) {
                    for (TensorInfo t : f.infos()) out.add(new Entry(t.name(), t.dtype(), t.shape(), f.description()));
                }
            }
            default -> {
                // pytorch_model.bin keeps dtypes and shapes in its pickle, which the weights module reads
                // but does not expose: the tensors themselves give them (their storages are read).
                for (String name : source.names()) {
                    NamedTensor t = source.tensor(name);
                    out.add(new Entry(name, t.dtype(), t.shape(), source.fileOf(name)));
                }
            }
        }
        return out;
    }

    private static Weights weights(Path dir, TensorSource source, List<Entry> entries) throws IOException {
        String format;
        List<FileSize> files = new ArrayList<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        switch (source) {
            case SafetensorsFile f -> {
                format = "safetensors";
                files.add(new FileSize(f.description(), Files.size(f.path())));
                metadata.putAll(f.metadata());
            }
            case ShardedSafetensors s -> {
                format = "sharded safetensors";
                files.add(new FileSize(ShardedSafetensors.INDEX_FILE, Files.size(dir.resolve(ShardedSafetensors.INDEX_FILE))));
                for (SafetensorsFile f : s.shards()) files.add(new FileSize(f.description(), Files.size(f.path())));
                s.indexMetadata().forEach((k, v) -> metadata.put(k, String.valueOf(v)));
            }
            case PytorchBinFile b -> {
                format = PytorchBinFile.FILE_NAME;
                files.add(new FileSize(PytorchBinFile.FILE_NAME, Files.size(dir.resolve(PytorchBinFile.FILE_NAME))));
            }
            default -> throw new IllegalStateException("unknown weights source " + source.description());
        }
        Map<DType, long[]> byType = new EnumMap<>(DType.class); // tensors, values, bytes
        for (Entry e : entries) {
            long[] c = byType.computeIfAbsent(e.dtype(), t -> new long[3]);
            long n = numel(e.shape());
            c[0]++;
            c[1] += n;
            c[2] += n * e.dtype().size();
        }
        List<DTypeCount> dtypes = new ArrayList<>();
        byType.forEach((t, c) -> dtypes.add(new DTypeCount(t, (int) c[0], c[1], c[2])));
        return new Weights(format, List.copyOf(files), entries.size(), List.copyOf(dtypes), metadata);
    }

    private static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    /** At most this many names in one message. */
    private static final int LISTED = 12;

    /** {@link ModelDirectory#fromSource}'s checks on names, shapes and dtypes, without reading values. */
    private static void check(DistilBertConfig config, Head head, TensorSource source, List<Entry> entries,
                              List<String> warnings, List<String> errors) {
        List<ParameterSpec> specs = DistilBertParameters.layout(config, head);
        Map<String, ParameterSpec> byName = new LinkedHashMap<>();
        for (ParameterSpec s : specs) byName.put(s.name(), s);
        Map<String, Entry> fileOf = new LinkedHashMap<>(); // model name → file tensor
        List<String> unexpected = new ArrayList<>(), legacy = new ArrayList<>();
        for (Entry e : entries) {
            String n = e.name();
            if (n.endsWith(".gamma")) n = n.substring(0, n.length() - 6) + ".weight";
            else if (n.endsWith(".beta")) n = n.substring(0, n.length() - 5) + ".bias";
            if (!n.equals(e.name())) legacy.add(e.name());
            String target = DistilBertParameters.nameFor(head, n);
            if (!byName.containsKey(target)) {
                unexpected.add(e.name());
                continue;
            }
            Entry previous = fileOf.put(target, e);
            if (previous != null) {
                errors.add(e.file() + ": both '" + previous.name() + "' and '" + e.name() + "' would load into " + target);
            }
        }
        List<String> missing = new ArrayList<>(), initialized = new ArrayList<>();
        for (ParameterSpec s : specs) {
            if (s.isTied()) continue; // a copy in the file is ignored: the owner's values are used
            Entry e = fileOf.get(s.name());
            if (e == null) {
                boolean required = DistilBertParameters.isEncoderParameter(s.name())
                        && DistilBertParameters.isTrainable(config, s.name()); // the sinusoidal table may be absent
                (required ? missing : initialized).add(s.name());
                continue;
            }
            if (!Arrays.equals(s.shape(), e.shape())) {
                errors.add(e.file() + ": " + e.name() + " has shape " + Arrays.toString(e.shape()) + " but " + head.hfClass()
                        + " with this config.json needs " + s.shapeString());
            }
            if (!e.dtype().isFloatingPoint()) {
                errors.add(e.file() + ": " + e.name() + " is " + e.dtype() + ", expected a floating-point tensor (F32, F16, BF16 or F64)");
            }
        }
        if (!missing.isEmpty()) {
            errors.add(source.description() + ": " + missing.size() + (missing.size() == 1 ? " tensor" : " tensors") + " of "
                    + head.hfClass() + " missing: " + list(missing));
        }
        if (!legacy.isEmpty()) warnings.add(source.description() + ": legacy LayerNorm names (.gamma/.beta) read as .weight/.bias: " + list(legacy));
        if (!initialized.isEmpty()) {
            warnings.add("Some weights of " + head.hfClass() + " were not initialized from " + source.description()
                    + " and are newly initialized: " + list(initialized));
        }
        if (!unexpected.isEmpty()) {
            warnings.add("Some weights of " + source.description() + " were not used when initializing " + head.hfClass()
                    + ": " + list(unexpected));
        }
    }

    private static String list(List<String> names) {
        if (names.size() <= LISTED) return "[" + String.join(", ", names) + "]";
        return "[" + String.join(", ", names.subList(0, LISTED)) + ", … and " + (names.size() - LISTED) + " more]";
    }

    // ---- tokenizer ---------------------------------------------------------------------------------

    /** How the warning about a tokenizer that cannot be read starts. */
    static final String TOKENIZER_UNREADABLE = "the tokenizer cannot be read: ";

    /** The directory's tokenizer, or null (none, or unreadable: then a warning says why). */
    private static TokenizerSummary tokenizer(Path dir, DistilBertConfig config, List<String> warnings) {
        String file = Files.isRegularFile(dir.resolve("tokenizer.json")) ? "tokenizer.json"
                : Files.isRegularFile(dir.resolve("vocab.txt")) ? "vocab.txt" : null;
        if (file == null) return null;
        Tokenizer t;
        try {
            t = Tokenizer.fromPretrained(dir);
        } catch (TokenizerException e) {
            warnings.add(TOKENIZER_UNREADABLE + e.getMessage());
            return null;
        }
        if (t.vocabSize() > config.vocabSize()) {
            warnings.add(file + " has " + t.vocabSize() + " tokens but config.json has vocab_size " + config.vocabSize()
                    + ": the model has no embedding for the ids past it");
        }
        if (t.modelMaxLength() > config.maxPositionEmbeddings()) {
            warnings.add("the tokenizer's model_max_length " + t.modelMaxLength() + " is more than max_position_embeddings "
                    + config.maxPositionEmbeddings() + " (distilbert embed truncates to the smaller)");
        }
        var n = t.normalizer();
        return new TokenizerSummary(file, Files.isRegularFile(dir.resolve("tokenizer_config.json")), t.vocabSize(),
                n != null && n.lowercase(), n == null ? null : n.stripAccents(), t.modelMaxLength(), t.specialTokens());
    }
}
