package distilbert.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import distilbert.cuda.GpuEventLog;
import distilbert.cuda.GpuProbe;
import distilbert.model.CudaOps;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.DistilBertForSequenceClassification;
import distilbert.model.ModelFlops;
import distilbert.model.ModelInput;
import distilbert.model.Precision;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.Activation;
import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import distilbert.weights.NamedTensor;
import distilbert.weights.SafetensorsWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The end-to-end GPU inference benchmark: batch scoring with {@link DistilBertForSequenceClassification},
 * token ids in on the host, logits back on the host, timed wall-clock per {@code forward} call. A plain
 * {@code main}, not JMH: one process measures every case of every precision, writes the exact inputs
 * for the HuggingFace peer ({@code bench/peer/hf_inference.py}) and one JSON file in the schema the peer
 * writes too. {@code bench/run-gpu-bench.sh} (the tarball's {@code bin/gpu-bench}) runs both and the report.
 *
 * <h2>Cases</h2>
 * <ul>
 *   <li>{@code fixed-b<B>-l<L>}: B rows of exactly L tokens (random ids in [1000, 29000), seeded per
 *       case, full attention mask): the dense shape, no padding for anyone to skip.</li>
 *   <li>{@code mix-b<B>} (with {@code --mix CORPUS}): B records of a real corpus drawn with replacement
 *       (seed {@value #MIX_SEED} + B), each {@code encode(text, text_pair)} by the bert-base-uncased
 *       tokenizer with [CLS]/[SEP], cut to {@code --mix-cap} (512) tokens longest-first, right-padded
 *       (id 0, mask 0) to the longest row — what a HF pipeline gives a model. Our backend packs the rows
 *       and computes no padding; HF computes it.</li>
 * </ul>
 *
 * <h2>Timing</h2>
 * Per case: {@code --warmup} calls, then {@code --iters} timed calls (or fewer when {@code --seconds}
 * runs out, never fewer than 3). One timed call is {@code forward(ModelInput)} from host {@code int[]}
 * ids and mask to the host {@code float[]} logits, {@link System#nanoTime()} around it; the download of
 * the logits waits for the device. The ModelInput is built once per case, outside the clock. Reported:
 * median, p10, p90 (linear interpolation between order statistics, as numpy's default), sequences/s and
 * real tokens/s at the median, model TFLOP/s and MFU against a peak ({@code --peak-tflops}, or the
 * measured matmul ceiling of the precision from {@code --ceilings}).
 *
 * <h2>FLOPs (the convention, used by both sides)</h2>
 * Counted analytically on <b>real tokens only</b> (mask 1): a multiply-add is 2 FLOPs; element-wise work
 * (embeddings, LayerNorm, softmax, GELU, residuals) is not counted. For a sequence of n real tokens:
 * <pre>
 *   flops(n) = n_layers · [ 2·n·(4·C² + 2·C·F)      q, k, v, out_lin (C×C each) and lin1, lin2 (C×F)
 *                          + 4·n²·C ]               Q·Kᵀ and P·V over all heads: 2·n·n·C each
 *            + 2·C·C + 2·C·NL                       pre_classifier and classifier on [CLS]
 * </pre>
 * and a case's FLOPs are the sum over its rows (C = dim, F = hidden_dim, NL = num_labels). That is per
 * real token per layer 2·(4·C² + 2·C·F) + 4·n·C. Padding is not counted for anyone: our backend packs
 * and skips it, HF computes it, so on the mix cases HF's time includes work that earns no FLOPs (its
 * padded FLOPs, the same formula with every row at the padded length, are reported beside as
 * {@code padded_flops}). For DistilBERT-base (C 768, F 3072, 6 layers) that is 84.9 MFLOP per token plus
 * 18.4 kFLOP·n per token for attention: 87.3 MFLOP per token at n = 128, 94.4 at n = 512.
 *
 * <h2>Files</h2>
 * <ul>
 *   <li>{@code --inputs-out DIR}: {@code inputs.json} (the cases: name, kind, batch, length, real tokens,
 *       row lengths, FLOPs) and {@code inputs.safetensors} ({@code <case>.input_ids} and
 *       {@code <case>.attention_mask}, I64 [B, L]). Written before any model is loaded.</li>
 *   <li>{@code --logits-out FILE}: safetensors, {@code <precision>/<case>} → F32 [B, num_labels].</li>
 *   <li>{@code --json FILE} (or stdout): schema {@value #SCHEMA}, rewritten after every case so a run cut
 *       short keeps what it measured.</li>
 * </ul>
 * {@code --prepare-only} writes the random model and the inputs and stops: the run script does that in a
 * process of its own, so that the peer has its model and inputs even if our backend brings the JVM down.
 *
 * <p>Exit codes: 0 every case ran; 1 a model could not be loaded or a case failed (the JSON says which and
 * why, stderr too; the other cases still ran); 2 a bad command line or unusable input files. Progress
 * lines go to stderr only when stderr is a terminal.
 */
public final class GpuInferenceBench {

    static final String SCHEMA = "distilbert-gpu-inference/1";
    static final String INPUTS_SCHEMA = "distilbert-gpu-inputs/1";
    static final long FIXED_SEED = 20261126L;
    static final long MIX_SEED = 20261127L;
    static final long INIT_SEED = 42;
    static final int MIN_ITERS = 3;
    /** The file --random-base leaves beside config.json, saying what the weights are (HF ignores it). */
    static final String RANDOM_MARKER = "random-init.txt";
    /** After this many failed cases of one precision the rest of it is skipped (a broken context fails them all). */
    static final int MAX_FAILURES = 3;

    static final String USAGE = """
            usage: GpuInferenceBench (--model DIR | --random-base DIR) [options]
              --model DIR            a DistilBertForSequenceClassification model directory (HF layout)
              --random-base DIR      use DIR; if it does not exist, first write a randomly initialised
                                     DistilBERT-base-uncased-shaped DistilBertForSequenceClassification (2 labels,
                                     seed 42) there
              --random-size base|tiny  the shape --random-base writes (default base; tiny: dim 32, 2 layers,
                                     4 heads, hidden 64, vocab 30522: for tests and pipeline checks)
              --device cuda|cuda:N|cpu  backend (default cuda: the first GPU that can run the kernels)
              --precision LIST       fp32, tf32, bf16, fp16, comma-separated (default: bf16 on cuda, fp32 on cpu;
                                     the CPU backend computes in fp32 only)
              --batch LIST           batch sizes (default 1,8,32,64,256,512)
              --length LIST          fixed lengths (default 128,512; 'none' for mix cases only)
              --mix FILE             also a length-mix case per batch size, drawn from this JSONL(.gz) corpus
              --tokenizer PATH       tokenizer.json or its folder for --mix (default: the model directory's)
              --mix-cap N            cut mix rows to N tokens (default 512)
              --warmup N             untimed calls per case (default 3)
              --iters N              timed calls per case (default 20)
              --seconds S            time budget per case: stop timing after S seconds (at least 3 calls)
              --peak-tflops X        MFU against X TFLOP/s for every precision
              --ceilings FILE        MFU against bench/peer/ceilings.py's measured matmul peak of each precision
              --inputs-out DIR       write every case's ids and mask (inputs.json, inputs.safetensors)
              --logits-out FILE      write every case's logits (safetensors, '<precision>/<case>')
              --json FILE            the results (default: stdout)
              --prepare-only         write the random model and the inputs, then stop (no model is run)
              -h, --help             this text
            exit codes: 0 all cases ran, 1 a model or case failed (see the JSON), 2 bad command line
            """;

    private GpuInferenceBench() {}

    public static void main(String[] args) {
        int code = run(args, System.out, System.err, stderrIsTerminal());
        System.out.flush();
        System.exit(code);
    }

    /** A bad command line or input file: exit code 2. */
    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    // ---- options --------------------------------------------------------------------------------

    record Options(Path model, boolean random, String randomSize, Device device, List<Precision> precisions,
                   int[] batches, int[] lengths, Path mix, Path tokenizer, int mixCap, int warmup, int iters,
                   double seconds, Double peakTflops, Path ceilings, Path inputsOut, Path logitsOut, Path json,
                   boolean prepareOnly) {
    }

    static Options parse(String[] args) throws UsageException {
        Map<String, String> v = new LinkedHashMap<>();
        List<String> valued = List.of("--model", "--random-base", "--random-size", "--device", "--precision", "--batch",
                "--length", "--mix", "--tokenizer", "--mix-cap", "--warmup", "--iters", "--seconds", "--peak-tflops",
                "--ceilings", "--inputs-out", "--logits-out", "--json");
        boolean prepareOnly = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i], value = null;
            if (a.equals("--prepare-only")) {
                prepareOnly = true;
                continue;
            }
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 0) {
                value = a.substring(eq + 1);
                a = a.substring(0, eq);
            }
            if (!valued.contains(a)) throw new UsageException("unknown option '" + args[i] + "'");
            if (value == null) {
                if (i + 1 >= args.length) throw new UsageException(a + " needs a value");
                value = args[++i];
            }
            if (v.put(a, value) != null) throw new UsageException(a + " given twice");
        }
        if (v.containsKey("--model") == v.containsKey("--random-base")) {
            throw new UsageException("give either --model DIR or --random-base DIR");
        }
        boolean random = v.containsKey("--random-base");
        Path model = Path.of(random ? v.get("--random-base") : v.get("--model"));
        String size = v.getOrDefault("--random-size", "base");
        if (!size.equals("base") && !size.equals("tiny")) throw new UsageException("--random-size must be base or tiny, not '" + size + "'");
        if (v.containsKey("--random-size") && !random) throw new UsageException("--random-size goes with --random-base");
        Device device;
        try {
            device = Device.parse(v.getOrDefault("--device", "cuda"));
        } catch (IllegalArgumentException e) {
            throw new UsageException("--device: " + e.getMessage());
        }
        if (device.kind() == Device.Kind.AUTO) throw new UsageException("--device must be cuda, cuda:N or cpu, not auto");
        List<Precision> precisions = new ArrayList<>();
        for (String p : list(v.getOrDefault("--precision", device == Device.CPU ? "fp32" : "bf16"), "--precision")) {
            Precision parsed;
            try {
                parsed = Precision.parse(p);
            } catch (IllegalArgumentException e) {
                throw new UsageException("--precision: " + e.getMessage());
            }
            if (precisions.contains(parsed)) throw new UsageException("--precision names " + p + " twice");
            if (device == Device.CPU && parsed != Precision.FP32) {
                throw new UsageException("--precision " + p + " with --device cpu: the CPU backend computes in fp32 only");
            }
            precisions.add(parsed);
        }
        int[] batches = positiveInts(v.getOrDefault("--batch", "1,8,32,64,256,512"), "--batch");
        String lengthList = v.getOrDefault("--length", "128,512");
        int[] lengths = lengthList.equalsIgnoreCase("none") ? new int[0] : positiveInts(lengthList, "--length");
        Path mix = v.containsKey("--mix") ? Path.of(v.get("--mix")) : null;
        if (mix != null && !Files.isRegularFile(mix)) throw new UsageException("--mix " + mix + ": no such file");
        if (lengths.length == 0 && mix == null) throw new UsageException("--length none leaves no case: add --mix FILE");
        Path tokenizer = v.containsKey("--tokenizer") ? Path.of(v.get("--tokenizer")) : null;
        if (tokenizer != null && !Files.exists(tokenizer)) throw new UsageException("--tokenizer " + tokenizer + ": no such file or folder");
        int mixCap = positiveInt(v.getOrDefault("--mix-cap", "512"), "--mix-cap");
        int warmup = nonNegativeInt(v.getOrDefault("--warmup", "3"), "--warmup");
        int iters = positiveInt(v.getOrDefault("--iters", "20"), "--iters");
        double seconds = v.containsKey("--seconds") ? positiveDouble(v.get("--seconds"), "--seconds") : 0;
        Double peak = v.containsKey("--peak-tflops") ? positiveDouble(v.get("--peak-tflops"), "--peak-tflops") : null;
        Path ceilings = v.containsKey("--ceilings") ? Path.of(v.get("--ceilings")) : null;
        if (peak != null && ceilings != null) throw new UsageException("give --peak-tflops or --ceilings, not both");
        if (ceilings != null && !Files.isRegularFile(ceilings)) throw new UsageException("--ceilings " + ceilings + ": no such file");
        if (prepareOnly && !v.containsKey("--inputs-out") && !random) {
            throw new UsageException("--prepare-only with neither --random-base nor --inputs-out has nothing to do");
        }
        return new Options(model, random, size, device, List.copyOf(precisions), batches, lengths, mix, tokenizer, mixCap,
                warmup, iters, seconds, peak, ceilings, path(v, "--inputs-out"), path(v, "--logits-out"), path(v, "--json"),
                prepareOnly);
    }

    private static Path path(Map<String, String> v, String key) {
        return v.containsKey(key) ? Path.of(v.get(key)) : null;
    }

    private static List<String> list(String s, String option) throws UsageException {
        List<String> out = new ArrayList<>();
        for (String part : s.split(",")) {
            if (part.isBlank()) throw new UsageException(option + " '" + s + "': an empty entry");
            out.add(part.strip());
        }
        return out;
    }

    private static int[] positiveInts(String s, String option) throws UsageException {
        List<String> parts = list(s, option);
        int[] out = new int[parts.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = positiveInt(parts.get(i), option);
            for (int j = 0; j < i; j++) if (out[j] == out[i]) throw new UsageException(option + " names " + out[i] + " twice");
        }
        return out;
    }

    private static int positiveInt(String s, String option) throws UsageException {
        int n = nonNegativeInt(s, option);
        if (n == 0) throw new UsageException(option + " must be positive, got 0");
        return n;
    }

    private static int nonNegativeInt(String s, String option) throws UsageException {
        try {
            int n = Integer.parseInt(s.strip());
            if (n < 0) throw new UsageException(option + " must not be negative, got " + n);
            return n;
        } catch (NumberFormatException e) {
            throw new UsageException(option + " takes a whole number, not '" + s + "'");
        }
    }

    private static double positiveDouble(String s, String option) throws UsageException {
        try {
            double d = Double.parseDouble(s.strip());
            if (!(d > 0) || Double.isInfinite(d)) throw new UsageException(option + " must be a positive number, got " + s);
            return d;
        } catch (NumberFormatException e) {
            throw new UsageException(option + " takes a number, not '" + s + "'");
        }
    }

    // ---- cases --------------------------------------------------------------------------------------

    /**
     * One batch: ids and mask [B, L] row-major, right-padded, and each row's real length.
     *
     * @param kind "fixed" or "mix"
     */
    record Case(String name, String kind, int batch, int length, int[] ids, int[] mask, int[] lengths, long seed) {
        long realTokens() {
            long n = 0;
            for (int len : lengths) n += len;
            return n;
        }
    }

    /** B rows of exactly L random ids in [1000, 29000) (within the vocabulary), full mask. */
    static Case fixedCase(int batch, int length, int vocab) {
        long seed = FIXED_SEED + 1_000_003L * batch + length;
        Random rnd = new Random(seed);
        int lo = vocab > 2000 ? 1000 : 1, hi = Math.min(29000, vocab);
        int[] ids = new int[batch * length], mask = new int[batch * length], lengths = new int[batch];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = lo + rnd.nextInt(hi - lo);
            mask[i] = 1;
        }
        Arrays.fill(lengths, length);
        return new Case("fixed-b" + batch + "-l" + length, "fixed", batch, length, ids, mask, lengths, seed);
    }

    /** B rows drawn with replacement from {@code corpus} (encoded rows), right-padded with id 0 to the longest. */
    static Case mixCase(int batch, List<int[]> corpus) {
        long seed = MIX_SEED + batch;
        Random rnd = new Random(seed);
        int[][] rows = new int[batch][];
        int longest = 0;
        for (int b = 0; b < batch; b++) {
            rows[b] = corpus.get(rnd.nextInt(corpus.size()));
            longest = Math.max(longest, rows[b].length);
        }
        int[] ids = new int[batch * longest], mask = new int[batch * longest], lengths = new int[batch];
        for (int b = 0; b < batch; b++) {
            System.arraycopy(rows[b], 0, ids, b * longest, rows[b].length); // padding id 0 = [PAD]
            Arrays.fill(mask, b * longest, b * longest + rows[b].length, 1);
            lengths[b] = rows[b].length;
        }
        return new Case("mix-b" + batch, "mix", batch, longest, ids, mask, lengths, seed);
    }

    /** Every record of the corpus as {@code encode(text, text_pair)}, cut to {@code cap} tokens. */
    static List<int[]> encodeCorpus(Tokenizer tok, Path corpus, int cap) {
        EncodeOptions cut = EncodeOptions.DEFAULT.withTruncation(Truncation.longestFirst(cap));
        List<int[]> out = new ArrayList<>();
        for (String[] r : TokenizerBenchmark.readCorpus(corpus)) out.add(tok.encode(r[0], r[1], cut).ids());
        return out;
    }

    /** The model FLOPs of one batch: the class comment's formula summed over the rows' real lengths. */
    static long flops(DistilBertConfig config, int[] lengths) {
        return ModelFlops.encoder(config, lengths) + ModelFlops.sequenceClassifier(config, lengths.length);
    }

    /** The FLOPs of the padded batch: every row counted at the padded length. */
    static long paddedFlops(DistilBertConfig config, Case c) {
        int[] padded = new int[c.batch()];
        Arrays.fill(padded, c.length());
        return flops(config, padded);
    }

    // ---- statistics ----------------------------------------------------------------------------------

    /** The p-th percentile (0..100) of {@code sorted}, linear between order statistics (numpy's default). */
    static double percentile(double[] sorted, double p) {
        if (sorted.length == 0) return Double.NaN;
        double pos = p / 100 * (sorted.length - 1);
        int lo = (int) Math.floor(pos), hi = (int) Math.ceil(pos);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }

    /** {mean, p50, p90, max, min} of integer values. */
    static ObjectNode summary(ObjectMapper json, int[] values) {
        double[] sorted = Arrays.stream(values).asDoubleStream().sorted().toArray();
        ObjectNode s = json.createObjectNode();
        s.put("count", values.length);
        s.put("mean", round(Arrays.stream(values).average().orElse(Double.NaN), 2));
        s.put("p50", round(percentile(sorted, 50), 2));
        s.put("p90", round(percentile(sorted, 90), 2));
        s.put("max", Arrays.stream(values).max().orElse(0));
        s.put("min", Arrays.stream(values).min().orElse(0));
        return s;
    }

    private static double round(double x, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(x * f) / f;
    }

    /** {@code x} to {@code digits} significant digits (rates and FLOP/s span many orders of magnitude). */
    static double sig(double x, int digits) {
        if (x == 0 || !Double.isFinite(x)) return x;
        return new java.math.BigDecimal(x).round(new java.math.MathContext(digits)).doubleValue();
    }

    // ---- the run ---------------------------------------------------------------------------------------

    static int run(String[] args, PrintStream out, PrintStream err, boolean progress) {
        if (args.length == 1 && (args[0].equals("-h") || args[0].equals("--help"))) {
            out.print(USAGE);
            return 0;
        }
        Options o;
        try {
            o = parse(args);
        } catch (UsageException e) {
            err.println("gpu-inference-bench: " + e.getMessage());
            err.println("Try --help for the options.");
            return 2;
        }
        try {
            return new Run(o, out, err, progress).call();
        } catch (UsageException e) {
            err.println("gpu-inference-bench: " + e.getMessage());
            return 2;
        } catch (IOException | RuntimeException e) {
            err.println("gpu-inference-bench: " + e);
            return 1;
        }
    }

    /** One invocation: prepares the model and the cases, then measures each precision in turn. */
    private static final class Run {
        private final Options o;
        private final PrintStream out, err;
        private final boolean progress;
        private final ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        private final ObjectNode root = json.createObjectNode();
        private final ArrayNode results = json.createArrayNode();
        private final ArrayNode failures = json.createArrayNode();
        private final Map<String, float[]> logits = new LinkedHashMap<>();
        private final Map<String, int[]> logitShapes = new LinkedHashMap<>();

        Run(Options o, PrintStream out, PrintStream err, boolean progress) {
            this.o = o;
            this.out = out;
            this.err = err;
            this.progress = progress;
        }

        int call() throws IOException, UsageException {
            String modelSource = prepareModel();
            DistilBertConfig config;
            try {
                config = ModelDirectory.readConfig(o.model());
            } catch (IOException | RuntimeException e) {
                throw new UsageException(o.model() + ": not a usable model directory: " + e.getMessage());
            }
            Head head = ModelDirectory.headOf(config);
            if (head != Head.SEQUENCE_CLASSIFICATION) {
                throw new UsageException(o.model() + " holds a " + head.hfClass()
                        + "; this benchmark times DistilBertForSequenceClassification");
            }
            for (int L : o.lengths()) {
                if (L > config.maxPositionEmbeddings()) {
                    throw new UsageException("--length " + L + " is over the model's max_position_embeddings "
                            + config.maxPositionEmbeddings());
                }
            }

            ObjectNode mixInfo = null;
            List<int[]> corpus = null;
            if (o.mix() != null) {
                int cap = Math.min(o.mixCap(), config.maxPositionEmbeddings());
                Path tokPath = o.tokenizer() != null ? o.tokenizer() : o.model();
                Tokenizer tok;
                try {
                    tok = Tokenizer.fromPretrained(tokPath);
                } catch (RuntimeException e) {
                    throw new UsageException("--mix needs a tokenizer: " + tokPath + ": " + e.getMessage()
                            + (o.tokenizer() == null ? " (give --tokenizer PATH)" : ""));
                }
                try {
                    corpus = encodeCorpus(tok, o.mix(), cap);
                } catch (IllegalArgumentException | UncheckedIOException e) {
                    throw new UsageException("--mix " + o.mix() + ": " + e.getMessage());
                }
                int[] all = corpus.stream().mapToInt(r -> r.length).toArray();
                for (int[] r : corpus) {
                    for (int id : r) {
                        if (id >= config.vocabSize()) {
                            throw new UsageException("the tokenizer " + tokPath + " gives id " + id
                                    + ", outside the model's vocabulary of " + config.vocabSize());
                        }
                    }
                }
                mixInfo = json.createObjectNode();
                mixInfo.put("corpus", o.mix().toAbsolutePath().toString());
                mixInfo.put("tokenizer", tokPath.toAbsolutePath().toString());
                mixInfo.put("records", corpus.size());
                mixInfo.put("cap", cap);
                mixInfo.put("seed", MIX_SEED);
                mixInfo.put("draw", "per batch size B: B records with replacement, java.util.Random(seed + B)");
                mixInfo.set("corpus_lengths", summary(json, all));
            }

            List<Case> cases = new ArrayList<>();
            for (int L : o.lengths()) for (int B : o.batches()) cases.add(fixedCase(B, L, config.vocabSize()));
            if (corpus != null) for (int B : o.batches()) cases.add(mixCase(B, corpus));

            root.put("schema", SCHEMA);
            root.put("side", "ours");
            root.put("implementation", "distilbert-cuda");
            root.put("started", Instant.now().toString());
            root.set("environment", environment());
            ObjectNode model = root.putObject("model");
            model.put("dir", o.model().toAbsolutePath().toString());
            model.put("source", modelSource);
            model.put("dim", config.dim());
            model.put("hidden_dim", config.hiddenDim());
            model.put("n_layers", config.nLayers());
            model.put("n_heads", config.nHeads());
            model.put("vocab_size", config.vocabSize());
            model.put("num_labels", config.numLabels());
            model.put("activation", config.activation().hfName());
            model.put("parameters", DistilBertParameters.table(config, head).numel());
            ObjectNode settings = root.putObject("settings");
            settings.put("device", o.device().toString());
            ArrayNode ps = settings.putArray("precisions");
            for (Precision p : o.precisions()) ps.add(p.cliName());
            settings.put("attention_kernel", distilbert.cuda.AttentionKernel.fromSystemProperty().cliName());
            settings.put("warmup", o.warmup());
            settings.put("iters", o.iters());
            if (o.seconds() > 0) settings.put("seconds", o.seconds());
            else settings.putNull("seconds");
            settings.put("min_iters", MIN_ITERS);
            settings.put("timed", "forward(ModelInput) from host int[] ids/mask to host float[] logits, System.nanoTime");
            root.put("flops_convention", "real tokens only; per row of n tokens: n_layers*(2n(4C^2+2CF) + 4n^2 C)"
                    + " + 2C^2 + 2C*NL; element-wise ops not counted; padding not counted on either side");
            if (mixInfo != null) root.set("mix", mixInfo);
            root.set("cases", results);
            root.set("failures", failures);

            if (o.inputsOut() != null) writeInputs(config, cases, mixInfo);
            if (o.prepareOnly()) {
                note("prepared " + o.model() + (o.inputsOut() != null ? " and " + cases.size() + " cases in " + o.inputsOut() : ""));
                return 0;
            }
            writeJson();

            Map<Precision, Double> peaks = peaks();
            for (Precision p : o.precisions()) measure(p, config, cases, peaks.get(p));
            root.put("finished", Instant.now().toString());
            writeJson();
            if (o.json() == null) out.print(json.writeValueAsString(root) + "\n");
            return failures.isEmpty() ? 0 : 1;
        }

        /** With --random-base, writes the random model unless the folder exists; says where the weights came from. */
        private String prepareModel() throws IOException, UsageException {
            if (!o.random()) {
                if (!Files.isDirectory(o.model())) throw new UsageException("--model " + o.model() + ": no such directory");
                return "given";
            }
            Path marker = o.model().resolve(RANDOM_MARKER);
            if (Files.exists(o.model())) {
                if (!Files.isRegularFile(o.model().resolve(ModelDirectory.CONFIG_FILE))) {
                    throw new UsageException("--random-base " + o.model() + " exists but holds no config.json");
                }
                return Files.isRegularFile(marker) ? Files.readString(marker).strip() + " (written by an earlier run)"
                        : "an existing directory (--random-base wrote nothing)";
            }
            DistilBertConfig config = randomConfig(o.randomSize());
            note("writing a random " + o.randomSize() + " model (seed " + INIT_SEED + ") to " + o.model());
            ModelDirectory.save(o.model(), Checkpoint.initialized(config, Head.SEQUENCE_CLASSIFICATION, INIT_SEED));
            String what = "random " + o.randomSize() + " (GpuInferenceBench --random-base, Initializer seed " + INIT_SEED + ")";
            Files.writeString(marker, what + "\n");
            return what + ", written by this run";
        }

        private ObjectNode environment() {
            ObjectNode env = json.createObjectNode();
            env.put("java", System.getProperty("java.runtime.version", Runtime.version().toString()));
            env.put("java_vm", System.getProperty("java.vm.name"));
            env.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                    + System.getProperty("os.arch"));
            env.put("cpus", Runtime.getRuntime().availableProcessors());
            env.put("max_heap_mb", Runtime.getRuntime().maxMemory() >> 20);
            String gpu;
            try {
                gpu = GpuProbe.status().describe();
            } catch (RuntimeException | LinkageError e) {
                gpu = "probe failed: " + e;
            }
            env.put("gpu", gpu);
            return env;
        }

        private Map<Precision, Double> peaks() throws IOException, UsageException {
            Map<Precision, Double> peaks = new LinkedHashMap<>();
            ObjectNode source = root.putObject("peak");
            if (o.peakTflops() != null) {
                for (Precision p : Precision.values()) peaks.put(p, o.peakTflops());
                source.put("source", "--peak-tflops");
                source.put("tflops", o.peakTflops());
                return peaks;
            }
            if (o.ceilings() == null) {
                source.put("source", "none (no --peak-tflops or --ceilings): MFU not computed");
                return peaks;
            }
            var c = json.readTree(o.ceilings().toFile());
            var matmul = c.path("matmul");
            if (!matmul.isObject()) throw new UsageException("--ceilings " + o.ceilings() + ": no \"matmul\" object");
            source.put("source", o.ceilings().toAbsolutePath().toString());
            for (Precision p : Precision.values()) {
                var m = matmul.path(p.cliName()).path("tflops");
                if (m.isNumber() && m.asDouble() > 0) {
                    peaks.put(p, m.asDouble());
                    source.put(p.cliName(), m.asDouble());
                }
            }
            return peaks;
        }

        private void measure(Precision p, DistilBertConfig config, List<Case> cases, Double peak) throws IOException {
            long t0 = System.nanoTime();
            DistilBert db;
            try {
                db = o.device() == Device.CPU ? DistilBert.load(o.model(), Device.CPU)
                        : DistilBert.load(o.model(), o.device(), p);
            } catch (IOException | RuntimeException | LinkageError e) {
                // Failures are not progress: they go to stderr whether or not it is a terminal.
                err.println("gpu-inference-bench: loading the model for " + p.cliName() + " on " + o.device()
                        + " failed: " + e);
                ObjectNode f = failures.addObject();
                f.put("precision", p.cliName());
                f.put("stage", "load");
                f.put("error", String.valueOf(e));
                for (Case c : cases) failed(p, c, config, "model not loaded: " + e);
                writeJson();
                return;
            }
            double loadSeconds = (System.nanoTime() - t0) / 1e9;
            try (db) {
                DistilBertForSequenceClassification model = db.as(DistilBertForSequenceClassification.class);
                String backend = db.ops().describe();
                note(p.cliName() + ": " + backend + ", loaded in " + String.format(Locale.ROOT, "%.1f s", loadSeconds));
                int failed = 0;
                for (Case c : cases) {
                    if (failed >= MAX_FAILURES) {
                        failed(p, c, config, "skipped: " + MAX_FAILURES + " earlier cases of " + p.cliName() + " failed");
                        continue;
                    }
                    try {
                        ObjectNode r = time(model, p, c, config, peak);
                        r.put("backend", backend);
                        r.put("load_s", round(loadSeconds, 3));
                        results.add(r);
                        if (progress) {
                            err.printf(Locale.ROOT, "%s %-16s %9.3f ms  %10.0f tokens/s  %s%n", p.cliName(), c.name(),
                                    r.get("median_ms").asDouble(), r.get("tokens_per_s").asDouble(),
                                    r.hasNonNull("tflops") ? String.format(Locale.ROOT, "%.1f TFLOP/s", r.get("tflops").asDouble()) : "");
                        }
                    } catch (RuntimeException | OutOfMemoryError | LinkageError e) {
                        failed++;
                        err.println("gpu-inference-bench: " + p.cliName() + " " + c.name() + " failed: " + e);
                        failed(p, c, config, String.valueOf(e));
                        ObjectNode f = failures.addObject();
                        f.put("precision", p.cliName());
                        f.put("case", c.name());
                        f.put("stage", "forward");
                        f.put("error", String.valueOf(e));
                    }
                    writeJson();
                    if (o.logitsOut() != null) writeLogits();
                }
            }
        }

        private ObjectNode time(DistilBertForSequenceClassification model, Precision p, Case c, DistilBertConfig config,
                                Double peak) {
            ModelInput input = ModelInput.ofIds(c.batch(), c.length(), c.ids(), c.mask());
            long budget = o.seconds() > 0 ? (long) (o.seconds() * 1e9) : Long.MAX_VALUE;
            long start = System.nanoTime();
            float[] last = null;
            int warm = 0;
            while (warm < o.warmup()) { // a budget: warm up for at most half of it
                last = model.forward(input).logits().data();
                warm++;
                if (System.nanoTime() - start > budget / 2) break;
            }
            List<Double> times = new ArrayList<>();
            long measureStart = System.nanoTime();
            while (times.size() < o.iters()) {
                long t0 = System.nanoTime();
                last = model.forward(input).logits().data();
                long t1 = System.nanoTime();
                times.add((t1 - t0) / 1e6);
                if (times.size() >= MIN_ITERS && t1 - measureStart > budget) break;
            }
            logits.put(p.cliName() + "/" + c.name(), last);
            logitShapes.put(p.cliName() + "/" + c.name(), new int[] {c.batch(), config.numLabels()});

            ObjectNode r = caseNode(p, c, config);
            r.put("status", "ok");
            double[] sorted = times.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            double median = percentile(sorted, 50);
            r.put("warmup", warm);
            r.put("iterations", times.size());
            r.put("median_ms", round(median, 4));
            r.put("p10_ms", round(percentile(sorted, 10), 4));
            r.put("p90_ms", round(percentile(sorted, 90), 4));
            r.put("mean_ms", round(times.stream().mapToDouble(Double::doubleValue).average().orElseThrow(), 4));
            r.put("min_ms", round(sorted[0], 4));
            r.put("max_ms", round(sorted[sorted.length - 1], 4));
            double s = median / 1e3;
            r.put("sequences_per_s", sig(c.batch() / s, 6));
            r.put("tokens_per_s", sig(c.realTokens() / s, 6));
            double tflops = flops(config, c.lengths()) / s / 1e12;
            r.put("tflops", sig(tflops, 5));
            if (peak != null) {
                r.put("peak_tflops", peak);
                r.put("mfu", sig(tflops / peak, 4));
            } else {
                r.putNull("peak_tflops");
                r.putNull("mfu");
            }
            ArrayNode all = r.putArray("times_ms");
            for (double t : times) all.add(round(t, 4));
            if (model.ops() instanceof CudaOps cuda) {
                r.set("breakdown", breakdown(model, cuda, input));
            }
            return r;
        }

        /**
         * One more forward with CudaOps' per-op events: device milliseconds per op label (op and shape),
         * largest first, with the share of the forward's device time. Timed separately from the
         * measured calls, which run without events.
         */
        private ArrayNode breakdown(DistilBertForSequenceClassification model, CudaOps cuda, ModelInput input) {
            cuda.startProfile();
            try {
                model.forward(input);
            } finally {
                GpuEventLog.Totals totals = cuda.stopProfile();
                ArrayNode rows = json.createArrayNode();
                double total = totals.millis().values().stream().mapToDouble(v -> v[0]).sum();
                totals.millis().entrySet().stream()
                        .sorted((a, b) -> Double.compare(b.getValue()[0], a.getValue()[0]))
                        .forEach(e -> {
                            ObjectNode row = rows.addObject();
                            row.put("op", e.getKey());
                            row.put("calls", totals.calls().get(e.getKey())[0]);
                            row.put("ms", round(e.getValue()[0], 4));
                            row.put("share", total > 0 ? round(e.getValue()[0] / total, 4) : 0);
                        });
                return rows;
            }
        }

        /** The fields every result of case {@code c} has, measured or not. */
        private ObjectNode caseNode(Precision p, Case c, DistilBertConfig config) {
            ObjectNode r = json.createObjectNode();
            r.put("name", c.name());
            r.put("kind", c.kind());
            r.put("precision", p.cliName());
            r.put("batch", c.batch());
            r.put("length", c.length());
            r.put("real_tokens", c.realTokens());
            r.put("padded_tokens", (long) c.batch() * c.length());
            r.put("flops", flops(config, c.lengths()));
            r.put("padded_flops", paddedFlops(config, c));
            if (c.kind().equals("mix")) {
                r.set("length_summary", summary(json, c.lengths()));
                ArrayNode ls = r.putArray("lengths");
                for (int len : c.lengths()) ls.add(len);
            }
            return r;
        }

        private void failed(Precision p, Case c, DistilBertConfig config, String error) {
            ObjectNode r = caseNode(p, c, config);
            r.put("status", "failed");
            r.put("error", error);
            results.add(r);
        }

        private void writeInputs(DistilBertConfig config, List<Case> cases, ObjectNode mixInfo) throws IOException {
            Files.createDirectories(o.inputsOut());
            ObjectNode manifest = json.createObjectNode();
            manifest.put("schema", INPUTS_SCHEMA);
            manifest.put("tensors", "inputs.safetensors");
            manifest.put("flops_convention", root.get("flops_convention").asText());
            if (mixInfo != null) manifest.set("mix", mixInfo);
            ArrayNode list = manifest.putArray("cases");
            List<NamedTensor> tensors = new ArrayList<>();
            for (Case c : cases) {
                ObjectNode e = list.addObject();
                e.put("name", c.name());
                e.put("kind", c.kind());
                e.put("batch", c.batch());
                e.put("length", c.length());
                e.put("real_tokens", c.realTokens());
                e.put("flops", flops(config, c.lengths()));
                e.put("padded_flops", paddedFlops(config, c));
                e.put("seed", c.seed());
                ArrayNode ls = e.putArray("lengths");
                for (int len : c.lengths()) ls.add(len);
                long[] shape = {c.batch(), c.length()};
                tensors.add(NamedTensor.ofLongs(c.name() + ".input_ids", shape, Arrays.stream(c.ids()).asLongStream().toArray()));
                tensors.add(NamedTensor.ofLongs(c.name() + ".attention_mask", shape, Arrays.stream(c.mask()).asLongStream().toArray()));
            }
            SafetensorsWriter.write(o.inputsOut().resolve("inputs.safetensors"), tensors, Map.of("schema", INPUTS_SCHEMA));
            atomicWrite(o.inputsOut().resolve("inputs.json"), json.writeValueAsString(manifest) + "\n");
            root.put("inputs", o.inputsOut().toAbsolutePath().toString());
        }

        private void writeLogits() throws IOException {
            List<NamedTensor> tensors = new ArrayList<>();
            for (var e : logits.entrySet()) {
                int[] shape = logitShapes.get(e.getKey());
                tensors.add(NamedTensor.ofFloats(e.getKey(), new long[] {shape[0], shape[1]}, e.getValue()));
            }
            Path parent = o.logitsOut().toAbsolutePath().getParent();
            if (parent != null) Files.createDirectories(parent);
            Path tmp = o.logitsOut().resolveSibling(o.logitsOut().getFileName() + ".part");
            SafetensorsWriter.write(tmp, tensors, Map.of("schema", SCHEMA, "side", "ours"));
            Files.move(tmp, o.logitsOut(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }

        private void writeJson() throws IOException {
            if (o.json() == null) return; // stdout gets the document once, when the run ends
            atomicWrite(o.json(), json.writeValueAsString(root) + "\n");
        }

        private void note(String message) {
            if (progress) err.println(message);
        }

        private static void atomicWrite(Path file, String text) throws IOException {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) Files.createDirectories(parent);
            Path tmp = file.resolveSibling(file.getFileName() + ".part");
            Files.writeString(tmp, text);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
    }

    /** DistilBERT-base-uncased's shape (HF's defaults) or a tiny one, with a 2-label classification head. */
    static DistilBertConfig randomConfig(String size) {
        DistilBertConfig.Builder b = DistilBertConfig.builder().numLabels(2)
                .architectures(List.of(Head.SEQUENCE_CLASSIFICATION.hfClass()));
        if (size.equals("tiny")) b.dim(32).nHeads(4).nLayers(2).hiddenDim(64).activation(Activation.GELU);
        return b.build().validate();
    }

    /** Whether stderr is a terminal: Linux says so about fd 2 itself, else whether there is a console. */
    static boolean stderrIsTerminal() {
        try {
            String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return System.console() != null;
        }
    }
}
