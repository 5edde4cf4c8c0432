package distilbert.model;

import distilbert.weights.DistilBertParameters;
import distilbert.weights.ParameterSpec;
import java.util.Arrays;

/**
 * All parameters of a model in one buffer of one backend (STYLE habit 5), with the table of
 * {@link DistilBertParameters#table}: each HF state-dict name is a view at an offset. A tied
 * parameter ({@code vocab_projector.weight} when {@code tie_word_embeddings}) is the same view as
 * its owner, so writing one writes both. A {@link DistilBertParameters.Group group} (a layer's
 * q/k/v weights as one {@code [3C, C]}) is a view over its members, so writing a member writes the group.
 */
public final class ParameterSlab {

    private final Buffer slab;
    private final DistilBertParameters.Table table;
    /** See {@link #lossScale()}. */
    private volatile float lossScale = 1f;

    private ParameterSlab(Buffer slab, DistilBertParameters.Table table) {
        this.slab = slab;
        this.table = table;
    }

    /**
     * A zeroed float32 slab for {@code table} on {@code ops}, whatever its storage type: what parameter
     * gradients, optimizer state and master weights are kept in ({@link Ops#allocateFloat32}).
     */
    public static ParameterSlab allocate(Ops ops, DistilBertParameters.Table table) {
        return new ParameterSlab(ops.allocateFloat32(table.numel()), table);
    }

    /** A slab over an existing buffer of {@code table.numel()} floats (not copied). */
    public static ParameterSlab over(Buffer slab, DistilBertParameters.Table table) {
        if (slab.length() < table.numel()) {
            throw new IllegalArgumentException("a slab of " + slab.length() + " floats cannot hold " + table.numel());
        }
        return new ParameterSlab(slab, table);
    }

    /**
     * For a gradient slab: the factor every backward pass multiplies its loss by before adding its
     * gradient into this slab, beside the {@code lossScale} argument it is given. 1, except in a
     * {@link Trainer}'s slab under fp16, where it is the trainer's loss scale ({@link Trainer#lossScale()}),
     * so that a backward into {@code trainer.gradients()} is scaled as torch's GradScaler scales it
     * without the caller's doing anything, and the trainer's step divides it out.
     */
    public float lossScale() {
        return lossScale;
    }

    /** Sets {@link #lossScale()} (the trainer, at each change of its scale). */
    void lossScale(float s) {
        if (!(s > 0) || !Float.isFinite(s)) {
            throw new IllegalArgumentException("a loss scale is positive and finite, got " + s);
        }
        lossScale = s;
    }

    /** The whole slab (one copy is a checkpoint; the optimizer walks it). */
    public Buffer slab() {
        return slab;
    }

    public DistilBertParameters.Table table() {
        return table;
    }

    public boolean contains(String name) {
        return table.offsets().containsKey(name);
    }

    /** The parameter called {@code name} (HF's state-dict key) as a view of the slab. */
    public Buffer get(String name) {
        ParameterSpec spec = table.spec(name);
        return slab.view(table.offset(name), spec.numel());
    }

    /** The group called {@code name} ({@link DistilBertParameters#groups}) as one view of the slab. */
    public Buffer group(String name) {
        DistilBertParameters.Group group = table.group(name);
        return slab.view(table.groupOffset(name), group.numel());
    }

    /** The parameter's shape, outermost first. */
    public long[] shape(String name) {
        return table.spec(name).shape();
    }

    /**
     * Copies {@code values} into parameter {@code name}.
     *
     * @throws IllegalArgumentException when the value count is not the parameter's
     */
    public void set(Ops ops, String name, float[] values) {
        ParameterSpec spec = table.spec(name);
        if (values.length != spec.numel()) {
            throw new IllegalArgumentException(name + " is " + Arrays.toString(spec.shape()) + " (" + spec.numel()
                    + " values), given " + values.length);
        }
        ops.upload(get(name), values);
    }
}
