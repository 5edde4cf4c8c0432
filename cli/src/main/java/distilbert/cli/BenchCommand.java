package distilbert.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import distilbert.model.CrossEncoder;
import distilbert.model.DistilBert;
import distilbert.model.DistilBertModel;
import distilbert.model.LengthBatches;
import distilbert.model.ModelFlops;
import distilbert.model.ModelInput;
import distilbert.model.Precision;
import distilbert.model.Replicas;
import distilbert.model.SentenceEmbeddings;
import distilbert.model.SentenceTransformerDirectory;
import distilbert.model.SparseEmbeddings;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.ModelDirectory;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.BiConsumer;
import java.util.function.LongSupplier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code distilbert bench}: how fast a model directory runs here, on the device and precision the
 * other commands would use: the encoder forward with mean pooling (the work of every command, the
 * heads being small), timed end to end through the library (ids up, the [B, dim] result back to
 * the host), for a grid of batch sizes and lengths of random ids and, with --input, for real rows
 * batched by --batch-tokens as the commands batch them. For capacity planning and for comparing
 * devices and precisions; bench/ holds the benchmarks against HuggingFace.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, sortOptions = false,
        usageHelpWidth = 100,
        description = {
            "Measure the throughput of a model directory on this machine: the encoder forward pass with mean pooling "
                    + "(the work every command does; the heads are small), through the library as the commands call it: "
                    + "ids to the device, the [B, dim] result back to the host.",
            "",
            "Cases: every --batch size at every --length, random ids within the vocabulary and no padding; with --input, "
                    + "also its rows (the first --max-rows), tokenized and truncated as embed does, sorted by length and run "
                    + "in batches of about --batch-tokens real tokens: the commands' own batching, padding skipped.",
            "Each case: --warmup calls and at least half of --seconds of calls untimed, then calls until --seconds have "
                    + "passed (at least 3). "
                    + "Reported: the median, p10 and p90 milliseconds per call, rows/s and real tokens/s at the median, the "
                    + "model's TFLOP/s (2 per multiply-add of the matrix products, real tokens only) and, with --peak-tflops, "
                    + "the MFU.",
            "Output: a table on stdout (or --output), or with --json one JSON object per case. On a terminal, stderr "
                    + "shows progress.",
            ""},
        footer = {"",
            "Examples:",
            "  distilbert bench --model models/all-MiniLM-L6-v2",
            "  distilbert bench --model DIR --device cuda:1 --precision bf16 --batch 1,64,256 --length 128,512 --json",
            "  distilbert bench --model DIR --input corpus.jsonl --batch-tokens 16384 --peak-tflops 989",
            "",
            "Exit codes: 0 done, 1 failed (unusable model directory, unreadable input, a device that cannot run), 2 usage error."})
final class BenchCommand implements Callable<Integer>, Main.Verbose {

    /** Calls timed per case at least, whatever --seconds says. */
    static final int MIN_CALLS = 3;
    /** Seed of the random ids. */
    static final long SEED = 20261207L;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A HuggingFace DistilBERT model directory (any head): config.json and " + ModelRun.HELP_MODEL_FILES + ".")
    Path model;

    @Option(names = "--batch", paramLabel = "B", split = ",", defaultValue = "1,8,64",
            description = "Batch sizes. Default: ${DEFAULT-VALUE}.")
    List<Integer> batches;

    @Option(names = "--length", paramLabel = "L", split = ",", defaultValue = "128",
            description = "Sequence lengths, at most max_position_embeddings. Default: ${DEFAULT-VALUE}.")
    List<Integer> lengths;

    @Option(names = "--input", paramLabel = "FILE",
            description = "Also time the rows of this JSONL file ({\"text\": ..., \"text_pair\": ...} per line; - for stdin).")
    Path input;

    @Option(names = "--max-rows", paramLabel = "N", defaultValue = "4096",
            description = "Rows of --input to time. Default: ${DEFAULT-VALUE}.")
    int maxRows;

    @Option(names = "--batch-tokens", paramLabel = "N", defaultValue = "" + LengthBatches.DEFAULT_BATCH_TOKENS,
            description = "Real tokens per batch for the --input rows, as the commands batch them. Default: ${DEFAULT-VALUE}.")
    int batchTokens;

    @Option(names = "--seconds", paramLabel = "S", defaultValue = "2",
            description = "Time per case. Default: ${DEFAULT-VALUE}.")
    double seconds;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "3",
            description = "Calls before the timed ones, per case, at least (the first loads kernels and sizes device memory; "
                    + "the warm-up also lasts half of --seconds, for the JIT). Default: ${DEFAULT-VALUE}.")
    int warmup;

    @Option(names = "--device", paramLabel = "DEVICE", converter = RunOptions.DeviceConverter.class, defaultValue = "auto",
            description = "auto, cpu, cuda, cuda:N, cuda:N,M,... or cuda:all, as for the other commands. With several "
                    + "(or a GPU named twice: two copies on it), a call runs a batch on each at once and the input rows are "
                    + "dealt to them in turn: the rows/s are all of theirs. Default: ${DEFAULT-VALUE}.")
    RunOptions.Devices device;

    @Option(names = "--precision", paramLabel = "PRECISION", converter = RunOptions.PrecisionConverter.class,
            description = "On the GPU: fp32, tf32, bf16 (default on sm_80 and newer) or fp16. The CPU computes in fp32.")
    Precision precision;

    @Option(names = "--peak-tflops", paramLabel = "X",
            description = "The device's peak TFLOP/s at this precision (dense), to report the MFU: model TFLOP/s over it.")
    Double peakTflops;

    @Option(names = "--json", description = "One JSON object per case instead of the table.")
    boolean json;

    @Option(names = "--output", paramLabel = "FILE", description = "Write the report here. Default (or -): stdout.")
    Path output;

    @Option(names = "--verbose", description = "Print the stack trace of an error.")
    boolean verbose;

    /** The clock, for tests. */
    LongSupplier clock = System::nanoTime;

    @Override
    public boolean verbose() {
        return verbose;
    }

    /** One timed case: its rows' real lengths and how one call runs them. */
    record Case(String name, int batch, int length, int[] lengths, int batches, Runnable call) {
        long realTokens() {
            long n = 0;
            for (int len : lengths) n += len;
            return n;
        }
    }

    /** A case's timings, milliseconds per call, sorted. */
    record Timing(Case c, int warmupCalls, double[] sortedMs) {
        double median() {
            return percentile(sortedMs, 50);
        }
    }

    /** The directory's max_seq_length (sentence_bert_config.json), once read. */
    private java.util.OptionalInt maxSeqLength = java.util.OptionalInt.empty();

    @Override
    public Integer call() throws IOException {
        check();
        ModelRun.checkModelDirectory(model);
        // a sentence-transformers directory's model, or a cross-encoder's, with its max_seq_length
        if (CrossEncoder.Directory.isCrossEncoder(model)) {
            CrossEncoder.Directory ce = RerankCommand.crossEncoder(model);
            model = ce.transformer();
            maxSeqLength = ce.maxSeqLength();
        } else if (SparseEmbeddings.Directory.isSparseEncoder(model)) {
            SparseEmbeddings.Directory sparse = EmbedCommand.sparseEncoder(model);
            model = sparse.transformer();
            maxSeqLength = sparse.maxSeqLength();
        } else {
            SentenceTransformerDirectory st = EmbedCommand.sentenceTransformers(model);
            model = st.transformer();
            maxSeqLength = st.maxSeqLength();
        }
        DistilBertConfig config = ModelDirectory.readConfig(model);
        for (int l : lengths) {
            if (l > config.maxPositionEmbeddings()) {
                throw usage("--length " + l + " is more than the model takes: " + model + "/config.json has max_position_embeddings "
                        + config.maxPositionEmbeddings());
            }
        }
        Main.Io io = ((Main) spec.root().userObject()).io();
        List<Encoding> rows = input == null ? List.of() : readRows(config, io);
        try (Replicas models = ModelRun.loadModels(model, device, precision);
             Copies copies = new Copies(models.models().stream().map(db -> db.architecture().distilbert()).toList());
             Progress progress = io.errIsTerminal() ? Progress.on(io.err(), "bench", -1, () -> 0) : Progress.off()) {
            DistilBert db = models.models().getFirst();
            List<Case> cases = cases(db.config(), copies, rows);
            List<Timing> timings = new ArrayList<>();
            for (Case c : cases) timings.add(time(c, progress));
            progress.close();
            String backends = String.join("; ", models.models().stream().map(m -> m.ops().describe()).toList());
            String report = json ? jsonLines(db, backends, copies.size(), timings) : table(db, backends, copies.size(), timings);
            write(io.out(), report);
        }
        return Main.OK;
    }

    /**
     * The encoder on each device --device names: one, or several GPUs (or copies on one GPU) that a
     * call runs at once, each on a thread of its own.
     */
    static final class Copies implements AutoCloseable {
        private final List<DistilBertModel> encoders;
        private final ExecutorService threads;

        Copies(List<DistilBertModel> encoders) {
            this.encoders = List.copyOf(encoders);
            this.threads = encoders.size() == 1 ? null
                    : Executors.newFixedThreadPool(encoders.size(), ReadAhead.daemon("distilbert-bench"));
        }

        int size() {
            return encoders.size();
        }

        /** Runs {@code work} on every copy at once (copy i gets i) and returns when all are done. */
        void onEach(BiConsumer<Integer, DistilBertModel> work) {
            if (threads == null) {
                work.accept(0, encoders.getFirst());
                return;
            }
            List<Future<?>> runs = new ArrayList<>();
            for (int i = 0; i < encoders.size(); i++) {
                int copy = i;
                runs.add(threads.submit(() -> work.accept(copy, encoders.get(copy))));
            }
            for (Future<?> f : runs) ReadAhead.await(f, "interrupted while timing");
        }

        @Override
        public void close() {
            if (threads != null) threads.shutdownNow();
        }
    }

    private void check() {
        if (batches.stream().anyMatch(b -> b < 1)) throw usage("--batch sizes must be at least 1, got " + batches);
        if (lengths.stream().anyMatch(l -> l < 2)) throw usage("--length must be at least 2 ([CLS] and [SEP]), got " + lengths);
        if (!(seconds > 0) || seconds > 3600) throw usage("--seconds must be more than 0 and at most 3600, got " + seconds);
        if (warmup < 0) throw usage("--warmup must be at least 0, got " + warmup);
        if (maxRows < 1) throw usage("--max-rows must be at least 1, got " + maxRows);
        if (batchTokens < 1) throw usage("--batch-tokens must be at least 1, got " + batchTokens);
        if (peakTflops != null && !(peakTflops > 0)) throw usage("--peak-tflops must be more than 0, got " + peakTflops);
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    /** The first --max-rows rows of --input, tokenized and truncated as embed does. */
    private List<Encoding> readRows(DistilBertConfig config, Main.Io io) throws IOException {
        Tokenizer tokenizer = Tokenizer.fromPretrained(model);
        int maxLength = ModelRun.defaultMaxLength(tokenizer.modelMaxLength(), config.maxPositionEmbeddings(), maxSeqLength);
        EncodeOptions cut = new EncodeOptions(true, Truncation.longestFirst(maxLength), null);
        List<JsonlInput.Row> read;
        try (JsonlInput in = JsonlInput.open(input, io.in(), JsonlInput.Keys.TEXT)) {
            read = in.readBatch(maxRows);
        }
        if (read.isEmpty()) throw new CliException(input + ": no rows");
        return read.parallelStream().map(r -> tokenizer.encode(r.text(), r.pair(), cut)).toList();
    }

    /**
     * The grid of random-id cases, then the --input rows' case. With several copies, a grid call runs
     * one batch on each at once, and the input rows are dealt to the copies in turn (each runs its share
     * in its own batches).
     */
    private List<Case> cases(DistilBertConfig config, Copies copies, List<Encoding> rows) {
        List<Case> cases = new ArrayList<>();
        int vocab = config.vocabSize();
        for (int l : lengths) {
            for (int b : batches) {
                Random random = new Random(SEED + 1_000_003L * b + l);
                int lo = vocab > 2000 ? 1000 : 0; // above the special and unused tokens of BERT's vocabulary
                int[] ids = new int[b * l], mask = new int[b * l], lens = new int[b];
                for (int i = 0; i < ids.length; i++) ids[i] = lo + random.nextInt(vocab - lo);
                Arrays.fill(mask, 1);
                Arrays.fill(lens, l);
                ModelInput in = ModelInput.ofIds(b, l, ids, mask);
                int[] all = new int[b * copies.size()];
                Arrays.fill(all, l);
                cases.add(new Case("fixed", b * copies.size(), l, all, copies.size(),
                        () -> copies.onEach((i, encoder) -> encoder.pool(in, SentenceEmbeddings.Pooling.MEAN))));
            }
        }
        if (!rows.isEmpty()) {
            List<List<Encoding>> shares = new ArrayList<>();
            for (int i = 0; i < copies.size(); i++) shares.add(new ArrayList<>());
            for (int r = 0; r < rows.size(); r++) shares.get(r % copies.size()).add(rows.get(r));
            int[] lens = rows.stream().mapToInt(Encoding::length).toArray();
            int batchCount = 0;
            for (List<Encoding> share : shares) {
                batchCount += LengthBatches.plan(share.stream().mapToInt(Encoding::length).toArray(), batchTokens).size();
            }
            int longest = Arrays.stream(lens).max().orElse(0);
            cases.add(new Case("input", rows.size(), longest, lens, batchCount, () -> copies.onEach((i, encoder) ->
                    LengthBatches.forEach(shares.get(i), batchTokens, 0, LengthBatches.Listener.NONE,
                            (r, in, t) -> encoder.pool(in, SentenceEmbeddings.Pooling.MEAN)))));
        }
        return cases;
    }

    private Timing time(Case c, Progress progress) {
        long budget = (long) (seconds * 1e9);
        long start = clock.getAsLong();
        int warm = 0;
        // warm until both --warmup calls and half of --seconds are done: the JIT compiles the CPU backend's
        // loops within the first seconds; the GPU's first calls load kernels and size the device arena
        while (warm < warmup || clock.getAsLong() - start < budget / 2) {
            c.call().run();
            warm++;
        }
        List<Double> ms = new ArrayList<>();
        long measureStart = clock.getAsLong();
        while (true) {
            long t0 = clock.getAsLong();
            c.call().run();
            long t1 = clock.getAsLong();
            ms.add((t1 - t0) / 1e6);
            progress.advance(c.batch(), c.realTokens());
            if (ms.size() >= MIN_CALLS && t1 - measureStart >= budget) break;
        }
        return new Timing(c, warm, ms.stream().mapToDouble(Double::doubleValue).sorted().toArray());
    }

    /** The p-th percentile (0..100) of {@code sorted}, linear between order statistics (numpy's default). */
    static double percentile(double[] sorted, double p) {
        double pos = p / 100 * (sorted.length - 1);
        int lo = (int) Math.floor(pos), hi = (int) Math.ceil(pos);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }

    /** Rows/s, tokens/s and model TFLOP/s of a case at its median. */
    record Rates(double rowsPerS, double tokensPerS, double tflops) {
        static Rates of(DistilBertConfig config, Timing t) {
            double s = t.median() / 1e3;
            return new Rates(t.c().batch() / s, t.c().realTokens() / s, ModelFlops.encoder(config, t.c().lengths()) / s / 1e12);
        }
    }

    private String header(DistilBert db, String backends, int copies) {
        DistilBertConfig c = db.config();
        return "distilbert bench: " + model + " (" + c.nLayers() + " layers, dim " + c.dim() + ", " + c.nHeads() + " heads, FFN "
                + c.hiddenDim() + ") on " + backends + "\n"
                + "each call: the encoder forward with mean pooling, ids up and [B, " + c.dim() + "] back to the host"
                + (copies > 1 ? ", on the " + copies + " copies at once (rows: all of theirs)" : "")
                + "; at least " + fmt(seconds) + " s per case\n";
    }

    String table(DistilBert db, String backends, int copies, List<Timing> timings) {
        StringBuilder s = new StringBuilder(header(db, backends, copies)).append('\n');
        String f = "%-7s %6s %5s %8s %10s %10s %10s %12s %14s %9s %7s%n";
        s.append(String.format(Locale.ROOT, f, "case", "rows", "L", "batches", "median ms", "p10 ms", "p90 ms", "rows/s",
                "tokens/s", "TFLOP/s", "MFU"));
        for (Timing t : timings) {
            Rates r = Rates.of(db.config(), t);
            Case c = t.c();
            s.append(String.format(Locale.ROOT, f, c.name(), c.batch(), c.name().equals("input") ? "≤" + c.length() : c.length(),
                    c.batches(), fmt(t.median()), fmt(percentile(t.sortedMs(), 10)), fmt(percentile(t.sortedMs(), 90)),
                    rate(r.rowsPerS()), rate(r.tokensPerS()), fmt(r.tflops()),
                    peakTflops == null ? "-" : String.format(Locale.ROOT, "%.1f%%", 100 * r.tflops() / peakTflops)));
        }
        for (Timing t : timings) {
            if (t.c().name().equals("input")) {
                s.append(String.format(Locale.ROOT, "%ninput: %s, %d rows, %d real tokens (mean %.1f a row) in %d batches of about %d tokens%n",
                        input, t.c().batch(), t.c().realTokens(), t.c().realTokens() / (double) t.c().batch(), t.c().batches(),
                        batchTokens));
            }
        }
        return s.toString();
    }

    String jsonLines(DistilBert db, String backends, int copies, List<Timing> timings) {
        ObjectMapper mapper = new ObjectMapper();
        StringBuilder s = new StringBuilder();
        for (Timing t : timings) {
            Rates r = Rates.of(db.config(), t);
            Case c = t.c();
            ObjectNode o = mapper.createObjectNode();
            o.put("case", c.name());
            o.put("model", model.toString());
            o.put("backend", backends);
            o.put("copies", copies);
            o.put("rows", c.batch());
            o.put("length", c.length());
            o.put("batches", c.batches());
            o.put("real_tokens", c.realTokens());
            o.put("warmup_calls", t.warmupCalls());
            o.put("calls", t.sortedMs().length);
            o.put("median_ms", t.median());
            o.put("p10_ms", percentile(t.sortedMs(), 10));
            o.put("p90_ms", percentile(t.sortedMs(), 90));
            o.put("min_ms", t.sortedMs()[0]);
            o.put("rows_per_s", r.rowsPerS());
            o.put("tokens_per_s", r.tokensPerS());
            o.put("tflops", r.tflops());
            if (peakTflops != null) o.put("mfu", r.tflops() / peakTflops);
            else o.putNull("mfu");
            s.append(o).append('\n');
        }
        return s.toString();
    }

    private void write(PrintStream stdout, String report) {
        if (output == null || output.toString().equals("-")) {
            stdout.print(report);
            stdout.flush();
            return;
        }
        try {
            Files.writeString(output, report, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new CliException("cannot write " + Main.describe(e), e);
        }
    }

    private static String fmt(double x) {
        return x >= 100 ? String.format(Locale.ROOT, "%.0f", x) : x >= 10 ? String.format(Locale.ROOT, "%.1f", x)
                : x >= 1 ? String.format(Locale.ROOT, "%.2f", x) : String.format(Locale.ROOT, "%.3g", x);
    }

    private static String rate(double x) {
        return String.format(Locale.ROOT, "%,.0f", x);
    }
}
