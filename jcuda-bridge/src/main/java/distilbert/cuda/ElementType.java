package distilbert.cuda;

/**
 * The element types device arrays hold. Float types convert from and to Java floats on copy
 * (round to nearest even on the way in, exactly on the way out); index types hold Java ints and
 * longs as they are.
 */
public enum ElementType {
    F32(4, "f32"),
    BF16(2, "bf16"),
    F16(2, "f16"),
    I32(4, "i32"),
    I64(8, "i64");

    private final int bytes;
    private final String suffix;

    ElementType(int bytes, String suffix) {
        this.bytes = bytes;
        this.suffix = suffix;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    /** The suffix of the kernels for this storage type ({@code layernorm_forward_bf16}). */
    public String suffix() {
        return suffix;
    }

    /** Whether the elements are floating point (F32, BF16, F16). */
    public boolean isFloat() {
        return this == F32 || this == BF16 || this == F16;
    }

    /** A float rounded to bfloat16 bits, to nearest even, as torch casts (NaN stays a quiet NaN). */
    public static short toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** bfloat16 bits as a float (exact). */
    public static float fromBf16(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** {@code v} rounded through this float type and back: what storing it on the device keeps. */
    public float round(float v) {
        return switch (this) {
            case F32 -> v;
            case BF16 -> fromBf16(toBf16(v));
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(v));
            default -> throw new IllegalStateException(this + " is not a float type");
        };
    }
}
