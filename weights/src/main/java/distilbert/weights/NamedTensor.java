package distilbert.weights;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;

/**
 * A named, typed, shaped tensor whose elements are little-endian bytes in {@link #data()}, row-major
 * and contiguous — the unit of every checkpoint format here. Tensors read from a safetensors file
 * are zero-copy views into the mapped file (valid until the file is closed); others live in an
 * automatic arena or on the heap.
 *
 * @param name  HF state-dict key
 * @param dtype element type
 * @param shape dimensions, outermost first ({@code []} is a scalar of one element)
 * @param data  exactly {@code numel × dtype.size()} bytes; may be read-only and need not be aligned
 */
public record NamedTensor(String name, DType dtype, long[] shape, MemorySegment data) {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public NamedTensor {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(data, "data");
        shape = shape.clone();
        long n = numel(shape);
        if (n < 0 || data.byteSize() != n * dtype.size()) {
            throw new IllegalArgumentException("tensor '" + name + "': " + dtype + " " + Arrays.toString(shape)
                    + " needs " + (n < 0 ? "too many" : String.valueOf(n * dtype.size())) + " bytes, data has " + data.byteSize());
        }
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public long numel() {
        return numel(shape);
    }

    public long byteSize() {
        return data.byteSize();
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    /** Elements in a shape, or -1 when a dimension is negative or the product overflows a long. */
    static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) return -1;
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                return -1;
            }
        }
        return n;
    }

    // ---------------------------------------------------------------------------------------------
    // construction

    /** A float32 tensor holding a copy of {@code values}. */
    public static NamedTensor ofFloats(String name, long[] shape, float[] values) {
        MemorySegment seg = Arena.ofAuto().allocate((long) values.length * 4, 8);
        MemorySegment.copy(values, 0, seg, F32, 0, values.length);
        return new NamedTensor(name, DType.F32, shape, seg);
    }

    /** An int64 tensor holding a copy of {@code values}. */
    public static NamedTensor ofLongs(String name, long[] shape, long[] values) {
        MemorySegment seg = Arena.ofAuto().allocate((long) values.length * 8, 8);
        MemorySegment.copy(values, 0, seg, I64, 0, values.length);
        return new NamedTensor(name, DType.I64, shape, seg);
    }

    /** A tensor of any dtype from its little-endian bytes (copied). */
    public static NamedTensor ofBytes(String name, DType dtype, long[] shape, byte[] littleEndianBytes) {
        MemorySegment seg = Arena.ofAuto().allocate(littleEndianBytes.length, 8);
        MemorySegment.copy(littleEndianBytes, 0, seg, ValueLayout.JAVA_BYTE, 0, littleEndianBytes.length);
        return new NamedTensor(name, dtype, shape, seg);
    }

    /** The same data under another name (no copy). */
    public NamedTensor withName(String newName) {
        return new NamedTensor(newName, dtype, shape, data);
    }

    /**
     * This tensor as a float type: F32, F64, F16 or BF16 (F16 and BF16 rounded to nearest even).
     * Returns {@code this} when the dtype already matches.
     */
    public NamedTensor convertTo(DType target) {
        if (target == dtype) return this;
        float[] v = toFloats();
        MemorySegment seg = Arena.ofAuto().allocate((long) v.length * target.size(), 8);
        switch (target) {
            case F32 -> MemorySegment.copy(v, 0, seg, F32, 0, v.length);
            case F64 -> { for (int i = 0; i < v.length; i++) seg.setAtIndex(F64, i, v[i]); }
            case F16 -> { for (int i = 0; i < v.length; i++) seg.setAtIndex(I16, i, Half.floatToF16(v[i])); }
            case BF16 -> { for (int i = 0; i < v.length; i++) seg.setAtIndex(I16, i, Half.floatToBf16(v[i])); }
            default -> throw new IllegalArgumentException("tensor '" + name + "': cannot convert to " + target + " (F32, F64, F16 or BF16)");
        }
        return new NamedTensor(name, target, shape, seg);
    }

    // ---------------------------------------------------------------------------------------------
    // reading

    /** The elements as float32: F32 copied, F16/BF16/FP8 widened exactly, F64 rounded to nearest. */
    public float[] toFloats() {
        int n = arrayLength();
        float[] out = new float[n];
        switch (dtype) {
            case F32 -> MemorySegment.copy(data, F32, 0, out, 0, n);
            case F64 -> { for (int i = 0; i < n; i++) out[i] = (float) data.getAtIndex(F64, i); }
            case F16 -> { for (int i = 0; i < n; i++) out[i] = Half.f16ToFloat(data.getAtIndex(I16, i)); }
            case BF16 -> { for (int i = 0; i < n; i++) out[i] = Half.bf16ToFloat(data.getAtIndex(I16, i)); }
            case F8_E5M2 -> { for (int i = 0; i < n; i++) out[i] = Half.f8e5m2ToFloat(data.get(ValueLayout.JAVA_BYTE, i)); }
            case F8_E4M3 -> { for (int i = 0; i < n; i++) out[i] = Half.f8e4m3ToFloat(data.get(ValueLayout.JAVA_BYTE, i)); }
            default -> throw new CheckpointException("tensor '" + name + "' is " + dtype + ", not a floating-point type");
        }
        return out;
    }

    /** The elements as int64: signed and unsigned integers and BOOL (0/1) widened; U64 above Long.MAX_VALUE refused. */
    public long[] toLongs() {
        int n = arrayLength();
        long[] out = new long[n];
        switch (dtype) {
            case I64 -> MemorySegment.copy(data, I64, 0, out, 0, n);
            case U64 -> {
                for (int i = 0; i < n; i++) {
                    long v = data.getAtIndex(I64, i);
                    if (v < 0) throw new CheckpointException("tensor '" + name + "': U64 element " + i + " = "
                            + Long.toUnsignedString(v) + " does not fit a signed 64-bit integer");
                    out[i] = v;
                }
            }
            case I32 -> { for (int i = 0; i < n; i++) out[i] = data.getAtIndex(I32, i); }
            case U32 -> { for (int i = 0; i < n; i++) out[i] = Integer.toUnsignedLong(data.getAtIndex(I32, i)); }
            case I16 -> { for (int i = 0; i < n; i++) out[i] = data.getAtIndex(I16, i); }
            case U16 -> { for (int i = 0; i < n; i++) out[i] = Short.toUnsignedInt(data.getAtIndex(I16, i)); }
            case I8 -> { for (int i = 0; i < n; i++) out[i] = data.get(ValueLayout.JAVA_BYTE, i); }
            case U8, BOOL -> { for (int i = 0; i < n; i++) out[i] = Byte.toUnsignedInt(data.get(ValueLayout.JAVA_BYTE, i)); }
            default -> throw new CheckpointException("tensor '" + name + "' is " + dtype + ", not an integer type");
        }
        return out;
    }

    private int arrayLength() {
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) {
            throw new CheckpointException("tensor '" + name + "' has " + n + " elements, too many for one Java array; read data() instead");
        }
        return (int) n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NamedTensor t && t.name.equals(name) && t.dtype == dtype && Arrays.equals(t.shape, shape)
                && t.data.byteSize() == data.byteSize() && data.mismatch(t.data) == -1;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape));
    }

    @Override
    public String toString() {
        return name + " " + dtype + " " + shapeString();
    }
}
