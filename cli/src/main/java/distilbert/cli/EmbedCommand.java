package distilbert.cli;

import distilbert.model.DistilBertModel;
import distilbert.model.EmbeddingQuantization;
import distilbert.model.LengthBatches;
import distilbert.model.SentenceEmbeddings;
import distilbert.model.SentenceTransformerDirectory;
import distilbert.model.SparseEmbeddings;
import distilbert.model.Tensor;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.CheckpointException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
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
            "A sentence-transformers directory (modules.json) is run as SentenceTransformer(dir).encode runs it: its "
                    + "Pooling modes, Dense layers and Normalize, its tokenizer's do_lower_case and max_seq_length, and its "
                    + "default prompt (--prompt-name, --prompt choose another). A plain model directory is mean-pooled, as "
                    + "sentence-transformers wraps one.",
            "",
            ModelRun.HELP_INPUT,
            "Output: one line per input line, in input order: {\"embedding\": [D floats]}, or with --pooling none "
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
            "  distilbert embed --model msmarco-distilbert-dot-v5 --prompt-name query --input queries.jsonl",
            "  distilbert embed --model DIR --pooling mean,max --input in.jsonl   # [2 x dim] per row",
            "  distilbert embed --model DIR --pooling none --max-length 128 < in.jsonl > tokens.jsonl",
            "  distilbert embed --model DIR --normalize --format npy --input in.jsonl --output embeddings.npy",
            "",
            "Exit codes: 0 done, 1 failed (unusable model directory, unreadable input, bad input line, unwritable output), "
                    + "2 usage error."})
final class EmbedCommand implements Callable<Integer> {
    /** With --pooling none a chunk stops at 4 batches' worth of tokens (a vector per token to hold), not 32. */
    static final int CHUNK_BATCHES_NONE = 4;

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A HuggingFace DistilBERT model directory: config.json, " + ModelRun.HELP_MODEL_FILES
                    + ". Any DistilBERT class will do: a head's encoder is used. Or a sentence-transformers directory "
                    + "(modules.json: Transformer, Pooling, Dense, Normalize).")
    Path model;

    @Option(names = "--pooling", paramLabel = "MODE[,MODE...]",
            description = "cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken (sentence-transformers' modes; "
                    + "several are concatenated in the order given), or none. mean averages the hidden states of the real "
                    + "tokens ([CLS] and [SEP] included: attention mask 1); cls takes the first; none writes every token's "
                    + "hidden state. Default: the directory's Pooling module, else mean.")
    String pooling;

    @Option(names = "--normalize", description = "Scale each embedding to unit L2 norm (encode's normalize_embeddings; "
            + "after --truncate-dim), e.g. for all-MiniLM-L6-v2; a directory whose modules end in Normalize always does "
            + "(before the truncation). Not with --pooling none.")
    boolean normalize;

    @Option(names = "--quantize", paramLabel = "KIND", description = "Write the embeddings in fewer bits, as "
            + "sentence-transformers' quantize_embeddings: int8 or uint8 (a byte per value, each dimension's range in 256 "
            + "buckets: needs --calibration or --ranges), binary or ubinary (a bit per value, whether it is positive, 8 to a "
            + "byte; binary is the byte minus 128). JSONL: integers; npy: int8 or uint8 arrays. Not with --pooling none.")
    String quantize;

    @Option(names = "--calibration", paramLabel = "FILE.npy", description = "--quantize int8/uint8: float32 (rows, dim) "
            + "embeddings (`embed --format npy` of a sample) whose smallest and largest value per dimension are the buckets' "
            + "range, as quantize_embeddings' calibration_embeddings.")
    Path calibration;

    @Option(names = "--ranges", paramLabel = "FILE.npy", description = "--quantize int8/uint8: the ranges themselves, float32 "
            + "(2, dim): each dimension's smallest value, then its largest, as quantize_embeddings' ranges.")
    Path ranges;

    @Option(names = "--truncate-dim", paramLabel = "N", description = "Keep the first N values of each embedding "
            + "(Matryoshka models; encode's truncate_dim), cut after the model's Normalize module and before --normalize. "
            + "Default: config_sentence_transformers.json's truncate_dim, else none; 0: none. Not with --pooling none.")
    Integer truncateDim;

    @Option(names = "--prompt-name", paramLabel = "NAME", description = "Put the directory's prompt of that name "
            + "(config_sentence_transformers.json's prompts, e.g. query) before each text, as encode(prompt_name=...) does. "
            + "Default: its default_prompt_name, if any.")
    String promptName;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "Put TEXT before each text, as encode(prompt=...) does "
            + "(\"\" for none, overriding a default prompt). With the Pooling module's include_prompt false, the "
            + "prompt's tokens are left out of the pooling.")
    String prompt;

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

    @Option(names = "--max-active-dims", paramLabel = "N", description = "A sparse encoder (SPLADE): keep the N largest "
            + "weights of each embedding (encode's max_active_dims). Default: all non-zero ones.")
    Integer maxActiveDims;

    @Option(names = "--tokens", description = "A sparse encoder (SPLADE): add each weight's token, \"tokens\": [...] beside "
            + "\"indices\" and \"values\" (as the model's decode names them).")
    boolean tokens;

    @Option(names = "--format", paramLabel = "FORMAT", converter = FormatConverter.class, defaultValue = "jsonl",
            description = "${COMPLETION-CANDIDATES}. npy writes the embeddings as one NumPy array file, float32 of shape "
                    + "(rows, dim), in input order (numpy.load reads it): a third of JSONL's size and no text to format, for "
                    + "large runs; it needs --output FILE and a pooling other than none. Default: ${DEFAULT-VALUE}.")
    Format format;

    @Option(names = "--max-length", paramLabel = "N",
            description = "Truncate rows " + ModelRun.HELP_MAX_LENGTH_LIMIT + "Default: the smallest of the tokenizer's model_max_length, config.json's max_position_embeddings and, "
                    + "when the directory has a " + SentenceTransformerDirectory.TRANSFORMER_CONFIG_FILE + ", its max_seq_length.")
    Integer maxLength;

    @Mixin
    RunOptions run;

    @Override
    public Integer call() throws IOException {
        ModelRun.checkModelDirectory(model);
        if (SparseEmbeddings.Directory.isSparseEncoder(model)) return sparse();
        if (maxActiveDims != null || tokens) {
            throw run.usage((tokens ? "--tokens" : "--max-active-dims") + " is for a sparse encoder (SPLADE: modules.json with "
                    + "SpladePooling); " + model + " gives dense embeddings");
        }
        boolean none = "none".equals(pooling);
        if (normalize && none) throw run.usage("--normalize needs a pooling other than none");
        if (truncateDim != null && none) throw run.usage("--truncate-dim needs a pooling other than none");
        if (truncateDim != null && truncateDim < 0) throw run.usage("--truncate-dim must be positive (or 0: none), got " + truncateDim);
        if (format == Format.NPY && run.serve != null) {
            throw run.usage("--serve answers with JSONL lines; --format npy writes a file");
        }
        if (format == Format.NPY && none) {
            throw run.usage("--format npy needs a pooling other than none (with none, rows have as many vectors as tokens)");
        }
        if (format == Format.NPY && (run.output == null || run.output.toString().equals("-"))) {
            throw run.usage("--format npy writes a file: give --output FILE");
        }
        if (promptName != null && prompt != null) throw run.usage("give --prompt-name or --prompt, not both");
        EmbeddingQuantization.Kind kind = quantizationKind(none);
        List<SentenceEmbeddings.Pooling> modes = none || pooling == null ? null : poolingModes(pooling);
        SentenceTransformerDirectory st = sentenceTransformers(model);
        String text = prompt != null ? prompt : promptName != null ? namedPrompt(model, st.prompts(), promptName)
                : st.defaultPromptName() == null ? null : st.prompts().get(st.defaultPromptName());
        ModelRun prepared = ModelRun.prepare(run, st.transformer(), maxLength, dir -> st.maxSeqLength());
        int width = width(st, modes, truncateDim, prepared.config().dim());
        EmbeddingQuantization.Ranges buckets = kind != null && kind.needsRanges() ? ranges(width) : null;
        Tokenizer tokenizer = st.doLowerCase() ? prepared.tokenizer().withLowercase() : prepared.tokenizer();
        ModelRun textRun = prepared.withText(tokenizer, text == null || text.isEmpty() ? null : text);
        ModelRun modelRun = format != Format.NPY ? textRun : textRun.writingTo(() -> kind == null
                ? NpyOutput.create(run.output, width)
                : NpyOutput.create(run.output, kind.width(width), kind.signed() ? NpyOutput.Dtype.INT8 : NpyOutput.Dtype.UINT8));
        int padId = modelRun.padId();
        modelRun.stream(none ? CHUNK_BATCHES_NONE : ModelRun.CHUNK_BATCHES, db -> {
            int C = db.config().dim();
            if (none) {
                DistilBertModel encoder = db.architecture().distilbert();
                return (encodings, out, progress) -> write(out, tokenStates(encoder, encodings, padId, progress), C);
            }
            SentenceEmbeddings base = SentenceEmbeddings.fromDirectory(db, st);
            if (modes != null) base = base.withPooling(modes);
            if (truncateDim != null) base = base.withTruncateDim(truncateDim);
            SentenceEmbeddings embeddings = base.withNormalize(normalize).withPrompt(text)
                    .withMaxLength(modelRun.maxLength()).withBatchTokens(run.batchTokens);
            if (kind != null) {
                return (encodings, out, progress) -> writeQuantized(out, EmbeddingQuantization.quantize(
                        embeddings.embedEncodings(encodings, progress), kind, buckets), kind, format == Format.NPY);
            }
            return (encodings, out, progress) -> write(out, embeddings.embedEncodings(encodings, progress), C);
        });
        return Main.OK;
    }

    /**
     * A sparse encoder's embeddings ({@link SparseEmbeddings}): {"indices": [...], "values": [...]} per
     * line, the non-zero vocabulary dimensions ascending; with --tokens their tokens too.
     */
    private int sparse() throws IOException {
        for (var o : List.of(Map.entry("--pooling", pooling != null), Map.entry("--normalize", normalize),
                Map.entry("--truncate-dim", truncateDim != null), Map.entry("--quantize", quantize != null),
                Map.entry("--format npy", format == Format.NPY))) {
            if (o.getValue()) {
                throw run.usage(o.getKey() + " is for dense embeddings; " + model + " is a sparse encoder (SpladePooling)");
            }
        }
        if (maxActiveDims != null && maxActiveDims < 1) throw run.usage("--max-active-dims must be at least 1, got " + maxActiveDims);
        if (promptName != null && prompt != null) throw run.usage("give --prompt-name or --prompt, not both");
        SparseEmbeddings.Directory dir = sparseEncoder(model);
        String text = prompt != null ? prompt : promptName != null ? namedPrompt(model, dir.prompts(), promptName)
                : dir.defaultPromptName() == null ? null : dir.prompts().get(dir.defaultPromptName());
        ModelRun prepared = ModelRun.prepare(run, dir.transformer(), maxLength, d -> dir.maxSeqLength())
                .requireHead(distilbert.weights.Head.MASKED_LM);
        Tokenizer tokenizer = dir.doLowerCase() ? prepared.tokenizer().withLowercase() : prepared.tokenizer();
        ModelRun modelRun = prepared.withText(tokenizer, text == null || text.isEmpty() ? null : text);
        String given = text;
        modelRun.stream(ModelRun.CHUNK_BATCHES, db -> {
            SparseEmbeddings base = SparseEmbeddings.fromDirectory(db, dir).withPrompt(given)
                    .withMaxLength(modelRun.maxLength()).withBatchTokens(run.batchTokens);
            SparseEmbeddings splade = maxActiveDims == null ? base : base.withMaxActiveDims(maxActiveDims);
            return (encodings, out, progress) -> writeSparse(out, splade, splade.embedEncodings(encodings, progress));
        });
        return Main.OK;
    }

    private void writeSparse(JsonlLines out, SparseEmbeddings splade, List<SparseEmbeddings.Vector> vectors) {
        out.write(vectors, (gen, v) -> {
            gen.writeStartObject();
            gen.writeFieldName("indices");
            gen.writeArray(v.indices(), 0, v.indices().length);
            gen.writeFieldName("values");
            JsonlOutput.floats(gen, v.values(), 0, v.values().length);
            if (tokens) {
                gen.writeArrayFieldStart("tokens");
                for (int id : v.indices()) gen.writeString(splade.tokenizer().idToToken(id));
                gen.writeEndArray();
            }
            gen.writeEndObject();
        }, v -> 20 * v.indices().length + 40);
    }

    /** --quantize's kind (null: none), its options checked. */
    private EmbeddingQuantization.Kind quantizationKind(boolean none) {
        if (quantize == null) {
            if (calibration != null || ranges != null) throw run.usage("--calibration and --ranges are for --quantize int8 or uint8");
            return null;
        }
        EmbeddingQuantization.Kind kind;
        try {
            kind = EmbeddingQuantization.Kind.parse(quantize);
        } catch (IllegalArgumentException e) {
            throw run.usage("--quantize: " + e.getMessage());
        }
        if (none) throw run.usage("--quantize needs a pooling other than none");
        if (calibration != null && ranges != null) throw run.usage("give --calibration or --ranges, not both");
        if (kind.needsRanges() && calibration == null && ranges == null) {
            throw run.usage("--quantize " + kind + " needs the buckets' ranges: --calibration FILE.npy (embeddings of a sample, "
                    + "e.g. this command's --format npy output) or --ranges FILE.npy (2, dim); sentence-transformers takes "
                    + "them from all the embeddings at once, which a stream does not have");
        }
        if (!kind.needsRanges() && (calibration != null || ranges != null)) {
            throw run.usage("--quantize " + kind + " takes no ranges: --calibration and --ranges are for int8 and uint8");
        }
        return kind;
    }

    /** The int8/uint8 buckets' ranges of --calibration or --ranges, for vectors of {@code width} values. */
    private EmbeddingQuantization.Ranges ranges(int width) {
        NpyInput in = NpyInput.read(calibration != null ? calibration : ranges);
        if (in.dim() != width) {
            throw new CliException(in.file() + ": " + in.dim() + " values per row, but the embeddings have " + width);
        }
        if (calibration != null) {
            if (in.rows() == 0) throw new CliException(in.file() + ": no rows to calibrate with");
            List<float[]> rows = new ArrayList<>(in.rows());
            for (int r = 0; r < in.rows(); r++) rows.add(Arrays.copyOfRange(in.values(), r * width, (r + 1) * width));
            return EmbeddingQuantization.Ranges.of(rows);
        }
        if (in.rows() != 2) throw new CliException(in.file() + ": ranges are 2 rows (the minima, then the maxima), not " + in.rows());
        return new EmbeddingQuantization.Ranges(Arrays.copyOfRange(in.values(), 0, width),
                Arrays.copyOfRange(in.values(), width, 2 * width));
    }

    private static void writeQuantized(JsonlLines out, List<byte[]> rows, EmbeddingQuantization.Kind kind, boolean npy) {
        if (npy) {
            out.write(rows, (gen, v) -> { }, v -> v.length);
            return;
        }
        out.write(rows, (gen, v) -> {
            gen.writeStartObject();
            gen.writeFieldName("embedding");
            int[] values = EmbeddingQuantization.values(v, kind);
            gen.writeArray(values, 0, values.length);
            gen.writeEndObject();
        }, v -> 5 * v.length + 32);
    }

    /** The directory's sparse-encoder modules ({@link SparseEmbeddings.Directory}), or an error naming the file. */
    static SparseEmbeddings.Directory sparseEncoder(Path dir) {
        try {
            return SparseEmbeddings.Directory.read(dir);
        } catch (IllegalArgumentException | UncheckedIOException e) {
            throw new CliException(e.getMessage(), e);
        }
    }

    /** The directory's sentence-transformers modules (a plain directory's: mean pooling), or an error naming the file. */
    static SentenceTransformerDirectory sentenceTransformers(Path dir) {
        try {
            return SentenceTransformerDirectory.read(dir);
        } catch (IllegalArgumentException | UncheckedIOException | CheckpointException e) {
            throw new CliException(e.getMessage(), e);
        }
    }

    /** --pooling's modes, in the order given. */
    private List<SentenceEmbeddings.Pooling> poolingModes(String value) {
        try {
            return SentenceEmbeddings.Pooling.parse(value);
        } catch (IllegalArgumentException e) {
            throw run.usage("--pooling: " + e.getMessage() + ", or none");
        }
    }

    /** The prompt called {@code name} in the directory, or an error listing the names there are. */
    static String namedPrompt(Path model, Map<String, String> prompts, String name) {
        String text = prompts.get(name);
        if (text == null) {
            throw new CliException(model + ": no prompt named '" + name + "'; " + (prompts.isEmpty()
                    ? "the directory has no prompts (config_sentence_transformers.json)"
                    : "its prompts are " + String.join(", ", prompts.keySet())));
        }
        return text;
    }

    /** The vectors' length, checked before the model loads: the Dense layers must take what the pooling gives. */
    private static int width(SentenceTransformerDirectory st, List<SentenceEmbeddings.Pooling> modes, Integer truncate,
                             int dim) {
        try {
            return st.dimension(dim, modes, truncate);
        } catch (IllegalArgumentException e) {
            throw new CliException(e.getMessage(), e);
        }
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
        if ("none".equals(pooling)) {
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
