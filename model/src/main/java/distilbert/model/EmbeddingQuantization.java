package distilbert.model;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * sentence-transformers' {@code quantize_embeddings}: embeddings in fewer bits, for storage and fast
 * search. {@code int8} and {@code uint8} cut each dimension's range (its smallest and largest value
 * over calibration embeddings, {@link Ranges}) into 256 buckets; {@code binary} and {@code ubinary}
 * keep one bit per value, whether it is positive, packed eight to a byte (the first value in the
 * highest bit, as {@code numpy.packbits}), {@code binary} shifted by −128 into a signed byte. The
 * arithmetic is numpy's on float32 values: step = (max − min) / 255 (1 where that is 0), bucket =
 * floor((x − min) / step) clipped to [0, 255], so the bytes are sentence-transformers' bit for bit.
 */
public final class EmbeddingQuantization {

    private EmbeddingQuantization() {
    }

    /** The precisions below float32, by sentence-transformers' names. */
    public enum Kind {
        /** A byte per value: bucket − 128. */
        INT8,
        /** A byte per value: the bucket. */
        UINT8,
        /** A bit per value, 8 to a byte, the byte − 128 as a signed byte. */
        BINARY,
        /** A bit per value, 8 to a byte. */
        UBINARY;

        /** A kind by its name ({@code int8}, {@code uint8}, {@code binary}, {@code ubinary}), any case. */
        public static Kind parse(String name) {
            for (Kind k : values()) {
                if (k.toString().equalsIgnoreCase(name.strip())) return k;
            }
            throw new IllegalArgumentException("quantization '" + name + "' is not one of "
                    + Arrays.stream(values()).map(Kind::toString).toList());
        }

        /** Bytes per vector of {@code dim} values. */
        public int width(int dim) {
            return this == INT8 || this == UINT8 ? dim : (dim + 7) / 8;
        }

        /** Whether the bytes are signed (int8 and binary) or unsigned (uint8 and ubinary). */
        public boolean signed() {
            return this == INT8 || this == BINARY;
        }

        /** Whether it needs {@link Ranges} (int8 and uint8). */
        public boolean needsRanges() {
            return this == INT8 || this == UINT8;
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Each dimension's smallest and largest value: the buckets of int8 and uint8. */
    public record Ranges(float[] min, float[] max) {
        public Ranges {
            Objects.requireNonNull(min, "min");
            Objects.requireNonNull(max, "max");
            if (min.length != max.length) {
                throw new IllegalArgumentException("ranges: " + min.length + " minima but " + max.length + " maxima");
            }
        }

        /** The ranges of calibration embeddings, as sentence-transformers computes them from calibration_embeddings. */
        public static Ranges of(List<float[]> embeddings) {
            if (embeddings.isEmpty()) throw new IllegalArgumentException("ranges: no calibration embeddings");
            int dim = embeddings.getFirst().length;
            float[] min = embeddings.getFirst().clone(), max = embeddings.getFirst().clone();
            for (float[] v : embeddings) {
                if (v.length != dim) {
                    throw new IllegalArgumentException("ranges: calibration embeddings of " + dim + " and of " + v.length + " values");
                }
                for (int i = 0; i < dim; i++) {
                    min[i] = Math.min(min[i], v[i]);
                    max[i] = Math.max(max[i], v[i]);
                }
            }
            return new Ranges(min, max);
        }

        public int dim() {
            return min.length;
        }
    }

    /**
     * One vector in {@code kind}: {@link Kind#width} bytes.
     *
     * @param ranges the buckets for int8 and uint8 (of the vector's length); not used for the binary kinds
     * @throws IllegalArgumentException when int8 or uint8 has no ranges or ranges of another length
     */
    public static byte[] quantize(float[] v, Kind kind, Ranges ranges) {
        return quantize(v, kind, ranges, kind.needsRanges() ? steps(kind, ranges, v.length) : null);
    }

    /** {@link #quantize(float[], Kind, Ranges)} of each vector, in order (the buckets' steps computed once). */
    public static List<byte[]> quantize(List<float[]> vectors, Kind kind, Ranges ranges) {
        if (vectors.isEmpty()) return List.of();
        float[] steps = kind.needsRanges() ? steps(kind, ranges, vectors.getFirst().length) : null;
        return vectors.stream().map(v -> quantize(v, kind, ranges, steps)).toList();
    }

    /** Each dimension's bucket width, (max − min) / 255 in float32, 1 where that is 0 (numpy's arithmetic). */
    private static float[] steps(Kind kind, Ranges ranges, int dim) {
        if (ranges == null) throw new IllegalArgumentException(kind + " needs ranges (calibration embeddings)");
        if (ranges.dim() != dim) {
            throw new IllegalArgumentException(kind + ": ranges of " + ranges.dim() + " values for a vector of " + dim);
        }
        float[] steps = new float[dim];
        for (int i = 0; i < dim; i++) {
            steps[i] = (ranges.max()[i] - ranges.min()[i]) / 255f;
            if (steps[i] == 0) steps[i] = 1;
        }
        return steps;
    }

    private static byte[] quantize(float[] v, Kind kind, Ranges ranges, float[] steps) {
        byte[] out = new byte[kind.width(v.length)];
        if (kind.needsRanges()) {
            if (steps.length != v.length) {
                throw new IllegalArgumentException(kind + ": ranges of " + steps.length + " values for a vector of " + v.length);
            }
            int shift = kind == Kind.INT8 ? 128 : 0;
            for (int i = 0; i < v.length; i++) {
                float q = (float) Math.floor((v[i] - ranges.min()[i]) / steps[i]);
                int bucket = q >= 255 ? 255 : q > 0 ? (int) q : 0;
                out[i] = (byte) (bucket - shift);
            }
        } else {
            for (int i = 0; i < v.length; i++) {
                if (v[i] > 0) out[i >> 3] |= (byte) (0x80 >>> (i & 7));
            }
            if (kind == Kind.BINARY) {
                for (int j = 0; j < out.length; j++) out[j] = (byte) ((out[j] & 0xff) - 128);
            }
        }
        return out;
    }

    /** A quantized vector's values as ints: signed for int8 and binary, 0 to 255 for uint8 and ubinary. */
    public static int[] values(byte[] q, Kind kind) {
        int[] out = new int[q.length];
        for (int i = 0; i < q.length; i++) out[i] = kind.signed() ? q[i] : q[i] & 0xff;
        return out;
    }
}
