package distilbert.cli;

import distilbert.model.DistilBertModel;
import distilbert.model.LengthBatches;
import distilbert.model.SentenceEmbeddings;
import distilbert.model.SentenceTransformerDirectory;
import distilbert.model.Tensor;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.CheckpointException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
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
        List<SentenceEmbeddings.Pooling> modes = none || pooling == null ? null : poolingModes(pooling);
        ModelRun.checkModelDirectory(model);
        SentenceTransformerDirectory st = sentenceTransformers(model);
        String text = prompt != null ? prompt : promptName != null ? namedPrompt(st, promptName)
                : st.defaultPromptName() == null ? null : st.prompts().get(st.defaultPromptName());
        ModelRun prepared = ModelRun.prepare(run, st.transformer(), maxLength, dir -> st.maxSeqLength());
        int width = width(st, modes, truncateDim, prepared.config().dim());
        Tokenizer tokenizer = st.doLowerCase() ? prepared.tokenizer().withLowercase() : prepared.tokenizer();
        ModelRun textRun = prepared.withText(tokenizer, text == null || text.isEmpty() ? null : text);
        ModelRun modelRun = format == Format.NPY ? textRun.writingTo(() -> NpyOutput.create(run.output, width)) : textRun;
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
            return (encodings, out, progress) -> write(out, embeddings.embedEncodings(encodings, progress), C);
        });
        return Main.OK;
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
    private String namedPrompt(SentenceTransformerDirectory st, String name) {
        String text = st.prompts().get(name);
        if (text == null) {
            throw new CliException(model + ": no prompt named '" + name + "'; " + (st.prompts().isEmpty()
                    ? "the directory has no prompts (config_sentence_transformers.json)"
                    : "its prompts are " + String.join(", ", st.prompts().keySet())));
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
