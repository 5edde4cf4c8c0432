package distilbert.weights;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A HuggingFace model directory: {@code config.json} plus weights in {@code model.safetensors},
 * {@code model.safetensors.index.json} + shards, or {@code pytorch_model.bin} (looked for in that
 * order, as transformers does). Loading checks every tensor against the config and reports, as HF
 * does, what was missing and what was not used; saving writes what {@code save_pretrained} writes.
 */
public final class ModelDirectory {
    private ModelDirectory() {}

    public static final String CONFIG_FILE = "config.json";
    /** safetensors metadata transformers requires ({@code metadata.get("format") == "pt"}). */
    public static final Map<String, String> HF_METADATA = Map.of("format", "pt");

    /** Seed for head parameters a checkpoint lacks (HF draws them from torch's global generator). */
    public static final long DEFAULT_INIT_SEED = 42;

    public static DistilBertConfig readConfig(Path dir) throws IOException {
        Path p = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(p)) throw new CheckpointException(dir + ": no config.json (not a HuggingFace model directory)");
        return DistilBertConfig.read(p);
    }

    /** The weights of {@code dir}: model.safetensors, else the sharded index, else pytorch_model.bin. */
    public static TensorSource openWeights(Path dir) throws IOException {
        Path st = dir.resolve(ShardedSafetensors.SINGLE_FILE);
        if (Files.isRegularFile(st)) return SafetensorsFile.open(st);
        Path index = dir.resolve(ShardedSafetensors.INDEX_FILE);
        if (Files.isRegularFile(index)) return ShardedSafetensors.open(index);
        Path bin = dir.resolve(PytorchBinFile.FILE_NAME);
        if (Files.isRegularFile(bin)) return PytorchBinFile.open(bin);
        if (Files.isRegularFile(dir.resolve("pytorch_model.bin.index.json"))) {
            throw new CheckpointException(dir + ": sharded pytorch_model.bin checkpoints are not supported; convert them to safetensors");
        }
        throw new CheckpointException(dir + ": no weights: expected " + ShardedSafetensors.SINGLE_FILE + ", "
                + ShardedSafetensors.INDEX_FILE + " or " + PytorchBinFile.FILE_NAME);
    }

    /** The head named first in config.json's "architectures", or BASE when none is a DistilBERT class. */
    public static Head headOf(DistilBertConfig config) {
        for (String a : config.architectures()) {
            var h = Head.fromHfClass(a);
            if (h.isPresent()) return h.get();
        }
        return Head.BASE;
    }

    /** Loads {@code dir} for the head its config names. */
    public static Checkpoint load(Path dir) throws IOException {
        DistilBertConfig config = readConfig(dir);
        return load(dir, config, headOf(config), DEFAULT_INIT_SEED);
    }

    public static Checkpoint load(Path dir, Head head) throws IOException {
        return load(dir, readConfig(dir), head, DEFAULT_INIT_SEED);
    }

    /** Loads the weights of {@code dir} for {@code head}, checked against {@code config}. */
    public static Checkpoint load(Path dir, DistilBertConfig config, Head head, long initSeed) throws IOException {
        try (TensorSource source = openWeights(dir)) {
            return fromSource(config, head, source, initSeed);
        }
    }

    private static final Pattern LAYER = Pattern.compile("(?:distilbert\\.)?transformer\\.layer\\.(\\d+)\\..*");

    /**
     * Checks and converts the tensors of {@code source} for {@code head}:
     * <ul>
     *   <li>encoder names are matched with or without the {@code distilbert.} prefix (HF loads a
     *       DistilBertModel checkpoint into a head model and back); legacy {@code .gamma}/{@code .beta}
     *       are read as {@code .weight}/{@code .bias}, as HF does;</li>
     *   <li>a missing encoder tensor is an error listing all of them; a missing head tensor is
     *       initialised ({@link Initializer}) and reported, as HF does;</li>
     *   <li>a shape that contradicts the config is an error naming the config field;</li>
     *   <li>vocab_projector.weight is tied to the word embeddings when tie_word_embeddings;</li>
     *   <li>tensors the model does not use are reported in {@link Checkpoint#unexpected()}.</li>
     * </ul>
     */
    public static Checkpoint fromSource(DistilBertConfig config, Head head, TensorSource source, long initSeed) {
        List<ParameterSpec> specs = DistilBertParameters.layout(config, head);
        Map<String, ParameterSpec> byName = new LinkedHashMap<>();
        for (ParameterSpec s : specs) byName.put(s.name(), s);
        List<String> warnings = new ArrayList<>();

        // file name → model name
        Map<String, String> fileNameOf = new LinkedHashMap<>();
        List<String> unexpected = new ArrayList<>();
        int fileLayers = 0;
        for (String fileName : source.names()) {
            String n = fileName;
            if (n.endsWith(".gamma")) n = n.substring(0, n.length() - 6) + ".weight";
            else if (n.endsWith(".beta")) n = n.substring(0, n.length() - 5) + ".bias";
            if (!n.equals(fileName)) warnings.add(source.fileOf(fileName) + ": legacy name '" + fileName + "' read as '" + n + "'");
            Matcher m = LAYER.matcher(n);
            if (m.matches()) fileLayers = Math.max(fileLayers, Integer.parseInt(m.group(1)) + 1);
            String target = DistilBertParameters.nameFor(head, n);
            if (!byName.containsKey(target)) {
                unexpected.add(fileName);
                continue;
            }
            String previous = fileNameOf.put(target, fileName);
            if (previous != null) {
                throw new CheckpointException(source.fileOf(fileName) + ": both '" + previous + "' and '" + fileName
                        + "' would load into " + target);
            }
        }

        Map<String, float[]> tensors = new LinkedHashMap<>();
        List<String> missing = new ArrayList<>();
        List<String> newlyInitialized = new ArrayList<>();
        for (ParameterSpec s : specs) {
            String fileName = fileNameOf.get(s.name());
            if (s.isTied()) {
                if (fileName != null) checkTiedCopy(source, fileName, s, fileNameOf, warnings);
                continue;
            }
            if (fileName == null) {
                boolean required = DistilBertParameters.isEncoderParameter(s.name())
                        && !(config.sinusoidalPosEmbds() && DistilBertParameters.stripPrefix(s.name()).equals(DistilBertParameters.POSITION_EMBEDDINGS));
                if (required) missing.add(s.name());
                else newlyInitialized.add(s.name());
                continue;
            }
            NamedTensor t = source.tensor(fileName);
            checkShape(source.fileOf(fileName), s, t, config);
            if (!t.dtype().isFloatingPoint()) {
                throw new CheckpointException(source.fileOf(fileName) + ": " + fileName + " is " + t.dtype()
                        + ", expected a floating-point tensor (F32, F16, BF16 or F64)");
            }
            tensors.put(s.name(), t.toFloats());
        }
        if (!missing.isEmpty()) throw missingError(source, head, config, missing, fileLayers, fileNameOf.isEmpty());
        for (String name : newlyInitialized) {
            tensors.put(name, Initializer.initialize(config, byName.get(name), initSeed));
        }
        // keep layout order
        Map<String, float[]> ordered = new LinkedHashMap<>();
        for (ParameterSpec s : specs) if (tensors.containsKey(s.name())) ordered.put(s.name(), tensors.get(s.name()));

        if (!newlyInitialized.isEmpty()) {
            warnings.add("Some weights of " + head.hfClass() + " were not initialized from " + source.description()
                    + " and are newly initialized: " + newlyInitialized);
        }
        if (!unexpected.isEmpty()) {
            warnings.add("Some weights of " + source.description() + " were not used when initializing " + head.hfClass()
                    + ": " + unexpected);
        }
        return new Checkpoint(config, head, source.description(), ordered, newlyInitialized, unexpected, warnings);
    }

    private static void checkTiedCopy(TensorSource source, String fileName, ParameterSpec s,
                                      Map<String, String> fileNameOf, List<String> warnings) {
        // torch.save keeps a tied weight as a second view of the same storage; safetensors drops it.
        String owner = fileNameOf.get(s.tiedTo());
        if (owner == null) return;
        if (source instanceof PytorchBinFile bin && bin.sharesStorage(fileName, owner)) return;
        NamedTensor a = source.tensor(fileName), b = source.tensor(owner);
        if (!Arrays.equals(a.shape(), b.shape()) || !Arrays.equals(a.toFloats(), b.toFloats())) {
            warnings.add(source.fileOf(fileName) + ": " + fileName + " differs from " + owner
                    + "; tie_word_embeddings is true, so the word embeddings are used for both");
        }
    }

    private static CheckpointException missingError(TensorSource source, Head head, DistilBertConfig config,
                                                     List<String> missing, int fileLayers, boolean nothingMatched) {
        StringBuilder msg = new StringBuilder(source.description()).append(": ").append(missing.size())
                .append(missing.size() == 1 ? " tensor" : " tensors").append(" of ").append(head.hfClass()).append(" missing: ");
        int shown = Math.min(missing.size(), 12);
        msg.append(String.join(", ", missing.subList(0, shown)));
        if (missing.size() > shown) msg.append(", … and ").append(missing.size() - shown).append(" more");
        if (fileLayers > 0 && fileLayers < config.nLayers()) {
            msg.append(" (the file has ").append(fileLayers).append(" layers but config.json says n_layers ").append(config.nLayers()).append(")");
        }
        if (nothingMatched) {
            List<String> names = source.names();
            msg.append(" (no tensor of the file has a DistilBERT name; it has ")
                    .append(String.join(", ", names.subList(0, Math.min(3, names.size()))))
                    .append(names.size() > 3 ? ", …" : "").append(")");
        }
        return new CheckpointException(msg.toString());
    }

    private static void checkShape(String file, ParameterSpec spec, NamedTensor t, DistilBertConfig config) {
        long[] expected = spec.shape(), actual = t.shape();
        if (Arrays.equals(expected, actual)) return;
        String[] symbols = dimSymbols(DistilBertParameters.stripPrefix(spec.name()), expected.length);
        List<String> reasons = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < expected.length; i++) {
            boolean differs = actual.length != expected.length || actual[i] != expected[i];
            if (differs && symbols[i] != null && seen.add(symbols[i])) {
                reasons.add(symbols[i] + " " + expected[i] + (symbols[i].equals("num_labels") ? " (the size of id2label)" : ""));
            }
        }
        String why = reasons.isEmpty() ? "" : " but config.json says " + String.join(", ", reasons) + " →";
        throw new CheckpointException(file + ": " + t.name() + " has shape " + Arrays.toString(actual) + why
                + (why.isEmpty() ? " but" : "") + " expected " + Arrays.toString(expected));
    }

    /** The config field behind each dimension of a parameter (null for a fixed size). */
    private static String[] dimSymbols(String bare, int rank) {
        String module = bare.contains(".") ? bare.substring(0, bare.lastIndexOf('.')) : bare;
        boolean weight = bare.endsWith(".weight");
        String[] w;
        if (module.equals("embeddings.word_embeddings")) w = new String[] {"vocab_size", "dim"};
        else if (module.equals("embeddings.position_embeddings")) w = new String[] {"max_position_embeddings", "dim"};
        else if (module.endsWith("LayerNorm") || module.endsWith("layer_norm")) w = new String[] {"dim"};
        else if (module.endsWith("ffn.lin1")) w = new String[] {"hidden_dim", "dim"};
        else if (module.endsWith("ffn.lin2")) w = new String[] {"dim", "hidden_dim"};
        else if (module.equals("vocab_projector")) w = new String[] {"vocab_size", "dim"};
        else if (module.equals("classifier")) w = new String[] {"num_labels", "dim"};
        else if (module.equals("qa_outputs")) w = new String[] {null, "dim"};
        else w = new String[] {"dim", "dim"}; // q/k/v/out_lin, vocab_transform, pre_classifier
        if (!weight && w.length == 2) w = new String[] {w[0]};
        return w.length == rank ? w : new String[rank];
    }

    // ---------------------------------------------------------------------------------------------
    // saving

    /**
     * @param maxShardBytes shard above this size (HF's max_shard_size; default 5 GB)
     * @param dtype         F32 (default), F16 or BF16: the element type written
     */
    public record SaveOptions(long maxShardBytes, DType dtype) {
        public SaveOptions {
            if (maxShardBytes <= 0) throw new IllegalArgumentException("maxShardBytes must be positive");
            if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16) {
                throw new IllegalArgumentException("dtype must be F32, F16 or BF16, got " + dtype);
            }
        }

        public static SaveOptions defaults() {
            return new SaveOptions(ShardedSafetensors.DEFAULT_MAX_SHARD_BYTES, DType.F32);
        }
    }

    public static void save(Path dir, Checkpoint checkpoint) throws IOException {
        save(dir, checkpoint.config(), checkpoint.head(), checkpoint.tensors(), SaveOptions.defaults());
    }

    public static void save(Path dir, Checkpoint checkpoint, SaveOptions options) throws IOException {
        save(dir, checkpoint.config(), checkpoint.head(), checkpoint.tensors(), options);
    }

    /** Saves a one-slab buffer laid out by {@code table}. */
    public static void save(Path dir, DistilBertConfig config, Head head, DistilBertParameters.Table table, float[] slab,
                            SaveOptions options) throws IOException {
        Map<String, float[]> tensors = new LinkedHashMap<>();
        for (ParameterSpec s : table.owned()) {
            int off = Math.toIntExact(table.offset(s.name()));
            tensors.put(s.name(), Arrays.copyOfRange(slab, off, off + Math.toIntExact(s.numel())));
        }
        save(dir, config, head, tensors, options);
    }

    /**
     * Writes what {@code model.save_pretrained(dir)} writes: config.json (architectures set to the
     * head's class) and model.safetensors (or shards + index), tied parameters left out, metadata
     * {"format": "pt"}. Stale shards of an earlier save are removed.
     *
     * @param tensors every parameter of {@code head} that owns storage, by HF name (either prefix form)
     */
    public static void save(Path dir, DistilBertConfig config, Head head, Map<String, float[]> tensors, SaveOptions options)
            throws IOException {
        config.validate();
        Map<String, float[]> byModelName = new LinkedHashMap<>();
        for (var e : tensors.entrySet()) byModelName.put(DistilBertParameters.nameFor(head, e.getKey()), e.getValue());
        List<NamedTensor> out = new ArrayList<>();
        Set<String> used = new HashSet<>();
        for (ParameterSpec s : DistilBertParameters.layout(config, head)) {
            if (s.isTied()) {
                used.add(s.name());
                continue;
            }
            float[] v = byModelName.get(s.name());
            if (v == null) throw new IllegalArgumentException("cannot save " + head.hfClass() + ": no values for " + s.name());
            if (v.length != s.numel()) {
                throw new IllegalArgumentException("cannot save " + s.name() + ": " + v.length + " values for shape " + s.shapeString());
            }
            used.add(s.name());
            out.add(NamedTensor.ofFloats(s.name(), s.shape(), v).convertTo(options.dtype()));
        }
        for (String k : byModelName.keySet()) {
            if (!used.contains(k)) throw new IllegalArgumentException("cannot save " + head.hfClass() + ": '" + k + "' is not one of its parameters");
        }
        Files.createDirectories(dir);
        config.toBuilder().architectures(List.of(head.hfClass())).build().write(dir.resolve(CONFIG_FILE));
        List<Path> written = ShardedSafetensors.write(dir, out, HF_METADATA, options.maxShardBytes());
        removeStale(dir, written);
    }

    private static void removeStale(Path dir, List<Path> written) throws IOException {
        Set<Path> keep = new HashSet<>();
        for (Path p : written) keep.add(p.toAbsolutePath().normalize());
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                boolean ours = n.equals(ShardedSafetensors.SINGLE_FILE) || n.equals(ShardedSafetensors.INDEX_FILE)
                        || ShardedSafetensors.isShardFileName(n);
                if (ours && !keep.contains(p.toAbsolutePath().normalize())) Files.delete(p);
            }
        }
    }
}
