package distilbert.spark;

import distilbert.model.SentenceEmbeddings;
import distilbert.model.TokenClassification;
import java.io.IOException;
import java.util.Arrays;
import java.util.Locale;
import java.util.UUID;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.StringArrayParam;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * {@link SparkPipeline} as a Spark ML {@link Transformer}: a stage of an ML {@code Pipeline}, with
 * Params (set, copied, explained and saved as every stage's are) and {@code save}/{@link #load}. With
 * {@link #setOutputVector} an embedding is appended as an ML {@code Vector}, what MLlib's estimators
 * take as features:
 *
 * <pre>{@code
 * DistilBertTransformer embed = new DistilBertTransformer().setTask("embed").setModel("/models/all-MiniLM-L6-v2")
 *         .setInputCol("review").setOutputCol("features").setNormalize(true).setOutputVector(true);
 * PipelineModel m = new Pipeline().setStages(new PipelineStage[] {embed, new LogisticRegression()}).fit(train);
 * }</pre>
 *
 * Every Param maps to the {@code SparkPipeline} option of the same name; unset ones keep its defaults.
 */
public final class DistilBertTransformer extends Transformer implements DefaultParamsWritable {

    private static final long serialVersionUID = 1L;

    private final String uid;

    private final Param<String> task;
    private final Param<String> model;
    private final Param<String> inputCol;
    private final Param<String> pairCol;
    private final Param<String> contextCol;
    private final Param<String> outputCol;
    private final Param<String> errorCol;
    private final Param<String> device;
    private final Param<String> precision;
    private final IntParam maxLength;
    private final IntParam batchTokens;
    private final IntParam chunkRows;
    private final Param<String> pooling;
    private final BooleanParam normalize;
    private final IntParam truncateDim;
    private final Param<String> promptName;
    private final Param<String> prompt;
    private final BooleanParam outputVector;
    private final Param<String> aggregation;
    private final StringArrayParam candidateLabels;
    private final Param<String> hypothesisTemplate;
    private final BooleanParam multiLabel;
    private final BooleanParam driverCheck;
    private final Param<String> choicesCol;
    private final IntParam topK;
    private final StringArrayParam targets;
    private final Param<String> documentsCol;
    private final Param<String> activation;
    private final BooleanParam documentTexts;

    /** A stage named {@code uid} (what a saved stage is loaded with). */
    public DistilBertTransformer(String uid) {
        this.uid = uid;
        // created here, not where declared: a Param takes its parent's uid when made
        task = new Param<>(this, "task",
                "embed, text-classification, token-classification, question-answering, zero-shot-classification, fill-mask, "
                + "multiple-choice or rerank");
        model = new Param<>(this, "model", "the HF DistilBERT directory, at this path on the driver and "
                + "on every executor");
        inputCol = new Param<>(this, "inputCol", "the text column (the question column for "
                + "question-answering, prompt for multiple-choice, query for rerank); default text, or question, prompt, query");
        pairCol = new Param<>(this, "pairCol", "text-classification: a second text per row (text_pair)");
        contextCol = new Param<>(this, "contextCol", "question-answering: the context column");
        outputCol = new Param<>(this, "outputCol", "the column appended; default the task's");
        errorCol = new Param<>(this, "errorCol", "where a row the pipeline refuses says why "
                + "(its result then null); unset: such a row fails the task");
        device = new Param<>(this, "device", "auto, task, cpu, cuda or cuda:N");
        precision = new Param<>(this, "precision", "fp32, tf32, bf16 or fp16 on a GPU");
        maxLength = new IntParam(this, "maxLength", "cut texts to this many tokens; 0: the model's limit");
        batchTokens = new IntParam(this, "batchTokens", "real tokens per forward pass; 0: the default");
        chunkRows = new IntParam(this, "chunkRows", "rows a task sorts by length and runs at a time");
        pooling = new Param<>(this, "pooling", "embed: cls, max, mean, mean_sqrt_len_tokens, weightedmean or lasttoken, "
                + "or several comma-separated; default: the directory's (sentence-transformers' Pooling module), else mean");
        promptName = new Param<>(this, "promptName", "embed: the directory's prompt of that name before each text; "
                + "rerank: before each query");
        prompt = new Param<>(this, "prompt", "embed: this text before each text; rerank: before each query (\"\": none, "
                + "overriding a default prompt)");
        normalize = new BooleanParam(this, "normalize", "embed: divide each vector by its L2 norm (after truncateDim)");
        truncateDim = new IntParam(this, "truncateDim", "embed: keep the first N values of each vector (Matryoshka); "
                + "-1 (the default): the directory's truncate_dim; 0: all");
        outputVector = new BooleanParam(this, "outputVector",
                "embed: append an ML Vector (what MLlib's estimators take) instead of array<float>");
        aggregation = new Param<>(this, "aggregation",
                "token-classification: simple, first, average, max or none");
        candidateLabels = new StringArrayParam(this, "candidateLabels",
                "zero-shot-classification: the labels each row is scored against");
        hypothesisTemplate = new Param<>(this, "hypothesisTemplate",
                "zero-shot-classification: HF's hypothesis_template");
        multiLabel = new BooleanParam(this, "multiLabel", "zero-shot-classification: HF's multi_label");
        driverCheck = new BooleanParam(this, "driverCheck",
                "read the model's config.json on the driver before any task runs");
        choicesCol = new Param<>(this, "choicesCol", "multiple-choice: the column of choices (array<string>)");
        topK = new IntParam(this, "topK", "fill-mask: predictions per mask (default 5); rerank: hits per row (default: every "
                + "document)");
        targets = new StringArrayParam(this, "targets", "fill-mask: score only these words");
        documentsCol = new Param<>(this, "documentsCol", "rerank: the column of documents (array<string>); default documents");
        activation = new Param<>(this, "activation", "rerank: what turns a logit into the score: sigmoid, identity, tanh, "
                + "relu, gelu, silu or a torch class name; default: the directory's");
        documentTexts = new BooleanParam(this, "documentTexts", "rerank: each hit carries its document's text");
        setDefault(device, "auto");
        setDefault(maxLength, 0);
        setDefault(batchTokens, 0);
        setDefault(chunkRows, SparkPipeline.DEFAULT_CHUNK_ROWS);
        setDefault(normalize, false);
        setDefault(truncateDim, -1);
        setDefault(outputVector, false);
        setDefault(multiLabel, false);
        setDefault(driverCheck, true);
        setDefault(documentTexts, true);
    }

    public DistilBertTransformer() {
        this("distilbert_" + UUID.randomUUID().toString().substring(0, 12));
    }

    @Override
    public String uid() {
        return uid;
    }

    // the Params, as Spark finds them (public, no arguments) -------------------------------------------------------

    public Param<String> task() { return task; }
    public Param<String> model() { return model; }
    public Param<String> inputCol() { return inputCol; }
    public Param<String> pairCol() { return pairCol; }
    public Param<String> contextCol() { return contextCol; }
    public Param<String> outputCol() { return outputCol; }
    public Param<String> errorCol() { return errorCol; }
    public Param<String> device() { return device; }
    public Param<String> precision() { return precision; }
    public IntParam maxLength() { return maxLength; }
    public IntParam batchTokens() { return batchTokens; }
    public IntParam chunkRows() { return chunkRows; }
    public Param<String> pooling() { return pooling; }
    public BooleanParam normalize() { return normalize; }
    public IntParam truncateDim() { return truncateDim; }
    public Param<String> promptName() { return promptName; }
    public Param<String> prompt() { return prompt; }
    public BooleanParam outputVector() { return outputVector; }
    public Param<String> aggregation() { return aggregation; }
    public StringArrayParam candidateLabels() { return candidateLabels; }
    public Param<String> hypothesisTemplate() { return hypothesisTemplate; }
    public BooleanParam multiLabel() { return multiLabel; }
    public BooleanParam driverCheck() { return driverCheck; }
    public Param<String> choicesCol() { return choicesCol; }
    public IntParam topK() { return topK; }
    public StringArrayParam targets() { return targets; }
    public Param<String> documentsCol() { return documentsCol; }
    public Param<String> activation() { return activation; }
    public BooleanParam documentTexts() { return documentTexts; }

    public DistilBertTransformer setTask(String v) { set(task, v); return this; }
    public DistilBertTransformer setModel(String v) { set(model, v); return this; }
    public DistilBertTransformer setInputCol(String v) { set(inputCol, v); return this; }
    public DistilBertTransformer setPairCol(String v) { set(pairCol, v); return this; }
    public DistilBertTransformer setContextCol(String v) { set(contextCol, v); return this; }
    public DistilBertTransformer setOutputCol(String v) { set(outputCol, v); return this; }
    public DistilBertTransformer setErrorCol(String v) { set(errorCol, v); return this; }
    public DistilBertTransformer setDevice(String v) { set(device, v); return this; }
    public DistilBertTransformer setPrecision(String v) { set(precision, v); return this; }
    public DistilBertTransformer setMaxLength(int v) { set(maxLength, v); return this; }
    public DistilBertTransformer setBatchTokens(int v) { set(batchTokens, v); return this; }
    public DistilBertTransformer setChunkRows(int v) { set(chunkRows, v); return this; }
    public DistilBertTransformer setPooling(String v) { set(pooling, v); return this; }
    public DistilBertTransformer setNormalize(boolean v) { set(normalize, v); return this; }
    public DistilBertTransformer setTruncateDim(int v) { set(truncateDim, v); return this; }
    public DistilBertTransformer setPromptName(String v) { set(promptName, v); return this; }
    public DistilBertTransformer setPrompt(String v) { set(prompt, v); return this; }
    public DistilBertTransformer setOutputVector(boolean v) { set(outputVector, v); return this; }
    public DistilBertTransformer setAggregation(String v) { set(aggregation, v); return this; }
    public DistilBertTransformer setCandidateLabels(String[] v) { set(candidateLabels, v); return this; }
    public DistilBertTransformer setHypothesisTemplate(String v) { set(hypothesisTemplate, v); return this; }
    public DistilBertTransformer setMultiLabel(boolean v) { set(multiLabel, v); return this; }
    public DistilBertTransformer setDriverCheck(boolean v) { set(driverCheck, v); return this; }
    public DistilBertTransformer setChoicesCol(String v) { set(choicesCol, v); return this; }
    public DistilBertTransformer setTopK(int v) { set(topK, v); return this; }
    public DistilBertTransformer setTargets(String[] v) { set(targets, v); return this; }
    public DistilBertTransformer setDocumentsCol(String v) { set(documentsCol, v); return this; }
    public DistilBertTransformer setActivation(String v) { set(activation, v); return this; }
    public DistilBertTransformer setDocumentTexts(boolean v) { set(documentTexts, v); return this; }

    /**
     * The {@link SparkPipeline} the Params describe.
     *
     * @throws IllegalArgumentException when task or model is unset, or a Param's value is not one its
     *                                  option takes (naming the Param)
     */
    public SparkPipeline pipeline() {
        for (Param<?> required : new Param<?>[] {task, model}) {
            if (!isDefined(required)) {
                throw new IllegalArgumentException(uid + ": Param '" + required.name() + "' is not set");
            }
        }
        SparkPipeline p = SparkPipeline.of(SparkPipeline.Task.parse(getOrDefault(task)), getOrDefault(model));
        if (isDefined(candidateLabels)) p = p.withCandidateLabels(Arrays.asList(getOrDefault(candidateLabels)));
        if (isDefined(inputCol)) p = p.withInputCol(getOrDefault(inputCol));
        if (isDefined(pairCol)) p = p.withPairCol(getOrDefault(pairCol));
        if (isDefined(contextCol)) p = p.withContextCol(getOrDefault(contextCol));
        if (isDefined(choicesCol)) p = p.withChoicesCol(getOrDefault(choicesCol));
        if (isDefined(documentsCol)) p = p.withDocumentsCol(getOrDefault(documentsCol));
        if (isDefined(topK)) p = p.withTopK((Integer) getOrDefault(topK));
        if (isDefined(targets)) p = p.withTargets(Arrays.asList(getOrDefault(targets)));
        if (isDefined(outputCol)) p = p.withOutputCol(getOrDefault(outputCol));
        if (isDefined(errorCol)) p = p.withErrorCol(getOrDefault(errorCol));
        if (isDefined(precision)) p = p.withPrecision(getOrDefault(precision));
        p = p.withDevice(getOrDefault(device)).withMaxLength((Integer) getOrDefault(maxLength))
                .withBatchTokens((Integer) getOrDefault(batchTokens)).withChunkRows((Integer) getOrDefault(chunkRows))
                .withDriverCheck((Boolean) getOrDefault(driverCheck));
        if (isDefined(pooling)) {
            try {
                p = p.withPooling(SentenceEmbeddings.Pooling.parse(getOrDefault(pooling)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(uid + ": Param 'pooling': " + e.getMessage(), e);
            }
        }
        if (isDefined(promptName)) p = p.withPromptName(getOrDefault(promptName));
        if (isDefined(prompt)) p = p.withPrompt(getOrDefault(prompt));
        if ((Boolean) getOrDefault(normalize)) p = p.withNormalize(true);
        if ((Integer) getOrDefault(truncateDim) >= 0) p = p.withTruncateDim((Integer) getOrDefault(truncateDim));
        if (isDefined(aggregation)) p = p.withAggregation(named(TokenClassification.Aggregation.class, aggregation));
        if (isDefined(hypothesisTemplate)) p = p.withHypothesisTemplate(getOrDefault(hypothesisTemplate));
        if ((Boolean) getOrDefault(multiLabel)) p = p.withMultiLabel(true);
        if (isDefined(activation)) {
            try {
                p = p.withActivation(getOrDefault(activation));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(uid + ": Param 'activation': " + e.getMessage(), e);
            }
        }
        if (!(Boolean) getOrDefault(documentTexts)) p = p.withDocumentTexts(false);
        if ((Boolean) getOrDefault(outputVector) && p.task() != SparkPipeline.Task.EMBED) {
            throw new IllegalArgumentException(uid + ": Param 'outputVector' is for embed, not " + p.task().cliName());
        }
        return p;
    }

    private <E extends Enum<E>> E named(Class<E> type, Param<String> param) {
        String v = getOrDefault(param);
        try {
            return Enum.valueOf(type, v.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(uid + ": Param '" + param.name() + "' is '" + v + "'; expected one of "
                    + Arrays.stream(type.getEnumConstants()).map(c -> c.name().toLowerCase(Locale.ROOT)).toList());
        }
    }

    @Override
    public StructType transformSchema(StructType schema) {
        SparkPipeline p = pipeline();
        StructType out = p.transformSchema(schema);
        if (!(Boolean) getOrDefault(outputVector)) {
            return out;
        }
        StructField[] fields = out.fields().clone();
        int at = out.fieldIndex(p.outputCol());
        fields[at] = new StructField(p.outputCol(), SQLDataTypes.VectorType(), true, fields[at].metadata());
        return new StructType(fields);
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        SparkPipeline p = pipeline();   // its transform checks the schema
        Dataset<Row> out = p.transform(dataset.toDF());
        if ((Boolean) getOrDefault(outputVector)) {
            out = out.withColumn(p.outputCol(), org.apache.spark.ml.functions.array_to_vector(functions.col(p.outputCol())));
        }
        return out;
    }

    @Override
    public DistilBertTransformer copy(ParamMap extra) {
        return defaultCopy(extra);
    }

    /** Reads a transformer {@code save} wrote (also what a saved PipelineModel's loader calls). */
    public static MLReader<DistilBertTransformer> read() {
        return new DefaultParamsReader<>();
    }

    public static DistilBertTransformer load(String path) throws IOException {
        return read().load(path);
    }
}
