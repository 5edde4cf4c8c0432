package distilbert.weights;

import java.util.Arrays;

/**
 * One named parameter of an HF state dict: its exact HF name and shape (row-major, as torch stores
 * it; a Linear weight is {@code [out, in]}).
 *
 * @param name   HF state-dict key, e.g. {@code distilbert.transformer.layer.0.attention.q_lin.weight}
 * @param shape  dimensions, outermost first; never modified (copied in and out)
 * @param tiedTo for a tied parameter (vocab_projector.weight when tie_word_embeddings), the name of the
 *               parameter whose storage it shares; null otherwise. A tied parameter owns no storage
 *               and is not written to safetensors (HF drops it on save).
 */
public record ParameterSpec(String name, long[] shape, String tiedTo) {
    public ParameterSpec {
        shape = shape.clone();
    }

    public ParameterSpec(String name, long... shape) {
        this(name, shape, null);
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int i) {
        return shape[i];
    }

    /** Number of elements. */
    public long numel() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    public boolean isTied() {
        return tiedTo != null;
    }

    /** "[3072, 768]". */
    public String shapeString() {
        return Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ParameterSpec p && p.name.equals(name) && Arrays.equals(p.shape, shape)
                && java.util.Objects.equals(p.tiedTo, tiedTo);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + shapeString() + (tiedTo == null ? "" : " (tied to " + tiedTo + ")");
    }
}
