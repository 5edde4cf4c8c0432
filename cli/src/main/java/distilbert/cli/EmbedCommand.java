package distilbert.cli;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.cli.JsonlInput.Row;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.DistilBertModel;
import distilbert.model.ModelInput;
import distilbert.model.Precision;
import distilbert.model.Tensor;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.TokenizerException;
import distilbert.tokenizer.Truncation;
import distilbert.weights.CheckpointException;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.ModelDirectory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code distilbert embed}: JSONL text in, one sentence embedding (or every token's hidden state)
 * out per line, in input order. Rows are read in chunks; each chunk is tokenized, sorted by length,
 * cut into batches of about {@code --batch-tokens} real tokens, run through the encoder, pooled as
 * sentence-transformers pools, and written back in input order before the next chunk is read.
 */
@Command(name = "embed", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, sortOptions = false,
        usageHelpWidth = 100,
        description = {
            "Sentence embeddings (or token embeddings) from a DistilBERT model directory, as sentence-transformers computes them.",
            "",
            "Input: one JSON object per line, {\"text\": \"...\", \"text_pair\": \"...\"}; text_pair is optional and encodes "
                    + "the row as a pair ([CLS] text [SEP] text_pair [SEP]); other keys are ignored. A blank or malformed line "
                    + "stops the command with an error naming the line, after the lines before it have been written.",
            "Output: one line per input line, in input order: {\"embedding\": [C floats]}, or with --pooling none "
                    + "{\"last_hidden_state\": [[C floats], ...]}, one row per real token, [CLS] and [SEP] included. "
                    + "Floats are float32, written in the shortest form that reads back as the same float32.",
            "Texts longer than the model takes are truncated (longest_first, keeping the start) to --max-length, as "
                    + "sentence-transformers truncates at max_seq_length; a line on stderr says how many rows were cut.",
            "Rows are read in chunks, sorted by length, run in batches of about --batch-tokens real tokens, and written back "
                    + "in input order. On a terminal, stderr shows a progress line (rows/s, tokens/s, ETA for --input files).",
            ""},
        footer = {"",
            "Examples:",
            "  distilbert embed --model models/all-MiniLM-L6-v2 --normalize --input in.jsonl --output out.jsonl",
            "  echo '{\"text\": \"Hello world!\"}' | distilbert embed --model DIR --pooling cls",
            "  distilbert embed --model DIR --pooling none --max-length 128 < in.jsonl > tokens.jsonl",
            "",
            "Exit codes: 0 done, 1 failed (unusable model directory, unreadable input, bad input line, unwritable output), "
                    + "2 usage error."})
final class EmbedCommand implements Callable<Integer>, Main.Verbose {
    static final int DEFAULT_BATCH_TOKENS = 8192;
    /** Rows read, sorted and run before their results are written: bounds memory and the wait for the first lines. */
    static final int CHUNK_ROWS = 4096;
    /** A chunk also stops at this many batches' worth of tokens: 32, or 4 with --pooling none (a vector per token to hold). */
    static final int CHUNK_BATCHES = 32, CHUNK_BATCHES_NONE = 4;
    /** Rows taken from the input (and tokenized on all cores) at a time while a chunk fills. */
    static final int READ_ROWS = 256;
    /** sentence-transformers' file with the model's max_seq_length, when the directory has one. */
    static final String SENTENCE_TRANSFORMERS_CONFIG = "sentence_bert_config.json";

    /** --device. */
    enum DeviceChoice {
        AUTO(Device.AUTO), CPU(Device.CPU), CUDA(Device.CUDA);

        final Device device;

        DeviceChoice(Device device) {
            this.device = device;
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    static final class PoolingConverter implements CommandLine.ITypeConverter<Pooling> {
        @Override
        public Pooling convert(String s) {
            return TokenizeCommand.choice(Pooling.values(), s);
        }
    }

    static final class PrecisionConverter implements CommandLine.ITypeConverter<Precision> {
        @Override
        public Precision convert(String s) {
            try {
                return Precision.parse(s);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    static final class DeviceConverter implements CommandLine.ITypeConverter<DeviceChoice> {
        @Override
        public DeviceChoice convert(String s) {
            return TokenizeCommand.choice(DeviceChoice.values(), s);
        }
    }

    @ParentCommand
    private Main main;

    @Spec
    private CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A HuggingFace DistilBERT model directory: config.json, weights (model.safetensors, shards or "
                    + "pytorch_model.bin) and its tokenizer (tokenizer.json or vocab.txt). Any DistilBERT class will do: "
                    + "a head's encoder is used.")
    Path model;

    @Option(names = "--pooling", paramLabel = "MODE", converter = PoolingConverter.class, defaultValue = "mean",
            description = "${COMPLETION-CANDIDATES}. mean averages the hidden states of the real tokens ([CLS] and [SEP] "
                    + "included: attention mask 1), as sentence-transformers' mean pooling does; cls takes token 0; none "
                    + "writes every token's hidden state. Default: ${DEFAULT-VALUE}.")
    Pooling pooling;

    @Option(names = "--normalize", description = "Scale each embedding to unit L2 norm (sentence-transformers' Normalize "
            + "module), e.g. for all-MiniLM-L6-v2. Needs --pooling mean or cls.")
    boolean normalize;

    @Option(names = "--input", paramLabel = "FILE", description = "JSONL to read. Default (or -): stdin.")
    Path input;

    @Option(names = "--output", paramLabel = "FILE", description = "JSONL to write. Default (or -): stdout.")
    Path output;

    @Option(names = "--batch-tokens", paramLabel = "N", defaultValue = "" + DEFAULT_BATCH_TOKENS,
            description = "Real tokens per batch run through the model (rows are sorted by length first, so batches "
                    + "carry little padding; a longer row runs alone). Default: ${DEFAULT-VALUE}.")
    int batchTokens;

    @Option(names = "--max-length", paramLabel = "N",
            description = "Truncate rows to N tokens, [CLS] and [SEP] included; at most the model's max_position_embeddings. "
                    + "Default: the smallest of the tokenizer's model_max_length, config.json's max_position_embeddings and, "
                    + "when the directory has a " + SENTENCE_TRANSFORMERS_CONFIG + ", its max_seq_length.")
    Integer maxLength;

    @Option(names = "--device", paramLabel = "DEVICE", converter = DeviceConverter.class, defaultValue = "auto",
            description = "${COMPLETION-CANDIDATES}. auto runs on a usable GPU and falls back to the CPU, saying so once; "
                    + "cuda fails where it cannot run. Default: ${DEFAULT-VALUE}.")
    DeviceChoice device;

    @Option(names = "--precision", paramLabel = "PRECISION", converter = PrecisionConverter.class,
            description = "On the GPU: fp32, tf32, bf16 (default on sm_80 and newer) or fp16; matrix products always "
                    + "accumulate in float32. The CPU computes in fp32 whatever is asked.")
    Precision precision;

    @Option(names = "--verbose", description = "Print the stack trace of an error.")
    boolean verbose;

    @Override
    public boolean verbose() {
        return verbose;
    }

    @Override
    public Integer call() throws IOException {
        Main.Io io = main.io();
        checkOptions();
        checkModelDirectory(model);
        DistilBertConfig config = ModelDirectory.readConfig(model);
        int positions = config.maxPositionEmbeddings();
        if (maxLength != null && maxLength > positions) {
            throw usage("--max-length " + maxLength + " is more than the model takes: " + model
                    + "/config.json has max_position_embeddings " + positions);
        }
        Tokenizer tokenizer = Tokenizer.fromPretrained(model);
        if (tokenizer.vocabSize() > config.vocabSize()) {
            throw new CliException(model + ": the tokenizer has " + tokenizer.vocabSize() + " tokens but config.json has vocab_size "
                    + config.vocabSize());
        }
        int length = maxLength != null ? maxLength : defaultMaxLength(tokenizer.modelMaxLength(), positions, sentenceTransformersMaxLength(model));
        EncodeOptions options = new EncodeOptions(true, Truncation.longestFirst(length), null);
        long tokenCap = (long) batchTokens * (pooling == Pooling.NONE ? CHUNK_BATCHES_NONE : CHUNK_BATCHES);

        long truncated = 0;
        try (JsonlInput in = JsonlInput.open(input, io.in());
             DistilBert db = load(model, device, precision)) {
            for (String w : db.warnings()) io.err().println("distilbert embed: warning: " + w);
            DistilBertModel encoder = db.architecture().distilbert();
            int padId = Math.max(0, tokenizer.padTokenId());
            try (JsonlOutput out = JsonlOutput.open(output, io.out());
                 Progress progress = io.errIsTerminal() ? Progress.on(io.err(), "embed", in.size(), in::bytesRead) : Progress.off()) {
                while (true) {
                    Chunk chunk = readChunk(in, tokenizer, options, tokenCap);
                    if (!chunk.rows().isEmpty()) {
                        for (Encoding e : chunk.encodings()) if (!e.overflowing().isEmpty()) truncated++;
                        List<float[]> results = run(encoder, chunk.encodings(), padId, progress);
                        write(out, results, config.dim());
                    }
                    if (chunk.error() != null) throw chunk.error();
                    if (chunk.rows().isEmpty()) break;
                }
            }
        } finally {
            if (truncated > 0) {
                io.err().println("distilbert embed: " + truncated + (truncated == 1 ? " row was" : " rows were") + " longer than "
                        + length + " tokens and truncated to " + length + " (--max-length)");
            }
        }
        return Main.OK;
    }

    /** The checks that need no model: a usage error before anything is loaded. */
    void checkOptions() {
        if (batchTokens < 1) throw usage("--batch-tokens must be at least 1, got " + batchTokens);
        if (maxLength != null && maxLength < 2) throw usage("--max-length must be at least 2 ([CLS] and [SEP]), got " + maxLength);
        if (normalize && pooling == Pooling.NONE) throw usage("--normalize needs --pooling mean or cls");
        if (input != null && output != null && !input.toString().equals("-") && !output.toString().equals("-")) {
            try {
                if (Files.exists(output) && Files.isSameFile(input, output)) throw usage("--input and --output are the same file");
            } catch (IOException e) {
                // One of them cannot be looked at: opening it says why.
            }
        }
    }

    /** The smallest of the limits that apply: the tokenizer's, the position table's and sentence-transformers' max_seq_length. */
    static int defaultMaxLength(int tokenizerMax, int maxPositions, OptionalInt sentenceTransformersMax) {
        int length = Math.min(tokenizerMax, maxPositions);
        return sentenceTransformersMax.isPresent() ? Math.min(length, sentenceTransformersMax.getAsInt()) : length;
    }

    /** {@code max_seq_length} of the directory's sentence_bert_config.json, if it has one. */
    static OptionalInt sentenceTransformersMaxLength(Path dir) throws IOException {
        Path p = dir.resolve(SENTENCE_TRANSFORMERS_CONFIG);
        if (!Files.isRegularFile(p)) return OptionalInt.empty();
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(p.toFile());
        } catch (JacksonException e) {
            throw new CliException(p + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
        JsonNode n = root == null ? null : root.get("max_seq_length");
        if (n == null || n.isNull()) return OptionalInt.empty();
        if (!n.canConvertToInt() || !n.isIntegralNumber() || n.intValue() < 2) {
            throw new CliException(p + ": max_seq_length must be an integer of at least 2, got " + n);
        }
        return OptionalInt.of(n.intValue());
    }

    /** A clear error for a model path that is no directory, before config.json is looked for. */
    static void checkModelDirectory(Path dir) {
        if (!Files.exists(dir)) throw new CliException(dir + ": no such directory");
        if (!Files.isDirectory(dir)) throw new CliException(dir + ": not a directory (--model takes a model directory)");
    }

    /** {@link DistilBert#load}, with a one-line error where the backend asked for cannot run. */
    static DistilBert load(Path dir, DeviceChoice device, Precision precision) throws IOException {
        try {
            return DistilBert.load(dir, device.device, precision);
        } catch (CheckpointException e) {
            throw new CliException(Main.inDirectory(dir, e.getMessage()), e);
        } catch (UnsupportedOperationException | IllegalStateException e) {
            throw new CliException("--device " + device + ": " + e.getMessage(), e);
        }
    }

    /** Rows of one chunk with their encodings; {@code error}, when not null, is thrown after they are written. */
    private record Chunk(List<Row> rows, List<Encoding> encodings, CliException error) {}

    /** Reads and tokenizes rows until the chunk has {@link #CHUNK_ROWS} rows or {@code tokenCap} tokens, or the input ends. */
    private static Chunk readChunk(JsonlInput in, Tokenizer tokenizer, EncodeOptions options, long tokenCap) {
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
            List<Encoding> encoded;
            try {
                encoded = tokenizer.encodeBatch(batch.stream().map(Row::text).toList(), batch.stream().map(Row::pair).toList(), options);
            } catch (TokenizerException e) {
                // encodeBatch does not say which row failed: find the first, and keep the rows before it.
                for (Row r : batch) {
                    try {
                        encodings.add(tokenizer.encode(r.text(), r.pair(), options));
                        rows.add(r);
                    } catch (TokenizerException rowError) {
                        return new Chunk(rows, encodings, new CliException(in.name() + " line " + r.line() + ": " + rowError.getMessage(), rowError));
                    }
                }
                throw e;
            }
            rows.addAll(batch);
            encodings.addAll(encoded);
            for (Encoding e : encoded) tokens += e.length();
        }
        return new Chunk(rows, encodings, null);
    }

    /** Runs the rows in batches by length and returns their results in input order. */
    private List<float[]> run(DistilBertModel encoder, List<Encoding> encodings, int padId, Progress progress) {
        int n = encodings.size();
        int[] lengths = new int[n];
        for (int i = 0; i < n; i++) lengths[i] = encodings.get(i).length();
        float[][] results = new float[n][];
        for (int[] batch : LengthBatches.plan(lengths, batchTokens)) {
            int B = batch.length, L = 0;
            long tokens = 0;
            for (int i : batch) {
                L = Math.max(L, lengths[i]);
                tokens += lengths[i];
            }
            int[] ids = new int[B * L], mask = new int[B * L];                      // (B, L)
            Arrays.fill(ids, padId);
            for (int b = 0; b < B; b++) {
                int[] rowIds = encodings.get(batch[b]).ids();
                System.arraycopy(rowIds, 0, ids, b * L, rowIds.length);
                Arrays.fill(mask, b * L, b * L + rowIds.length, 1);
            }
            Tensor hidden = encoder.forward(ModelInput.ofIds(B, L, ids, mask)).lastHiddenState(); // (B, L, C)
            int C = hidden.dim(2);
            float[] h = hidden.data();
            for (int b = 0; b < B; b++) {
                int row = batch[b], offset = b * L * C;
                if (pooling == Pooling.NONE) {
                    results[row] = Arrays.copyOfRange(h, offset, offset + lengths[row] * C); // (len, C)
                } else {
                    float[] v = pooling.pool(h, offset, lengths[row], C);                    // (C)
                    if (normalize) Pooling.normalize(v);
                    results[row] = v;
                }
            }
            progress.advance(B, tokens);
        }
        return Arrays.asList(results);
    }

    private void write(JsonlOutput out, List<float[]> results, int C) {
        if (pooling == Pooling.NONE) {
            out.write(results, (gen, v) -> {
                gen.writeStartObject();
                gen.writeArrayFieldStart("last_hidden_state");
                for (int t = 0; t < v.length; t += C) floats(gen, v, t, C);
                gen.writeEndArray();
                gen.writeEndObject();
            }, v -> 12 * v.length + 64);
        } else {
            out.write(results, (gen, v) -> {
                gen.writeStartObject();
                gen.writeFieldName("embedding");
                floats(gen, v, 0, v.length);
                gen.writeEndObject();
            }, v -> 12 * v.length + 32);
        }
    }

    /** A JSON array of float32 values, each in its shortest round-trip form. */
    private static void floats(JsonGenerator gen, float[] v, int offset, int length) throws IOException {
        gen.writeStartArray(v, length);
        for (int i = offset; i < offset + length; i++) gen.writeNumber(v[i]);
        gen.writeEndArray();
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }
}
