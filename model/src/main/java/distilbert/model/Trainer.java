package distilbert.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import distilbert.weights.CheckpointException;
import distilbert.weights.DistilBertParameters;
import distilbert.weights.ModelDirectory;
import distilbert.weights.NamedTensor;
import distilbert.weights.ParameterSpec;
import distilbert.weights.SafetensorsFile;
import distilbert.weights.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The optimizer side of fine-tuning, as HuggingFace's {@code Trainer} does it: gradients accumulated
 * over micro-batches into one slab, then per optimizer step global-norm clipping
 * ({@code max_grad_norm}), AdamW (torch.optim.AdamW, decoupled weight decay, no decay for biases
 * and layer norms as {@code Trainer.get_decay_parameter_names}), the learning-rate schedule, and the
 * gradients zeroed. The heads' {@code backward} methods fill {@link #gradients()}; this class does
 * not know the data. AdamW walks the whole slab in one call (one kernel on a GPU), weight decay by
 * segment.
 *
 * <p>Mixed precision: where the model stores 16-bit parameters (a GPU model in bf16 or fp16), the
 * gradients and moments are float32 as everywhere, and the trainer keeps float32 master weights: AdamW
 * updates them, and each step writes their 16-bit rounding into the model
 * ({@link BackwardOps#storeParameters}), as torch's autocast keeps float32 weights. Checkpoints save the
 * master weights. In fp16 the loss is scaled as torch's GradScaler scales it ({@link #lossScale()},
 * {@link #step()}), and checkpoints save the scale.
 *
 * <p>State (AdamW's moments, the step counters) is saved beside the model as a HF trainer
 * checkpoint directory is ({@link #save}), and a run resumes from it bit for bit ({@link #resume}):
 * the dropout masks of micro-batch n are drawn from {@code DropoutRng(seed, n·2^40)}, so they are
 * the same whether or not the run was interrupted.
 */
public final class Trainer {

    /** The optimizer state file of a checkpoint directory (torch's is optimizer.pt; ours is safetensors). */
    public static final String OPTIMIZER_FILE = "optimizer.safetensors";
    /** The counters and options of a checkpoint directory (HF: trainer_state.json). */
    public static final String STATE_FILE = "trainer_state.json";
    /** Dropout counters reserved per micro-batch: 2^40 blocks of four, far more than any forward draws. */
    static final int MICRO_BATCH_SHIFT = 40;

    /** HF's patterns of parameters without weight decay (plus every LayerNorm module's, which these name). */
    private static final List<Pattern> NO_DECAY = List.of(Pattern.compile("bias"), Pattern.compile("layernorm"),
            Pattern.compile("rmsnorm"), Pattern.compile("(?:^|\\.)norm(?:$|\\.)"), Pattern.compile("_norm(?:$|\\.)"));

    /**
     * HF TrainingArguments' names and defaults where they apply.
     *
     * @param learningRate  peak learning rate (5e-5)
     * @param weightDecay   AdamW's decoupled weight decay, not applied to biases and layer norms (0)
     * @param maxGradNorm   clip the global gradient norm to this; 0 or less: no clipping (1.0)
     * @param schedule      the learning-rate schedule over optimizer steps
     * @param seed          the dropout stream's key
     */
    public record Options(double learningRate, double weightDecay, double adamBeta1, double adamBeta2,
                          double adamEpsilon, double maxGradNorm, LearningRateSchedule schedule, long seed) {
        public Options {
            if (!(learningRate >= 0) || !(weightDecay >= 0) || !(adamEpsilon >= 0)) {
                throw new IllegalArgumentException("learning rate, weight decay and epsilon must be >= 0, got "
                        + learningRate + ", " + weightDecay + ", " + adamEpsilon);
            }
            if (!(adamBeta1 >= 0 && adamBeta1 < 1) || !(adamBeta2 >= 0 && adamBeta2 < 1)) {
                throw new IllegalArgumentException("AdamW's betas must be in [0, 1), got " + adamBeta1 + ", " + adamBeta2);
            }
        }

        /** HF's defaults (lr 5e-5, no weight decay, betas 0.9/0.999, eps 1e-8, max_grad_norm 1), the given schedule. */
        public static Options defaults(LearningRateSchedule schedule) {
            return new Options(5e-5, 0.0, 0.9, 0.999, 1e-8, 1.0, schedule, 42);
        }
    }

    /**
     * What one step did.
     *
     * @param step         the step, from 1 (HF's {@code global_step}: skipped steps count)
     * @param learningRate the rate it used (or would have: a skipped step uses none)
     * @param gradNorm     the global norm of the (unscaled) gradients before clipping (HF's {@code grad_norm})
     * @param skipped      whether the update was skipped because a gradient was not finite (the parameters,
     *                     AdamW's state and the schedule stay where they were, as under torch's GradScaler)
     * @param lossScale    the loss scale the next micro-batches take ({@link #lossScale()}); 1 without loss scaling
     */
    public record Step(long step, double learningRate, float gradNorm, boolean skipped, float lossScale) {
    }

    /**
     * torch's {@code GradScaler} as HF's Trainer runs it under {@code --fp16}: the loss is multiplied by
     * {@code scale} (from 65536) before the backward so that small gradients survive float16; each
     * step divides the gradients by it and checks them; a step with a gradient that is not finite is
     * skipped and halves the scale, and {@code growthInterval} (2000) finite steps in a row double it.
     */
    record LossScaling(float initScale, float growthFactor, float backoffFactor, int growthInterval) {
        static final LossScaling GRAD_SCALER = new LossScaling(65536f, 2f, 0.5f, 2000);
    }

    private final Architecture model;
    private final BackwardOps ops;
    private final Options options;
    private final ParameterSlab params;
    /** Float32 master weights where the model stores 16-bit parameters (mixed precision); null otherwise. */
    private final ParameterSlab master;
    private final ParameterSlab grads;
    private final ParameterSlab expAvg;
    private final ParameterSlab expAvgSq;
    private final List<ParameterSpec> owned;
    /** The slab as AdamW walks it: segment ends and whether each decays (the owned parameters, and the gaps between them). */
    private final int[] segmentEnds;
    private final boolean[] segmentDecays;
    /** Optimizer steps taken: AdamW's bias correction and the schedule's position (skipped steps do not count). */
    private long step;
    /** Steps taken, skipped ones included (HF's global_step). */
    private long globalStep;
    /** Loss scaling where the backend needs it (float16 storage), else null. */
    private LossScaling scaling;
    /** Finite steps in a row since the scale last changed (GradScaler's growth tracker). */
    private int growthTracker;
    private long microBatches;
    /** {@link #microBatches} when the last step was taken (or the state restored): where a discarded window starts. */
    private long microBatchesAtStep;

    /**
     * A trainer of {@code model}. Where the model stores 16-bit parameters (a GPU model in bf16) the
     * trainer keeps float32 master weights, here the model's parameters widened: use
     * {@link #Trainer(DistilBert, Options)} to start them from the checkpoint's float32 values instead.
     * Where it stores float16, the trainer also scales the loss ({@link #lossScale()}).
     */
    public Trainer(Architecture model, Options options) {
        this(model, options, null);
    }

    /**
     * A trainer of {@code model} whose float32 master weights, where it stores 16-bit parameters, are
     * the values of the checkpoint it was made from (torch's autocast keeps the float32 weights it
     * loaded, not their bf16 rounding).
     */
    public Trainer(DistilBert model, Options options) {
        this(model.architecture(), options, model);
    }

    private Trainer(Architecture model, Options options, DistilBert loaded) {
        this.model = model;
        this.ops = Training.backwardOps(model.ops());
        this.options = options;
        this.params = model.parameters();
        DistilBertParameters.Table table = params.table();
        if (ops.storesFloat32()) {
            this.master = null;
        } else {
            this.master = ParameterSlab.allocate(ops, table);
            ops.upload(master.slab(), loaded != null ? loaded.checkpointValues(table) : ops.download(params.slab()));
        }
        this.grads = ParameterSlab.allocate(ops, table);
        if (ops.needsLossScaling()) {
            lossScaling(LossScaling.GRAD_SCALER);
        }
        this.expAvg = ParameterSlab.allocate(ops, table);
        this.expAvgSq = ParameterSlab.allocate(ops, table);
        this.owned = table.owned();
        List<int[]> segments = new ArrayList<>(); // {end, decays}
        List<ParameterSpec> byOffset = new ArrayList<>(owned);
        byOffset.sort(java.util.Comparator.comparingLong(sp -> table.offset(sp.name())));
        long at = 0;
        for (ParameterSpec sp : byOffset) {
            long start = table.offset(sp.name());
            if (start > at) {
                segments.add(new int[] {Math.toIntExact(start), 0}); // alignment padding: stays 0
            }
            at = start + sp.numel();
            segments.add(new int[] {Math.toIntExact(at), decays(sp.name()) ? 1 : 0});
        }
        if (table.numel() > at) {
            segments.add(new int[] {Math.toIntExact(table.numel()), 0});
        }
        this.segmentEnds = segments.stream().mapToInt(e -> e[0]).toArray();
        this.segmentDecays = new boolean[segments.size()];
        for (int i = 0; i < segmentDecays.length; i++) {
            segmentDecays[i] = segments.get(i)[1] == 1;
        }
    }

    /**
     * The parameters at full precision, in the model's table layout: the float32 master weights in
     * mixed precision, the model's own parameters otherwise. What a checkpoint saves.
     */
    public float[] weights() {
        return ops.download((master != null ? master : params).slab());
    }

    /** The gradient slab the heads' {@code backward} add into; zeroed by each {@link #step()}. */
    public ParameterSlab gradients() {
        return grads;
    }

    public Options options() {
        return options;
    }

    /** Optimizer steps taken. */
    public long steps() {
        return globalStep;
    }

    /** Micro-batches whose dropout was drawn ({@link #nextDropout}). */
    public long microBatches() {
        return microBatches;
    }

    /**
     * The dropout stream of the next micro-batch (train mode), to pass as
     * {@link ModelInput#withDropout}: micro-batch n draws from its own counter range, so a resumed run
     * draws what the uninterrupted one would have.
     */
    public DropoutRng nextDropout() {
        return new DropoutRng(options.seed(), microBatches++ << MICRO_BATCH_SHIFT);
    }

    /**
     * Drops the gradients accumulated since the last step and rewinds the dropout counter to it, so
     * that a checkpoint saved now resumes at the first micro-batch of the unfinished window and draws
     * the same masks for it (what an interrupted run saves).
     */
    public void discardAccumulated() {
        ops.fill(grads.slab(), 0f, grads.table().numel());
        microBatches = microBatchesAtStep;
    }

    /** Whether weight decay applies to {@code name}, as HF's Trainer decides it. */
    public static boolean decays(String name) {
        String lower = name.toLowerCase(java.util.Locale.ROOT);
        for (Pattern p : NO_DECAY) {
            if (p.matcher(lower).find()) {
                return false;
            }
        }
        return true;
    }

    /**
     * The factor the next micro-batches' losses are multiplied by before their backward: the loss
     * scale where the backend stores float16, else 1. {@link #gradients()} carries it
     * ({@link ParameterSlab#lossScale()}), so every head's backward into that slab applies it: callers
     * do nothing for it.
     */
    public float lossScale() {
        return grads.lossScale();
    }

    /** Optimizer steps taken: {@link #steps()} less the skipped ones. */
    public long optimizerSteps() {
        return step;
    }

    /** Replaces the loss scaling (tests: a scale that overflows, a short growth interval); resets its state. */
    void lossScaling(LossScaling s) {
        this.scaling = s;
        grads.lossScale(s.initScale());
        this.growthTracker = 0;
    }

    /**
     * One step over the accumulated gradients, as HF's Trainer takes it: unscale (under loss scaling),
     * clip to {@code maxGradNorm}, AdamW at the schedule's rate, zero the gradients. A gradient that is
     * not finite skips the update: the parameters, AdamW's state and the schedule stay as they were,
     * the gradients are zeroed, and under loss scaling the scale is halved (torch's GradScaler; without
     * it torch would write NaN into every parameter). The step counts either way ({@link #steps()}).
     */
    public Step step() {
        long next = step + 1;
        double lr = options.schedule().lrAt(next, options.learningRate());
        long n = grads.table().numel();
        if (scaling != null) {
            // torch's unscale_: the gradients times the reciprocal of the scale, rounded to float
            ops.scale(grads.slab(), (float) (1.0 / lossScale()), n);
        }
        float norm = AdamW.totalNorm(ops.sumOfSquares(grads.slab(), n));
        globalStep++;
        if (!Float.isFinite(norm)) {
            ops.fill(grads.slab(), 0f, n);
            microBatchesAtStep = microBatches;
            if (scaling != null) {
                grads.lossScale(lossScale() * scaling.backoffFactor());
                growthTracker = 0;
            }
            return new Step(globalStep, lr, norm, true, lossScale());
        }
        if (options.maxGradNorm() > 0) {
            ops.scale(grads.slab(), AdamW.clipCoefficient(norm, options.maxGradNorm()), n);
        }
        // one walk over the whole slab, weight decay where HF's groups put it
        ParameterSlab updated = master != null ? master : params;
        ops.adamWUpdate(updated.slab(), grads.slab(), expAvg.slab(), expAvgSq.slab(), segmentEnds, segmentDecays, lr,
                options.adamBeta1(), options.adamBeta2(), options.adamEpsilon(), options.weightDecay(), next);
        if (master != null) {
            ops.storeParameters(params.slab(), master.slab(), params.table().numel());
        }
        ops.fill(grads.slab(), 0f, n);
        step = next;
        microBatchesAtStep = microBatches;
        if (scaling != null && ++growthTracker == scaling.growthInterval()) {
            grads.lossScale(lossScale() * scaling.growthFactor());
            growthTracker = 0;
        }
        return new Step(globalStep, lr, norm, false, lossScale());
    }

    // ---------------------------------------------------------------------------------------------
    // checkpoints

    /**
     * Writes a checkpoint directory: the model as {@code save_pretrained} writes it (config.json,
     * model.safetensors), AdamW's moments ({@link #OPTIMIZER_FILE}) and the counters with
     * {@code extra} ({@link #STATE_FILE}: where the data loop stands, what it logged). Each file is
     * written beside its final name and moved into place, and the state file last, so an interrupted
     * save leaves either the previous checkpoint's state file or none: {@link #resume} never reads a
     * half-written checkpoint as complete.
     */
    public void save(Path dir, ObjectNode extra) throws IOException {
        Files.createDirectories(dir);
        Files.deleteIfExists(dir.resolve(STATE_FILE));
        ModelDirectory.save(dir, model.config(), model.head(), params.table(), weights(),
                ModelDirectory.SaveOptions.defaults());
        List<NamedTensor> moments = new ArrayList<>();
        float[] m = ops.download(expAvg.slab()), v = ops.download(expAvgSq.slab());
        for (ParameterSpec s : owned) {
            int off = Math.toIntExact(params.table().offset(s.name())), n = Math.toIntExact(s.numel());
            moments.add(NamedTensor.ofFloats("exp_avg." + s.name(), s.shape(), java.util.Arrays.copyOfRange(m, off, off + n)));
            moments.add(NamedTensor.ofFloats("exp_avg_sq." + s.name(), s.shape(), java.util.Arrays.copyOfRange(v, off, off + n)));
        }
        Path tmp = dir.resolve(OPTIMIZER_FILE + ".tmp");
        SafetensorsWriter.write(tmp, moments, Map.of("step", Long.toString(step)));
        Files.move(tmp, dir.resolve(OPTIMIZER_FILE), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        ObjectNode state = MAPPER.createObjectNode();
        state.put("global_step", globalStep);
        state.put("optimizer_step", step);
        if (scaling != null) {
            state.put("loss_scale", lossScale());
            state.put("loss_scale_growth_tracker", growthTracker);
        }
        state.put("micro_batches", microBatches);
        ObjectNode opts = state.putObject("options");
        opts.put("learning_rate", options.learningRate());
        opts.put("weight_decay", options.weightDecay());
        opts.put("adam_beta1", options.adamBeta1());
        opts.put("adam_beta2", options.adamBeta2());
        opts.put("adam_epsilon", options.adamEpsilon());
        opts.put("max_grad_norm", options.maxGradNorm());
        opts.put("lr_scheduler_type", options.schedule().kind().hfName());
        opts.put("warmup_steps", options.schedule().warmupSteps());
        opts.put("max_steps", options.schedule().trainingSteps());
        opts.put("seed", options.seed());
        if (extra != null) {
            state.set("extra", extra);
        }
        Path stateTmp = dir.resolve(STATE_FILE + ".tmp");
        MAPPER.writerWithDefaultPrettyPrinter().writeValue(stateTmp.toFile(), state);
        Files.move(stateTmp, dir.resolve(STATE_FILE), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * Restores the optimizer state and counters of a checkpoint {@link #save} wrote (the model's
     * parameters are loaded with the model, from the same directory). Refuses a directory without a
     * complete state, or one whose options differ from this trainer's in anything but the learning
     * rate schedule's length.
     *
     * @return the {@code extra} object saved with it (empty when none)
     */
    public ObjectNode resume(Path dir) throws IOException {
        Path statePath = dir.resolve(STATE_FILE);
        if (!Files.isRegularFile(statePath)) {
            throw new CheckpointException(dir + ": no " + STATE_FILE + " (not a training checkpoint, or its save was interrupted)");
        }
        JsonNode state = MAPPER.readTree(statePath.toFile());
        long savedSeed = state.path("options").path("seed").asLong(options.seed());
        if (savedSeed != options.seed()) {
            throw new IllegalArgumentException(dir + " was trained with seed " + savedSeed + ", this run has " + options.seed()
                    + "; resume with the same seed (its dropout masks continue the same stream)");
        }
        Map<String, float[]> read = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve(OPTIMIZER_FILE))) {
            for (ParameterSpec s : owned) {
                for (String kind : List.of("exp_avg.", "exp_avg_sq.")) {
                    String key = kind + s.name();
                    if (!f.contains(key)) {
                        throw new CheckpointException(f.path() + ": no " + key + " (the checkpoint is for another model)");
                    }
                    float[] values = f.readFloats(key);
                    if (values.length != s.numel()) {
                        throw new CheckpointException(f.path() + ": " + key + " has " + values.length + " values, the model's "
                                + s.name() + " has " + s.numel());
                    }
                    read.put(key, values);
                }
            }
        }
        for (ParameterSpec s : owned) {
            ops.upload(expAvg.get(s.name()), read.get("exp_avg." + s.name()));
            ops.upload(expAvgSq.get(s.name()), read.get("exp_avg_sq." + s.name()));
        }
        ops.fill(grads.slab(), 0f, grads.table().numel());
        globalStep = state.path("global_step").asLong();
        step = state.path("optimizer_step").asLong(globalStep);   // checkpoints before loss scaling: the same
        if (scaling != null) {
            if (!state.has("loss_scale")) {
                throw new CheckpointException(dir + ": no loss_scale in " + STATE_FILE + " (saved by a run without loss "
                        + "scaling, not fp16); resume it in the precision it was trained in");
            }
            grads.lossScale((float) state.path("loss_scale").asDouble());
            growthTracker = state.path("loss_scale_growth_tracker").asInt();
        }
        microBatches = state.path("micro_batches").asLong();
        microBatchesAtStep = microBatches;
        JsonNode extra = state.get("extra");
        return extra instanceof ObjectNode o ? o : MAPPER.createObjectNode();
    }

    private static final ObjectMapper MAPPER = new ObjectMapper();
}
