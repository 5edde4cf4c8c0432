package distilbert.spark;

import distilbert.model.CrossEncoder;
import distilbert.model.Device;
import distilbert.model.Precision;
import distilbert.model.DistilBert;
import distilbert.model.SentenceEmbeddings;
import distilbert.model.SentenceTransformerDirectory;
import distilbert.model.TokenClassification;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Consumer;
import org.apache.spark.SparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.LongAccumulator;

/**
 * One of the library's pipelines over a Spark {@link Dataset}: batch scoring past one machine, as
 * DESIGN.md plans it. {@link #transform} appends one column to the rows it is given and keeps every
 * other column and the rows' order; a null text gives a null result.
 *
 * <p>Each executor JVM loads the model once ({@link ExecutorModels}) and its tasks share it; a
 * partition is read {@link #withChunkRows chunk} by chunk, each chunk tokenized by its task and run
 * in batches of similar length ({@link #withBatchTokens}), as the command line batches rows. The
 * device is chosen per executor: with {@code device = auto} (the default) the GPU Spark assigned to
 * the task ({@code spark.task.resource.gpu.amount}), else a usable GPU, else the CPU.
 *
 * <pre>{@code
 * Dataset<Row> scored = SparkPipeline.textClassification("/models/sst2")
 *         .withInputCol("review").withPrecision("bf16").transform(reviews);
 * // + column "classification": struct<label: string, score: float, scores: array<float>>
 * }</pre>
 *
 * <p>The model directory must be readable at the same path on the driver (where it is checked before
 * any task starts) and on every executor; a relative path resolves against each JVM's working
 * directory, which is where {@code spark-submit --archives model.tgz#model} unpacks it.
 *
 * <p>Immutable and serializable: the {@code with…} methods return a changed copy.
 */
public final class SparkPipeline implements Serializable {

    private static final long serialVersionUID = 1L;

    /** The pipelines, named as HF's {@code pipeline(task)} names them. */
    public enum Task {
        /** sentence-transformers' embeddings; column {@code embedding: array<float>}. */
        EMBED("embed", "embedding"),
        /** HF's text-classification; column {@code classification: struct<label, score, scores>}. */
        TEXT_CLASSIFICATION("text-classification", "classification"),
        /** HF's token-classification ("ner"); column {@code entities: array<struct<...>>}. */
        TOKEN_CLASSIFICATION("token-classification", "entities"),
        /** HF's question-answering; column {@code answer: struct<score, start, end, answer>}. */
        QUESTION_ANSWERING("question-answering", "answer"),
        /** HF's zero-shot-classification; column {@code zero_shot: struct<labels, scores>}. */
        ZERO_SHOT_CLASSIFICATION("zero-shot-classification", "zero_shot"),
        /** HF's fill-mask; column {@code fill_mask: array<array<struct<score, token, token_str, sequence>>>}, a list per mask. */
        FILL_MASK("fill-mask", "fill_mask"),
        /** A multiple-choice model over a prompt and its choices; column {@code choice: struct<choice, score, scores>}. */
        MULTIPLE_CHOICE("multiple-choice", "choice"),
        /**
         * sentence-transformers' {@code CrossEncoder.rank} of a query's documents (the command line's
         * {@code rerank}; HF has no such pipeline); column {@code hits: array<struct<corpus_id, score, text>>}, best first.
         */
        RERANK("rerank", "hits");

        private final String cliName;
        private final String defaultOutput;

        Task(String cliName, String defaultOutput) {
            this.cliName = cliName;
            this.defaultOutput = defaultOutput;
        }

        /** Its name on the command line and in HF: {@code embed}, {@code text-classification}, .... */
        public String cliName() {
            return cliName;
        }

        /** The column {@link #transform} appends unless {@link #withOutputCol} names another. */
        public String defaultOutputCol() {
            return defaultOutput;
        }

        /**
         * A task by its {@link #cliName} (or HF's aliases {@code ner}, {@code sentiment-analysis},
         * {@code feature-extraction}), any case.
         */
        public static Task parse(String name) {
            String s = name.trim().toLowerCase(Locale.ROOT);
            for (Task t : values()) {
                if (t.cliName.equals(s)) {
                    return t;
                }
            }
            return switch (s) {
                case "ner" -> TOKEN_CLASSIFICATION;
                case "sentiment-analysis" -> TEXT_CLASSIFICATION;
                case "feature-extraction", "embeddings" -> EMBED;
                case "qa" -> QUESTION_ANSWERING;
                default -> throw new IllegalArgumentException("unknown task '" + name + "': expected one of "
                        + Arrays.stream(values()).map(Task::cliName).toList());
            };
        }
    }

    /** Rows a task reads, tokenizes and runs at a time, unless {@link #withChunkRows} says otherwise. */
    public static final int DEFAULT_CHUNK_ROWS = 4096;

    /** rerank's top k unless {@link #withTopK} says otherwise: every document of the row, as {@code CrossEncoder.rank}'s default. */
    public static final int ALL_DOCUMENTS = Integer.MAX_VALUE;

    // Set once, by a factory or by with(...) on a fresh copy, and never changed after: the object is immutable.
    Task task;
    String model;
    String inputCol;
    /**
     * text-classification: the optional text_pair column; question-answering: the context column;
     * multiple-choice: the choices; rerank: the documents.
     */
    String secondCol;
    String outputCol;
    /** Where a row the pipeline refuses says why (its result then null); null: such a row fails the task. */
    String errorCol;
    String device = "auto";
    Precision precision;
    int maxLength;
    int batchTokens;
    int chunkRows = DEFAULT_CHUNK_ROWS;
    /** embed: the pooling modes, or null for the directory's (sentence-transformers' Pooling module, else mean). */
    List<SentenceEmbeddings.Pooling> pooling;
    boolean normalize;
    /** embed: the width the vectors are cut to, or null for the directory's truncate_dim (0: not cut). */
    Integer truncateDim;
    /** embed and rerank: the prompt's name, or null. */
    String promptName;
    /** embed and rerank: the prompt's text ("" for none), or null for the directory's default. */
    String prompt;
    TokenClassification.Aggregation aggregation = TokenClassification.Aggregation.SIMPLE;
    List<String> candidateLabels = List.of();
    String hypothesisTemplate;
    boolean multiLabel;
    boolean driverCheck = true;
    /** fill-mask: predictions per mask; rerank: hits per row ({@link #ALL_DOCUMENTS} by default). */
    int topK;
    List<String> targets;
    /** rerank: what turns a pair's logit into its score, or null for the directory's. */
    SentenceEmbeddings.Dense.Activation activation;
    /** rerank: whether each hit carries its document's text. */
    boolean documentTexts = true;

    private SparkPipeline(Task task, String model) {
        this.task = task;
        this.model = Objects.requireNonNull(model, "model");
        this.inputCol = switch (task) {
            case QUESTION_ANSWERING -> "question";
            case MULTIPLE_CHOICE -> "prompt";
            case RERANK -> "query";
            default -> "text";
        };
        this.secondCol = switch (task) {
            case QUESTION_ANSWERING -> "context";
            case MULTIPLE_CHOICE -> "choices";
            case RERANK -> "documents";
            default -> null;
        };
        this.outputCol = task.defaultOutputCol();
        this.topK = task == Task.RERANK ? ALL_DOCUMENTS : distilbert.model.FillMask.DEFAULT_TOP_K;
    }

    private SparkPipeline(SparkPipeline o) {
        task = o.task;
        model = o.model;
        inputCol = o.inputCol;
        secondCol = o.secondCol;
        outputCol = o.outputCol;
        errorCol = o.errorCol;
        device = o.device;
        precision = o.precision;
        maxLength = o.maxLength;
        batchTokens = o.batchTokens;
        chunkRows = o.chunkRows;
        pooling = o.pooling;
        normalize = o.normalize;
        truncateDim = o.truncateDim;
        promptName = o.promptName;
        prompt = o.prompt;
        aggregation = o.aggregation;
        candidateLabels = o.candidateLabels;
        hypothesisTemplate = o.hypothesisTemplate;
        multiLabel = o.multiLabel;
        driverCheck = o.driverCheck;
        topK = o.topK;
        targets = o.targets;
        activation = o.activation;
        documentTexts = o.documentTexts;
    }

    /** A copy with {@code change} made to it. */
    private SparkPipeline with(Consumer<SparkPipeline> change) {
        SparkPipeline p = new SparkPipeline(this);
        change.accept(p);
        return p;
    }

    /**
     * Embeddings of column {@code text}: a sentence-transformers directory as
     * {@code SentenceTransformer(dir).encode} runs it (its Pooling, Dense and Normalize modules,
     * do_lower_case, max_seq_length, default prompt), any other DistilBERT directory mean-pooled.
     */
    public static SparkPipeline embeddings(String modelDir) {
        return new SparkPipeline(Task.EMBED, modelDir);
    }

    /** HF's text-classification of column {@code text}; a DistilBertForSequenceClassification directory. */
    public static SparkPipeline textClassification(String modelDir) {
        return new SparkPipeline(Task.TEXT_CLASSIFICATION, modelDir);
    }

    /** HF's token-classification of column {@code text}, simple aggregation; a DistilBertForTokenClassification. */
    public static SparkPipeline tokenClassification(String modelDir) {
        return new SparkPipeline(Task.TOKEN_CLASSIFICATION, modelDir);
    }

    /** HF's question-answering over columns {@code question} and {@code context}; a DistilBertForQuestionAnswering. */
    public static SparkPipeline questionAnswering(String modelDir) {
        return new SparkPipeline(Task.QUESTION_ANSWERING, modelDir);
    }

    /**
     * HF's zero-shot-classification of column {@code text} against {@code candidateLabels}; an NLI
     * DistilBertForSequenceClassification (one whose id2label names an entailment label).
     */
    public static SparkPipeline zeroShotClassification(String modelDir, List<String> candidateLabels) {
        return new SparkPipeline(Task.ZERO_SHOT_CLASSIFICATION, modelDir).withCandidateLabels(candidateLabels);
    }

    /** HF's fill-mask over column {@code text} (each row with at least one [MASK]); a DistilBertForMaskedLM directory. */
    public static SparkPipeline fillMask(String modelDir) {
        return new SparkPipeline(Task.FILL_MASK, modelDir);
    }

    /**
     * A DistilBertForMultipleChoice over column {@code prompt} (string) and column {@code choices}
     * (array of strings, at least one): the softmax over each row's choices, as HF's model scores them.
     */
    public static SparkPipeline multipleChoice(String modelDir) {
        return new SparkPipeline(Task.MULTIPLE_CHOICE, modelDir);
    }

    /**
     * sentence-transformers' {@code CrossEncoder.rank} of column {@code documents} (array of strings) for
     * column {@code query}, as {@code distilbert rerank}: each (query, document) pair scored by a
     * cross-encoder (a sentence-transformers CrossEncoder directory, or a DistilBertForSequenceClassification
     * of one label), the row's documents ranked best first, every one of them unless {@link #withTopK}
     * says fewer. The directory's activation, max_seq_length, do_lower_case and default prompt apply.
     */
    public static SparkPipeline rerank(String modelDir) {
        return new SparkPipeline(Task.RERANK, modelDir);
    }

    /** {@code task} over {@code modelDir} with its defaults; zero-shot classification then needs {@link #withCandidateLabels}. */
    public static SparkPipeline of(Task task, String modelDir) {
        return new SparkPipeline(task, modelDir);
    }

    /** The text column (the question column for question-answering, the prompt for multiple-choice, the query for rerank). */
    public SparkPipeline withInputCol(String col) {
        Objects.requireNonNull(col, "col");
        return with(p -> p.inputCol = col);
    }

    /** text-classification: a second text per row (HF's {@code text_pair}); null for none. */
    public SparkPipeline withPairCol(String col) {
        requireTask("a pair column", Task.TEXT_CLASSIFICATION);
        return with(p -> p.secondCol = col);
    }

    /** multiple-choice: the column of choices (an array of strings). */
    public SparkPipeline withChoicesCol(String col) {
        requireTask("a choices column", Task.MULTIPLE_CHOICE);
        Objects.requireNonNull(col, "col");
        return with(p -> p.secondCol = col);
    }

    /** rerank: the column of documents (an array of strings; an empty array gives no hits). */
    public SparkPipeline withDocumentsCol(String col) {
        requireTask("a documents column", Task.RERANK);
        Objects.requireNonNull(col, "col");
        return with(p -> p.secondCol = col);
    }

    /** fill-mask: how many predictions per mask (HF's top_k, 5 by default); rerank: hits per row (every document by default). */
    public SparkPipeline withTopK(int k) {
        requireTask("top k", Task.FILL_MASK, Task.RERANK);
        if (k < 1) {
            throw new IllegalArgumentException("top k must be at least 1, got " + k);
        }
        return with(p -> p.topK = k);
    }

    /** fill-mask: score only these words (HF's targets); null for the whole vocabulary. */
    public SparkPipeline withTargets(List<String> words) {
        requireTask("targets", Task.FILL_MASK);
        List<String> copy = words == null ? null : List.copyOf(words);
        return with(p -> p.targets = copy);
    }

    /** question-answering: the context column. */
    public SparkPipeline withContextCol(String col) {
        requireTask("a context column", Task.QUESTION_ANSWERING);
        Objects.requireNonNull(col, "col");
        return with(p -> p.secondCol = col);
    }

    /** The column appended ({@link Task#defaultOutputCol} unless named). */
    public SparkPipeline withOutputCol(String col) {
        Objects.requireNonNull(col, "col");
        return with(p -> p.outputCol = col);
    }

    /**
     * Rows the pipeline refuses (an empty question, say) no longer fail the task: their result is
     * null and this string column, appended after the result, says why (null for every other row), as
     * Spark's readers keep malformed records in PERMISSIVE mode. A chunk with such a row is run again
     * row by row to tell them apart. Null (the default): such a row fails its task, naming it. A GPU
     * out of memory fails the task either way.
     */
    public SparkPipeline withErrorCol(String col) {
        return with(p -> p.errorCol = col);
    }

    /**
     * {@code auto} (the task's GPU where Spark schedules GPUs, else any usable GPU, else the CPU),
     * {@code task} (the task's GPU, or fail), {@code cpu}, {@code cuda} or {@code cuda:N}.
     */
    public SparkPipeline withDevice(String d) {
        TaskDevices.check(d);
        return with(p -> p.device = d.trim().toLowerCase(Locale.ROOT));
    }

    /** The CUDA backend's precision: fp32, tf32, bf16 or fp16; null for the default (bf16 on sm_80 and newer). */
    public SparkPipeline withPrecision(String name) {
        Precision parsed = name == null ? null : Precision.parse(name);
        return with(p -> p.precision = parsed);
    }

    /** Texts are cut to {@code n} tokens (the pipeline's max length; question-answering's max_seq_len); 0 for its default. */
    public SparkPipeline withMaxLength(int n) {
        if (n < 0) {
            throw new IllegalArgumentException("max length must be 0 (the default) or more, got " + n);
        }
        return with(p -> p.maxLength = n);
    }

    /** Real tokens per forward pass; 0 for the pipelines' default. */
    public SparkPipeline withBatchTokens(int n) {
        if (n < 0) {
            throw new IllegalArgumentException("batch tokens must be 0 (the default) or more, got " + n);
        }
        return with(p -> p.batchTokens = n);
    }

    /** Rows a task reads and sorts by length at a time (default {@link #DEFAULT_CHUNK_ROWS}). */
    public SparkPipeline withChunkRows(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("chunk rows must be at least 1, got " + n);
        }
        return with(p -> p.chunkRows = n);
    }

    /** embed: one pooling mode, instead of the directory's. */
    public SparkPipeline withPooling(SentenceEmbeddings.Pooling mode) {
        Objects.requireNonNull(mode, "pooling");
        return withPooling(List.of(mode));
    }

    /** embed: pooling modes, their vectors concatenated in this order, instead of the directory's. */
    public SparkPipeline withPooling(List<SentenceEmbeddings.Pooling> modes) {
        requireTask("pooling", Task.EMBED);
        if (modes.isEmpty()) throw new IllegalArgumentException("pooling: give at least one mode");
        List<SentenceEmbeddings.Pooling> copy = List.copyOf(modes);
        return with(p -> p.pooling = copy);
    }

    /**
     * embed: the directory's prompt of that name before each text; rerank: before each query
     * (config_sentence_transformers.json's prompts).
     */
    public SparkPipeline withPromptName(String name) {
        requireTask("prompt name", Task.EMBED, Task.RERANK);
        Objects.requireNonNull(name, "prompt name");
        return with(p -> {
            p.promptName = name;
            p.prompt = null;
        });
    }

    /**
     * embed: {@code text} before each text, as encode(prompt=...) puts it; rerank: before each query
     * ("" for none, overriding a default prompt).
     */
    public SparkPipeline withPrompt(String text) {
        requireTask("prompt", Task.EMBED, Task.RERANK);
        Objects.requireNonNull(text, "prompt");
        return with(p -> {
            p.prompt = text;
            p.promptName = null;
        });
    }

    /**
     * embed: each vector divided by its L2 norm, as encode's normalize_embeddings (after {@link #withTruncateDim});
     * a directory that ends in a Normalize module always is normalized (before the truncation).
     */
    public SparkPipeline withNormalize(boolean on) {
        requireTask("normalize", Task.EMBED);
        return with(p -> p.normalize = on);
    }

    /**
     * embed: the vectors cut to their first {@code n} values, as encode's truncate_dim (Matryoshka
     * models); 0: not cut. Default: the directory's truncate_dim (config_sentence_transformers.json).
     */
    public SparkPipeline withTruncateDim(int n) {
        requireTask("truncate dim", Task.EMBED);
        if (n < 0) throw new IllegalArgumentException("truncate dim must be positive (or 0: none), got " + n);
        return with(p -> p.truncateDim = n);
    }

    /**
     * rerank: what turns each pair's logit into its score: sigmoid, identity (the raw logit), tanh,
     * relu, gelu, silu, or a torch class name; null for the directory's (its activation_fn, else sigmoid).
     *
     * @throws IllegalArgumentException naming the activations there are
     */
    public SparkPipeline withActivation(String name) {
        requireTask("activation", Task.RERANK);
        SentenceEmbeddings.Dense.Activation a = name == null ? null : SentenceEmbeddings.Dense.Activation.named(name, "activation");
        return with(p -> p.activation = a);
    }

    /**
     * rerank: with {@code false} the hits leave their documents' texts out, {@code struct<corpus_id, score>}
     * (corpus_id indexes the row's documents), as {@code distilbert rerank --no-text}.
     */
    public SparkPipeline withDocumentTexts(boolean on) {
        requireTask("document texts", Task.RERANK);
        return with(p -> p.documentTexts = on);
    }

    /** token-classification: HF's aggregation_strategy (simple by default). */
    public SparkPipeline withAggregation(TokenClassification.Aggregation a) {
        requireTask("aggregation", Task.TOKEN_CLASSIFICATION);
        Objects.requireNonNull(a, "aggregation");
        return with(p -> p.aggregation = a);
    }

    /** zero-shot-classification: the labels every row is scored against. */
    public SparkPipeline withCandidateLabels(List<String> labels) {
        requireTask("candidate labels", Task.ZERO_SHOT_CLASSIFICATION);
        if (labels.isEmpty()) {
            throw new IllegalArgumentException("zero-shot classification needs at least one candidate label");
        }
        List<String> copy = List.copyOf(labels);
        return with(p -> p.candidateLabels = copy);
    }

    /** zero-shot-classification: HF's hypothesis_template ({@code "This example is {}."} by default). */
    public SparkPipeline withHypothesisTemplate(String template) {
        requireTask("a hypothesis template", Task.ZERO_SHOT_CLASSIFICATION);
        return with(p -> p.hypothesisTemplate = template);
    }

    /** zero-shot-classification: HF's multi_label (each label scored on its own). */
    public SparkPipeline withMultiLabel(boolean on) {
        requireTask("multi-label", Task.ZERO_SHOT_CLASSIFICATION);
        return with(p -> p.multiLabel = on);
    }

    /**
     * With {@code false}, {@link #transform} does not read the model directory on the driver: for a
     * directory that only the executors have (unpacked there by {@code --archives} in client mode, say).
     * A wrong path then fails the tasks, each saying what it could not read.
     */
    public SparkPipeline withDriverCheck(boolean on) {
        return with(p -> p.driverCheck = on);
    }

    private void requireTask(String what, Task... tasks) {
        if (!Arrays.asList(tasks).contains(task)) {
            throw new IllegalArgumentException(what + " is an option of "
                    + String.join(" and ", Arrays.stream(tasks).map(Task::cliName).toList()) + ", not of " + task.cliName());
        }
    }

    public Task task() {
        return task;
    }

    public String model() {
        return model;
    }

    public String inputCol() {
        return inputCol;
    }

    public String outputCol() {
        return outputCol;
    }

    public String device() {
        return device;
    }

    /** The columns read: the text (or question, prompt or query), and the pair, context, choices or documents column when there is one. */
    public List<String> inputCols() {
        return secondCol == null ? List.of(inputCol) : List.of(inputCol, secondCol);
    }

    /** Whether the second column holds arrays of strings (multiple-choice's choices, rerank's documents) rather than strings. */
    boolean secondColIsList() {
        return task == Task.MULTIPLE_CHOICE || task == Task.RERANK;
    }

    /** The type of the appended column. */
    public DataType outputType() {
        return Outputs.type(this);
    }

    /**
     * {@code input}'s schema with the output column appended (and the error column after it, where one is named).
     *
     * @throws IllegalArgumentException naming the column when an input column is missing or not a
     *                                  string, or the output column already exists
     */
    public StructType transformSchema(StructType input) {
        List<String> names = Arrays.asList(input.fieldNames());
        List<String> cols = inputCols();
        for (int c = 0; c < cols.size(); c++) {
            String col = cols.get(c);
            if (!names.contains(col)) {
                throw new IllegalArgumentException(task.cliName() + ": no column '" + col + "' in the input; its columns are "
                        + names);
            }
            DataType type = input.apply(col).dataType();
            DataType wanted = c == 1 && secondColIsList()
                    ? DataTypes.createArrayType(DataTypes.StringType) : DataTypes.StringType;
            boolean fits = wanted instanceof org.apache.spark.sql.types.ArrayType a && type instanceof org.apache.spark.sql.types.ArrayType t
                    ? t.elementType().equals(a.elementType()) : type.equals(wanted);
            if (!fits) {
                throw new IllegalArgumentException(task.cliName() + ": column '" + col + "' is " + type.simpleString()
                        + ", not " + wanted.simpleString());
            }
        }
        for (String col : errorCol == null ? List.of(outputCol) : List.of(outputCol, errorCol)) {
            if (names.contains(col)) {
                throw new IllegalArgumentException(task.cliName() + ": the input already has a column '" + col
                        + "'; name another with " + (col.equals(outputCol) ? "withOutputCol" : "withErrorCol"));
            }
        }
        if (outputCol.equals(errorCol)) {
            throw new IllegalArgumentException(task.cliName() + ": the output and error columns are both '" + outputCol + "'");
        }
        StructType out = input.add(new StructField(outputCol, outputType(), true, Metadata.empty()));
        return errorCol == null ? out : out.add(new StructField(errorCol, DataTypes.StringType, true, Metadata.empty()));
    }

    /**
     * The rows of {@code input} with the output column appended, in their order. Lazy, as any Spark
     * transformation: the model runs when an action (write, count, collect) runs the plan.
     *
     * @throws IllegalArgumentException for the problems {@link #transformSchema} names, a model directory
     *                                  the driver cannot read, or one whose head is not the task's (for
     *                                  rerank, a model of more than one label)
     */
    public Dataset<Row> transform(Dataset<Row> input) {
        return transform(input, Counters.register(input.sparkSession().sparkContext(), task));
    }

    /**
     * {@link #transform(Dataset)}, adding to {@code counters} as the rows run: what a job reports at
     * its end ({@link ScoreJob} does).
     */
    public Dataset<Row> transform(Dataset<Row> input, Counters counters) {
        StructType out = transformSchema(input.schema());
        if (task == Task.ZERO_SHOT_CLASSIFICATION && candidateLabels.isEmpty()) {
            throw new IllegalArgumentException("zero-shot classification needs candidate labels (withCandidateLabels)");
        }
        if (driverCheck) {
            checkModel();
        }
        int[] columns = inputCols().stream().mapToInt(input.schema()::fieldIndex).toArray();
        return input.mapPartitions(new PartitionScorer(this, columns, counters), Encoders.row(out));
    }

    /**
     * What a transform ran, as Spark accumulators (its UI lists them by name on each stage): rows read
     * (null texts included), real tokens run, and milliseconds the model ran, summed over tasks.
     */
    public record Counters(LongAccumulator rows, LongAccumulator tokens, LongAccumulator modelMillis) implements Serializable {
        /** New counters named {@code distilbert TASK rows}, {@code ... tokens} and {@code ... model ms}. */
        public static Counters register(SparkContext context, Task task) {
            return new Counters(context.longAccumulator("distilbert " + task.cliName() + " rows"),
                    context.longAccumulator("distilbert " + task.cliName() + " tokens"),
                    context.longAccumulator("distilbert " + task.cliName() + " model ms"));
        }
    }

    /**
     * Reads the model's config.json on the driver: that it exists, parses, and has the head the task
     * needs (for rerank, of one label). Where the directory is not on the driver's disk the executors'
     * load says what is wrong.
     */
    void checkModel() {
        Path dir = Path.of(model);
        if (!Files.exists(dir)) {
            throw new IllegalArgumentException(task.cliName() + ": model directory '" + model + "' does not exist (on the driver; "
                    + "every executor needs it at the same path; withDriverCheck(false) where only the executors have it)");
        }
        DistilBertConfig config;
        SentenceTransformerDirectory st = task == Task.EMBED ? SentenceTransformerDirectory.read(dir) : null;
        CrossEncoder.Directory ce = task == Task.RERANK ? crossEncoderDirectory(dir) : null;
        try {
            config = ModelDirectory.readConfig(st != null ? st.transformer() : ce != null ? ce.transformer() : dir);
        } catch (IOException e) {
            throw new UncheckedIOException("reading the config of " + model, e);
        }
        if (st != null) {
            // the modules and the prompt, as the executors will take them: an error now, before any task runs
            sentenceEmbeddingsCheck(st, config);
        }
        Head head = ModelDirectory.headOf(config);
        Head needed = switch (task) {
            case EMBED -> null;
            case TEXT_CLASSIFICATION, ZERO_SHOT_CLASSIFICATION, RERANK -> Head.SEQUENCE_CLASSIFICATION;
            case TOKEN_CLASSIFICATION -> Head.TOKEN_CLASSIFICATION;
            case QUESTION_ANSWERING -> Head.QUESTION_ANSWERING;
            case FILL_MASK -> Head.MASKED_LM;
            case MULTIPLE_CHOICE -> Head.MULTIPLE_CHOICE;
        };
        if (needed != null && head != needed) {
            throw new IllegalArgumentException(task.cliName() + " needs a " + needed.hfClass() + " directory; " + model
                    + " holds a " + head.hfClass());
        }
        if (ce != null) {
            crossEncoderCheck(ce, config);
        }
        if (maxLength > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException(task.cliName() + ": max length " + maxLength + " is more than the model's "
                    + "max_position_embeddings = " + config.maxPositionEmbeddings());
        }
    }

    /** embed: the prompt named exists, and the Dense layers take what the pooling gives. */
    private void sentenceEmbeddingsCheck(SentenceTransformerDirectory st, DistilBertConfig config) {
        if (promptName != null && !st.prompts().containsKey(promptName)) {
            throw new IllegalArgumentException("embed: " + model + " has no prompt named '" + promptName + "'; its prompts are "
                    + (st.prompts().isEmpty() ? "none" : String.join(", ", st.prompts().keySet())));
        }
        try {
            st.dimension(config.dim(), pooling, truncateDim);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("embed: " + e.getMessage(), e);
        }
    }

    /** rerank: {@code dir} as {@code CrossEncoder(dir)} reads it, its errors named as this task's. */
    private static CrossEncoder.Directory crossEncoderDirectory(Path dir) {
        try {
            return CrossEncoder.Directory.read(dir);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("rerank: " + e.getMessage(), e);
        }
    }

    /** rerank: a model of one label (as RerankCommand, and sentence-transformers' rank, refuse more), and the prompt named exists. */
    private void crossEncoderCheck(CrossEncoder.Directory ce, DistilBertConfig config) {
        if (config.numLabels() != 1) {
            throw new IllegalArgumentException("rerank needs a cross-encoder of one label (a relevance score), but "
                    + ce.transformer().resolve("config.json") + " has num_labels " + config.numLabels() + " ("
                    + String.join(", ", config.id2label().values()) + "); text-classification with a pair column "
                    + "(withPairCol) gives every label's score");
        }
        if (promptName != null && !ce.prompts().containsKey(promptName)) {
            throw new IllegalArgumentException("rerank: " + model + " has no prompt named '" + promptName + "'; its prompts are "
                    + (ce.prompts().isEmpty() ? "none" : String.join(", ", ce.prompts().keySet())));
        }
    }

    /** rerank: the library's cross-encoder for this pipeline over a model of the directory {@code ce}. */
    CrossEncoder crossEncoder(DistilBert db, CrossEncoder.Directory ce) {
        CrossEncoder c = CrossEncoder.fromDirectory(db, ce);
        if (activation != null) c = c.withActivation(activation);
        if (promptName != null) c = c.withPromptName(promptName);
        if (prompt != null) c = c.withPrompt(prompt);
        if (maxLength > 0) c = c.withMaxLength(maxLength);
        if (batchTokens > 0) c = c.withBatchTokens(batchTokens);
        return c;
    }

    /** embed: the library's embeddings for this pipeline over a model of the directory {@code st}. */
    SentenceEmbeddings sentenceEmbeddings(DistilBert db, SentenceTransformerDirectory st) {
        SentenceEmbeddings s = SentenceEmbeddings.fromDirectory(db, st);
        if (pooling != null) s = s.withPooling(pooling);
        if (truncateDim != null) s = s.withTruncateDim(truncateDim);
        if (normalize) s = s.withNormalize(true);
        if (promptName != null) s = s.withPromptName(promptName);
        if (prompt != null) s = s.withPrompt(prompt);
        if (maxLength > 0) s = s.withMaxLength(maxLength);
        if (batchTokens > 0) s = s.withBatchTokens(batchTokens);
        return s;
    }

    /** The device {@link #withDevice} names, for a task that Spark gave these GPUs (none: null or empty). */
    Device deviceFor(List<String> taskGpus) {
        return TaskDevices.resolve(device, taskGpus);
    }

    @Override
    public String toString() {
        return "SparkPipeline[" + task.cliName() + " " + model + ", " + inputCols() + " -> " + outputCol + ", device " + device
                + (precision == null ? "" : ", " + precision.cliName()) + "]";
    }
}
