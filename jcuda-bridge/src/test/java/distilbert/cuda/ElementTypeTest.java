package distilbert.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Host-side conversions of the 16-bit storage types (no GPU needed). */
final class ElementTypeTest {

    @Test
    void bfloat16RoundsToNearestEven() {
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1)
        assertEquals(1.0f, ElementType.BF16.round(1.0f + 0x1p-8f));
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties go to 1 + 2^-6
        assertEquals(1.0f + 0x1p-6f, ElementType.BF16.round(1.0f + 3 * 0x1p-8f));
        // just above halfway rounds up
        assertEquals(1.0f + 0x1p-7f, ElementType.BF16.round(1.0f + 0x1p-8f + 0x1p-20f));
        assertEquals(Float.POSITIVE_INFINITY, ElementType.BF16.round(Float.MAX_VALUE));
        assertEquals(-0.0f, ElementType.BF16.round(-0.0f));
        assertTrue(Float.isNaN(ElementType.BF16.round(Float.NaN)));
        // a NaN whose payload sits only in the low bits must stay a NaN, not become infinity
        assertTrue(Float.isNaN(ElementType.BF16.round(Float.intBitsToFloat(0x7f800001))));
    }

    @Test
    void bfloat16MatchesTheDefinitionOnRandomValues() {
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < 200_000; i++) {
            float v = Float.intBitsToFloat(r.nextInt());
            if (Float.isNaN(v) || Float.isInfinite(v)) {
                continue;
            }
            float rounded = ElementType.BF16.round(v);
            // the nearest bfloat16: one of the two truncations around v, ties to even
            int bits = Float.floatToRawIntBits(v);
            float down = Float.intBitsToFloat(bits & 0xffff0000);
            float up = Float.intBitsToFloat((bits & 0xffff0000) + 0x10000);
            // past the largest bfloat16, "up" is infinity, which IEEE rounding treats as 2^128 here
            double upValue = Float.isInfinite(up) ? Math.copySign(0x1p128, v) : up;
            double dDown = Math.abs((double) v - down), dUp = Math.abs(upValue - v);
            float expected = dDown < dUp ? down : dUp < dDown ? up
                    : ((Float.floatToRawIntBits(down) >>> 16) & 1) == 0 ? down : up;
            assertEquals(expected, rounded, "bf16 of " + v);
        }
    }

    @Test
    void float16UsesJavasRounding() {
        assertEquals(1.0f, ElementType.F16.round(1.0f + 0x1p-11f));
        assertEquals(65504f, ElementType.F16.round(65504f));
        assertEquals(Float.POSITIVE_INFINITY, ElementType.F16.round(65520f));
        assertEquals(0x1p-24f, ElementType.F16.round(0x1p-24f)); // the smallest subnormal
        assertEquals(3.5f, ElementType.F32.round(3.5f));
    }

    @Test
    void sizesAndSuffixes() {
        assertEquals(2, ElementType.BF16.bytes());
        assertEquals(8, ElementType.I64.bytes());
        assertEquals("bf16", ElementType.BF16.suffix());
        assertTrue(ElementType.F16.isFloat());
        assertTrue(!ElementType.I32.isFloat());
    }
}
