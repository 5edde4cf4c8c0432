package distilbert.weights;

/**
 * Bit-exact conversions between float32 and the 16- and 8-bit float formats of checkpoints.
 * float16 uses the JDK's IEEE conversions ({@link Float#float16ToFloat}, round-to-nearest-even);
 * bfloat16 is the top half of a float32, rounded to nearest even as torch does ({@code c10::BFloat16}).
 */
public final class Half {
    private Half() {}

    /** IEEE binary16 bits → float (exact: every half is a float). */
    public static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /** float → IEEE binary16 bits, round to nearest even; overflow → ±inf; NaN stays NaN. */
    public static short floatToF16(float f) {
        return Float.floatToFloat16(f);
    }

    /** bfloat16 bits → float (exact). */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** float → bfloat16 bits, round to nearest even as torch does; any NaN → 0x7FC0. */
    public static short floatToBf16(float f) {
        if (Float.isNaN(f)) return (short) 0x7FC0;
        int u = Float.floatToRawIntBits(f);
        int roundingBias = 0x7FFF + ((u >>> 16) & 1);
        return (short) ((u + roundingBias) >>> 16);
    }

    /** FP8 E5M2 → float: the top byte of a binary16. */
    public static float f8e5m2ToFloat(byte bits) {
        return Float.float16ToFloat((short) ((bits & 0xFF) << 8));
    }

    /** FP8 E4M3FN → float: bias 7, no infinities, S.1111.111 is NaN. */
    public static float f8e4m3ToFloat(byte bits) {
        int b = bits & 0xFF;
        float sign = (b & 0x80) != 0 ? -1f : 1f;
        int exp = (b >>> 3) & 0xF;
        int man = b & 0x7;
        if (exp == 0xF && man == 0x7) return Float.NaN;
        if (exp == 0) return sign * Math.scalb(man / 8f, -6);
        return sign * Math.scalb(1f + man / 8f, exp - 7);
    }
}
