package distilbert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import distilbert.model.CpuOps;
import distilbert.model.DistilBert;
import distilbert.model.DistilBertForMaskedLM;
import distilbert.model.DistilBertForMultipleChoice;
import distilbert.model.DistilBertForQuestionAnswering;
import distilbert.model.MaskedPositions;
import distilbert.model.DistilBertForSequenceClassification;
import distilbert.model.DistilBertForTokenClassification;
import distilbert.model.LearningRateSchedule;
import distilbert.model.ModelInput;
import distilbert.model.SequenceClassifierOutput;
import distilbert.model.SequenceLabels;
import distilbert.model.Tensor;
import distilbert.model.TokenPositions;
import distilbert.model.Trainer;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import distilbert.weights.ProblemType;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code distilbert train}: fine-tunes a DistilBertForSequenceClassification on JSONL examples, as
 * HuggingFace's {@code Trainer} with {@code run_glue.py}'s data handling does it: labels from the
 * data (or the model's label2id), dynamic padding per batch, AdamW with HF's no-decay groups, the
 * linear schedule with warmup, gradient clipping and accumulation, checkpoints every --save-steps
 * that {@code --resume} continues bit for bit, and one saved when the run is interrupted. Runs on
 * the CPU backend (the CUDA backward kernels are not written yet).
 */
@Command(name = "train", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, sortOptions = false,
        usageHelpWidth = 100,
        description = {
            "Fine-tune a text classifier (DistilBertForSequenceClassification) or a token classifier (NER: "
                    + "DistilBertForTokenClassification), as HuggingFace's Trainer does.",
            "",
            "Input (--train, --eval): JSONL, one example per line: {\"text\": \"...\", \"label\": ...}, with an optional "
                    + "\"text_pair\". A label is a class name (a string), a class id (an integer), a number for regression "
                    + "(--problem-type regression) or a list of 0/1 per label for multi-label classification.",
            "Token classification (--task token-classification): {\"tokens\": [\"EU\", \"rejects\", ...], \"ner_tags\": "
                    + "[\"B-ORG\", \"O\", ...]} (or \"labels\"), one label (name or id) per word, as HF datasets' conll2003; each "
                    + "word's label goes on its first token, as run_ner.py does; --eval reports its entity precision, recall "
                    + "and F1 (seqeval) and the word accuracy.",
            "Question answering (--task question-answering): SQuAD lines, {\"question\", \"context\", \"answers\": {\"text\": [...], "
                    + "\"answer_start\": [...]}} (code points), as run_qa.py prepares them: windows of --max-length (384 at most) "
                    + "overlapping by HF's doc stride, each labelled with the answer's tokens or [CLS] when it does not hold it; "
                    + "--eval reports SQuAD's exact_match and f1 of the question-answering pipeline's answers.",
            "Multiple choice (--task multiple-choice): {\"prompt\": ..., \"choices\": [...], \"label\": N} per line (the "
                    + "multiple-choice command's lines with the right choice), every line with as many choices; --eval reports "
                    + "eval_loss and eval_accuracy, as run_swag.py.",
            "Masked LM (--task masked-lm, the default for a DistilBertForMaskedLM): {\"text\": ...} per line; each line an "
                    + "example (run_mlm.py's line_by_line), --mlm-probability of its tokens masked as HF's collator does "
                    + "(80% [MASK], 10% random, 10% kept), drawn anew per batch; --eval reports eval_loss and perplexity.",
            "Labels: from --labels, else the model's id2label when it is a classifier with named labels, else the sorted "
                    + "distinct names (or 0..max id) of the training data, as run_glue.py takes them. A base model "
                    + "(DistilBertModel, DistilBertForMaskedLM) gets a new classification head, initialised as HF does.",
            "Training: AdamW (torch's), no weight decay on biases and layer norms (HF's Trainer), the global gradient norm "
                    + "clipped to --max-grad-norm, --scheduler over the optimizer steps with --warmup-steps (or --warmup-ratio), "
                    + "dropout as the model's config.json sets it, batches of --batch-size examples padded to their longest, "
                    + "gradients accumulated over --gradient-accumulation batches (the loss divided by it, as HF). The order "
                    + "of the examples is shuffled per epoch from --seed.",
            "Output (--output DIR): the fine-tuned model as save_pretrained writes it (config.json with the labels, "
                    + "model.safetensors) with the tokenizer files; train_log.jsonl (per --logging-steps: step, epoch, loss, "
                    + "learning_rate, grad_norm; per epoch with --eval: eval_loss, eval_accuracy); checkpoint-STEP "
                    + "directories (model, AdamW state, trainer_state.json) every --save-steps and when the run is "
                    + "interrupted (Ctrl-C, SIGTERM): --resume continues from the latest with the same masks and order.",
            "Runs on the CPU (all cores); a progress line shows on a terminal.",
            ""},
        footer = {"",
            "Examples:",
            "  distilbert train --model distilbert-base-uncased --train sst2-train.jsonl --eval sst2-dev.jsonl --output sst2-model",
            "  distilbert train --model DIR --train t.jsonl --output OUT --epochs 1 --batch-size 32 --learning-rate 3e-5 --resume",
            "",
            "Exit codes: 0 done, 1 failed (unusable model directory, bad example line, unwritable output), 2 usage error, "
                    + "130 interrupted (a checkpoint was saved)."})
final class TrainCommand implements Callable<Integer> {
    static final int INTERRUPTED = 130;
    static final String LOG_FILE = "train_log.jsonl";
    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A HuggingFace DistilBERT model directory (config.json, weights, tokenizer) to start from.")
    Path model;

    @Option(names = "--train", required = true, paramLabel = "FILE", description = "Training examples, JSONL (see above).")
    Path train;

    @Option(names = "--eval", paramLabel = "FILE", description = "Evaluation examples, JSONL: loss and accuracy after each epoch.")
    Path eval;

    @Option(names = "--output", required = true, paramLabel = "DIR", description = "Where the model, log and checkpoints go.")
    Path output;

    /** What is trained: HF's task names. */
    enum Task {
        SEQUENCE_CLASSIFICATION("sequence-classification", Head.SEQUENCE_CLASSIFICATION),
        TOKEN_CLASSIFICATION("token-classification", Head.TOKEN_CLASSIFICATION),
        MASKED_LM("masked-lm", Head.MASKED_LM),
        QUESTION_ANSWERING("question-answering", Head.QUESTION_ANSWERING),
        MULTIPLE_CHOICE("multiple-choice", Head.MULTIPLE_CHOICE);

        final String option;
        final Head head;

        Task(String option, Head head) {
            this.option = option;
            this.head = head;
        }
    }

    @Option(names = "--task", paramLabel = "TASK",
            description = "sequence-classification (text classification), token-classification (NER), "
                    + "question-answering (extractive, SQuAD) or masked-lm (domain adaptation of a masked LM, run_mlm.py's "
                    + "line by line). Default: the model's head's task, else sequence-classification.")
    String task;

    @Option(names = "--mlm-probability", paramLabel = "P", defaultValue = "0.15",
            description = "masked-lm: the share of tokens to predict (default 0.15, as HF's collator).")
    double mlmProbability;

    @Option(names = "--labels", paramLabel = "A,B,...", split = ",", description = "The class names, in id order.")
    List<String> labels;

    @Option(names = "--problem-type", paramLabel = "TYPE",
            description = "single_label_classification, multi_label_classification or regression. Default: the model's, "
                    + "else from the labels (a number: regression; a list: multi-label; otherwise single-label).")
    String problemType;

    @Option(names = "--epochs", paramLabel = "N", defaultValue = "3", description = "Passes over the data (default 3).")
    double epochs;

    @Option(names = "--max-steps", paramLabel = "N", description = "Stop after N optimizer steps (overrides --epochs, as HF's max_steps).")
    Long maxSteps;

    @Option(names = "--batch-size", paramLabel = "N", defaultValue = "16", description = "Examples per batch (default 16).")
    int batchSize;

    @Option(names = "--gradient-accumulation", paramLabel = "N", defaultValue = "1",
            description = "Batches per optimizer step (default 1).")
    int accumulation;

    @Option(names = "--learning-rate", paramLabel = "LR", defaultValue = "5e-5", description = "Peak learning rate (default 5e-5).")
    double learningRate;

    @Option(names = "--weight-decay", paramLabel = "WD", defaultValue = "0", description = "AdamW weight decay (default 0).")
    double weightDecay;

    @Option(names = "--warmup-steps", paramLabel = "N", description = "Linear warmup over N optimizer steps (default 0).")
    Long warmupSteps;

    @Option(names = "--warmup-ratio", paramLabel = "R", description = "Warmup over this share of all steps (rounded up, as HF).")
    Double warmupRatio;

    @Option(names = "--scheduler", paramLabel = "NAME", defaultValue = "linear",
            description = "linear, cosine, constant or constant_with_warmup (default linear).")
    String scheduler;

    @Option(names = "--max-grad-norm", paramLabel = "N", defaultValue = "1.0",
            description = "Clip the global gradient norm to N; 0: no clipping (default 1.0).")
    double maxGradNorm;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "42",
            description = "Seeds the new head's initialisation, the example order and dropout (default 42).")
    long seed;

    @Option(names = "--max-length", paramLabel = "N", description = ModelRun.HELP_MAX_LENGTH)
    Integer maxLength;

    @Option(names = "--logging-steps", paramLabel = "N", defaultValue = "10", description = "Log every N optimizer steps (default 10).")
    int loggingSteps;

    @Option(names = "--save-steps", paramLabel = "N", defaultValue = "500",
            description = "Save a checkpoint every N optimizer steps; 0: only when interrupted (default 500).")
    int saveSteps;

    @Option(names = "--save-total-limit", paramLabel = "N", defaultValue = "2",
            description = "Keep the N latest checkpoints (default 2).")
    int saveTotalLimit;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cpu",
            description = "cpu (the default and, for now, the only choice: the CUDA backward kernels are not written yet).")
    String device;

    @Option(names = "--resume", description = "Continue from the latest checkpoint in --output.")
    boolean resume;

    @Option(names = "--overwrite-output", description = "Replace the model a finished run left in --output (HF's overwrite_output_dir).")
    boolean overwriteOutput;

    @Option(names = "--eval-steps", paramLabel = "N", defaultValue = "0",
            description = "Evaluate every N optimizer steps instead of after each epoch (HF's eval_strategy steps).")
    int evalSteps;

    @Option(names = "--best-metric", paramLabel = "NAME",
            description = "Keep the model of the best evaluation by this metric (eval_loss, eval_accuracy, eval_f1, eval_precision, "
                    + "eval_recall, perplexity: what the task reports) and write it as the final model (HF's "
                    + "load_best_model_at_end with metric_for_best_model); lower is better for eval_loss and perplexity.")
    String bestMetric;

    /** Question answering's eval questions, answered by the pipeline and scored as SQuAD (null for other tasks). */
    private List<QaRow> evalQa;
    /** The run's max length, for the QA pipeline's windows. */
    private int qaMaxLength;

    @Option(names = "--early-stopping-patience", paramLabel = "N", defaultValue = "0",
            description = "With --best-metric: stop when N evaluations in a row did not improve it (HF's EarlyStoppingCallback).")
    int patience;

    /** The best evaluation so far under --best-metric, and its step (−1: none yet). */
    private double bestValue = Double.NaN;
    private long bestStep = -1;
    /** Evaluations since the best one (early stopping), and whether they stopped the run. */
    private int staleEvaluations;
    private boolean stoppedEarly;

    /** One tokenized example: ids, its label as the head takes it, its line for messages. */
    /**
     * One training row: a text's tokens and its label in the task's form (a class, values, a label
     * per token, or for question answering a window with its answer's start and end token in
     * {@code tokenLabels}; for multiple choice, {@code choices} holds a row per choice, {@code ids}
     * all of them one after the other, and {@code classId} the right one).
     *
     * @param truncated whether the text was longer than --max-length and cut
     */
    record Example(long line, int[] ids, int classId, float[] values, int[] tokenLabels, boolean truncated, int[][] choices) {
        Example(long line, int[] ids, int classId, float[] values, int[] tokenLabels, boolean truncated) {
            this(line, ids, classId, values, tokenLabels, truncated, null);
        }
    }

    /** Set by the interrupt hook; the loop saves and stops at the next batch. */
    private final AtomicBoolean interrupted = new AtomicBoolean();

    @Override
    public Integer call() throws IOException {
        Main.Io io = ((Main) spec.root().userObject()).io();
        checkOptions();
        ModelRun.checkModelDirectory(model);
        Path latest = resume ? latestCheckpoint(output) : null;
        if (resume && latest == null) {
            throw new CliException(output + ": --resume found no checkpoint-N directory with a complete " + Trainer.STATE_FILE);
        }
        if (!resume && Files.isDirectory(output) && latestCheckpoint(output) != null) {
            throw new CliException(output + " holds checkpoints of an earlier run: give --resume to continue it, or another --output");
        }
        if (!resume && !overwriteOutput && Files.isRegularFile(output.resolve(ModelDirectory.CONFIG_FILE))) {
            throw new CliException(output + " holds a model already: give another --output, or --overwrite-output to replace it");
        }
        DistilBertConfig base = ModelDirectory.readConfig(latest != null ? latest : model);
        Task t = task(ModelDirectory.headOf(base));
        Tokenizer tokenizer = Tokenizer.fromPretrained(model);
        int length = maxLength != null ? maxLength
                : ModelRun.defaultMaxLength(tokenizer.modelMaxLength(), base.maxPositionEmbeddings(), OptionalInt.empty());
        if (length > base.maxPositionEmbeddings()) {
            throw usage("--max-length " + length + " is more than the model takes: max_position_embeddings "
                    + base.maxPositionEmbeddings());
        }
        List<JsonNode> trainRows = readJsonl(train);
        List<JsonNode> evalRows = eval == null ? List.of() : readJsonl(eval);
        DistilBertConfig config = switch (t) {
            case TOKEN_CLASSIFICATION -> tokenLabelledConfig(base, trainRows);
            case SEQUENCE_CLASSIFICATION -> labelledConfig(base, trainRows);
            case MASKED_LM -> base;
            case QUESTION_ANSWERING -> base.toBuilder().numLabels(2).build();
            case MULTIPLE_CHOICE -> base;
        };
        List<Example> trainSet = examples(t, train, trainRows, tokenizer, config, length);
        List<Example> evalSet = eval == null ? List.of() : examples(t, eval, evalRows, tokenizer, config, length);
        if (t == Task.QUESTION_ANSWERING && eval != null) {
            evalQa = qaRows(eval, evalRows);
            qaMaxLength = length;
        }
        checkBestMetric(t, config);
        noteTruncated(io, train, trainSet, length, t);
        noteTruncated(io, eval, evalSet, length, t);
        Masking masking = t == Task.MASKED_LM ? new Masking(tokenizer, config.vocabSize(), mlmProbability) : null;

        Checkpoint start = ModelDirectory.load(latest != null ? latest : model, config, t.head, seed);
        for (String w : start.warnings()) {
            io.err().println("distilbert train: " + w);
        }
        int batchesPerEpoch = (trainSet.size() + batchSize - 1) / batchSize;
        long stepsPerEpoch = Math.max(batchesPerEpoch / accumulation + (batchesPerEpoch % accumulation > 0 ? 1 : 0), 1);
        long totalSteps = maxSteps != null ? maxSteps : (long) Math.ceil(epochs * stepsPerEpoch);
        long warmup = warmupSteps != null ? warmupSteps : (long) Math.ceil(totalSteps * (warmupRatio == null ? 0 : warmupRatio));
        LearningRateSchedule schedule = LearningRateSchedule.of(scheduler, warmup, totalSteps);
        Trainer.Options options = new Trainer.Options(learningRate, weightDecay, 0.9, 0.999, 1e-8, maxGradNorm, schedule, seed);

        try (DistilBert db = DistilBert.of(start, CpuOps.create())) {
            Trainer trainer = new Trainer(db.architecture(), options);
            Position at = new Position(0, 0, new ArrayList<>(), 0, 0);
            Files.createDirectories(output);
            if (latest != null) {
                ObjectNode extra = trainer.resume(latest);
                at = Position.of(extra);
                bestStep = extra.path("best_step").asLong(-1);
                bestValue = extra.path("best_value").asDouble(Double.NaN);
                staleEvaluations = extra.path("stale_evaluations").asInt();
                // the log as it stood at the checkpoint: entries a killed run wrote after it are written again
                StringBuilder history = new StringBuilder();
                for (JsonNode entry : at.log()) history.append(JSON.writeValueAsString(entry)).append('\n');
                Files.writeString(output.resolve(LOG_FILE), history);
                io.err().println("distilbert train: resumed from " + latest + " at step " + trainer.steps());
            } else {
                Files.deleteIfExists(output.resolve(LOG_FILE));
            }
            return loop(io, db, t, masking, trainer, trainSet, evalSet, at, totalSteps, batchesPerEpoch, tokenizer);
        }
    }

    /** Where the data loop stands: the epoch, the batch within it at which the next optimizer step's batches start, and what was logged. */
    private record Position(int epoch, int batch, List<JsonNode> log, double lossSum, int lossCount) {
        static Position of(ObjectNode extra) {
            List<JsonNode> log = new ArrayList<>();
            extra.path("log_history").forEach(log::add);
            return new Position(extra.path("epoch").asInt(), extra.path("batch").asInt(), log,
                    extra.path("loss_sum").asDouble(), extra.path("loss_count").asInt());
        }

        ObjectNode toJson() {
            ObjectNode o = JSON.createObjectNode();
            o.put("epoch", epoch);
            o.put("batch", batch);
            o.put("loss_sum", lossSum);   // the losses since the last log entry, so that the next entry is the same
            o.put("loss_count", lossCount);
            ArrayNode h = o.putArray("log_history");
            log.forEach(h::add);
            return o;
        }
    }

    private int loop(Main.Io io, DistilBert db, Task t, Masking masking, Trainer trainer,
                     List<Example> trainSet, List<Example> evalSet, Position at, long totalSteps, int batchesPerEpoch,
                     Tokenizer tokenizer) throws IOException {
        PrintStream err = io.err();
        long examplesTotal = totalSteps * (long) accumulation * batchSize;
        long[] examplesDone = {trainer.steps() * (long) accumulation * batchSize};
        CountDownLatch finished = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            interrupted.set(true);
            try {
                finished.await(120, TimeUnit.SECONDS); // the loop saves a checkpoint, then counts down
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "distilbert-train-interrupt");
        Runtime.getRuntime().addShutdownHook(hook);
        List<JsonNode> log = at.log();
        long startNanos = System.nanoTime(), startSteps = trainer.steps(), startExamples = examplesDone[0];
        long[] tokensDone = {0};
        double lossSum = at.lossSum(), windowLossSum = lossSum;
        int lossCount = at.lossCount(), windowLossCount = lossCount;
        int epoch = at.epoch(), batch = at.batch();
        try (Progress progress = io.errIsTerminal() ? Progress.on(err, "train", examplesTotal, () -> examplesDone[0]) : Progress.off()) {
            while (trainer.steps() < totalSteps && !stoppedEarly) {
                List<Example> order = shuffled(trainSet, epoch);
                int windowStart = batch;
                int inWindow = 0;
                while (batch < batchesPerEpoch && trainer.steps() < totalSteps && !stoppedEarly) {
                    if (interrupted.get()) {
                        // the partial window is dropped: the checkpoint resumes at its first batch, same masks
                        trainer.discardAccumulated();
                        return saveInterrupted(io, db, trainer,
                                new Position(epoch, windowStart, log, windowLossSum, windowLossCount), tokenizer);
                    }
                    List<Example> examples = order.subList(batch * batchSize, Math.min(order.size(), (batch + 1) * batchSize));
                    int windowBatches = Math.min(accumulation, batchesPerEpoch - windowStart);
                    float scale = 1f / windowBatches;
                    float loss;
                    if (t == Task.MASKED_LM) {
                        // this micro-batch's masks: a stream of its own, so a resumed run draws them again
                        Masking.Masked mb = masking.mask(padded(examples), new SplittableRandom(seed * 1_000_003L + trainer.microBatches()));
                        loss = db.as(DistilBertForMaskedLM.class).backward(mb.input().withDropout(trainer.nextDropout()),
                                mb.labels(), trainer.gradients(), scale).loss();
                    } else if (t == Task.MULTIPLE_CHOICE) {
                        ModelInput in = choiceInput(examples).withDropout(trainer.nextDropout());
                        loss = db.as(DistilBertForMultipleChoice.class).backward(in, examples.getFirst().choices().length,
                                examples.stream().mapToInt(Example::classId).toArray(), trainer.gradients(), scale).loss();
                    } else if (t == Task.QUESTION_ANSWERING) {
                        // HF's loss softmaxes over every position, padding included: compute them as HF does
                        ModelInput in = input(examples).withMaskedPositions(MaskedPositions.COMPUTE)
                                .withDropout(trainer.nextDropout());
                        loss = db.as(DistilBertForQuestionAnswering.class).backward(in, column(examples, 0), column(examples, 1),
                                trainer.gradients(), scale).loss();
                    } else {
                        ModelInput in = input(examples).withDropout(trainer.nextDropout());
                        loss = t == Task.TOKEN_CLASSIFICATION
                                ? db.as(DistilBertForTokenClassification.class).backward(in, tokenLabelsOf(examples, in.length()),
                                        trainer.gradients(), scale).loss()
                                : db.as(DistilBertForSequenceClassification.class).backward(in, labelsOf(examples, db.config()),
                                        trainer.gradients(), scale).loss();
                    }
                    if (!Float.isNaN(loss)) { // a masked-LM batch in which nothing was drawn has no loss (torch: NaN)
                        lossSum += loss;
                        lossCount++;
                    }
                    batch++;
                    inWindow++;
                    examplesDone[0] += examples.size();
                    tokensDone[0] += tokens(examples);
                    progress.advance(examples.size(), tokens(examples));
                    if (inWindow == windowBatches) {
                        Trainer.Step step = trainer.step();
                        if (!Float.isFinite(step.gradNorm())) {
                            err.println("distilbert train: step " + (step.step() + 1) + ": the gradient norm is " + step.gradNorm()
                                    + "; the update was skipped");
                        }
                        if (step.step() % loggingSteps == 0 || step.step() == totalSteps) {
                            ObjectNode entry = JSON.createObjectNode();
                            entry.put("step", step.step());
                            entry.put("epoch", round(epoch + (double) batch / batchesPerEpoch));
                            entry.put("loss", lossCount == 0 ? Double.NaN : round(lossSum / lossCount));
                            entry.put("learning_rate", step.learningRate());
                            entry.put("grad_norm", step.gradNorm());
                            appendLog(log, entry);
                            lossSum = 0;
                            lossCount = 0;
                        }
                        windowStart = batch;
                        windowLossSum = lossSum;
                        windowLossCount = lossCount;
                        inWindow = 0;
                        if (!evalSet.isEmpty() && evalSteps > 0 && step.step() % evalSteps == 0) {
                            evaluateNow(io, db, t, masking, evalSet, log, round(epoch + (double) batch / batchesPerEpoch),
                                    step.step(), tokenizer);
                        }
                        if (saveSteps > 0 && step.step() % saveSteps == 0) {
                            saveCheckpoint(db, trainer, new Position(epoch, batch, log, lossSum, lossCount), tokenizer);
                        }
                    }
                }
                if (batch >= batchesPerEpoch) {
                    if (!evalSet.isEmpty() && evalSteps == 0) {
                        evaluateNow(io, db, t, masking, evalSet, log, epoch + 1, trainer.steps(), tokenizer);
                    }
                    epoch++;
                    batch = 0;
                }
            }
        } finally {
            finished.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the JVM is exiting; the hook has seen the count-down
            }
        }
        Path best = output.resolve(BEST_DIR);
        if (bestStep >= 0 && Files.isRegularFile(best.resolve(ModelDirectory.CONFIG_FILE))) {
            // the best evaluation's model is the result (HF's load_best_model_at_end)
            try (DirectoryStream<Path> files = Files.newDirectoryStream(best)) {
                for (Path f : files) Files.move(f, output.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
            Files.delete(best);
            err.println("distilbert train: the model of step " + bestStep + " (" + bestMetric + " " + bestValue + ") is the result");
        } else {
            ModelDirectory.save(output, db.config(), t.head, db.architecture().parameters().table(),
                    db.ops().download(db.architecture().parameters().slab()), ModelDirectory.SaveOptions.defaults());
            copyTokenizerFiles(model, output);
        }
        ObjectNode summary = JSON.createObjectNode();
        summary.put("global_step", trainer.steps());
        summary.put("epochs", round(epoch + (double) batch / batchesPerEpoch));
        summary.put("examples", trainSet.size());
        if (bestStep >= 0) {
            summary.put("best_metric", bestValue);
            summary.put("best_step", bestStep);
        }
        if (stoppedEarly) {
            summary.put("stopped_early", true);
        }
        // this process's share (a resumed run times its own steps), as HF's train_runtime and rates
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        summary.put("train_runtime", round(seconds));
        summary.put("train_samples_per_second", round((examplesDone[0] - startExamples) / seconds));
        summary.put("train_steps_per_second", round((trainer.steps() - startSteps) / seconds));
        summary.put("train_tokens_per_second", round(tokensDone[0] / seconds));
        Files.writeString(output.resolve("train_results.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(summary) + "\n");
        err.println("distilbert train: " + trainer.steps() + " steps; the model is in " + output + " (" + summary + ")");
        return Main.OK;
    }

    /** Where the best evaluation's model is kept until the run ends. */
    static final String BEST_DIR = "best-model";

    /** One evaluation: logged, said on stderr, and under --best-metric its model kept when it is the best so far. */
    private void evaluateNow(Main.Io io, DistilBert db, Task t, Masking masking, List<Example> evalSet, List<JsonNode> log,
                             double epoch, long step, Tokenizer tokenizer) throws IOException {
        ObjectNode entry = switch (t) {
            case TOKEN_CLASSIFICATION ->
                    evaluateTokens(db.as(DistilBertForTokenClassification.class), evalSet, db.config().id2label());
            case SEQUENCE_CLASSIFICATION -> evaluate(db.as(DistilBertForSequenceClassification.class), evalSet, db.config());
            case MASKED_LM -> evaluateMaskedLm(db.as(DistilBertForMaskedLM.class), masking, evalSet);
            case QUESTION_ANSWERING -> evaluateQa(db, tokenizer, evalQa);
            case MULTIPLE_CHOICE -> evaluateChoices(db.as(DistilBertForMultipleChoice.class), evalSet);
        };
        entry.put("epoch", epoch);
        entry.put("step", step);
        appendLog(log, entry);
        io.err().println("distilbert train: step " + step + ": " + entry);
        if (bestMetric == null) {
            return;
        }
        double v = entry.get(bestMetric).asDouble();
        boolean lowerIsBetter = bestMetric.endsWith("loss") || bestMetric.equals("perplexity");
        if (bestStep < 0 || (lowerIsBetter ? v < bestValue : v > bestValue)) {
            bestValue = v;
            bestStep = step;
            staleEvaluations = 0;
            Path best = output.resolve(BEST_DIR);
            ModelDirectory.save(best, db.config(), t.head, db.architecture().parameters().table(),
                    db.ops().download(db.architecture().parameters().slab()), ModelDirectory.SaveOptions.defaults());
            copyTokenizerFiles(model, best);
        } else if (patience > 0 && ++staleEvaluations >= patience) {
            stoppedEarly = true;
            io.err().println("distilbert train: " + bestMetric + " has not improved for " + patience + " evaluations since step "
                    + bestStep + ": stopping early");
        }
    }

    /** --best-metric names a metric the task's evaluation reports, and --eval is given. */
    private void checkBestMetric(Task t, DistilBertConfig config) {
        if (evalSteps < 0) throw usage("--eval-steps must be >= 0, got " + evalSteps);
        if (patience < 0) throw usage("--early-stopping-patience must be >= 0, got " + patience);
        if (patience > 0 && bestMetric == null) throw usage("--early-stopping-patience needs --best-metric");
        if (bestMetric == null) return;
        if (eval == null) throw usage("--best-metric needs --eval");
        List<String> names = switch (t) {
            case SEQUENCE_CLASSIFICATION -> config.problemType() == ProblemType.SINGLE_LABEL_CLASSIFICATION
                    ? List.of("eval_loss", "eval_accuracy") : List.of("eval_loss");
            case TOKEN_CLASSIFICATION -> List.of("eval_loss", "eval_f1", "eval_precision", "eval_recall", "eval_accuracy");
            case MASKED_LM -> List.of("eval_loss", "perplexity");
            case QUESTION_ANSWERING -> List.of("exact_match", "f1");
            case MULTIPLE_CHOICE -> List.of("eval_loss", "eval_accuracy");
        };
        if (!names.contains(bestMetric)) {
            throw usage("--best-metric " + bestMetric + ": " + t.option + " reports " + String.join(", ", names));
        }
    }

    /** The log entry, also appended to train_log.jsonl. */
    private void appendLog(List<JsonNode> log, ObjectNode entry) throws IOException {
        log.add(entry);
        try (Writer w = Files.newBufferedWriter(output.resolve(LOG_FILE), StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND)) {
            w.write(JSON.writeValueAsString(entry));
            w.write('\n');
        }
    }

    private int saveInterrupted(Main.Io io, DistilBert db, Trainer trainer, Position at, Tokenizer tokenizer)
            throws IOException {
        Path dir = saveCheckpoint(db, trainer, at, tokenizer);
        io.err().println("distilbert train: interrupted; saved " + dir + " (continue with --resume)");
        return INTERRUPTED;
    }

    /**
     * checkpoint-STEP in --output: the model, the tokenizer files, AdamW's state and where the loop
     * stands; older checkpoints beyond --save-total-limit are removed.
     */
    private Path saveCheckpoint(DistilBert db, Trainer trainer, Position at, Tokenizer tokenizer) throws IOException {
        Path dir = output.resolve("checkpoint-" + trainer.steps());
        ObjectNode extra = at.toJson();
        if (bestStep >= 0) {
            extra.put("best_step", bestStep);
            extra.put("best_value", bestValue);
            extra.put("stale_evaluations", staleEvaluations);
        }
        trainer.save(dir, extra);
        copyTokenizerFiles(model, dir);
        TreeMap<Long, Path> all = checkpoints(output);
        while (all.size() > Math.max(1, saveTotalLimit)) {
            deleteTree(all.pollFirstEntry().getValue());
        }
        return dir;
    }

    /** The checkpoint-N directories of {@code dir} with a complete state, by N. */
    static TreeMap<Long, Path> checkpoints(Path dir) throws IOException {
        TreeMap<Long, Path> out = new TreeMap<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "checkpoint-*")) {
            for (Path p : ds) {
                String n = p.getFileName().toString().substring("checkpoint-".length());
                if (n.matches("\\d+") && Files.isRegularFile(p.resolve(Trainer.STATE_FILE))) {
                    out.put(Long.parseLong(n), p);
                }
            }
        }
        return out;
    }

    static Path latestCheckpoint(Path dir) throws IOException {
        TreeMap<Long, Path> all = checkpoints(dir);
        return all.isEmpty() ? null : all.lastEntry().getValue();
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Collections.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    /** tokenizer.json, vocab.txt and the tokenizer's config files, as HF saves them beside a model. */
    private static void copyTokenizerFiles(Path from, Path to) throws IOException {
        for (String f : List.of("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")) {
            Path src = from.resolve(f);
            if (Files.isRegularFile(src) && !src.toAbsolutePath().normalize().equals(to.resolve(f).toAbsolutePath().normalize())) {
                Files.copy(src, to.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // data

    private void checkOptions() {
        if (!device.equals("cpu")) {
            throw new CliException("--device " + device + ": training runs on the CPU for now (the CUDA backward kernels are not"
                    + " written yet); leave out --device, or give --device cpu");
        }
        if (batchSize < 1) throw usage("--batch-size must be at least 1, got " + batchSize);
        if (!(mlmProbability > 0 && mlmProbability <= 1)) throw usage("--mlm-probability must be in (0, 1], got " + mlmProbability);
        if (accumulation < 1) throw usage("--gradient-accumulation must be at least 1, got " + accumulation);
        if (!(epochs > 0) && maxSteps == null) throw usage("--epochs must be positive, got " + epochs);
        if (maxSteps != null && maxSteps < 1) throw usage("--max-steps must be at least 1, got " + maxSteps);
        if (!(learningRate >= 0)) throw usage("--learning-rate must be >= 0, got " + learningRate);
        if (!(weightDecay >= 0)) throw usage("--weight-decay must be >= 0, got " + weightDecay);
        if (warmupSteps != null && warmupRatio != null) throw usage("give --warmup-steps or --warmup-ratio, not both");
        if (warmupSteps != null && warmupSteps < 0) throw usage("--warmup-steps must be >= 0, got " + warmupSteps);
        if (warmupRatio != null && !(warmupRatio >= 0 && warmupRatio <= 1)) throw usage("--warmup-ratio must be in [0, 1], got " + warmupRatio);
        if (loggingSteps < 1) throw usage("--logging-steps must be at least 1, got " + loggingSteps);
        if (saveSteps < 0) throw usage("--save-steps must be >= 0, got " + saveSteps);
        if (maxLength != null && maxLength < 2) throw usage("--max-length must be at least 2, got " + maxLength);
        try {
            LearningRateSchedule.Kind.parse(scheduler);
        } catch (IllegalArgumentException e) {
            throw usage("--scheduler: " + e.getMessage());
        }
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    static List<JsonNode> readJsonl(Path file) throws IOException {
        List<JsonNode> rows = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            long n = 0;
            while ((line = r.readLine()) != null) {
                n++;
                if (line.isBlank()) continue;
                JsonNode node;
                try {
                    node = JSON.readTree(line);
                } catch (IOException e) {
                    throw new CliException(file + ":" + n + ": not a JSON object (" + Main.oneLine(e.getMessage()) + ")");
                }
                if (!(node instanceof ObjectNode o)) throw new CliException(file + ":" + n + ": not a JSON object");
                o.put("\u0000line", n);
                rows.add(o);
            }
        } catch (java.nio.file.NoSuchFileException e) {
            throw new CliException(file + ": no such file");
        }
        if (rows.isEmpty()) throw new CliException(file + ": no examples");
        return rows;
    }

    private static long lineOf(JsonNode row) {
        return row.path("\u0000line").asLong();
    }

    /**
     * The config to train with: the model's, with the labels and problem type of the data. A classifier
     * whose labels are named keeps them (the data must use them); otherwise --labels, else the data's.
     */
    private DistilBertConfig labelledConfig(DistilBertConfig base, List<JsonNode> rows) {
        ProblemType problem = problemType != null ? parseProblem(problemType) : base.problemType();
        if (problem == null) {
            JsonNode first = rows.getFirst().get("label");
            problem = first != null && first.isArray() ? ProblemType.MULTI_LABEL_CLASSIFICATION
                    : first != null && first.isFloatingPointNumber() ? ProblemType.REGRESSION : ProblemType.SINGLE_LABEL_CLASSIFICATION;
        }
        boolean isClassifier = ModelDirectory.headOf(base) == Head.SEQUENCE_CLASSIFICATION;
        List<String> names;
        if (labels != null) {
            names = labels;
        } else if (isClassifier && !base.id2label().equals(DistilBertConfig.defaultId2Label(base.numLabels()))) {
            names = new ArrayList<>(base.id2label().values());
        } else if (problem == ProblemType.REGRESSION) {
            names = List.of("LABEL_0");
        } else if (problem == ProblemType.MULTI_LABEL_CLASSIFICATION) {
            int n = rows.getFirst().get("label").size();
            names = new ArrayList<>(DistilBertConfig.defaultId2Label(n).values());
        } else {
            TreeSet<String> strings = new TreeSet<>();
            int maxId = -1;
            for (JsonNode r : rows) {
                JsonNode l = r.get("label");
                if (l == null) throw new CliException(train + ":" + lineOf(r) + ": no \"label\"");
                if (l.isTextual()) strings.add(l.asText());
                else if (l.isIntegralNumber() && l.canConvertToInt()) maxId = Math.max(maxId, l.asInt());
                else throw new CliException(train + ":" + lineOf(r) + ": \"label\" must be a class name or id, got " + l);
            }
            if (!strings.isEmpty() && maxId >= 0) {
                throw new CliException(train + ": labels are both names and ids; use one kind (or give --labels)");
            }
            names = !strings.isEmpty() ? new ArrayList<>(strings) : new ArrayList<>(DistilBertConfig.defaultId2Label(maxId + 1).values());
            if (names.size() < 2) throw new CliException(train + ": every example has the same label; a classifier needs two or more");
        }
        return base.toBuilder().labels(names).problemType(problem).build();
    }

    private ProblemType parseProblem(String s) {
        return ProblemType.fromHf(s).orElseThrow(() -> usage("--problem-type: expected " + ProblemType.choices() + ", got '" + s + "'"));
    }

    private static List<Example> examples(Path file, List<JsonNode> rows, Tokenizer tokenizer, DistilBertConfig config, int length) {
        List<String> texts = new ArrayList<>(), pairs = new ArrayList<>();
        boolean anyPair = false;
        for (JsonNode r : rows) {
            JsonNode t = r.get("text");
            if (t == null || !t.isTextual()) throw new CliException(file + ":" + lineOf(r) + ": \"text\" must be a string");
            texts.add(t.asText());
            JsonNode p = r.get("text_pair");
            if (p != null && !p.isNull() && !p.isTextual()) throw new CliException(file + ":" + lineOf(r) + ": \"text_pair\" must be a string");
            pairs.add(p == null || p.isNull() ? null : p.asText());
            anyPair |= p != null && !p.isNull();
        }
        List<Encoding> enc = tokenizer.encodeBatch(texts, anyPair ? pairs : null,
                new EncodeOptions(true, Truncation.longestFirst(length), null));
        Map<String, Integer> label2id = new LinkedHashMap<>(config.label2id());
        ProblemType problem = config.problemType();
        int NL = config.numLabels();
        List<Example> out = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) {
            JsonNode r = rows.get(i), l = r.get("label");
            long line = lineOf(r);
            if (l == null) throw new CliException(file + ":" + line + ": no \"label\"");
            int classId = -1;
            float[] values = null;
            switch (problem) {
                case SINGLE_LABEL_CLASSIFICATION -> {
                    if (l.isTextual()) {
                        Integer id = label2id.get(l.asText());
                        if (id == null) throw new CliException(file + ":" + line + ": label '" + l.asText() + "' is not one of " + label2id.keySet());
                        classId = id;
                    } else if (l.isIntegralNumber() && l.canConvertToInt() && l.asInt() >= 0 && l.asInt() < NL) {
                        classId = l.asInt();
                    } else {
                        throw new CliException(file + ":" + line + ": label " + l + " is not a class name nor an id in [0, " + NL + ")");
                    }
                }
                case REGRESSION -> {
                    if (!l.isNumber()) throw new CliException(file + ":" + line + ": regression needs a number as \"label\", got " + l);
                    values = new float[] {l.floatValue()};
                }
                case MULTI_LABEL_CLASSIFICATION -> {
                    if (!l.isArray() || l.size() != NL) {
                        throw new CliException(file + ":" + line + ": multi-label needs a list of " + NL + " numbers as \"label\", got " + l);
                    }
                    values = new float[NL];
                    for (int j = 0; j < NL; j++) values[j] = l.get(j).floatValue();
                }
            }
            out.add(new Example(line, enc.get(i).ids(), classId, values, null, !enc.get(i).overflowing().isEmpty()));
        }
        return out;
    }

    /** A line on stderr saying how many examples of {@code file} were cut to the max length (what the model saw of them). */
    private static void noteTruncated(Main.Io io, Path file, List<Example> set, int length, Task t) {
        if (t == Task.QUESTION_ANSWERING) {
            long rows = set.stream().map(Example::line).distinct().count();
            long split = set.stream().filter(Example::truncated).map(Example::line).distinct().count();
            if (split > 0) {
                io.err().println("distilbert train: " + split + " of " + rows + " questions of " + file + " were longer than "
                        + Math.min(length, distilbert.model.QuestionAnswering.DEFAULT_MAX_SEQ_LEN) + " tokens with their context and"
                        + " run in overlapping windows (" + set.size() + " windows in all)");
            }
            return;
        }
        long n = set.stream().filter(Example::truncated).count();
        if (n > 0) {
            io.err().println("distilbert train: " + n + " of " + set.size() + " examples of " + file + " were longer than " + length
                    + " tokens and truncated to it (--max-length)" + (t == Task.TOKEN_CLASSIFICATION
                    ? "; their words past it are not trained on" : ""));
        }
    }

    /** A SQuAD-style line: the question, its context, the gold answers (texts, and starts in code points). */
    record QaRow(long line, String question, String context, List<String> answers, List<Integer> starts) {
    }

    /** SQuAD lines: {"question", "context", "answers": {"text": [...], "answer_start": [...]}} (HF datasets' squad). */
    private static List<QaRow> qaRows(Path file, List<JsonNode> rows) {
        List<QaRow> out = new ArrayList<>();
        for (JsonNode r : rows) {
            long line = lineOf(r);
            JsonNode q = r.get("question"), c = r.get("context"), a = r.get("answers");
            if (q == null || !q.isTextual() || q.asText().isBlank()) throw new CliException(file + ":" + line + ": \"question\" must be a non-empty string");
            if (c == null || !c.isTextual() || c.asText().isEmpty()) throw new CliException(file + ":" + line + ": \"context\" must be a non-empty string");
            if (a == null || !a.path("text").isArray() || !a.path("answer_start").isArray() || a.get("text").size() != a.get("answer_start").size()) {
                throw new CliException(file + ":" + line + ": \"answers\" must be {\"text\": [...], \"answer_start\": [...]} of the same length");
            }
            String context = c.asText();
            int codePoints = context.codePointCount(0, context.length());
            List<String> texts = new ArrayList<>();
            List<Integer> starts = new ArrayList<>();
            for (int i = 0; i < a.get("text").size(); i++) {
                String text = a.get("text").get(i).asText();
                int start = a.get("answer_start").get(i).asInt(-1);
                int end = start < 0 ? -1 : start + text.codePointCount(0, text.length());
                if (start < 0 || end > codePoints
                        || !context.substring(context.offsetByCodePoints(0, start), context.offsetByCodePoints(0, end)).equals(text)) {
                    throw new CliException(file + ":" + line + ": answer " + i + " ('" + text + "') is not at code point " + start
                            + " of the context");
                }
                texts.add(text);
                starts.add(start);
            }
            out.add(new QaRow(line, q.asText(), context, texts, starts));
        }
        return out;
    }

    /**
     * Question-answering features as run_qa.py prepares them: (question, context) tokenized with
     * only_second truncation to --max-length (384 at most) in windows overlapping by doc_stride
     * (HF's default, min(max_length / 2, 128)); per window the first answer's first and last token, or
     * both 0 ([CLS]) when the window does not hold it whole or there is no answer (SQuAD v2).
     */
    static List<Example> qaExamples(Path file, List<JsonNode> rows, Tokenizer tokenizer, int length) {
        List<QaRow> qa = qaRows(file, rows);
        int maxSeqLen = Math.min(length, distilbert.model.QuestionAnswering.DEFAULT_MAX_SEQ_LEN);
        EncodeOptions options = distilbert.model.QuestionAnswering.encodeOptions(maxSeqLen,
                distilbert.model.QuestionAnswering.defaultDocStride(maxSeqLen));
        List<Encoding> enc = tokenizer.encodeBatch(qa.stream().map(QaRow::question).toList(),
                qa.stream().map(QaRow::context).toList(), options);
        List<Example> out = new ArrayList<>();
        for (int i = 0; i < qa.size(); i++) {
            QaRow r = qa.get(i);
            int sc = -1, ec = -1;   // the first answer's [start, end) in String indices
            if (!r.answers().isEmpty()) {
                sc = r.context().offsetByCodePoints(0, r.starts().getFirst());
                ec = sc + r.answers().getFirst().length();
            }
            List<Encoding> windows = distilbert.model.QuestionAnswering.windows(enc.get(i));
            for (Encoding w : windows) {
                int[] seq = w.sequenceIds();
                int first = -1, last = -1;
                for (int k = 0; k < seq.length; k++) {
                    if (seq[k] == 1) {
                        if (first < 0) first = k;
                        last = k;
                    }
                }
                int start = 0, end = 0;
                if (sc >= 0 && first >= 0 && w.start(first) <= sc && w.end(last) >= ec) {
                    start = first;
                    while (start <= last && w.start(start) <= sc) start++;
                    start--;
                    end = last;
                    while (end >= first && w.end(end) >= ec) end--;
                    end++;
                }
                out.add(new Example(r.line(), w.ids(), -1, null, new int[] {start, end}, windows.size() > 1));
            }
        }
        return out;
    }

    /**
     * Multiple-choice examples, as the multiple-choice command reads a line, with the answer:
     * {"prompt": ..., "choices": [...], "label": N}; each (prompt, choice) a row, longest_first
     * truncated to --max-length (run_swag.py pairs the context with each ending the same way). Every
     * line must have as many choices as the first: the head scores [B, NC].
     */
    private static List<Example> choiceExamples(Path file, List<JsonNode> rows, Tokenizer tokenizer, int length) {
        List<String> prompts = new ArrayList<>(), choices = new ArrayList<>();
        int nc = -1;
        for (JsonNode r : rows) {
            JsonNode p = r.get("prompt"), c = r.get("choices"), l = r.get("label");
            if (p == null || !p.isTextual()) throw new CliException(file + ":" + lineOf(r) + ": \"prompt\" must be a string");
            if (c == null || !c.isArray() || c.size() < 2) throw new CliException(file + ":" + lineOf(r) + ": \"choices\" must be a list of two or more strings");
            if (nc < 0) nc = c.size();
            if (c.size() != nc) {
                throw new CliException(file + ":" + lineOf(r) + ": " + c.size() + " choices, the first line has " + nc + " (a batch scores the same number per line)");
            }
            if (l == null || !l.isIntegralNumber() || l.asInt() < 0 || l.asInt() >= nc) {
                throw new CliException(file + ":" + lineOf(r) + ": \"label\" must be the right choice's index in [0, " + nc + "), got " + l);
            }
            for (JsonNode choice : c) {
                if (!choice.isTextual()) throw new CliException(file + ":" + lineOf(r) + ": a choice is not a string: " + choice);
                prompts.add(p.asText());
                choices.add(choice.asText());
            }
        }
        List<Encoding> enc = tokenizer.encodeBatch(prompts, choices, distilbert.model.MultipleChoice.encodeOptions(length));
        List<Example> out = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) {
            int[][] rowIds = new int[nc][];
            boolean cut = false;
            int total = 0;
            for (int c = 0; c < nc; c++) {
                Encoding e = enc.get(i * nc + c);
                rowIds[c] = e.ids();
                cut |= !e.overflowing().isEmpty();
                total += rowIds[c].length;
            }
            int[] all = new int[total];
            for (int c = 0, at = 0; c < nc; at += rowIds[c].length, c++) System.arraycopy(rowIds[c], 0, all, at, rowIds[c].length);
            out.add(new Example(lineOf(rows.get(i)), all, rows.get(i).get("label").asInt(), null, null, cut, rowIds));
        }
        return out;
    }

    /** The choices of a batch of questions as [B·NC, L] rows padded to the longest (ModelInput.ofChoices's layout). */
    private static ModelInput choiceInput(List<Example> examples) {
        int B = examples.size(), nc = examples.getFirst().choices().length;
        int[][][] ids = new int[B][][], mask = new int[B][nc][];
        int L = 0;
        for (Example e : examples) for (int[] row : e.choices()) L = Math.max(L, row.length);
        for (int b = 0; b < B; b++) {
            ids[b] = new int[nc][];
            for (int c = 0; c < nc; c++) {
                int[] row = examples.get(b).choices()[c];
                ids[b][c] = java.util.Arrays.copyOf(row, L);
                mask[b][c] = new int[L];
                java.util.Arrays.fill(mask[b][c], 0, row.length, 1);
            }
        }
        return ModelInput.ofChoices(ids, mask);
    }

    /** Eval mode: the mean loss over the questions and the share whose best-scored choice is the right one. */
    private ObjectNode evaluateChoices(DistilBertForMultipleChoice head, List<Example> set) {
        double loss = 0;
        long correct = 0;
        for (int from = 0; from < set.size(); from += batchSize) {
            List<Example> batch = set.subList(from, Math.min(set.size(), from + batchSize));
            int nc = batch.getFirst().choices().length;
            int[] labels = batch.stream().mapToInt(Example::classId).toArray();
            var out = head.forward(choiceInput(batch), nc, labels);
            loss += (double) out.loss() * batch.size();
            float[] logits = out.logits().data();
            for (int b = 0; b < batch.size(); b++) {
                int best = 0;
                for (int c = 1; c < nc; c++) if (logits[b * nc + c] > logits[b * nc + best]) best = c;
                if (best == labels[b]) correct++;
            }
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("eval_loss", round(loss / set.size()));
        o.put("eval_accuracy", round((double) correct / set.size()));
        o.put("eval_examples", set.size());
        return o;
    }

    /** The start (0) or end (1) token of each QA window. */
    private static int[] column(List<Example> examples, int j) {
        return examples.stream().mapToInt(e -> e.tokenLabels()[j]).toArray();
    }

    /**
     * SQuAD's scores of the pipeline's best answers to the eval questions (HF's question-answering
     * pipeline, top 1): exact_match and f1 in percent, each the maximum over a question's gold
     * answers, on answers normalised as the SQuAD script does (lower case, no punctuation, no
     * articles, single spaces).
     */
    private ObjectNode evaluateQa(DistilBert db, Tokenizer tokenizer, List<QaRow> rows) {
        int maxSeqLen = Math.min(qaMaxLength, distilbert.model.QuestionAnswering.DEFAULT_MAX_SEQ_LEN);
        var pipeline = new distilbert.model.QuestionAnswering(db, tokenizer).withMaxSeqLen(maxSeqLen);
        var answers = pipeline.answer(rows.stream().map(QaRow::question).toList(), rows.stream().map(QaRow::context).toList());
        double em = 0, f1 = 0;
        for (int i = 0; i < rows.size(); i++) {
            String predicted = answers.get(i).isEmpty() ? "" : answers.get(i).getFirst().answer();
            List<String> gold = rows.get(i).answers().isEmpty() ? List.of("") : rows.get(i).answers();
            double bestEm = 0, bestF1 = 0;
            for (String g : gold) {
                bestEm = Math.max(bestEm, Squad.normalize(g).equals(Squad.normalize(predicted)) ? 1 : 0);
                bestF1 = Math.max(bestF1, Squad.f1(predicted, g));
            }
            em += bestEm;
            f1 += bestF1;
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("exact_match", round(100 * em / rows.size()));
        o.put("f1", round(100 * f1 / rows.size()));
        o.put("eval_examples", rows.size());
        return o;
    }

    /** The SQuAD v1.1 evaluation script's answer normalisation and token F1. */
    static final class Squad {
        private Squad() {
        }

        private static final java.util.regex.Pattern ARTICLES = java.util.regex.Pattern.compile("\\b(a|an|the)\\b");

        /** Lower case, punctuation removed (string.punctuation), articles removed, whitespace collapsed. */
        static String normalize(String s) {
            String lower = s.toLowerCase(Locale.ROOT);
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < lower.length(); i++) {
                char c = lower.charAt(i);
                if ("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".indexOf(c) < 0) b.append(c);
            }
            String noArticles = ARTICLES.matcher(b).replaceAll(" ");
            return String.join(" ", noArticles.trim().split("\\s+")).trim();
        }

        static double f1(String predicted, String gold) {
            List<String> p = tokens(predicted), g = tokens(gold);
            if (p.isEmpty() || g.isEmpty()) {
                return p.equals(g) ? 1 : 0;
            }
            Map<String, Integer> counts = new java.util.HashMap<>();
            for (String t : g) counts.merge(t, 1, Integer::sum);
            int common = 0;
            for (String t : p) {
                Integer n = counts.get(t);
                if (n != null && n > 0) {
                    common++;
                    counts.put(t, n - 1);
                }
            }
            if (common == 0) return 0;
            double precision = (double) common / p.size(), recall = (double) common / g.size();
            return 2 * precision * recall / (precision + recall);
        }

        private static List<String> tokens(String s) {
            String n = normalize(s);
            return n.isEmpty() ? List.of() : List.of(n.split(" "));
        }
    }

    /** --task, or the model's head's task. */
    private Task task(Head modelHead) {
        if (task == null) {
            return switch (modelHead) {
                case TOKEN_CLASSIFICATION -> Task.TOKEN_CLASSIFICATION;
                case MASKED_LM -> Task.MASKED_LM;
                case QUESTION_ANSWERING -> Task.QUESTION_ANSWERING;
                case MULTIPLE_CHOICE -> Task.MULTIPLE_CHOICE;
                default -> Task.SEQUENCE_CLASSIFICATION;
            };
        }
        for (Task t : Task.values()) {
            if (t.option.equals(task)) return t;
        }
        throw usage("--task: expected sequence-classification, token-classification, question-answering, multiple-choice or "
                + "masked-lm, got '" + task + "'");
    }

    /** The examples of a task's lines. */
    private List<Example> examples(Task t, Path file, List<JsonNode> rows, Tokenizer tokenizer, DistilBertConfig config,
                                   int length) {
        return switch (t) {
            case SEQUENCE_CLASSIFICATION -> examples(file, rows, tokenizer, config, length);
            case TOKEN_CLASSIFICATION -> tokenExamples(file, rows, tokenizer, config, length);
            case MASKED_LM -> textExamples(file, rows, tokenizer, length);
            case QUESTION_ANSWERING -> qaExamples(file, rows, tokenizer, length);
            case MULTIPLE_CHOICE -> choiceExamples(file, rows, tokenizer, length);
        };
    }

    /** masked-lm examples: each line's "text", tokenized and truncated; its special tokens are never masked. */
    private static List<Example> textExamples(Path file, List<JsonNode> rows, Tokenizer tokenizer, int length) {
        List<String> texts = new ArrayList<>();
        for (JsonNode r : rows) {
            JsonNode t = r.get("text");
            if (t == null || !t.isTextual()) throw new CliException(file + ":" + lineOf(r) + ": \"text\" must be a string");
            texts.add(t.asText());
        }
        List<Encoding> enc = tokenizer.encodeBatch(texts, null, new EncodeOptions(true, Truncation.longestFirst(length), null));
        List<Example> out = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) {
            out.add(new Example(lineOf(rows.get(i)), enc.get(i).ids(), -1, null, enc.get(i).specialTokensMask(),
                    !enc.get(i).overflowing().isEmpty()));
        }
        return out;
    }

    /**
     * HF's DataCollatorForLanguageModeling: each token that is not special is chosen with probability
     * p; a chosen token becomes [MASK] 80% of the time, a random vocabulary token 10%, and stays 10%;
     * the labels are the chosen tokens' ids, −100 elsewhere. Drawn from the given generator.
     */
    record Masking(int maskId, int vocabSize, double p) {
        Masking(Tokenizer tokenizer, int vocabSize, double p) {
            this(tokenizer.tokenToId(tokenizer.specialTokens().mask()), vocabSize, p);
        }

        record Masked(ModelInput input, int[][] labels) {
        }

        /** The batch with its tokens masked (padding and special tokens untouched) and its labels. */
        Masked mask(Batch batch, RandomGenerator rnd) {
            int B = batch.size(), L = batch.length();
            int[] ids = batch.ids().clone();
            int[][] labels = new int[B][L];
            for (int b = 0; b < B; b++) {
                java.util.Arrays.fill(labels[b], -100);
                int[] special = batch.special().get(b);
                for (int l = 0; l < special.length; l++) {
                    if (special[l] == 1 || rnd.nextDouble() >= p) continue;
                    int i = b * L + l;
                    labels[b][l] = ids[i];
                    double r = rnd.nextDouble();
                    if (r < 0.8) ids[i] = maskId;
                    else if (r < 0.9) ids[i] = rnd.nextInt(vocabSize);
                }
            }
            return new Masked(ModelInput.ofIds(B, L, ids, batch.mask()), labels);
        }
    }

    /** A padded batch with each row's special-tokens mask, for {@link Masking}. */
    record Batch(int[] ids, int[] mask, int length, List<int[]> special) {
        int size() {
            return special.size();
        }
    }

    /** Eval mode: the masked-LM loss over the eval set with masks drawn once from --seed, and its perplexity. */
    private ObjectNode evaluateMaskedLm(DistilBertForMaskedLM head, Masking masking, List<Example> set) {
        RandomGenerator rnd = new SplittableRandom(seed);
        double loss = 0;
        long predicted = 0;
        for (int from = 0; from < set.size(); from += batchSize) {
            Masking.Masked mb = masking.mask(padded(set.subList(from, Math.min(set.size(), from + batchSize))), rnd);
            TokenPositions at = TokenPositions.labeled(mb.labels());
            if (at.size() == 0) continue;
            loss += (double) head.forwardAt(mb.input(), at, mb.labels()).loss() * at.size();
            predicted += at.size();
        }
        ObjectNode o = JSON.createObjectNode();
        double mean = loss / Math.max(1, predicted);
        o.put("eval_loss", round(mean));
        o.put("perplexity", round(Math.exp(mean)));
        o.put("eval_tokens", predicted);
        return o;
    }

    /** The per-word labels of a token-classification line: "ner_tags" (HF datasets' conll2003) or "labels". */
    private static JsonNode wordLabels(Path file, JsonNode row) {
        JsonNode l = row.has("ner_tags") ? row.get("ner_tags") : row.get("labels");
        if (l == null || !l.isArray()) {
            throw new CliException(file + ":" + lineOf(row) + ": token classification needs \"ner_tags\" (or \"labels\"): a list of labels, one per word");
        }
        return l;
    }

    /** As {@link #labelledConfig}, for word labels: --labels, the model's named labels, else the data's. */
    private DistilBertConfig tokenLabelledConfig(DistilBertConfig base, List<JsonNode> rows) {
        if (problemType != null) throw usage("--problem-type is for sequence classification");
        List<String> names;
        if (labels != null) {
            names = labels;
        } else if (ModelDirectory.headOf(base) == Head.TOKEN_CLASSIFICATION
                && !base.id2label().equals(DistilBertConfig.defaultId2Label(base.numLabels()))) {
            names = new ArrayList<>(base.id2label().values());
        } else {
            TreeSet<String> strings = new TreeSet<>();
            int maxId = -1;
            for (JsonNode r : rows) {
                for (JsonNode l : wordLabels(train, r)) {
                    if (l.isTextual()) strings.add(l.asText());
                    else if (l.isIntegralNumber() && l.canConvertToInt() && l.asInt() >= 0) maxId = Math.max(maxId, l.asInt());
                    else throw new CliException(train + ":" + lineOf(r) + ": a word label must be a name or an id >= 0, got " + l);
                }
            }
            if (!strings.isEmpty() && maxId >= 0) throw new CliException(train + ": word labels are both names and ids; use one kind (or give --labels)");
            names = !strings.isEmpty() ? new ArrayList<>(strings) : new ArrayList<>(DistilBertConfig.defaultId2Label(maxId + 1).values());
            if (names.size() < 2) throw new CliException(train + ": every word has the same label; a classifier needs two or more");
        }
        return base.toBuilder().labels(names).build();
    }

    /**
     * Token-classification examples, as run_ner.py prepares them: the words joined by spaces and
     * tokenized (truncated to --max-length), each word's label on its first token, -100 on its other
     * tokens and on [CLS]/[SEP] (label_all_tokens off). A word cut off by truncation loses its label.
     */
    private static List<Example> tokenExamples(Path file, List<JsonNode> rows, Tokenizer tokenizer, DistilBertConfig config,
                                               int length) {
        Map<String, Integer> label2id = config.label2id();
        int NL = config.numLabels();
        List<String> texts = new ArrayList<>();
        List<int[]> starts = new ArrayList<>(), wordIds = new ArrayList<>();
        for (JsonNode r : rows) {
            JsonNode words = r.get("tokens"), tags = wordLabels(file, r);
            if (words == null || !words.isArray()) throw new CliException(file + ":" + lineOf(r) + ": \"tokens\" must be a list of words");
            if (tags.size() != words.size()) {
                throw new CliException(file + ":" + lineOf(r) + ": " + words.size() + " words but " + tags.size() + " labels");
            }
            StringBuilder text = new StringBuilder();
            int[] at = new int[words.size()], ids = new int[words.size()];
            for (int w = 0; w < words.size(); w++) {
                if (!words.get(w).isTextual()) throw new CliException(file + ":" + lineOf(r) + ": word " + w + " is not a string");
                if (w > 0) text.append(' ');
                at[w] = text.length();
                text.append(words.get(w).asText());
                JsonNode l = tags.get(w);
                Integer id = l.isTextual() ? label2id.get(l.asText())
                        : l.isIntegralNumber() && l.canConvertToInt() && l.asInt() >= 0 && l.asInt() < NL ? Integer.valueOf(l.asInt()) : null;
                if (id == null) {
                    throw new CliException(file + ":" + lineOf(r) + ": the label of word " + w + " (" + l + ") is not one of "
                            + label2id.keySet() + " nor an id in [0, " + NL + ")");
                }
                ids[w] = id;
            }
            texts.add(text.toString());
            starts.add(at);
            wordIds.add(ids);
        }
        List<Encoding> enc = tokenizer.encodeBatch(texts, null, new EncodeOptions(true, Truncation.longestFirst(length), null));
        List<Example> out = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) {
            Encoding e = enc.get(i);
            int[] at = starts.get(i), tagIds = wordIds.get(i), special = e.specialTokensMask();
            int[] tokenLabels = new int[e.length()];
            java.util.Arrays.fill(tokenLabels, -100);
            int lastWord = -1;
            for (int k = 0; k < e.length(); k++) {
                if (special[k] == 1) continue;
                int w = java.util.Arrays.binarySearch(at, e.start(k));
                if (w < 0) w = -w - 2;                  // the word whose span holds the token's start
                if (w > lastWord) {
                    tokenLabels[k] = tagIds[w];         // the word's first token
                    lastWord = w;
                }
            }
            out.add(new Example(lineOf(rows.get(i)), e.ids(), -1, null, tokenLabels, !e.overflowing().isEmpty()));
        }
        return out;
    }

    /** [B][L] token labels of a padded batch, −100 on padding. */
    private static int[][] tokenLabelsOf(List<Example> examples, int L) {
        int[][] out = new int[examples.size()][L];
        for (int b = 0; b < examples.size(); b++) {
            java.util.Arrays.fill(out[b], -100);
            int[] t = examples.get(b).tokenLabels();
            System.arraycopy(t, 0, out[b], 0, t.length);
        }
        return out;
    }

    /** Eval mode: the mean loss over labeled tokens (weighted by their count per batch) and the token accuracy. */
    private ObjectNode evaluateTokens(DistilBertForTokenClassification head, List<Example> set, Map<Integer, String> id2label) {
        double loss = 0;
        long labeled = 0, correct = 0;
        Entities.Counts entities = new Entities.Counts();
        for (int from = 0; from < set.size(); from += batchSize) {
            List<Example> batch = set.subList(from, Math.min(set.size(), from + batchSize));
            ModelInput in = input(batch);
            int[][] labels = tokenLabelsOf(batch, in.length());
            var out = head.forward(in, labels);
            int NL = out.logits().dim(2), L = in.length();
            float[] logits = out.logits().data();
            long n = 0;
            for (int b = 0; b < batch.size(); b++) {
                List<String> gold = new ArrayList<>(), predicted = new ArrayList<>(); // per word, in order
                for (int l = 0; l < L; l++) {
                    if (labels[b][l] == -100) continue;
                    n++;
                    int base = (b * L + l) * NL, best = 0;
                    for (int j = 1; j < NL; j++) if (logits[base + j] > logits[base + best]) best = j;
                    if (best == labels[b][l]) correct++;
                    gold.add(id2label.get(labels[b][l]));
                    predicted.add(id2label.get(best));
                }
                entities.add(Entities.of(gold), Entities.of(predicted));
            }
            if (n > 0) loss += (double) out.loss() * n;
            labeled += n;
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("eval_loss", round(loss / Math.max(1, labeled)));
        o.put("eval_precision", round(entities.precision()));
        o.put("eval_recall", round(entities.recall()));
        o.put("eval_f1", round(entities.f1()));
        o.put("eval_accuracy", round((double) correct / Math.max(1, labeled)));
        o.put("eval_tokens", labeled);
        return o;
    }

    /**
     * Entity-level scores as seqeval computes them for run_ner.py (its default, non-strict IOB2
     * mode): a chunk starts at B-X, at I-X after O or after another type, and ends at O, at B-, or at
     * another type; a tag without a B-/I- prefix is a type of its own, continued by the same tag.
     * Precision, recall and F1 are micro-averaged over all types; a chunk counts when its type, start
     * and end all match.
     */
    static final class Entities {
        private Entities() {
        }

        /** The chunks of one sequence of tags, as "type start end". */
        static java.util.Set<String> of(List<String> tags) {
            java.util.Set<String> out = new java.util.HashSet<>();
            String type = null;
            int start = -1;
            for (int i = 0; i <= tags.size(); i++) {
                String tag = i < tags.size() ? tags.get(i) : "O";
                String prefix = tag.startsWith("B-") || tag.startsWith("I-") ? tag.substring(0, 1) : tag.equals("O") ? "O" : "I";
                String t = tag.startsWith("B-") || tag.startsWith("I-") ? tag.substring(2) : tag;
                boolean ends = type != null && (prefix.equals("O") || prefix.equals("B") || !t.equals(type));
                if (ends) {
                    out.add(type + " " + start + " " + (i - 1));
                    type = null;
                }
                if (!prefix.equals("O") && type == null) {
                    type = t;
                    start = i;
                }
            }
            return out;
        }

        /** Running true positives and the numbers of predicted and gold chunks. */
        static final class Counts {
            long truePositives, predicted, gold;

            void add(java.util.Set<String> goldChunks, java.util.Set<String> predictedChunks) {
                gold += goldChunks.size();
                predicted += predictedChunks.size();
                for (String c : predictedChunks) {
                    if (goldChunks.contains(c)) truePositives++;
                }
            }

            double precision() {
                return predicted == 0 ? 0 : (double) truePositives / predicted;
            }

            double recall() {
                return gold == 0 ? 0 : (double) truePositives / gold;
            }

            double f1() {
                double p = precision(), r = recall();
                return p + r == 0 ? 0 : 2 * p * r / (p + r);
            }
        }
    }

    /** The epoch's order: the examples shuffled by a generator seeded from --seed and the epoch. */
    private List<Example> shuffled(List<Example> all, int epoch) {
        List<Example> order = new ArrayList<>(all);
        Collections.shuffle(order, new SplittableRandom(seed * 1_000_003L + epoch));
        return order;
    }

    /** The batch padded to its longest row (HF's DataCollatorWithPadding), padding on the right. */
    private static ModelInput input(List<Example> examples) {
        Batch b = padded(examples);
        return ModelInput.ofIds(b.size(), b.length(), b.ids(), b.mask());
    }

    private static Batch padded(List<Example> examples) {
        int B = examples.size(), L = 0;
        for (Example e : examples) L = Math.max(L, e.ids().length);
        int[] ids = new int[B * L], mask = new int[B * L];
        List<int[]> special = new ArrayList<>(B);
        for (int b = 0; b < B; b++) {
            int[] row = examples.get(b).ids();
            System.arraycopy(row, 0, ids, b * L, row.length);
            java.util.Arrays.fill(mask, b * L, b * L + row.length, 1);
            special.add(examples.get(b).tokenLabels());
        }
        return new Batch(ids, mask, L, special);
    }

    private static SequenceLabels labelsOf(List<Example> examples, DistilBertConfig config) {
        if (config.problemType() == ProblemType.SINGLE_LABEL_CLASSIFICATION) {
            return new SequenceLabels.Classes(examples.stream().mapToInt(Example::classId).toArray());
        }
        int NL = config.problemType() == ProblemType.REGRESSION ? 1 : config.numLabels();
        float[] v = new float[examples.size() * NL];
        for (int i = 0; i < examples.size(); i++) System.arraycopy(examples.get(i).values(), 0, v, i * NL, NL);
        return new SequenceLabels.Values(NL == 1 ? Tensor.of(v, examples.size()) : Tensor.of(v, examples.size(), NL));
    }

    private static long tokens(List<Example> examples) {
        long n = 0;
        for (Example e : examples) n += e.ids().length;
        return n;
    }

    /** Eval mode over the set in batches: the mean loss (weighted by batch size) and, for single-label, the accuracy. */
    private ObjectNode evaluate(DistilBertForSequenceClassification head, List<Example> set, DistilBertConfig config) {
        double loss = 0;
        long correct = 0;
        for (int from = 0; from < set.size(); from += batchSize) {
            List<Example> batch = set.subList(from, Math.min(set.size(), from + batchSize));
            SequenceClassifierOutput out = head.forward(input(batch), labelsOf(batch, config));
            loss += (double) out.loss() * batch.size();
            if (config.problemType() == ProblemType.SINGLE_LABEL_CLASSIFICATION) {
                int NL = config.numLabels();
                float[] logits = out.logits().data();
                for (int i = 0; i < batch.size(); i++) {
                    int best = 0;
                    for (int j = 1; j < NL; j++) if (logits[i * NL + j] > logits[i * NL + best]) best = j;
                    if (best == batch.get(i).classId()) correct++;
                }
            }
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("eval_loss", round(loss / set.size()));
        if (config.problemType() == ProblemType.SINGLE_LABEL_CLASSIFICATION) {
            o.put("eval_accuracy", round((double) correct / set.size()));
        }
        o.put("eval_examples", set.size());
        return o;
    }

    private static double round(double v) {
        return Double.parseDouble(String.format(Locale.ROOT, "%.6g", v));
    }
}
