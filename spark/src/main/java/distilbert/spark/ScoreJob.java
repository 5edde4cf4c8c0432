package distilbert.spark;

import distilbert.model.SentenceEmbeddings;
import distilbert.model.TokenClassification;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The command line's batch scoring as a Spark application: read a table, append one pipeline's
 * column, write the table.
 *
 * <pre>
 * spark-submit --class distilbert.spark.ScoreJob spark-0.1.0-SNAPSHOT-all.jar \
 *     --task text-classification --model /models/sst2 --input reviews.parquet --output scored.parquet
 * </pre>
 *
 * Exit code 0 when the table was written, 1 when the job failed, 2 for a bad command line.
 */
@Command(name = "distilbert-spark", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Appends one pipeline's column to a table with Spark: each executor loads the model once (on the GPU Spark "
                + "assigns its task, else any usable GPU, else the CPU) and runs its partitions' rows in batches of similar length.",
                "Columns: embed -> embedding array<float>; text-classification -> classification struct<label, score, scores>; "
                        + "token-classification -> entities array<struct<entity_group, score, word, start, end>> (entity, index "
                        + "instead of entity_group with --aggregation none); question-answering -> answer struct<score, start, end, "
                        + "answer>; zero-shot-classification -> zero_shot struct<labels, scores>; fill-mask -> fill_mask "
                        + "array<array<struct<score, token, token_str, sequence>>> (a list per mask); multiple-choice -> choice "
                        + "struct<choice, score, scores>; rerank -> hits array<struct<corpus_id, score, text>>, best first "
                        + "(sentence-transformers' CrossEncoder.rank of each row's documents for its query). Offsets are code "
                        + "points. A null text gives a null result; every other column is kept."})
public final class ScoreJob implements Callable<Integer> {

    @Option(names = "--task", required = true, paramLabel = "TASK",
            description = "embed, text-classification, token-classification (ner), question-answering, zero-shot-classification, "
                    + "fill-mask, multiple-choice, rerank")
    String task;

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "An HF DistilBERT directory (rerank: a cross-encoder, a sentence-transformers CrossEncoder directory "
                    + "or a DistilBertForSequenceClassification of one label), at this path on the driver and on every executor")
    String model;

    @Option(names = "--no-driver-check",
            description = "Do not read --model on the driver: for a directory only the executors have (e.g. --archives in client mode)")
    boolean noDriverCheck;

    @Option(names = "--input", required = true, paramLabel = "PATH", description = "The table to read (a file or a folder)")
    String input;

    @Option(names = "--input-format", paramLabel = "FORMAT",
            description = "json (JSON lines), parquet, csv (with a header), orc or text (one text per line, as column text); "
                    + "by default from the input's extension (.jsonl and .json: json; .txt: text), else parquet")
    String inputFormat;

    @Option(names = "--output", required = true, paramLabel = "PATH", description = "The folder to write")
    String output;

    @Option(names = "--output-format", paramLabel = "FORMAT", defaultValue = "parquet",
            description = "parquet (default), json or orc")
    String outputFormat;

    @Option(names = "--overwrite", description = "Replace the output folder if it exists (by default that is an error)")
    boolean overwrite;

    @Option(names = "--text-column", paramLabel = "COL",
            description = "The text column (default text; question for question-answering, prompt for multiple-choice, query "
                    + "for rerank)")
    String textColumn;

    @Option(names = "--pair-column", paramLabel = "COL", description = "text-classification: a second text per row (HF's text_pair)")
    String pairColumn;

    @Option(names = "--context-column", paramLabel = "COL", description = "question-answering: the context column (default context)")
    String contextColumn;

    @Option(names = "--choices-column", paramLabel = "COL",
            description = "multiple-choice: the column of choices, an array of strings (default choices)")
    String choicesColumn;

    @Option(names = "--documents-column", paramLabel = "COL",
            description = "rerank: the column of documents, an array of strings (default documents)")
    String documentsColumn;

    @Option(names = "--top-k", paramLabel = "K",
            description = "fill-mask: predictions per mask (default 5); rerank: hits per row (default: every document)")
    Integer topK;

    @Option(names = "--targets", paramLabel = "A,B", split = ",", description = "fill-mask: score only these words")
    List<String> targets;

    @Option(names = "--output-column", paramLabel = "COL", description = "The column to append (default: the task's, above)")
    String outputColumn;

    @Option(names = "--error-column", paramLabel = "COL",
            description = "Rows the pipeline refuses (an empty question, say) get a null result and why in this column, "
                    + "instead of failing the job")
    String errorColumn;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "auto",
            description = "auto (default: the task's GPU, else any usable GPU, else the CPU), task, cpu, cuda or cuda:N")
    String device;

    @Option(names = "--precision", paramLabel = "P", description = "fp32, tf32, bf16 or fp16 on a GPU (default bf16 on sm_80+)")
    String precision;

    @Option(names = "--max-length", paramLabel = "N", defaultValue = "0", description = "Cut texts to N tokens (default: the model's limit)")
    int maxLength;

    @Option(names = "--batch-tokens", paramLabel = "N", defaultValue = "0", description = "Real tokens per forward pass")
    int batchTokens;

    @Option(names = "--chunk-rows", paramLabel = "N", defaultValue = "" + SparkPipeline.DEFAULT_CHUNK_ROWS,
            description = "Rows a task sorts by length and runs at a time (default ${DEFAULT-VALUE})")
    int chunkRows;

    @Option(names = "--pooling", paramLabel = "MODE[,MODE...]", description = "embed: cls, max, mean, mean_sqrt_len_tokens, "
            + "weightedmean or lasttoken, or several (concatenated); default: the directory's Pooling module, else mean")
    String pooling;

    @Option(names = "--prompt-name", paramLabel = "NAME",
            description = "embed: the directory's prompt of that name before each text; rerank: before each query")
    String promptName;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "embed: TEXT before each text; rerank: before each query (\"\": none)")
    String prompt;

    @Option(names = "--activation", paramLabel = "NAME", description = "rerank: what turns a logit into the score: sigmoid, "
            + "identity (the raw logit), tanh, relu, gelu, silu, or a torch class name (default: the directory's)")
    String activation;

    @Option(names = "--no-text", description = "rerank: leave the documents' texts out of the hits (struct<corpus_id, score>)")
    boolean noText;

    @Option(names = "--normalize", description = "embed: divide each vector by its L2 norm (after --truncate-dim)")
    boolean normalize;

    @Option(names = "--truncate-dim", paramLabel = "N", description = "embed: keep the first N values of each vector "
            + "(Matryoshka); default: the directory's truncate_dim; 0: all")
    Integer truncateDim;

    @Option(names = "--aggregation", paramLabel = "A", description = "token-classification: simple (default), first, average, max or none")
    String aggregation;

    @Option(names = "--candidate-labels", paramLabel = "A,B", split = ",",
            description = "zero-shot-classification: the labels each row is scored against")
    List<String> candidateLabels;

    @Option(names = "--hypothesis-template", paramLabel = "T", description = "zero-shot-classification: default \"This example is {}.\"")
    String hypothesisTemplate;

    @Option(names = "--multi-label", description = "zero-shot-classification: score each label on its own")
    boolean multiLabel;

    @Option(names = "--partitions", paramLabel = "N", defaultValue = "0",
            description = "Repartition the input into N partitions first (0: as read)")
    int partitions;

    @Option(names = "--spark-log-level", paramLabel = "LEVEL", defaultValue = "WARN",
            description = "Spark's own log level for this job (default ${DEFAULT-VALUE}: its INFO lines, a few hundred a job, "
                    + "are left out, so that a job in a pipe prints its warnings and its closing line); INFO, DEBUG, ... for more")
    String sparkLogLevel;

    @Option(names = "--master", paramLabel = "URL",
            description = "Spark's master when not run by spark-submit, e.g. local[*] (spark-submit's --master takes precedence)")
    String master;

    /** The pipeline the options describe. */
    SparkPipeline pipeline() {
        SparkPipeline.Task t = SparkPipeline.Task.parse(task);
        SparkPipeline p = SparkPipeline.of(t, model);
        if (candidateLabels != null) p = p.withCandidateLabels(candidateLabels);
        if (textColumn != null) p = p.withInputCol(textColumn);
        if (pairColumn != null) p = p.withPairCol(pairColumn);
        if (contextColumn != null) p = p.withContextCol(contextColumn);
        if (choicesColumn != null) p = p.withChoicesCol(choicesColumn);
        if (documentsColumn != null) p = p.withDocumentsCol(documentsColumn);
        if (topK != null) p = p.withTopK(topK);
        if (targets != null) p = p.withTargets(targets);
        if (outputColumn != null) p = p.withOutputCol(outputColumn);
        if (errorColumn != null) p = p.withErrorCol(errorColumn);
        p = p.withDevice(device).withPrecision(precision).withMaxLength(maxLength).withBatchTokens(batchTokens)
                .withChunkRows(chunkRows);
        if (pooling != null) p = p.withPooling(SentenceEmbeddings.Pooling.parse(pooling));
        if (promptName != null && prompt != null) throw new IllegalArgumentException("give --prompt-name or --prompt, not both");
        if (promptName != null) p = p.withPromptName(promptName);
        if (prompt != null) p = p.withPrompt(prompt);
        if (normalize) p = p.withNormalize(true);
        if (truncateDim != null) p = p.withTruncateDim(truncateDim);
        if (aggregation != null) p = p.withAggregation(TokenClassification.Aggregation.valueOf(aggregation.toUpperCase(Locale.ROOT)));
        if (hypothesisTemplate != null) p = p.withHypothesisTemplate(hypothesisTemplate);
        if (multiLabel) p = p.withMultiLabel(true);
        if (activation != null) p = p.withActivation(activation);
        if (noText) p = p.withDocumentTexts(false);
        if (noDriverCheck) p = p.withDriverCheck(false);
        if (t == SparkPipeline.Task.ZERO_SHOT_CLASSIFICATION && candidateLabels == null) {
            throw new IllegalArgumentException("zero-shot-classification needs --candidate-labels");
        }
        return p;
    }

    static String formatOf(String path, String given) {
        if (given != null) {
            String f = given.toLowerCase(Locale.ROOT);
            if (!List.of("json", "parquet", "csv", "orc", "text").contains(f)) {
                throw new IllegalArgumentException("unknown input format '" + given + "': expected json, parquet, csv, orc or text");
            }
            return f;
        }
        String p = path.toLowerCase(Locale.ROOT);
        if (p.endsWith(".jsonl") || p.endsWith(".json") || p.endsWith(".jsonl.gz") || p.endsWith(".json.gz")) return "json";
        if (p.endsWith(".csv") || p.endsWith(".csv.gz")) return "csv";
        if (p.endsWith(".txt") || p.endsWith(".txt.gz")) return "text";
        if (p.endsWith(".orc")) return "orc";
        return "parquet";
    }

    @Override
    public Integer call() {
        SparkPipeline p;
        String in, out;
        try {
            p = pipeline();
            in = formatOf(input, inputFormat);
            out = outputFormat.toLowerCase(Locale.ROOT);
            if (!List.of("parquet", "json", "orc").contains(out)) {
                throw new IllegalArgumentException("unknown output format '" + outputFormat + "': expected parquet, json or orc");
            }
            List<String> levels = List.of("OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL");
            if (!levels.contains(sparkLogLevel.toUpperCase(Locale.ROOT))) {
                throw new IllegalArgumentException("unknown log level '" + sparkLogLevel + "': expected one of " + levels);
            }
        } catch (IllegalArgumentException e) {
            System.err.println("distilbert-spark: " + e.getMessage());
            return 2;
        }
        sparkLogging(sparkLogLevel);
        SparkSession.Builder builder = SparkSession.builder().appName("distilbert " + p.task().cliName());
        if (master != null) {
            builder.master(master);
        }
        if (stderrIsTerminal()) {
            builder.config("spark.ui.showConsoleProgress", "true");   // stage progress on a terminal, none in a pipe
        }
        boolean ours = SparkSession.getDefaultSession().isEmpty();   // an application's own session is stopped at its end
        SparkSession spark = builder.getOrCreate();
        spark.sparkContext().setLogLevel(sparkLogLevel.toUpperCase(Locale.ROOT));
        try {
            var reader = spark.read();
            if (in.equals("csv")) {
                reader = reader.option("header", "true");
            }
            Dataset<Row> rows = reader.format(in).load(input);
            if (in.equals("text")) {
                rows = rows.withColumnRenamed("value", p.inputCol());
            }
            if (partitions > 0) {
                rows = rows.repartition(partitions);
            }
            long start = System.nanoTime();
            SparkPipeline.Counters c = SparkPipeline.Counters.register(spark.sparkContext(), p.task());
            Dataset<Row> scored = p.transform(rows, c);
            scored.write().mode(overwrite ? SaveMode.Overwrite : SaveMode.ErrorIfExists).format(out).save(output);
            double seconds = (System.nanoTime() - start) / 1e9;
            System.err.printf(Locale.ROOT, "distilbert-spark: %s: %,d rows, %,d tokens in %.1f s (%.0f rows/s, %.0f tokens/s; "
                            + "model %.1f s summed over tasks) -> %s%n", p.task().cliName(), c.rows().value(),
                    c.tokens().value(), seconds, c.rows().value() / seconds, c.tokens().value() / seconds,
                    c.modelMillis().value() / 1e3, output);
            return 0;
        } catch (IllegalArgumentException e) {
            System.err.println("distilbert-spark: " + e.getMessage());
            return 1;
        } finally {
            if (ours) {
                spark.stop();
            }
        }
    }

    /**
     * Spark's log at {@code level}, set before the session starts so that its start-up lines obey it
     * too. Where no log4j configuration was given (no {@code conf/log4j2.properties}, no
     * {@code log4j2.configurationFile}), this installs Spark's own default one (stderr, its pattern)
     * at that level, which Spark then keeps; a configuration the user gave is left as it is (the
     * level is applied to the session once it runs).
     */
    static void sparkLogging(String level) {
        var context = (org.apache.logging.log4j.core.LoggerContext) org.apache.logging.log4j.LogManager.getContext(false);
        if (context.getConfiguration() instanceof org.apache.logging.log4j.core.config.DefaultConfiguration) {
            var b = org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilderFactory.newConfigurationBuilder();
            b.add(b.newAppender("stderr", "Console").addAttribute("target", "SYSTEM_ERR")
                    .add(b.newLayout("PatternLayout").addAttribute("pattern", "%d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex")));
            b.add(b.newRootLogger(org.apache.logging.log4j.Level.toLevel(level, org.apache.logging.log4j.Level.WARN))
                    .add(b.newAppenderRef("stderr")));
            org.apache.logging.log4j.core.config.Configurator.reconfigure(b.build());
        }
    }

    /** Whether stderr (where Spark draws its progress bar) is a terminal: Linux says of fd 2 itself. */
    static boolean stderrIsTerminal() {
        try {
            String target = java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (java.io.IOException | UnsupportedOperationException | SecurityException e) {
            return false;
        }
    }

    /** The message of the first cause that is not Spark's own wrapping (a failed task's, say), else {@code e}'s. */
    static String reason(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (!t.getClass().getName().startsWith("org.apache.spark.") && t.getMessage() != null) {
                return t.getMessage();
            }
        }
        return String.valueOf(e);
    }

    /** Runs the job and returns its exit code (0, 1 or 2), without exiting. */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(new ScoreJob());
        cl.setErr(new PrintWriter(System.err, true));
        cl.setExecutionExceptionHandler((e, line, parsed) -> {
            System.err.println("distilbert-spark: " + reason(e));
            return 1;
        });
        return cl.execute(args);
    }

    public static void main(String[] args) {
        int code = run(args);
        if (code != 0) {
            System.exit(code);
        }
    }
}
