package distilbert.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import distilbert.cuda.DeviceInfo;
import distilbert.cuda.GpuProbe;
import distilbert.cuda.GpuStatus;
import distilbert.model.CrossEncoder;
import distilbert.model.SentenceEmbeddings;
import distilbert.model.SentenceTransformerDirectory;
import distilbert.model.SparseEmbeddings;
import distilbert.model.ZeroShotClassification;
import distilbert.weights.CheckpointException;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code distilbert info}: what a model directory holds and needs ({@code --model}), or what GPU
 * detection finds ({@code --device}). Nothing is run: config.json, the parameter layout, the
 * weights' headers and the tokenizer are read.
 */
@Command(name = "info", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, sortOptions = false,
        usageHelpWidth = 100,
        description = {
            "Describe a model directory without running the model, or the GPU this machine offers.",
            "",
            "--model DIR prints: config.json (every field), the model class, the parameter count (total, embeddings, each "
                    + "transformer layer, the head; from the parameter layout, tied weights counted once), the weights' "
                    + "format, files, sizes and dtypes (from safetensors headers only; a pytorch_model.bin has no header and "
                    + "is read), the tokenizer, the memory the parameters take in fp32 and bf16, the activation memory of one "
                    + "inference forward pass per --batch-shape, and what loading would warn about. Exit code 1 (after the "
                    + "report) when loading would fail: tensors missing, wrong shapes.",
            "",
            "Activation memory of one forward pass over B sequences of L tokens, every position a real token (T = B·L; "
                    + "padding is not computed): bytes = (4 in fp32 | 2 in bf16) × ((6·C + F)·T + output), where (6·C + F)·T "
                    + "is the encoder's arena (residual stream, attention context and output: T×C each; q/k/v: T×3C; FFN hidden "
                    + "T×F) and output is what the model class returns with the packed buffer it comes from: 2·T·C for "
                    + "DistilBertModel, T·C + 2·T·V for MaskedLM, 2·T·N for token classification, 4·T for question answering, "
                    + "B·(2·C + N) for sequence classification, B·(2·C + 1) for multiple choice. C = dim, F = hidden_dim, "
                    + "V = vocab_size, N = num_labels.",
            "",
            "--device prints the driver's CUDA version, the cuBLAS version and each device's name, compute "
                    + "capability, memory and multiprocessors, or why no GPU is usable (exit code 0 either way).",
            ""},
        footer = {"",
            "Examples:",
            "  distilbert info --model models/distilbert-base-uncased",
            "  distilbert info --model DIR --json | jq .parameters.total",
            "  distilbert info --model DIR --batch-shape 64x256 --batch-shape 1x512",
            "  distilbert info --device",
            "",
            "Exit codes: 0 done, 1 failed (unreadable config.json or weights, or a model that would not load), 2 usage error."})
final class InfoCommand implements Callable<Integer>, Main.Verbose {
    private static final Pattern SHAPE = Pattern.compile("(\\d+)[x×](\\d+)");

    static final class ShapeConverter implements CommandLine.ITypeConverter<ModelReport.Shape> {
        @Override
        public ModelReport.Shape convert(String s) {
            Matcher m = SHAPE.matcher(s.strip());
            if (!m.matches()) throw new CommandLine.TypeConversionException("expected BxL (sequences x tokens, e.g. 32x128), got '" + s + "'");
            try {
                int b = Integer.parseInt(m.group(1)), l = Integer.parseInt(m.group(2));
                if (b < 1 || l < 1) throw new CommandLine.TypeConversionException("B and L must be at least 1, got '" + s + "'");
                return new ModelReport.Shape(b, l);
            } catch (NumberFormatException e) {
                throw new CommandLine.TypeConversionException("B and L must be at most " + Integer.MAX_VALUE + ", got '" + s + "'");
            }
        }
    }

    @ParentCommand
    private Main main;

    @Spec
    private CommandSpec spec;

    @Option(names = "--model", paramLabel = "DIR", description = "The model directory to describe.")
    Path model;

    @Option(names = "--device", description = "Print what GPU detection finds instead.")
    boolean device;

    @Option(names = "--json", description = "Print one JSON object (for programs) instead of text.")
    boolean json;

    @Option(names = "--batch-shape", paramLabel = "BxL", converter = ShapeConverter.class,
            description = "A batch shape for the activation estimate: B sequences of L tokens; repeatable. "
                    + "Default: 1x<max_position_embeddings> and 32x128.")
    List<ModelReport.Shape> shapes = new ArrayList<>();

    @Option(names = "--verbose", description = "Print the stack trace of an error.")
    boolean verbose;

    @Override
    public boolean verbose() {
        return verbose;
    }

    @Override
    public Integer call() throws IOException {
        checkOptions();
        PrintStream out = main.io().out();
        if (device) {
            GpuStatus status = GpuProbe.status();
            out.print(json ? toJson(deviceJson(status)) : deviceText(status));
            out.flush();
            return Main.OK;
        }
        ModelRun.checkModelDirectory(model);
        CrossEncoder.Directory ce = CrossEncoder.Directory.isCrossEncoder(model) ? RerankCommand.crossEncoder(model) : null;
        SparseEmbeddings.Directory sparse = ce == null && SparseEmbeddings.Directory.isSparseEncoder(model)
                ? EmbedCommand.sparseEncoder(model) : null;
        SentenceTransformerDirectory st = ce == null && sparse == null && SentenceTransformerDirectory.isSentenceTransformer(model)
                ? EmbedCommand.sentenceTransformers(model) : null;
        ModelReport report;
        try {
            report = ModelReport.of(ce != null ? ce.transformer() : sparse != null ? sparse.transformer()
                    : st != null ? st.transformer() : model, shapes);
        } catch (CheckpointException e) {
            throw new CliException(Main.inDirectory(model, e.getMessage()), e);
        }
        if (json) {
            ObjectNode root = reportJson(report);
            if (st != null) root.set("sentence_transformers", sentenceTransformersJson(st, report.config().dim()));
            if (ce != null) root.set("cross_encoder", crossEncoderJson(ce, report.config().numLabels()));
            if (sparse != null) root.set("sparse_encoder", sparseEncoderJson(sparse, report.config().vocabSize()));
            out.print(toJson(root));
        } else {
            out.print(reportText(report) + (st == null ? "" : sentenceTransformersText(st, report.config().dim()))
                    + (ce == null ? "" : crossEncoderText(ce, report.config().numLabels()))
                    + (sparse == null ? "" : sparseEncoderText(sparse, report.config().vocabSize())));
        }
        out.flush();
        if (!report.errors().isEmpty()) {
            int more = report.errors().size() - 1;
            throw new CliException(model + ": the model would not load: " + report.errors().get(0)
                    + (more > 0 ? " (and " + more + " more " + (more == 1 ? "problem" : "problems") + ", listed above)" : ""));
        }
        return Main.OK;
    }

    void checkOptions() {
        if (model == null && !device) throw usage("give --model DIR (a model directory) or --device (the GPU)");
        if (model != null && device) throw usage("--model and --device do not go together: run info once for each");
        if (device && !shapes.isEmpty()) throw usage("--batch-shape needs --model");
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    // ---- sentence-transformers ---------------------------------------------------------------------

    /** The modules of a sentence-transformers directory, as embed runs them. */
    static String sentenceTransformersText(SentenceTransformerDirectory st, int dim) {
        StringBuilder s = new StringBuilder("\nSentence embeddings (" + SentenceTransformerDirectory.MODULES_FILE + ", as embed runs them)\n");
        row(s, "transformer", st.dir().relativize(st.transformer()).toString().isEmpty() ? "the directory itself"
                : st.dir().relativize(st.transformer()).toString());
        row(s, "max_seq_length", st.maxSeqLength().isPresent() ? String.valueOf(st.maxSeqLength().getAsInt()) : "not set");
        row(s, "do_lower_case", String.valueOf(st.doLowerCase()));
        row(s, "pooling", st.pooling().stream().map(Object::toString).collect(java.util.stream.Collectors.joining(", "))
                + " (" + st.pooling().size() * dim + " values)" + (st.includePrompt() ? "" : ", prompts left out"));
        int i = 0;
        for (SentenceEmbeddings.Dense d : st.dense()) {
            row(s, "dense " + i++, d.inFeatures() + " -> " + d.outFeatures() + ", " + d.activation().torchName()
                    + (d.bias() == null ? ", no bias" : "") + (d.residual() ? ", residual" : ""));
        }
        row(s, "normalize", String.valueOf(st.normalize()));
        if (st.truncateDim() > 0) row(s, "truncate_dim", String.valueOf(st.truncateDim()));
        row(s, "dimension", String.valueOf(st.dimension(dim)));
        st.prompts().forEach((name, text) -> row(s, "prompt " + name, compactJson(text)
                + (name.equals(st.defaultPromptName()) ? " (default)" : "")));
        if (st.similarityFnName() != null) row(s, "similarity", st.similarityFnName());
        return s.toString();
    }

    static ObjectNode sentenceTransformersJson(SentenceTransformerDirectory st, int dim) {
        ObjectNode o = JSON.createObjectNode();
        o.put("transformer", st.transformer().toString());
        if (st.maxSeqLength().isPresent()) o.put("max_seq_length", st.maxSeqLength().getAsInt());
        o.put("do_lower_case", st.doLowerCase());
        ArrayNode modes = o.putArray("pooling_mode");
        st.pooling().forEach(m -> modes.add(m.toString()));
        o.put("include_prompt", st.includePrompt());
        ArrayNode dense = o.putArray("dense");
        for (SentenceEmbeddings.Dense d : st.dense()) {
            dense.addObject().put("in_features", d.inFeatures()).put("out_features", d.outFeatures())
                    .put("bias", d.bias() != null).put("activation_function", d.activation().torchName())
                    .put("use_residual", d.residual());
        }
        o.put("normalize", st.normalize());
        if (st.truncateDim() > 0) o.put("truncate_dim", st.truncateDim());
        o.put("dimension", st.dimension(dim));
        o.set("prompts", JSON.valueToTree(st.prompts()));
        if (st.defaultPromptName() != null) o.put("default_prompt_name", st.defaultPromptName());
        if (st.similarityFnName() != null) o.put("similarity_fn_name", st.similarityFnName());
        return o;
    }

    /** A sparse-encoder (SPLADE) directory, as embed runs it. */
    static String sparseEncoderText(SparseEmbeddings.Directory d, int vocab) {
        StringBuilder s = new StringBuilder("\nSparse embeddings (" + SentenceTransformerDirectory.MODULES_FILE + ", as embed runs them)\n");
        row(s, "transformer", d.dir().relativize(d.transformer()).toString().isEmpty() ? "the directory itself"
                : d.dir().relativize(d.transformer()).toString());
        if (d.maxSeqLength().isPresent()) row(s, "max_seq_length", String.valueOf(d.maxSeqLength().getAsInt()));
        row(s, "pooling", "SPLADE, " + d.strategy() + " of log(1 + " + (d.activation() == SparseEmbeddings.Activation.RELU
                ? "relu(x))" : "log(1 + relu(x)))") + " over the tokens");
        row(s, "dimension", vocab + " (the vocabulary), sparse");
        d.prompts().forEach((name, text) -> row(s, "prompt " + name, compactJson(text)
                + (name.equals(d.defaultPromptName()) ? " (default)" : "")));
        return s.toString();
    }

    static ObjectNode sparseEncoderJson(SparseEmbeddings.Directory d, int vocab) {
        ObjectNode o = JSON.createObjectNode();
        o.put("transformer", d.transformer().toString());
        if (d.maxSeqLength().isPresent()) o.put("max_seq_length", d.maxSeqLength().getAsInt());
        o.put("pooling_strategy", d.strategy().toString());
        o.put("activation_function", d.activation().toString());
        o.put("dimension", vocab);
        o.set("prompts", JSON.valueToTree(d.prompts()));
        if (d.defaultPromptName() != null) o.put("default_prompt_name", d.defaultPromptName());
        return o;
    }

    /** A cross-encoder directory, as rerank runs it. */
    static String crossEncoderText(CrossEncoder.Directory ce, int numLabels) {
        StringBuilder s = new StringBuilder("\nCross-encoder (config_sentence_transformers.json, as rerank runs it)\n");
        row(s, "transformer", ce.dir().relativize(ce.transformer()).toString().isEmpty() ? "the directory itself"
                : ce.dir().relativize(ce.transformer()).toString());
        if (ce.maxSeqLength().isPresent()) row(s, "max_seq_length", String.valueOf(ce.maxSeqLength().getAsInt()));
        row(s, "activation", (ce.activation() != null ? ce.activation().torchName() + " (" + ce.activationSource() + ")"
                : CrossEncoder.defaultActivation(numLabels).torchName() + " (the default for " + numLabels
                + (numLabels == 1 ? " label)" : " labels)")));
        ce.prompts().forEach((name, text) -> row(s, "prompt " + name, compactJson(text)
                + (name.equals(ce.defaultPromptName()) ? " (default)" : "")));
        return s.toString();
    }

    static ObjectNode crossEncoderJson(CrossEncoder.Directory ce, int numLabels) {
        ObjectNode o = JSON.createObjectNode();
        o.put("transformer", ce.transformer().toString());
        if (ce.maxSeqLength().isPresent()) o.put("max_seq_length", ce.maxSeqLength().getAsInt());
        o.put("activation_fn", (ce.activation() != null ? ce.activation() : CrossEncoder.defaultActivation(numLabels)).torchName());
        o.set("prompts", JSON.valueToTree(ce.prompts()));
        if (ce.defaultPromptName() != null) o.put("default_prompt_name", ce.defaultPromptName());
        return o;
    }

    // ---- text --------------------------------------------------------------------------------------

    static String reportText(ModelReport r) {
        StringBuilder s = new StringBuilder();
        DistilBertConfig c = r.config();
        s.append("Model ").append(r.dir()).append('\n');
        row(s, "class", r.head().hfClass() + (c.architectures().isEmpty() ? " (config.json names no architectures)"
                : " (config.json architectures: " + String.join(", ", c.architectures()) + ")"));
        row(s, "weights", r.weights().format() + ", " + bytes(r.weights().bytes()));
        row(s, "shape", c.nLayers() + " layers, dim " + c.dim() + ", " + c.nHeads() + " heads of " + c.headSize() + ", FFN "
                + c.hiddenDim() + ", vocab " + c.vocabSize() + ", " + c.maxPositionEmbeddings() + " positions");

        s.append("\nCommands that run it\n");
        commands(r.head(), c).forEach((command, what) -> row(s, command, what));

        s.append("\nConfig (config.json)\n");
        configFields(c).forEach((k, v) -> row(s, k, v instanceof String str ? str : compactJson(v)));

        ModelReport.Parameters p = r.parameters();
        s.append("\nParameters ").append(count(p.total())).append(" (").append(millions(p.total())).append(")");
        s.append(p.trainable() == p.total() ? ", all trainable" : ", " + count(p.trainable()) + " trainable (the sinusoidal position table is frozen)");
        s.append('\n');
        countRow(s, "  ", "embeddings", p.embeddings(), null);
        for (ModelReport.Part part : p.embeddingParts()) countRow(s, "    ", part.name(), part.count(), part.note());
        boolean uniform = p.layers().stream().distinct().count() <= 1;
        countRow(s, "  ", "transformer layers", p.layersTotal(),
                uniform && !p.layers().isEmpty() ? p.layers().size() + " × " + count(p.layers().getFirst()) : null);
        if (uniform) {
            for (ModelReport.Part part : p.layerParts()) countRow(s, "    ", part.name(), part.count(), "per layer");
        } else {
            for (int i = 0; i < p.layers().size(); i++) countRow(s, "    ", "layer " + i, p.layers().get(i), null);
        }
        countRow(s, "  ", "head", p.head(), p.headParts().isEmpty() ? r.head().hfClass() + " has none" : null);
        for (ModelReport.Part part : p.headParts()) countRow(s, "    ", part.name(), part.count(), part.note());

        ModelReport.Weights w = r.weights();
        s.append("\nWeights (").append(w.format()).append(")\n");
        for (ModelReport.FileSize f : w.files()) row(s, f.name(), bytes(f.bytes()));
        StringBuilder types = new StringBuilder();
        for (ModelReport.DTypeCount d : w.dtypes()) {
            types.append(types.isEmpty() ? "" : ", ").append(d.dtype()).append(": ").append(d.tensors())
                    .append(d.tensors() == 1 ? " tensor" : " tensors").append(" (").append(count(d.values())).append(" values)");
        }
        row(s, "tensors", w.tensors() + (types.isEmpty() ? "" : "; " + types));
        if (!w.metadata().isEmpty()) row(s, "metadata", compactJson(w.metadata()));

        s.append("\nTokenizer\n");
        ModelReport.TokenizerSummary t = r.tokenizer();
        if (t == null) {
            boolean unreadable = r.warnings().stream().anyMatch(x -> x.startsWith(ModelReport.TOKENIZER_UNREADABLE));
            row(s, "none", unreadable ? "it cannot be read (see the warnings)" : "the directory has no tokenizer.json or vocab.txt");
        } else {
            row(s, "file", t.file() + (t.hasConfig() ? " + tokenizer_config.json" : ""));
            row(s, "vocab size", count(t.vocabSize()));
            row(s, "lowercase", t.lowercase() ? "yes" : "no");
            row(s, "strip accents", t.stripAccents() == null ? "as lowercase" : t.stripAccents() ? "yes" : "no");
            row(s, "model_max_length", String.valueOf(t.modelMaxLength()));
            var sp = t.specialTokens();
            row(s, "special tokens", String.join(" ", sp.cls(), sp.sep(), sp.pad(), sp.unk(), sp.mask()));
        }

        ModelReport.Memory m = r.memory();
        s.append("\nMemory\n");
        row(s, "parameters", "fp32 " + bytes(m.parametersFp32()) + ", bf16 " + bytes(m.parametersBf16()));
        row(s, "training", bytes(m.trainingFp32()) + " for fp32 weights, gradients and AdamW's two moments ("
                + ModelReport.TRAINING_BYTES_PER_PARAMETER + " bytes per parameter); " + bytes(m.trainingBf16())
                + " in bf16 or fp16 mixed precision (" + ModelReport.TRAINING_BF16_BYTES_PER_PARAMETER
                + ": the 16-bit weights beside those); activations not counted");
        s.append("  activations of one inference forward pass: ").append(ModelReport.activationFormula(r.head())).append('\n');
        s.append(String.format(Locale.ROOT, "    %-12s %10s %12s %12s%n", "batch", "tokens", "fp32", "bf16"));
        for (ModelReport.Activations a : m.activations()) {
            s.append(String.format(Locale.ROOT, "    %-12s %10s %12s %12s%s%n", a.shape().batch() + "×" + a.shape().length(),
                    count(a.tokens()), shortBytes(a.elements() * 4), shortBytes(a.elements() * 2),
                    a.fits() ? "" : "  (L > max_position_embeddings " + c.maxPositionEmbeddings() + ": the model cannot run it)"));
        }

        s.append("\nWarnings\n");
        if (r.warnings().isEmpty()) s.append("  none\n");
        for (String x : r.warnings()) s.append("  ").append(x).append('\n');
        if (!r.errors().isEmpty()) {
            s.append("\nErrors (loading would fail)\n");
            for (String x : r.errors()) s.append("  ").append(x).append('\n');
        }
        return s.toString();
    }

    static String deviceText(GpuStatus status) {
        StringBuilder s = new StringBuilder();
        switch (status) {
            case GpuStatus.Usable u -> {
                s.append("GPU: usable\n");
                row(s, "driver", "supports CUDA " + driverVersion(u.driverVersion()));
                row(s, "cuBLAS", u.cublasVersion());
                for (DeviceInfo d : u.devices()) {
                    row(s, "device " + d.ordinal(), d.name() + ", compute capability " + d.computeMajor() + "." + d.computeMinor()
                            + " (sm_" + d.sm() + "), " + bytes(d.totalMemoryBytes()) + ", " + d.multiprocessors() + " SMs"
                            + (d.supported() ? "" : ", not supported (needs sm_" + GpuProbe.MIN_COMPUTE_MAJOR + "0+)")
                            + (d.equals(u.device()) ? "  [default]" : ""));
                }
                if (u.devices().stream().filter(DeviceInfo::supported).count() > 1) {
                    row(s, "choosing", "--device cuda:N runs on device N; cuda and auto take the default");
                }
            }
            case GpuStatus.Unusable n -> {
                s.append("GPU: no usable GPU (").append(reason(n.reason())).append(")\n");
                row(s, "reason", n.detail());
                row(s, "fallback", "models run on the CPU: --device auto falls back to it, --device cuda fails");
            }
        }
        return s.toString();
    }

    private static void row(StringBuilder s, String key, String value) {
        s.append(String.format(Locale.ROOT, "  %-24s %s%n", key, value));
    }

    private static void countRow(StringBuilder s, String indent, String name, long n, String note) {
        s.append(String.format(Locale.ROOT, "%s%-" + (26 - indent.length()) + "s %12s%s%n", indent, name, count(n),
                note == null ? "" : "  " + note));
    }

    static String count(long n) {
        return String.format(Locale.ROOT, "%,d", n);
    }

    private static String millions(long n) {
        if (n >= 1_000_000_000) return String.format(Locale.ROOT, "%.2f B", n / 1e9);
        return n >= 1_000_000 ? String.format(Locale.ROOT, "%.1f M", n / 1e6) : String.format(Locale.ROOT, "%.1f k", n / 1e3);
    }

    /** "86.1 MiB (90,269,336 bytes)". */
    static String bytes(long n) {
        return shortBytes(n) + " (" + count(n) + " bytes)";
    }

    /** "86.1 MiB". */
    static String shortBytes(long n) {
        if (n < 1024) return n + " B";
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    private static String driverVersion(int v) {
        return (v / 1000) + "." + (v % 1000) / 10;
    }

    private static String reason(GpuStatus.Reason r) {
        return r.name().toLowerCase(Locale.ROOT);
    }

    // ---- JSON --------------------------------------------------------------------------------------

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * Every field of the config under its config.json key, in the record's order, defaults included
     * (config.json leaves some out), then the keys this project does not model.
     */
    static Map<String, Object> configFields(DistilBertConfig c) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model_type", DistilBertConfig.MODEL_TYPE);
        m.put("vocab_size", c.vocabSize());
        m.put("max_position_embeddings", c.maxPositionEmbeddings());
        m.put("sinusoidal_pos_embds", c.sinusoidalPosEmbds());
        m.put("n_layers", c.nLayers());
        m.put("n_heads", c.nHeads());
        m.put("dim", c.dim());
        m.put("hidden_dim", c.hiddenDim());
        m.put("dropout", c.dropout());
        m.put("attention_dropout", c.attentionDropout());
        m.put("activation", c.activation().hfName());
        m.put("initializer_range", c.initializerRange());
        m.put("qa_dropout", c.qaDropout());
        m.put("seq_classif_dropout", c.seqClassifDropout());
        m.put("pad_token_id", c.padTokenId());
        m.put("architectures", c.architectures());
        Map<String, String> id2label = new LinkedHashMap<>();
        c.id2label().forEach((k, v) -> id2label.put(String.valueOf(k), v));
        m.put("id2label", id2label);
        m.put("label2id", c.label2id());
        m.put("problem_type", c.problemType() == null ? null : c.problemType().hfName());
        m.put("output_attentions", c.outputAttentions());
        m.put("output_hidden_states", c.outputHiddenStates());
        m.put("tie_word_embeddings", c.tieWordEmbeddings());
        m.putAll(c.extra());
        return m;
    }

    /** Whether zero-shot can run a model: a sequence classifier of two labels or more (an NLI model, at best). */
    private static boolean zeroShot(Head head, DistilBertConfig c) {
        return head == Head.SEQUENCE_CLASSIFICATION && c.numLabels() >= 2;
    }

    /** The commands that can run a model of {@code head}, with what they make of it. */
    static Map<String, String> commands(Head head, DistilBertConfig c) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("embed", "sentence embeddings from the encoder (any DistilBERT); bench, its throughput");
        switch (head) {
            case SEQUENCE_CLASSIFICATION -> {
                m.put("score", "text classification into its " + c.numLabels() + (c.numLabels() == 1 ? " label" : " labels") + ": "
                        + String.join(", ", c.id2label().values()));
                if (zeroShot(head, c)) {
                    int e = ZeroShotClassification.entailmentIdFor(c), k = ZeroShotClassification.contradictionIdFor(e, c.numLabels());
                    m.put("zero-shot", ZeroShotClassification.entailmentIdOf(c) >= 0
                            ? "labels chosen at run time, if it is an NLI model: entailment " + c.id2label().get(e) + " (id " + e
                            + "), contradiction " + c.id2label().get(k) + " (id " + k + ")"
                            : "no label2id name starts with \"entail\": zero-shot would take the last label (" + c.id2label().get(e)
                            + ") for entailment, as HF does; name the right one with --entailment-label");
                }
            }
            case MASKED_LM -> m.put("fill-mask", "the best tokens for [MASK], or the probabilities of --targets");
            case TOKEN_CLASSIFICATION -> m.put("ner", "token classification into " + String.join(", ", c.id2label().values()));
            case QUESTION_ANSWERING -> m.put("qa", "extractive question answering");
            case MULTIPLE_CHOICE -> m.put("multiple-choice", "scores of a prompt's choices");
            case BASE -> { }
        }
        m.put("train", head == Head.SEQUENCE_CLASSIFICATION
                ? "fine-tuning it further as a text classifier (CPU)"
                : "fine-tuning its encoder as a text classifier, with a new head (CPU)");
        return m;
    }

    static ObjectNode reportJson(ModelReport r) {
        ObjectNode root = JSON.createObjectNode();
        root.put("model", r.dir().toString());
        root.put("model_class", r.head().hfClass());
        root.set("commands", JSON.valueToTree(commands(r.head(), r.config())));
        if (zeroShot(r.head(), r.config())) {
            DistilBertConfig c = r.config();
            int e = ZeroShotClassification.entailmentIdFor(c), k = ZeroShotClassification.contradictionIdFor(e, c.numLabels());
            root.putObject("zero_shot").put("entailment_id", e).put("entailment_label", c.id2label().get(e))
                    .put("entailment_named", ZeroShotClassification.entailmentIdOf(c) >= 0).put("contradiction_id", k).put("contradiction_label", c.id2label().get(k));
        }
        root.set("config", JSON.valueToTree(configFields(r.config())));

        ModelReport.Parameters p = r.parameters();
        ObjectNode params = root.putObject("parameters");
        params.put("total", p.total());
        params.put("trainable", p.trainable());
        params.put("tensors", p.tensors());
        params.put("embeddings", p.embeddings());
        params.set("embedding_parts", parts(p.embeddingParts()));
        ArrayNode layers = params.putArray("layers");
        p.layers().forEach(layers::add);
        params.put("layers_total", p.layersTotal());
        params.set("layer_parts", parts(p.layerParts()));
        params.put("head", p.head());
        params.set("head_parts", parts(p.headParts()));
        ArrayNode tied = params.putArray("tied");
        p.tied().forEach(tied::add);

        ModelReport.Weights w = r.weights();
        ObjectNode weights = root.putObject("weights");
        weights.put("format", w.format());
        ArrayNode files = weights.putArray("files");
        for (ModelReport.FileSize f : w.files()) files.addObject().put("name", f.name()).put("bytes", f.bytes());
        weights.put("bytes", w.bytes());
        weights.put("tensors", w.tensors());
        ObjectNode dtypes = weights.putObject("dtypes");
        for (ModelReport.DTypeCount d : w.dtypes()) {
            dtypes.putObject(d.dtype().name()).put("tensors", d.tensors()).put("values", d.values()).put("bytes", d.bytes());
        }
        weights.set("metadata", JSON.valueToTree(w.metadata()));

        ModelReport.TokenizerSummary t = r.tokenizer();
        if (t == null) {
            root.putNull("tokenizer");
        } else {
            ObjectNode tok = root.putObject("tokenizer");
            tok.put("file", t.file());
            tok.put("tokenizer_config", t.hasConfig());
            tok.put("vocab_size", t.vocabSize());
            tok.put("lowercase", t.lowercase());
            if (t.stripAccents() == null) tok.putNull("strip_accents");
            else tok.put("strip_accents", t.stripAccents());
            tok.put("model_max_length", t.modelMaxLength());
            var sp = t.specialTokens();
            tok.putObject("special_tokens").put("cls", sp.cls()).put("sep", sp.sep()).put("pad", sp.pad()).put("unk", sp.unk())
                    .put("mask", sp.mask());
        }

        ModelReport.Memory m = r.memory();
        ObjectNode memory = root.putObject("memory");
        memory.putObject("parameters").put("fp32", m.parametersFp32()).put("bf16", m.parametersBf16());
        memory.put("training_fp32", m.trainingFp32());
        memory.put("training_bf16", m.trainingBf16());
        memory.put("activation_formula", ModelReport.activationFormula(r.head()));
        ArrayNode acts = memory.putArray("activations");
        for (ModelReport.Activations a : m.activations()) {
            acts.addObject().put("batch", a.shape().batch()).put("length", a.shape().length()).put("tokens", a.tokens())
                    .put("fp32", a.elements() * 4).put("bf16", a.elements() * 2).put("fits", a.fits());
        }
        ArrayNode warnings = root.putArray("warnings");
        r.warnings().forEach(warnings::add);
        ArrayNode errors = root.putArray("errors");
        r.errors().forEach(errors::add);
        return root;
    }

    private static ArrayNode parts(List<ModelReport.Part> parts) {
        ArrayNode a = JSON.createArrayNode();
        for (ModelReport.Part part : parts) {
            ObjectNode o = a.addObject().put("name", part.name()).put("count", part.count());
            if (part.note() != null) o.put("note", part.note());
        }
        return a;
    }

    static ObjectNode deviceJson(GpuStatus status) {
        ObjectNode root = JSON.createObjectNode();
        root.put("usable", status.usable());
        switch (status) {
            case GpuStatus.Usable u -> {
                root.put("driver_version", u.driverVersion());
                root.put("driver_cuda", driverVersion(u.driverVersion()));
                root.put("cublas_version", u.cublasVersion());
                ArrayNode devices = root.putArray("devices");
                for (DeviceInfo d : u.devices()) {
                    devices.addObject().put("ordinal", d.ordinal()).put("name", d.name())
                            .put("compute_capability", d.computeMajor() + "." + d.computeMinor()).put("sm", d.sm())
                            .put("memory_bytes", d.totalMemoryBytes()).put("multiprocessors", d.multiprocessors())
                            .put("supported", d.supported());
                }
                root.put("default_device", u.device().ordinal());
            }
            case GpuStatus.Unusable n -> {
                root.put("reason", reason(n.reason()));
                root.put("detail", n.detail());
            }
        }
        return root;
    }

    private static String toJson(Object node) {
        try {
            return JSON.writeValueAsString(node) + "\n";
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e); // never: a tree to a String
        }
    }

    private static String compactJson(Object value) {
        try {
            return new ObjectMapper().writeValueAsString(value);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
