package distilbert.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import distilbert.model.BaseModelOutput;
import distilbert.model.CpuOps;
import distilbert.model.DistilBert;
import distilbert.model.DistilBertModel;
import distilbert.model.MatmulKernel;
import distilbert.model.ModelInput;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.ModelDirectory;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * One forward pass of all-MiniLM-L6-v2 (6 layers, dim 384, 12 heads, FFN 1536) on the CPU: our
 * DistilBERT ({@code java}) against ONNX Runtime's CPU provider ({@code onnxRuntime}) on the same
 * weights. ONNX Runtime runs the original ONNX file from the langchain4j artifact; we run the
 * DistilBERT directory {@code distilbert convert --from onnx} makes of it (converted once into
 * {@code bench/target/minilm/}, then reused).
 *
 * <p>One operation = one forward of a batch producing {@code last_hidden_state [B, L, 384]} in a
 * host {@code float[]}: ours {@code DistilBertModel.forward}; ONNX Runtime {@code session.run} and
 * the output copied into a {@code float[]}. The inputs are built once per trial on both sides.
 * The score is batches/s; the aux counters {@code sequences} and {@code tokens} turn it into
 * sequences/s and real (unmasked) tokens/s.
 *
 * <p>Shapes ({@code -p shape=}): {@code BxL} is B rows of L random token ids in [1000, 29000) with
 * a full mask; {@code ragged32} is 32 texts of the tokenizer's parity corpus (a seeded draw, real
 * token ids, cut to 128 tokens) right-padded to the longest: our packed batch skips the padding,
 * ONNX Runtime computes it.
 *
 * <p>Threads ({@code -p threads=}): the size of our {@link CpuOps} pool and ONNX Runtime's
 * intra-op thread count (its calling thread included); inter-op 1, sequential execution, graph
 * optimizations {@code ALL_OPT}.
 *
 * <p>Same computation: every trial's setup runs the ragged batch on both sides and refuses to go on
 * unless the relative L2 of every sequence's real tokens is ≤ 1e-4; it prints the worst one.
 *
 *
 * <p>Run: {@code ./dev bench ForwardBenchmark -p shape=8x128} (any JMH options), or
 * {@code bench/run-forward-bench.sh} for both sides, every shape and the results file.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@State(Scope.Benchmark)
public class ForwardBenchmark {
    static final String ONNX_RESOURCE = "/all-minilm-l6-v2.onnx";
    static final String TOKENIZER_RESOURCE = "/all-minilm-l6-v2-tokenizer.json";
    static final String DEFAULT_WORK = "bench/target/minilm";
    static final String DEFAULT_CORPUS = TokenizerBenchmark.DEFAULT_CORPUS;
    static final double PARITY_BOUND = 1e-4;
    static final int RAGGED_ROWS = 32, RAGGED_MAX = 128;
    static final long SEED = 20261125L;

    /** {@code BxL} (random ids, full mask) or {@code ragged32} (real texts, padded). */
    @Param({"1x128", "8x128", "32x128", "8x512", "ragged32"})
    public String shape;

    /** Our CPU backend's threads and ONNX Runtime's intra-op threads. */
    @Param("2")
    public int threads;

    /** Where model.onnx, tokenizer.json and the converted directory live (a relative path from the working directory). */
    @Param(DEFAULT_WORK)
    public String work;

    /** The corpus the ragged batch is drawn from (relative paths looked up from the working directory upwards). */
    @Param(DEFAULT_CORPUS)
    public String corpus;

    private DistilBert ours;
    private DistilBertModel model;
    private OrtEnvironment env;
    private OrtSession session;

    private Batch batch;
    private ModelInput input;
    private Map<String, OnnxTensor> ortInputs;

    /** Per-thread totals, reported by JMH as rates: sequences/s and real tokens/s. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Counters {
        public long sequences;
        public long tokens;

        @Setup(Level.Iteration)
        public void reset() {
            sequences = 0;
            tokens = 0;
        }
    }

    /** A padded batch: ids and mask [B, L], row-major, and the number of unmasked tokens. */
    record Batch(int rows, int length, int[] ids, int[] mask, long realTokens) {
        int[][] ids2d() {
            return split(ids);
        }

        int[][] mask2d() {
            return split(mask);
        }

        private int[][] split(int[] flat) {
            int[][] out = new int[rows][];
            for (int b = 0; b < rows; b++) out[b] = java.util.Arrays.copyOfRange(flat, b * length, (b + 1) * length);
            return out;
        }

        int rowLength(int b) {
            int n = 0;
            for (int l = 0; l < length; l++) n += mask[b * length + l];
            return n;
        }
    }

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) throws Exception {
        Path dir = workDir(work);
        Path onnx = extract(ONNX_RESOURCE, dir.resolve("model.onnx"));
        Path tokenizerJson = extract(TOKENIZER_RESOURCE, dir.resolve("tokenizer.json"));
        Path converted = convert(onnx, tokenizerJson, dir.resolve("distilbert"));

        ours = DistilBert.of(ModelDirectory.load(converted), new CpuOps(threads, MatmulKernel.best()));
        model = ours.as(DistilBertModel.class);
        env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        options.setIntraOpNumThreads(threads);
        options.setInterOpNumThreads(1);
        options.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
        options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        session = env.createSession(onnx.toString(), options);

        Batch ragged = raggedBatch(Tokenizer.fromPretrained(converted), TokenizerBenchmark.resolve(corpus));
        float[] reference = ortForward(ragged);
        checkParity("ours", model.forward(ModelInput.ofIds(ragged.ids2d(), ragged.mask2d())).lastHiddenState().data(), reference, ragged);
        batch = shape.equals("ragged32") ? ragged : randomBatch(shape);
        input = ModelInput.ofIds(batch.ids2d(), batch.mask2d());
        ortInputs = ortInputs(batch);
        System.out.printf("shape %s: %d x %d, %d real tokens of %d; ours: %s; onnxruntime %s: intra-op %d, ALL_OPT%n",
                shape, batch.rows(), batch.length(), batch.realTokens(), (long) batch.rows() * batch.length(),
                ours.ops().describe(), env.getVersion(), threads);

        // Only the side being measured keeps its threads: ONNX Runtime's pool spins for a while after each run.
        if (params.getBenchmark().endsWith(".java")) {
            closeOrt();
        } else {
            ours.close();
            ours = null;
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws OrtException {
        if (ours != null) ours.close();
        if (ortInputs != null) for (OnnxTensor t : ortInputs.values()) t.close();
        closeOrt();
    }

    @Benchmark
    public float[] java(Counters c) {
        float[] h = model.forward(input).lastHiddenState().data();
        c.sequences += batch.rows();
        c.tokens += batch.realTokens();
        return h;
    }

    @Benchmark
    public float[] onnxRuntime(Counters c) throws OrtException {
        float[] h = runOrt(ortInputs);
        c.sequences += batch.rows();
        c.tokens += batch.realTokens();
        return h;
    }

    // ---- the two sides ---------------------------------------------------------------------------

    private float[] runOrt(Map<String, OnnxTensor> in) throws OrtException {
        try (OrtSession.Result r = session.run(in)) {
            FloatBuffer fb = ((OnnxTensor) r.get(0)).getFloatBuffer();
            float[] h = new float[fb.remaining()];
            fb.get(h);
            return h;
        }
    }

    private Map<String, OnnxTensor> ortInputs(Batch b) throws OrtException {
        long[] shape = {b.rows(), b.length()};
        int n = b.rows() * b.length();
        LongBuffer ids = longs(n), mask = longs(n), types = longs(n);
        for (int i = 0; i < n; i++) {
            ids.put(i, b.ids()[i]);
            mask.put(i, b.mask()[i]);
            types.put(i, 0);
        }
        return Map.of("input_ids", OnnxTensor.createTensor(env, ids, shape),
                "attention_mask", OnnxTensor.createTensor(env, mask, shape),
                "token_type_ids", OnnxTensor.createTensor(env, types, shape));
    }

    private static LongBuffer longs(int n) {
        return ByteBuffer.allocateDirect(n * Long.BYTES).order(ByteOrder.nativeOrder()).asLongBuffer();
    }

    /** ONNX Runtime's last_hidden_state of a batch (its own tensors, closed after). */
    private float[] ortForward(Batch b) throws OrtException {
        if (!session.getOutputNames().iterator().next().equals("last_hidden_state")) {
            throw new IllegalStateException("the ONNX model's first output is " + session.getOutputNames() + ", not last_hidden_state");
        }
        Map<String, OnnxTensor> in = ortInputs(b);
        try {
            return runOrt(in);
        } finally {
            for (OnnxTensor t : in.values()) t.close();
        }
    }

    /** {@code mine} against ONNX Runtime's on the ragged batch: every sequence's real tokens within {@link #PARITY_BOUND} relative L2. */
    private void checkParity(String who, float[] mine, float[] theirs, Batch b) {
        int C = model.config().dim();
        if (mine.length != theirs.length) {
            throw new IllegalStateException("last_hidden_state: " + who + " has " + mine.length + " values, ONNX Runtime's " + theirs.length);
        }
        double worst = 0;
        int worstRow = -1;
        for (int r = 0; r < b.rows(); r++) {
            int off = r * b.length() * C, n = b.rowLength(r) * C; // right padding: the real tokens come first
            double diff = 0, norm = 0;
            for (int k = off; k < off + n; k++) {
                double d = mine[k] - theirs[k];
                diff += d * d;
                norm += (double) theirs[k] * theirs[k];
            }
            double rel = Math.sqrt(diff / norm);
            if (!(rel <= worst)) {
                worst = rel;
                worstRow = r;
            }
        }
        System.out.printf("%sparity on the ragged batch (%d sequences, %d real tokens): worst relative L2 %.2e (row %d, %d tokens), bound %.0e%n",
                who.equals("ours") ? "" : who + " ", b.rows(), b.realTokens(), worst, worstRow, b.rowLength(worstRow), PARITY_BOUND);
        if (!(worst <= PARITY_BOUND)) {
            throw new IllegalStateException(who + " and ONNX Runtime disagree: relative L2 " + worst + " in row " + worstRow
                    + " exceeds " + PARITY_BOUND + "; the numbers would not be for the same computation");
        }
    }

    private void closeOrt() throws OrtException {
        if (session != null) {
            session.close();
            session = null;
        }
    }

    // ---- inputs ------------------------------------------------------------------------------------

    /** {@code BxL}: B rows of L random ids in [1000, 29000), full mask. */
    static Batch randomBatch(String shape) {
        String[] p = shape.split("x");
        if (p.length != 2) throw new IllegalArgumentException("shape must be BxL (e.g. 8x128) or ragged32, not '" + shape + "'");
        int B = Integer.parseInt(p[0]), L = Integer.parseInt(p[1]);
        Random rnd = new Random(SEED);
        int[] ids = new int[B * L], mask = new int[B * L];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = 1000 + rnd.nextInt(28000);
            mask[i] = 1;
        }
        return new Batch(B, L, ids, mask, (long) B * L);
    }

    /** 32 corpus texts drawn with a fixed seed, encoded ([CLS] … [SEP], cut to 128), right-padded to the longest. */
    static Batch raggedBatch(Tokenizer tok, Path corpus) {
        List<String[]> records = TokenizerBenchmark.readCorpus(corpus);
        Random rnd = new Random(SEED);
        EncodeOptions cut = EncodeOptions.DEFAULT.withTruncation(Truncation.longestFirst(RAGGED_MAX));
        int[][] rows = new int[RAGGED_ROWS][];
        for (int b = 0; b < RAGGED_ROWS; b++) {
            rows[b] = tok.encode(records.get(rnd.nextInt(records.size()))[0], null, cut).ids();
        }
        int L = Stream.of(rows).mapToInt(r -> r.length).max().orElseThrow();
        int[] ids = new int[RAGGED_ROWS * L], mask = new int[RAGGED_ROWS * L];
        long real = 0;
        for (int b = 0; b < RAGGED_ROWS; b++) {
            System.arraycopy(rows[b], 0, ids, b * L, rows[b].length); // padding id 0 = [PAD]
            for (int l = 0; l < rows[b].length; l++) mask[b * L + l] = 1;
            real += rows[b].length;
        }
        return new Batch(RAGGED_ROWS, L, ids, mask, real);
    }

    // ---- the model files ----------------------------------------------------------------------------

    /** An absolute path as it is; a relative one under the nearest directory (from the working directory up) holding its parent. */
    static Path workDir(String work) {
        Path p = Path.of(work);
        if (p.isAbsolute() || p.getParent() == null) return p.toAbsolutePath();
        return TokenizerBenchmark.resolve(p.getParent().toString()).resolve(p.getFileName());
    }

    /** A class path resource copied to {@code to}, unless it is there already. */
    static Path extract(String resource, Path to) throws IOException {
        if (Files.isRegularFile(to)) return to;
        Files.createDirectories(to.getParent());
        try (InputStream in = ForwardBenchmark.class.getResourceAsStream(resource)) {
            if (in == null) throw new IllegalStateException("no class path resource " + resource + " (the langchain4j all-MiniLM-L6-v2 jar)");
            Path tmp = Files.createTempFile(to.getParent(), to.getFileName().toString(), ".part");
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            Files.move(tmp, to, StandardCopyOption.ATOMIC_MOVE);
        }
        return to;
    }

    /** {@code distilbert convert --from onnx} into {@code out}, unless a converted model is there already. */
    static Path convert(Path onnx, Path tokenizerJson, Path out) throws IOException {
        if (Files.isRegularFile(out.resolve("config.json")) && Files.isRegularFile(out.resolve("model.safetensors"))) return out;
        Path tmp = out.resolveSibling(out.getFileName() + ".part");
        deleteTree(tmp);
        var err = new ByteArrayOutputStream();
        int code = distilbert.cli.Main.run(new String[] {"convert", "--from", "onnx", "--input", onnx.toString(),
                        "--tokenizer", tokenizerJson.toString(), "--output", tmp.toString()},
                InputStream.nullInputStream(), System.out, new PrintStream(err, true, StandardCharsets.UTF_8));
        String msg = err.toString(StandardCharsets.UTF_8).strip();
        if (code != 0) throw new IllegalStateException("distilbert convert failed (" + code + "): " + msg);
        System.out.println(msg);
        deleteTree(out);
        Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
        return out;
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted(Comparator.reverseOrder()).forEach(f -> {
                try {
                    Files.delete(f);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
