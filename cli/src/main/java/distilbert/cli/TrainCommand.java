package distilbert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import distilbert.cli.TrainingData.Example;
import distilbert.cli.TrainingData.Masking;
import distilbert.cli.TrainingData.QaRow;
import distilbert.cuda.GpuOutOfMemoryException;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.DistilBertForMaskedLM;
import distilbert.model.DistilBertForMultipleChoice;
import distilbert.model.DistilBertForQuestionAnswering;
import distilbert.model.MaskedPositions;
import distilbert.model.DistilBertForSequenceClassification;
import distilbert.model.DistilBertForTokenClassification;
import distilbert.model.LearningRateSchedule;
import distilbert.model.ModelInput;
import distilbert.model.Ops;
import distilbert.model.Precision;
import distilbert.model.Trainer;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import distilbert.weights.ProblemType;
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
import java.util.List;
import java.util.OptionalInt;
import java.util.SplittableRandom;
import java.util.TreeMap;
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
 * that {@code --resume} continues bit for bit, and one saved when the run is interrupted. Runs on a
 * GPU (fp32, tf32, or bf16 or fp16 mixed precision) or on the CPU backend, as --device says.
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
            "Masked LM (--task masked-lm, the default for a DistilBertForMaskedLM): {\"text\": ...} per line, as run_mlm.py "
                    + "prepares it: the texts tokenized, concatenated and cut into blocks of --max-length tokens (each 1000 "
                    + "lines' remainder dropped), or with --line-by-line each line an example; --mlm-probability of the tokens "
                    + "masked as HF's collator does (80%% [MASK], 10%% random, 10%% kept), drawn anew per batch; --eval "
                    + "reports eval_loss and perplexity.",
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
                    + "interrupted (Ctrl-C, SIGTERM) or the GPU runs out of memory: --resume continues from the latest with the "
                    + "same masks and order (bit for bit, on the GPU too).",
            "Runs on a GPU (--device, --precision fp32, tf32, or bf16 or fp16 mixed precision) or on the CPU (all cores); a progress "
                    + "line shows on a terminal.",
            ""},
        footer = {"",
            "Examples:",
            "  distilbert train --model distilbert-base-uncased --train sst2-train.jsonl --eval sst2-dev.jsonl --output sst2-model",
            "  distilbert train --model DIR --train t.jsonl --output OUT --epochs 1 --batch-size 32 --learning-rate 3e-5 --resume",
            "  distilbert train --model DIR --train t.jsonl --output OUT --device cuda --precision bf16",
            "",
            "Exit codes: 0 done, 1 failed (unusable model directory, bad example line, unwritable output, GPU out of "
                    + "memory after saving a checkpoint), 2 usage error, "
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
                    + "question-answering (extractive, SQuAD) or masked-lm (domain adaptation of a masked LM, as run_mlm.py). "
                    + "Default: the model's head's task, else sequence-classification.")
    String task;

    @Option(names = "--line-by-line", description = "masked-lm: each line its own example, truncated to --max-length "
            + "(run_mlm.py's --line_by_line). Without it, as run_mlm.py: all texts concatenated and cut into blocks of "
            + "--max-length tokens.")
    boolean lineByLine;

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

    @Option(names = "--device", paramLabel = "DEVICE", converter = RunOptions.DeviceConverter.class, defaultValue = "auto",
            description = "auto, cpu, cuda or cuda:N. auto trains on a usable GPU and falls back to the CPU, saying so once; "
                    + "cuda on the first GPU that can run the kernels, cuda:N on GPU N. One device: several GPUs at once "
                    + "(data parallel) are not written yet. Default: ${DEFAULT-VALUE}.")
    RunOptions.Devices device;

    @Option(names = "--precision", paramLabel = "PRECISION", converter = RunOptions.PrecisionConverter.class,
            description = "On the GPU: fp32 (the default: HF's Trainer without --tf32), tf32 (the matrix products on the "
                    + "tensor cores with 10-bit mantissas, HF's --tf32) or bf16 (mixed precision, HF's --bf16: activations and "
                    + "the forward's weights in bfloat16, float32 master weights, gradients and optimizer state) or fp16 (the same "
                    + "in float16, HF's --fp16, with the loss scaled as torch's GradScaler scales it: from 65536, halved at a "
                    + "step whose gradients overflow, which is skipped, doubled after 2000 steps without). The CPU trains in fp32 "
                    + "whatever is asked.")
    Precision precision;

    @Option(names = "--bf16", description = "HF's --bf16: the same as --precision bf16.")
    boolean bf16;

    @Option(names = "--tf32", description = "HF's --tf32: the same as --precision tf32.")
    boolean tf32;

    @Option(names = "--fp16", description = "HF's --fp16: the same as --precision fp16.")
    boolean fp16;

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
        List<TrainingData.Line> trainRows = TrainingData.readJsonl(train);
        List<TrainingData.Line> evalRows = eval == null ? List.of() : TrainingData.readJsonl(eval);
        DistilBertConfig config = switch (t) {
            case TOKEN_CLASSIFICATION -> {
                if (problemType != null) throw usage("--problem-type is for sequence classification");
                yield TrainingData.tokenLabelledConfig(base, trainRows, train, labels);
            }
            case SEQUENCE_CLASSIFICATION -> TrainingData.labelledConfig(base, trainRows, train, labels,
                    problemType != null ? parseProblem(problemType) : null);
            case MASKED_LM -> base;
            case QUESTION_ANSWERING -> base.toBuilder().numLabels(2).build();
            case MULTIPLE_CHOICE -> base;
        };
        if (lineByLine && t != Task.MASKED_LM) throw usage("--line-by-line is for --task masked-lm");
        List<Example> trainSet = TrainingData.examples(t, train, trainRows, tokenizer, config, length, lineByLine);
        List<Example> evalSet = eval == null ? List.of()
                : TrainingData.examples(t, eval, evalRows, tokenizer, config, length, lineByLine);
        if (t == Task.QUESTION_ANSWERING && eval != null) {
            evalQa = TrainingData.qaRows(eval, evalRows);
            qaMaxLength = length;
        }
        checkBestMetric(t, config);
        TrainingData.noteTruncated(io, train, trainSet, length, t);
        TrainingData.noteTruncated(io, eval, evalSet, length, t);
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

        try (DistilBert db = DistilBert.of(start, backend())) {
            Trainer trainer = new Trainer(db, options);
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
                    try {
                        List<Example> examples = order.subList(batch * batchSize, Math.min(order.size(), (batch + 1) * batchSize));
                        int windowBatches = Math.min(accumulation, batchesPerEpoch - windowStart);
                        float scale = 1f / windowBatches;   // (fp16's loss scale rides on trainer.gradients())
                        float loss;
                        if (t == Task.MASKED_LM) {
                            // this micro-batch's masks: a stream of its own, so a resumed run draws them again
                            Masking.Masked mb = masking.mask(TrainingData.padded(examples),
                                    new SplittableRandom(seed * 1_000_003L + trainer.microBatches()));
                            loss = db.as(DistilBertForMaskedLM.class).backward(mb.input().withDropout(trainer.nextDropout()),
                                    mb.labels(), trainer.gradients(), scale, false).loss(); // the loss only: no [P, V] logits back
                        } else if (t == Task.MULTIPLE_CHOICE) {
                            ModelInput in = TrainingData.choiceInput(examples).withDropout(trainer.nextDropout());
                            loss = db.as(DistilBertForMultipleChoice.class).backward(in, examples.getFirst().choices().length,
                                    examples.stream().mapToInt(Example::classId).toArray(), trainer.gradients(), scale).loss();
                        } else if (t == Task.QUESTION_ANSWERING) {
                            // HF's loss softmaxes over every position, padding included: compute them as HF does
                            ModelInput in = TrainingData.input(examples).withMaskedPositions(MaskedPositions.COMPUTE)
                                    .withDropout(trainer.nextDropout());
                            loss = db.as(DistilBertForQuestionAnswering.class).backward(in, TrainingData.column(examples, 0),
                                    TrainingData.column(examples, 1), trainer.gradients(), scale).loss();
                        } else {
                            ModelInput in = TrainingData.input(examples).withDropout(trainer.nextDropout());
                            loss = t == Task.TOKEN_CLASSIFICATION
                                    ? db.as(DistilBertForTokenClassification.class).backward(in,
                                            TrainingData.tokenLabelsOf(examples, in.length()), trainer.gradients(), scale).loss()
                                    : db.as(DistilBertForSequenceClassification.class).backward(in,
                                            TrainingData.labelsOf(examples, db.config()), trainer.gradients(), scale).loss();
                        }
                        if (!Float.isNaN(loss)) { // a masked-LM batch in which nothing was drawn has no loss (torch: NaN)
                            lossSum += loss;
                            lossCount++;
                        }
                        batch++;
                        inWindow++;
                        examplesDone[0] += examples.size();
                        long batchTokens = TrainingData.tokens(examples);
                        tokensDone[0] += batchTokens;
                        progress.advance(examples.size(), batchTokens);
                        if (inWindow == windowBatches) {
                            Trainer.Step step = trainer.step();
                            if (step.skipped()) {
                                err.println("distilbert train: step " + step.step() + ": the gradient norm is " + step.gradNorm()
                                        + "; the update was skipped" + (step.lossScale() == 1f ? ""
                                        : " and the loss scale halved to " + (long) step.lossScale() + " (fp16: a gradient "
                                        + "overflowed float16, as GradScaler expects in the first steps)"));
                            }
                            if (step.step() % loggingSteps == 0 || step.step() == totalSteps) {
                                ObjectNode entry = JSON.createObjectNode();
                                entry.put("step", step.step());
                                entry.put("epoch", TrainingEval.round(epoch + (double) batch / batchesPerEpoch));
                                entry.put("loss", lossCount == 0 ? Double.NaN : TrainingEval.round(lossSum / lossCount));
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
                                evaluateNow(io, db, trainer, t, masking, evalSet, log,
                                        TrainingEval.round(epoch + (double) batch / batchesPerEpoch), step.step(), tokenizer);
                            }
                            if (saveSteps > 0 && step.step() % saveSteps == 0) {
                                saveCheckpoint(db, trainer, new Position(epoch, batch, log, lossSum, lossCount), tokenizer);
                            }
                        }
                    } catch (GpuOutOfMemoryException e) {
                        // nothing is lost: the checkpoint resumes at the window's first batch, with its masks
                        trainer.discardAccumulated();
                        Path saved = saveCheckpoint(db, trainer, new Position(epoch, windowStart, log, windowLossSum,
                                windowLossCount), tokenizer);
                        throw new CliException(e.reason() + ", in a training step of --batch-size " + batchSize
                                + (maxLength == null ? "" : " and --max-length " + maxLength) + "; saved " + saved
                                + ": --resume continues from it once the GPU has room (free other models on it), and a smaller"
                                + " --batch-size or --max-length fits in a new run", e);
                    }
                }
                if (batch >= batchesPerEpoch) {
                    if (!evalSet.isEmpty() && evalSteps == 0) {
                        evaluateNow(io, db, trainer, t, masking, evalSet, log, epoch + 1, trainer.steps(), tokenizer);
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
                    trainer.weights(), ModelDirectory.SaveOptions.defaults());
            copyTokenizerFiles(model, output);
        }
        ObjectNode summary = JSON.createObjectNode();
        summary.put("global_step", trainer.steps());
        summary.put("epochs", TrainingEval.round(epoch + (double) batch / batchesPerEpoch));
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
        summary.put("train_runtime", TrainingEval.round(seconds));
        summary.put("train_samples_per_second", TrainingEval.round((examplesDone[0] - startExamples) / seconds));
        summary.put("train_steps_per_second", TrainingEval.round((trainer.steps() - startSteps) / seconds));
        summary.put("train_tokens_per_second", TrainingEval.round(tokensDone[0] / seconds));
        Files.writeString(output.resolve("train_results.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(summary) + "\n");
        err.println("distilbert train: " + trainer.steps() + " steps; the model is in " + output + " (" + summary + ")");
        return Main.OK;
    }

    /** The epoch's order: the examples shuffled by a generator seeded from --seed and the epoch. */
    private List<Example> shuffled(List<Example> all, int epoch) {
        List<Example> order = new ArrayList<>(all);
        Collections.shuffle(order, new SplittableRandom(seed * 1_000_003L + epoch));
        return order;
    }

    /** Where the best evaluation's model is kept until the run ends. */
    static final String BEST_DIR = "best-model";

    /** One evaluation: logged, said on stderr, and under --best-metric its model kept when it is the best so far. */
    private void evaluateNow(Main.Io io, DistilBert db, Trainer trainer, Task t, Masking masking, List<Example> evalSet,
                             List<JsonNode> log, double epoch, long step, Tokenizer tokenizer) throws IOException {
        ObjectNode entry = switch (t) {
            case TOKEN_CLASSIFICATION -> TrainingEval.evaluateTokens(db.as(DistilBertForTokenClassification.class), evalSet,
                    db.config().id2label(), batchSize);
            case SEQUENCE_CLASSIFICATION ->
                    TrainingEval.evaluate(db.as(DistilBertForSequenceClassification.class), evalSet, db.config(), batchSize);
            case MASKED_LM -> TrainingEval.evaluateMaskedLm(db.as(DistilBertForMaskedLM.class), masking, evalSet, batchSize, seed);
            case QUESTION_ANSWERING -> TrainingEval.evaluateQa(db, tokenizer, evalQa, qaMaxLength);
            case MULTIPLE_CHOICE -> TrainingEval.evaluateChoices(db.as(DistilBertForMultipleChoice.class), evalSet, batchSize);
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
                    trainer.weights(), ModelDirectory.SaveOptions.defaults());
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
    // options

    /** The backend of --device and --precision (or --bf16, --fp16, --tf32); fp32 on the GPU unless asked otherwise. */
    private Ops backend() {
        Device d = device.devices().getFirst(); // one, checkOptions saw to it
        Precision p = precision != null ? precision : bf16 ? Precision.BF16 : fp16 ? Precision.FP16 : tf32 ? Precision.TF32
                : Precision.FP32;
        try {
            return DistilBert.backend(d, d.kind() == Device.Kind.CPU ? null : p);
        } catch (UnsupportedOperationException | IllegalStateException e) {
            throw new CliException("--device " + device + ": " + e.getMessage(), e);
        }
    }

    private void checkOptions() {
        if (device.devices().size() != 1) {
            throw usage("--device " + device + ": training runs on one device (several GPUs at once are not written yet)");
        }
        if ((bf16 ? 1 : 0) + (fp16 ? 1 : 0) + (tf32 ? 1 : 0) + (precision != null ? 1 : 0) > 1) {
            throw usage("give one of --precision, --bf16, --fp16 and --tf32");
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

    private ProblemType parseProblem(String s) {
        return ProblemType.fromHf(s).orElseThrow(() -> usage("--problem-type: expected " + ProblemType.choices() + ", got '" + s + "'"));
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

}
