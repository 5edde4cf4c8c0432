package distilbert.cli;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.model.DistilBertModel;
import distilbert.model.LengthBatches;
import distilbert.model.SentenceEmbeddings;
import distilbert.model.Tensor;
import distilbert.tokenizer.Encoding;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code distilbert embed}: JSONL text in, one sentence embedding (or every token's hidden state)
 * out per line, in input order. Rows are read in chunks; each chunk is tokenized, sorted by length,
 * cut into batches of about {@code --batch-tokens} real tokens, run through the encoder, pooled as
 * sentence-transformers pools ({@link SentenceEmbeddings}: on the model's backend, so only the
 * vectors leave a GPU), and written back in input order.
 */
@Command(name = "embed", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, sortOptions = false,
        usageHelpWidth = 100,
        description = {
            "Sentence embeddings (or token embeddings) from a DistilBERT model directory, as sentence-transformers computes them.",
            "",
            ModelRun.HELP_INPUT,
            "Output: one line per input line, in input order: {\"embedding\": [C floats]}, or with --pooling none "
                    + "{\"last_hidden_state\": [[C floats], ...]}, one row per real token, [CLS] and [SEP] included. "
                    + "Floats are float32, written in the shortest form that reads back as the same float32.",
            "Texts longer than the model takes are truncated (longest_first, keeping the start) to --max-length, as "
                    + "sentence-transformers truncates at max_seq_length; a line on stderr says how many rows were cut.",
            ModelRun.HELP_BATCHING,
            ""},
        footer = {"",
            "Examples:",
            "  distilbert embed --model models/all-MiniLM-L6-v2 --normalize --input in.jsonl --output out.jsonl",
            "  echo '{\"text\": \"Hello world!\"}' | distilbert embed --model DIR --pooling cls",
            "  distilbert embed --model DIR --pooling none --max-length 128 < in.jsonl > tokens.jsonl",
            "  distilbert embed --model DIR --normalize --format npy --input in.jsonl --output embeddings.npy",
            "",
            "Exit codes: 0 done, 1 failed (unusable model directory, unreadable input, bad input line, unwritable output), "
                    + "2 usage error."})
final class EmbedCommand implements Callable<Integer> {
    /** With --pooling none a chunk stops at 4 batches' worth of tokens (a vector per token to hold), not 32. */
    static final int CHUNK_BATCHES_NONE = 4;
    /** sentence-transformers' file with the model's max_seq_length, when the directory has one. */
    static final String SENTENCE_TRANSFORMERS_CONFIG = "sentence_bert_config.json";

    static final class PoolingConverter implements CommandLine.ITypeConverter<Pooling> {
        @Override
        public Pooling convert(String s) {
            return TokenizeCommand.choice(Pooling.values(), s);
        }
    }

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A HuggingFace DistilBERT model directory: config.json, " + ModelRun.HELP_MODEL_FILES
                    + ". Any DistilBERT class will do: a head's encoder is used.")
    Path model;

    @Option(names = "--pooling", paramLabel = "MODE", converter = PoolingConverter.class, defaultValue = "mean",
            description = "${COMPLETION-CANDIDATES}. mean averages the hidden states of the real tokens ([CLS] and [SEP] "
                    + "included: attention mask 1), as sentence-transformers' mean pooling does; cls takes token 0; none "
                    + "writes every token's hidden state. Default: ${DEFAULT-VALUE}.")
    Pooling pooling;

    @Option(names = "--normalize", description = "Scale each embedding to unit L2 norm (sentence-transformers' Normalize "
            + "module), e.g. for all-MiniLM-L6-v2. Needs --pooling mean or cls.")
    boolean normalize;

    /** --format. */
    enum Format {
        JSONL, NPY;

        @Override
        public String toString() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    static final class FormatConverter implements CommandLine.ITypeConverter<Format> {
        @Override
        public Format convert(String s) {
            return TokenizeCommand.choice(Format.values(), s);
        }
    }

    @Option(names = "--format", paramLabel = "FORMAT", converter = FormatConverter.class, defaultValue = "jsonl",
            description = "${COMPLETION-CANDIDATES}. npy writes the embeddings as one NumPy array file, float32 of shape "
                    + "(rows, dim), in input order (numpy.load reads it): a third of JSONL's size and no text to format, for "
                    + "large runs; it needs --output FILE and --pooling mean or cls. Default: ${DEFAULT-VALUE}.")
    Format format;

    @Option(names = "--max-length", paramLabel = "N",
            description = "Truncate rows " + ModelRun.HELP_MAX_LENGTH_LIMIT + "Default: the smallest of the tokenizer's model_max_length, config.json's max_position_embeddings and, "
                    + "when the directory has a " + SENTENCE_TRANSFORMERS_CONFIG + ", its max_seq_length.")
    Integer maxLength;

    @Mixin
    RunOptions run;

    @Override
    public Integer call() throws IOException {
        if (normalize && pooling == Pooling.NONE) throw run.usage("--normalize needs --pooling mean or cls");
        if (format == Format.NPY && run.serve != null) {
            throw run.usage("--serve answers with JSONL lines; --format npy writes a file");
        }
        if (format == Format.NPY && pooling == Pooling.NONE) {
            throw run.usage("--format npy needs --pooling mean or cls (with none, rows have as many vectors as tokens)");
        }
        if (format == Format.NPY && (run.output == null || run.output.toString().equals("-"))) {
            throw run.usage("--format npy writes a file: give --output FILE");
        }
        ModelRun prepared = ModelRun.prepare(run, model, maxLength, EmbedCommand::sentenceTransformersMaxLength);
        ModelRun modelRun = format == Format.NPY
                ? prepared.writingTo(() -> NpyOutput.create(run.output, prepared.config().dim())) : prepared;
        int padId = modelRun.padId();
        modelRun.stream(pooling == Pooling.NONE ? CHUNK_BATCHES_NONE : ModelRun.CHUNK_BATCHES, db -> {
            int C = db.config().dim();
            if (pooling == Pooling.NONE) {
                DistilBertModel encoder = db.architecture().distilbert();
                return (encodings, out, progress) -> write(out, tokenStates(encoder, encodings, padId, progress), C);
            }
            SentenceEmbeddings embeddings = new SentenceEmbeddings(db, modelRun.tokenizer()).withPooling(pooling.mode())
                    .withNormalize(normalize).withMaxLength(modelRun.maxLength()).withBatchTokens(run.batchTokens);
            return (encodings, out, progress) -> write(out, embeddings.embedEncodings(encodings, progress), C);
        });
        return Main.OK;
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

    /** Every real token's hidden state per row ({@code --pooling none}), in input order: [length, C] each. */
    private List<float[]> tokenStates(DistilBertModel encoder, List<Encoding> encodings, int padId, Progress progress) {
        float[][] results = new float[encodings.size()][];
        LengthBatches.forEach(encodings, run.batchTokens, padId, progress, (rows, input, tokens) -> {
            Tensor hidden = encoder.forward(input).lastHiddenState();                // (B, L, C)
            int L = input.length(), C = hidden.dim(2);
            float[] h = hidden.data();
            for (int b = 0; b < rows.length; b++) {
                int offset = b * L * C, length = encodings.get(rows[b]).length();
                results[rows[b]] = Arrays.copyOfRange(h, offset, offset + length * C); // (len, C)
            }
        });
        return Arrays.asList(results);
    }

    private void write(JsonlLines out, List<float[]> results, int C) {
        if (pooling == Pooling.NONE) {
            out.write(results, (gen, v) -> {
                gen.writeStartObject();
                gen.writeArrayFieldStart("last_hidden_state");
                for (int t = 0; t < v.length; t += C) JsonlOutput.floats(gen, v, t, C);
                gen.writeEndArray();
                gen.writeEndObject();
            }, v -> 12 * v.length + 64);
        } else {
            out.write(results, (gen, v) -> {
                gen.writeStartObject();
                gen.writeFieldName("embedding");
                JsonlOutput.floats(gen, v, 0, v.length);
                gen.writeEndObject();
            }, v -> 12 * v.length + 32);
        }
    }
}
