package distilbert.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.cli.JsonlInput.Row;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.DynamicBatcher;
import distilbert.model.Precision;
import distilbert.model.Replicas;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.TokenizerException;
import distilbert.tokenizer.Truncation;
import distilbert.weights.CheckpointException;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.function.BiFunction;

/**
 * What the commands that run a model over JSONL rows share ({@code embed}, {@code score},
 * {@code fill-mask}, {@code ner}, {@code qa}): the model directory, config and tokenizer checked
 * before any weights are read ({@link #prepare}; {@link #requireHead} for a command of one head),
 * then the stream ({@link #stream}): rows read in chunks, tokenized on all cores and truncated to
 * the max length (or cut into windows: {@link Rows}), each chunk handed to the command (which runs
 * it in batches by length and writes one line per row in input order); a bad line stops the run
 * after the rows before it are written; a note on stderr says how many rows were truncated.
 *
 * <p>Three stages overlap, so that the device does not wait on the host: while the command runs
 * one chunk through the model, the next chunk is read and tokenized ({@link ReadAhead}) and the
 * lines of the one before are formatted and written ({@link JsonlOutput#write}).
 */
final class ModelRun {
    /** The --help paragraph on the input of these commands. */
    static final String HELP_INPUT = "Input: one JSON object per line, {\"text\": \"...\", \"text_pair\": \"...\"}; text_pair "
            + "is optional and encodes the row as a pair ([CLS] text [SEP] text_pair [SEP]); other keys are ignored. A blank or "
            + "malformed line stops the command with an error naming the line, after the lines before it have been written.";
    /** The --help paragraph on how they batch and report progress. */
    static final String HELP_BATCHING = "Rows are read in chunks, sorted by length, run in batches of about --batch-tokens real "
            + "tokens, and written back in input order. On a terminal, stderr shows a progress line (rows/s, tokens/s, ETA for "
            + "--input files).";

    /** What a model directory holds besides config.json, for the --model help of these commands. */
    static final String HELP_MODEL_FILES = "weights (model.safetensors, shards or pytorch_model.bin) and its tokenizer "
            + "(tokenizer.json or vocab.txt)";
    /** The --model help of a command that runs one head: config.json names its class. */
    static final String HELP_HEAD_CONFIG = " model directory: config.json (whose architectures names the class";
    /** The limit in the --max-length help. */
    static final String HELP_MAX_LENGTH_LIMIT = "to N tokens, [CLS] and [SEP] included; at most the model's "
            + "max_position_embeddings. ";
    /** The default in the --max-length help of a command with no limit of its own. */
    static final String HELP_MAX_LENGTH_DEFAULT = "Default: the smaller of the tokenizer's model_max_length and config.json's "
            + "max_position_embeddings.";
    /** The --max-length help of a command that truncates rows and has no limit of its own. */
    static final String HELP_MAX_LENGTH = "Truncate rows " + HELP_MAX_LENGTH_LIMIT + HELP_MAX_LENGTH_DEFAULT;

    /** Rows read, sorted and run before their results are written: bounds memory and the wait for the first lines. */
    static final int CHUNK_ROWS = 4096;
    /** A chunk also stops at this many batches' worth of tokens (unless the command asks for fewer). */
    static final int CHUNK_BATCHES = 32;
    /** Rows taken from the input (and tokenized on all cores) at a time while a chunk fills. */
    static final int READ_ROWS = 256;

    /** A command's work on one chunk: run its rows and write one line per row, in input order. */
    @FunctionalInterface
    interface Job {
        void run(List<Encoding> encodings, JsonlLines out, Progress progress);

        /**
         * Why the command cannot take a tokenized row, or null when it can. Rows are checked as they
         * are read (on the thread that reads ahead, while {@link #run} works on the chunk before): a
         * refused row stops the run like a bad line, after the rows before it are written.
         */
        default String refuse(Encoding encoding) {
            return null;
        }
    }

    /** A command's own limit on the length of a row, read from the model directory (embed: sentence-transformers'). */
    @FunctionalInterface
    interface LengthLimit {
        LengthLimit NONE = dir -> OptionalInt.empty();

        OptionalInt of(Path modelDir) throws IOException;
    }

    /** What a command makes of the loaded model, once, before the first chunk. */
    @FunctionalInterface
    interface Start {
        Job start(DistilBert db);
    }

    /**
     * What a command's rows are: the keys of a line, how a row is tokenized, and whether the
     * windows that truncation cuts off are run too (question answering's document stride; their
     * tokens count toward a chunk) or are text cut off (a note on stderr says how many rows were).
     */
    record Rows(JsonlInput.Keys keys, EncodeOptions encode, boolean windows, BiFunction<Row, String, String> choice,
                EncodeOptions fallback) {
        Rows(JsonlInput.Keys keys, EncodeOptions encode, boolean windows) {
            this(keys, encode, windows, (row, c) -> c, null);
        }

        /**
         * The same rows, each choice made into the second text of its pair by {@code choice}, which
         * gets the row too (zero-shot: a label into its hypothesis, by the line's own template or the
         * command's), and a pair that {@code encode}'s truncation cannot
         * bring down to its length tokenized with {@code fallback} instead (zero-shot: not truncated,
         * as HF's pipeline does).
         */
        Rows withChoices(BiFunction<Row, String, String> choice, EncodeOptions fallback) {
            return new Rows(keys, encode, windows, choice, fallback);
        }
    }

    /** A {@link Job} that also gets the chunk's rows (question answering needs each row's context). */
    @FunctionalInterface
    interface RowsJob {
        void run(List<Row> rows, List<Encoding> encodings, JsonlLines out, Progress progress);

        /** {@link Job#refuse}. */
        default String refuse(Encoding encoding) {
            return null;
        }
    }

    /** What a command makes of the loaded model for {@link #stream(Rows, int, RowsStart)}. */
    @FunctionalInterface
    interface RowsStart {
        RowsJob start(DistilBert db);
    }

    private final Main.Io io;
    private final RunOptions options;
    private final Path model;
    private final DistilBertConfig config;
    private final Tokenizer tokenizer;
    private final int maxLength;
    /** Whether a row may carry a text_pair (ner's pipeline takes single texts). */
    private final boolean pairs;
    /** Not null: rows longer than the max length are run in windows overlapping by this many tokens, not cut (ner). */
    private final Integer stride;
    /** Opens the output; null: JSONL to --output or stdout. */
    private final Supplier<JsonlLines.Sink> output;
    /** Put before each row's text when it is tokenized (embed: a sentence-transformers prompt), or null. */
    private final String prefix;

    private ModelRun(Main.Io io, RunOptions options, Path model, DistilBertConfig config, Tokenizer tokenizer, int maxLength,
                     boolean pairs, Integer stride, Supplier<JsonlLines.Sink> output, String prefix) {
        this.io = io;
        this.options = options;
        this.model = model;
        this.config = config;
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
        this.pairs = pairs;
        this.stride = stride;
        this.output = output;
        this.prefix = prefix;
    }

    /** The same run refusing a row with a text_pair, with an error naming its line (a pipeline of single texts). */
    ModelRun singleTexts() {
        return new ModelRun(io, options, model, config, tokenizer, maxLength, false, stride, output, prefix);
    }

    /**
     * The same run for a job that runs rows longer than the max length in windows overlapping by
     * {@code stride} tokens (null: they are cut): the note on stderr says so, and a chunk counts the
     * tokens of such a row's windows.
     */
    ModelRun windowed(Integer stride) {
        return new ModelRun(io, options, model, config, tokenizer, maxLength, pairs, stride, output, prefix);
    }

    /**
     * The same run tokenizing with {@code tokenizer} (over the same vocabulary: embed's lowercasing
     * for sentence-transformers' do_lower_case) and putting {@code prefix} (null: nothing) before each
     * row's text, as sentence-transformers prepends a prompt.
     */
    ModelRun withText(Tokenizer tokenizer, String prefix) {
        return new ModelRun(io, options, model, config, tokenizer, maxLength, pairs, stride, output, prefix);
    }

    /**
     * Checks the options, reads config.json and the tokenizer of {@code model} and settles the max
     * length: {@code maxLength}, or the smallest of the tokenizer's model_max_length,
     * max_position_embeddings and the command's {@code limit}.
     */
    static ModelRun prepare(RunOptions options, Path model, Integer maxLength, LengthLimit limit) throws IOException {
        options.check(maxLength);
        checkModelDirectory(model);
        DistilBertConfig config = ModelDirectory.readConfig(model);
        int positions = config.maxPositionEmbeddings();
        if (maxLength != null && maxLength > positions) {
            throw options.usage("--max-length " + maxLength + " is more than the model takes: " + model
                    + "/config.json has max_position_embeddings " + positions);
        }
        Tokenizer tokenizer = Tokenizer.fromPretrained(model);
        if (tokenizer.vocabSize() > config.vocabSize()) {
            throw new CliException(model + ": the tokenizer has " + tokenizer.vocabSize() + " tokens but config.json has vocab_size "
                    + config.vocabSize());
        }
        int length = maxLength != null ? maxLength : defaultMaxLength(tokenizer.modelMaxLength(), positions, limit.of(model));
        return new ModelRun(options.io(), options, model, config, tokenizer, length, true, null, null, null);
    }

    /** The same run writing to what {@code output} opens (when the model is loaded), not JSONL. */
    ModelRun writingTo(Supplier<JsonlLines.Sink> output) {
        return new ModelRun(io, options, model, config, tokenizer, maxLength, pairs, stride, output, prefix);
    }

    /** This run, if the model is a {@code wanted} (the head the command runs); else an error naming the class config.json gives. */
    ModelRun requireHead(Head wanted) {
        Head head = ModelDirectory.headOf(config);
        if (head != wanted) {
            throw new CliException(model + ": " + options.command() + " needs a " + wanted.hfClass() + " model, but config.json"
                    + (config.architectures().isEmpty() ? " names no architectures (a " + head.hfClass() + ")"
                    : "'s architectures is " + config.architectures()));
        }
        return this;
    }

    /** The smallest of the limits that apply: the tokenizer's, the position table's and any other (sentence-transformers'). */
    static int defaultMaxLength(int tokenizerMax, int maxPositions, OptionalInt otherLimit) {
        int length = Math.min(tokenizerMax, maxPositions);
        return otherLimit.isPresent() ? Math.min(length, otherLimit.getAsInt()) : length;
    }

    /** A clear error for a model path that is no directory, before config.json is looked for. */
    static void checkModelDirectory(Path dir) {
        if (!Files.exists(dir)) throw new CliException(dir + ": no such directory");
        if (!Files.isDirectory(dir)) throw new CliException(dir + ": not a directory (--model takes a model directory)");
    }

    DistilBertConfig config() {
        return config;
    }

    Tokenizer tokenizer() {
        return tokenizer;
    }

    int maxLength() {
        return maxLength;
    }

    /** The token that fills a batch's short rows (masked out; any valid id would do). */
    int padId() {
        return Math.max(0, tokenizer.padTokenId());
    }

    /**
     * Opens the input, loads the model, hands each chunk of at most {@link #CHUNK_ROWS} rows or
     * {@code chunkBatches} batches' worth of tokens to the job {@code start} makes, and throws a bad
     * line's error once the rows before it are written.
     */
    void stream(int chunkBatches, Start start) throws IOException {
        Rows text = new Rows(JsonlInput.Keys.TEXT, new EncodeOptions(true, Truncation.longestFirst(maxLength), null), false);
        stream(text, chunkBatches, db -> {
            Job job = start.start(db);
            return new RowsJob() {
                @Override
                public void run(List<Row> rows, List<Encoding> encodings, JsonlLines out, Progress progress) {
                    job.run(encodings, out, progress);
                }

                @Override
                public String refuse(Encoding encoding) {
                    return job.refuse(encoding);
                }
            };
        });
    }

    /** {@link #stream(int, Start)} over rows of another kind. */
    void stream(Rows kind, int chunkBatches, RowsStart start) throws IOException {
        if (options.serve != null) {
            serve(kind, chunkBatches, start);
            return;
        }
        String command = options.command();
        long tokenCap = (long) options.batchTokens * chunkBatches;
        long truncated = 0;
        SharedModels shared = SharedModels.CURRENT.isBound() ? SharedModels.CURRENT.get() : null;
        try (JsonlInput in = JsonlInput.open(options.input, io.in(), kind.keys());
             Replicas own = shared == null ? loadModels(model, options.device, options.precision) : null) {
            Replicas models = own != null ? own : shared.get(model, options.device, options.precision);
            DistilBert first = models.models().getFirst();
            for (String w : first.warnings()) io.err().println("distilbert " + command + ": warning: " + w);
            List<RowsJob> jobs = models.models().stream().map(start::start).toList();
            RowsJob job = jobs.getFirst();
            try (JsonlLines.Sink out = output == null ? JsonlOutput.open(options.output, io.out()) : output.get();
                 ReadAhead<Chunk> chunks = new ReadAhead<>("distilbert-" + command + "-input",
                         () -> readChunk(in, kind, tokenCap, job), chunk -> chunk.error() != null || chunk.rows().isEmpty());
                 Progress progress = io.errIsTerminal() ? Progress.on(io.err(), command, in.size(), in::bytesRead) : Progress.off();
                 ChunkFanout<RowsJob> gpus = jobs.size() > 1 ? new ChunkFanout<>(jobs, out, "distilbert-" + command + "-gpu") : null) {
                try {
                    while (true) {
                        Chunk chunk = chunks.next();
                        if (!chunk.rows().isEmpty()) {
                            for (Encoding e : chunk.encodings()) if (!kind.windows() && !e.overflowing().isEmpty()) truncated++;
                            if (gpus == null) {
                                job.run(chunk.rows(), chunk.encodings(), out, progress);
                            } else {
                                gpus.submit((j, lines) -> j.run(chunk.rows(), chunk.encodings(), lines, progress));
                            }
                        }
                        if (chunk.error() != null) throw chunk.error();
                        if (chunk.rows().isEmpty()) break;
                    }
                } finally {
                    // on several GPUs, what ran before a failure (a bad line, an unreadable input) is written
                    // before it is thrown, as on one; a failed chunk's own error comes first, and nothing after it
                    if (gpus != null) gpus.finish();
                }
            }
        } finally {
            if (truncated > 0) {
                // a multiple-choice line is several (prompt, choice) rows: count those, named so
                String pair = kind.keys().pairName();
                String what = pair != null ? (truncated == 1 ? " " + pair + " pair was" : " " + pair + " pairs were")
                        : (truncated == 1 ? " row was" : " rows were");
                io.err().println("distilbert " + command + ": " + truncated + what
                        + " longer than " + maxLength + " tokens and " + (stride == null ? "truncated to " + maxLength + " (--max-length)"
                        : (truncated == 1 ? "was" : "were") + " run in windows of " + maxLength + " overlapping by " + stride + " (--stride)"));
            }
        }
    }

    /**
     * --serve: the model loaded on each device, and the command answering HTTP requests of JSONL in
     * its input format with its output lines ({@link JsonlServer}) until the process is stopped
     * (SIGTERM or Ctrl-C: requests already taken are answered first) or this thread is interrupted.
     */
    private void serve(Rows kind, int chunkBatches, RowsStart start) throws IOException {
        String command = options.command();
        if (output != null) throw options.usage("--serve answers with JSONL lines; --format npy writes a file");
        JsonlServer.Address address = options.serveAddress();
        try (Replicas models = loadModels(model, options.device, options.precision)) {
            for (String w : models.models().getFirst().warnings()) io.err().println("distilbert " + command + ": warning: " + w);
            List<RowsJob> jobs = models.models().stream().map(start::start).toList();
            ObjectMapper json = new ObjectMapper();
            String description = "\"model\":" + json.writeValueAsString(model.toString()) + ",\"backends\":"
                    + json.writeValueAsString(models.models().stream().map(db -> db.ops().describe()).toList());
            Progress progress = io.errIsTerminal() ? Progress.on(io.err(), command + " --serve", -1, () -> 0) : Progress.off();
            JsonlServer server = new JsonlServer(command, description, jobs, (body, job) -> {
                try (JsonlInput in = JsonlInput.of("request", body, kind.keys())) {
                    return readAll(in, kind, job);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, !kind.windows() && stride == null, options.maxWait(), (long) options.batchTokens * chunkBatches, progress);
            CountDownLatch stop = new CountDownLatch(1);
            CountDownLatch done = new CountDownLatch(1);
            Thread hook = new Thread(() -> {
                stop.countDown();
                try {
                    done.await(15, TimeUnit.SECONDS); // let the requests under way be answered
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "distilbert-" + command + "-stop");
            Runtime.getRuntime().addShutdownHook(hook);
            try {
                server.serve(address, stop, a -> io.err().println("distilbert " + command + ": serving " + models.models().size()
                        + (models.models().size() == 1 ? " model copy" : " model copies") + " on http://"
                        + (a.getAddress().getHostAddress().contains(":") ? "[" + a.getAddress().getHostAddress() + "]"
                        : a.getAddress().getHostAddress()) + ":" + a.getPort()
                        + "/ (POST JSONL, one result line per line; GET /health, /metrics); stop with Ctrl-C"));
                progress.close();
                DynamicBatcher.Stats st = server.stats();
                io.err().println("distilbert " + command + ": stopped after " + st.requests() + (st.requests() == 1 ? " request" : " requests")
                        + " in " + st.batches() + (st.batches() == 1 ? " batch" : " batches") + " (" + st.failed() + " failed, "
                        + st.rejected() + " turned away)");
            } finally {
                done.countDown();
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException stopping) {
                    // the JVM is shutting down: the hook is running
                }
            }
        }
    }

    /** Every row of {@code in}, read and tokenized as chunks are; the error of the first bad row, if any, with the rows before it. */
    Chunk readAll(JsonlInput in, Rows kind, RowsJob job) {
        List<Row> rows = new ArrayList<>();
        List<Encoding> encodings = new ArrayList<>();
        while (true) {
            Chunk c = readChunk(in, kind, Long.MAX_VALUE, job);
            rows.addAll(c.rows());
            encodings.addAll(c.encodings());
            if (c.error() != null || c.rows().isEmpty()) return new Chunk(rows, encodings, c.error());
        }
    }

    /**
     * The model loaded on each device --device names (one, or several GPUs), in order; closing closes them all.
     *
     * @throws CliException naming the device where one cannot be resolved or loaded (those loaded before are closed)
     */
    static Replicas loadModels(Path dir, RunOptions.Devices devices, Precision precision) throws IOException {
        List<Device> targets;
        try {
            targets = devices.resolve();
        } catch (IllegalStateException e) {
            throw new CliException("--device " + devices + ": " + e.getMessage(), e);
        }
        if (targets.isEmpty()) throw new CliException("--device " + devices + ": no GPU here can run the kernels");
        return Replicas.load(targets, d -> load(dir, d, precision));
    }

    /** {@link DistilBert#load}, with a one-line error where the backend asked for cannot run. */
    static DistilBert load(Path dir, Device device, Precision precision) throws IOException {
        try {
            return DistilBert.load(dir, device, precision);
        } catch (CheckpointException e) {
            throw new CliException(Main.inDirectory(dir, e.getMessage()), e);
        } catch (UnsupportedOperationException | IllegalStateException e) {
            throw new CliException("--device " + device + ": " + e.getMessage(), e);
        }
    }

    /** Rows of one chunk with their encodings; {@code error}, when not null, is thrown after they are written. */
    record Chunk(List<Row> rows, List<Encoding> encodings, CliException error) {}

    /**
     * Reads and tokenizes rows until the chunk has {@link #CHUNK_ROWS} rows or {@code tokenCap} tokens,
     * or the input ends, or {@code job} refuses a row. Runs on the {@link ReadAhead} thread.
     */
    private Chunk readChunk(JsonlInput in, Rows kind, long tokenCap, RowsJob job) {
        EncodeOptions options = kind.encode();
        List<Row> rows = new ArrayList<>();
        List<Encoding> encodings = new ArrayList<>();
        long tokens = 0;
        while (rows.size() < CHUNK_ROWS && tokens < tokenCap) {
            List<Row> batch;
            try {
                batch = in.readBatch(Math.min(READ_ROWS, CHUNK_ROWS - rows.size()));
            } catch (CliException e) {
                return new Chunk(rows, encodings, e); // a bad line: run and write the rows before it first
            }
            if (batch.isEmpty()) break;
            CliException pairError = null;
            if (!pairs) {
                for (int i = 0; i < batch.size(); i++) {
                    Row r = batch.get(i);
                    if (r.pair() != null) {
                        pairError = new CliException(in.name() + " line " + r.line() + ": " + this.options.command()
                                + " takes one text per line, but this one has a \"text_pair\" (HF's pipeline takes single texts)");
                        batch = batch.subList(0, i);
                        break;
                    }
                }
            }
            List<Encoding> encoded;
            CliException rowError = null;
            try {
                List<String> firsts = new ArrayList<>(), seconds = new ArrayList<>();
                for (Row r : batch) inputs(r, kind, firsts, seconds);
                encoded = tokenizer.encodeBatch(firsts, seconds, options);
            } catch (TokenizerException e) {
                // encodeBatch does not say which row failed: encode row by row (a pair the kind's truncation
                // cannot cut takes its fallback), and stop at the first row that still fails, after the rows before it
                encoded = new ArrayList<>();
                for (int i = 0; i < batch.size(); i++) {
                    Row r = batch.get(i);
                    try {
                        encoded.addAll(encodeRow(r, kind));
                    } catch (TokenizerException failed) {
                        rowError = new CliException(in.name() + " line " + r.line() + ": " + failed.getMessage(), failed);
                        batch = batch.subList(0, i);
                        break;
                    }
                }
            }
            int at = 0;
            for (Row r : batch) {
                List<Encoding> mine = encoded.subList(at, at + width(r));
                at += mine.size();
                for (Encoding e : mine) {
                    CliException refused = refusal(in, r, e, job);
                    if (refused != null) return new Chunk(rows, encodings, refused);
                }
                rows.add(r);
                for (Encoding e : mine) {
                    encodings.add(e);
                    tokens += tokens(e, kind);
                }
            }
            if (rowError != null) return new Chunk(rows, encodings, rowError);
            if (pairError != null) return new Chunk(rows, encodings, pairError);
        }
        return new Chunk(rows, encodings, null);
    }

    /**
     * How many encodings a row makes: one, or with choices (multiple choice) one per choice, the
     * pair (prompt, choice); a chunk's encodings are its rows' in row order.
     */
    static int width(Row r) {
        return r.choices() == null ? 1 : r.choices().size();
    }

    /** Adds the (text, pair) inputs of {@code r} to the two lists, {@link #width} of them. */
    private void inputs(Row r, Rows kind, List<String> firsts, List<String> seconds) {
        if (r.choices() == null) {
            firsts.add(prefix == null ? r.text() : prefix + r.text());
            seconds.add(r.pair());
        } else {
            String first = prefix == null ? r.text() : prefix + r.text();
            for (String c : r.choices()) {
                firsts.add(first);
                seconds.add(kind.choice().apply(r, c));
            }
        }
    }

    /** One row's encodings, each pair on its own: with the kind's fallback where its truncation cannot reach the length. */
    private List<Encoding> encodeRow(Row r, Rows kind) {
        List<String> firsts = new ArrayList<>(), seconds = new ArrayList<>();
        inputs(r, kind, firsts, seconds);
        List<Encoding> out = new ArrayList<>();
        for (int i = 0; i < firsts.size(); i++) {
            try {
                out.add(tokenizer.encode(firsts.get(i), seconds.get(i), kind.encode()));
            } catch (TokenizerException e) {
                if (kind.fallback() == null) throw e;
                out.add(tokenizer.encode(firsts.get(i), seconds.get(i), kind.fallback()));
            }
        }
        return out;
    }

    /** The error for a row that {@code job} refuses, naming its line; null when the job takes it. */
    private static CliException refusal(JsonlInput in, Row row, Encoding e, RowsJob job) {
        String why = job.refuse(e);
        return why == null ? null : new CliException(in.name() + " line " + row.line() + ": " + why);
    }

    /**
     * The tokens a row costs the model: its length; with the windows truncation made ({@link Rows#windows},
     * question answering), theirs too; for a row that will run in stride windows (ner), about its
     * windows' (from its length in chars, which no token count exceeds, and the overlap).
     */
    private long tokens(Encoding e, Rows kind) {
        if (kind.windows()) return e.length() + e.overflowing().stream().mapToLong(Encoding::length).sum();
        if (stride == null || e.overflowing().isEmpty()) return e.length();
        int room = maxLength - tokenizer.numSpecialTokensToAdd(false);
        return (long) e.text(0).length() * maxLength / Math.max(1, room - stride);
    }
}
