package distilbert.model;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * HF transformers' learning-rate schedules (transformers/optimization.py, what the Trainer's
 * {@code lr_scheduler_type} picks) as the LambdaLR multiplier λ(step), evaluated in double as
 * Python evaluates it.
 *
 * <p>The off-by-one: LambdaLR steps once when it is built, so before the first optimizer step the
 * lr is already base·λ(0); the Trainer then calls {@code optimizer.step()} before
 * {@code scheduler.step()}. Optimizer step k (k = 1, 2, …) therefore runs with base·λ(k − 1), which
 * is what {@link #lrAt} gives: with warmup, the first optimizer step runs with lr 0. Past
 * {@code trainingSteps} linear stays at 0, but cosine (half a cycle, not clamped) rises again.
 *
 * @param kind          which of HF's schedules
 * @param warmupSteps   num_warmup_steps (ignored by {@code constant})
 * @param trainingSteps num_training_steps (used by {@code linear} and {@code cosine})
 */
public record LearningRateSchedule(Kind kind, long warmupSteps, long trainingSteps) {

    /** The schedules, by HF's SchedulerType names. */
    public enum Kind {
        /** get_linear_schedule_with_warmup. */
        LINEAR("linear"),
        /** get_cosine_schedule_with_warmup, num_cycles 0.5. */
        COSINE("cosine"),
        /** get_constant_schedule. */
        CONSTANT("constant"),
        /** get_constant_schedule_with_warmup. */
        CONSTANT_WITH_WARMUP("constant_with_warmup");

        private final String hfName;

        Kind(String hfName) {
            this.hfName = hfName;
        }

        /** HF's name: linear, cosine, constant, constant_with_warmup. */
        public String hfName() {
            return hfName;
        }

        /**
         * The schedule HF calls {@code name} (exactly, as SchedulerType does).
         *
         * @throws IllegalArgumentException listing the names when there is none
         */
        public static Kind parse(String name) {
            for (Kind k : values()) if (k.hfName.equals(name)) return k;
            throw new IllegalArgumentException("unknown lr scheduler type '" + name + "': use "
                    + Arrays.stream(values()).map(Kind::hfName).collect(Collectors.joining(", ")));
        }
    }

    /** get_cosine_schedule_with_warmup's default: half a cosine, from 1 down to 0. */
    private static final double NUM_CYCLES = 0.5;

    public LearningRateSchedule {
        if (kind == null) throw new IllegalArgumentException("lr schedule kind is null");
        if (warmupSteps < 0) throw new IllegalArgumentException("warmup steps must be >= 0, got " + warmupSteps);
        if (trainingSteps < 0) throw new IllegalArgumentException("training steps must be >= 0, got " + trainingSteps);
    }

    /** The schedule HF's Trainer builds for {@code lr_scheduler_type = name}. */
    public static LearningRateSchedule of(String name, long warmupSteps, long trainingSteps) {
        return new LearningRateSchedule(Kind.parse(name), warmupSteps, trainingSteps);
    }

    /** λ(schedulerStep): LambdaLR's {@code last_epoch} in, the lr multiplier out. */
    public double multiplier(long schedulerStep) {
        if (schedulerStep < 0) throw new IllegalArgumentException("scheduler step must be >= 0, got " + schedulerStep);
        double step = schedulerStep;
        return switch (kind) {
            case CONSTANT -> 1.0;
            case CONSTANT_WITH_WARMUP -> schedulerStep < warmupSteps ? step / Math.max(1.0, warmupSteps) : 1.0;
            case LINEAR -> schedulerStep < warmupSteps ? step / Math.max(1, warmupSteps)
                    : Math.max(0.0, (double) (trainingSteps - schedulerStep) / Math.max(1, trainingSteps - warmupSteps));
            case COSINE -> {
                if (schedulerStep < warmupSteps) yield step / Math.max(1, warmupSteps);
                double progress = (double) (schedulerStep - warmupSteps) / Math.max(1, trainingSteps - warmupSteps);
                // Python's left-to-right order: math.pi * num_cycles * 2.0 * progress
                yield Math.max(0.0, 0.5 * (1.0 + StrictMath.cos(Math.PI * NUM_CYCLES * 2.0 * progress)));
            }
        };
    }

    /** The lr of optimizer step {@code optimizerStep} (1 on the first): baseLr·λ(optimizerStep − 1). */
    public double lrAt(long optimizerStep, double baseLr) {
        if (optimizerStep < 1) throw new IllegalArgumentException("optimizer step must be >= 1, got " + optimizerStep);
        return baseLr * multiplier(optimizerStep - 1);
    }
}
