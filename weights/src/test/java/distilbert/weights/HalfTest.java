package distilbert.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class HalfTest {
    private static void bits(int expected, short actual) {
        assertEquals(expected, actual & 0xFFFF, () -> String.format("expected 0x%04X got 0x%04X", expected, actual & 0xFFFF));
    }

    @Test
    void f16Decode() {
        assertEquals(1.0f, Half.f16ToFloat((short) 0x3C00));
        assertEquals(-2.0f, Half.f16ToFloat((short) 0xC000));
        assertEquals(65504f, Half.f16ToFloat((short) 0x7BFF)); // largest finite
        assertEquals(0x1p-14f, Half.f16ToFloat((short) 0x0400)); // smallest normal
        assertEquals(0x1p-24f, Half.f16ToFloat((short) 0x0001)); // smallest subnormal
        assertEquals(0x3FFp-24f, Half.f16ToFloat((short) 0x03FF)); // largest subnormal
        assertEquals(Float.POSITIVE_INFINITY, Half.f16ToFloat((short) 0x7C00));
        assertEquals(Float.NEGATIVE_INFINITY, Half.f16ToFloat((short) 0xFC00));
        assertTrue(Float.isNaN(Half.f16ToFloat((short) 0x7E00)));
        assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(Half.f16ToFloat((short) 0x8000)));
    }

    @Test
    void f16Encode() {
        bits(0x3C00, Half.floatToF16(1.0f));
        bits(0x0001, Half.floatToF16(0x1p-24f));
        bits(0x0000, Half.floatToF16(0x1p-26f)); // below half the smallest subnormal: 0
        bits(0x7C00, Half.floatToF16(65520f)); // rounds up to inf
        bits(0x7BFF, Half.floatToF16(65519f));
        bits(0x3C00, Half.floatToF16(1.0f + 0x1p-11f)); // tie → even
        bits(0x3C02, Half.floatToF16(1.0f + 3 * 0x1p-11f)); // tie → even (up)
        assertTrue(Float.isNaN(Half.f16ToFloat(Half.floatToF16(Float.NaN))));
    }

    @Test
    void bf16Decode() {
        assertEquals(1.0f, Half.bf16ToFloat((short) 0x3F80));
        assertEquals(-2.0f, Half.bf16ToFloat((short) 0xC000));
        assertEquals(0.15625f, Half.bf16ToFloat((short) 0x3E20));
        assertEquals(0x1p-133f, Half.bf16ToFloat((short) 0x0001)); // smallest subnormal
        assertEquals(Float.POSITIVE_INFINITY, Half.bf16ToFloat((short) 0x7F80));
        assertEquals(Float.NEGATIVE_INFINITY, Half.bf16ToFloat((short) 0xFF80));
        assertTrue(Float.isNaN(Half.bf16ToFloat((short) 0x7FC0)));
        assertEquals(Float.intBitsToFloat(0x7F7F0000), Half.bf16ToFloat((short) 0x7F7F)); // largest finite
    }

    @Test
    void bf16EncodeRoundsToNearestEven() {
        bits(0x3F80, Half.floatToBf16(1.0f));
        bits(0x3F80, Half.floatToBf16(Float.intBitsToFloat(0x3F808000))); // tie, even stays
        bits(0x3F82, Half.floatToBf16(Float.intBitsToFloat(0x3F818000))); // tie, odd rounds up
        bits(0x3F81, Half.floatToBf16(Float.intBitsToFloat(0x3F808001))); // above the tie
        bits(0x7F80, Half.floatToBf16(Float.POSITIVE_INFINITY));
        bits(0x7F80, Half.floatToBf16(Float.intBitsToFloat(0x7F7FFFFF))); // max float rounds to inf, as torch does
        bits(0x7FC0, Half.floatToBf16(Float.NaN));
        bits(0x7FC0, Half.floatToBf16(Float.intBitsToFloat(0xFFC00001)));
        bits(0x8000, Half.floatToBf16(-0.0f));
        bits(0x0001, Half.floatToBf16(0x1p-133f));
    }

    @Test
    void fp8Decode() {
        assertEquals(1.0f, Half.f8e4m3ToFloat((byte) 0x38));
        assertEquals(448f, Half.f8e4m3ToFloat((byte) 0x7E)); // largest finite E4M3FN
        assertEquals(0x1p-9f, Half.f8e4m3ToFloat((byte) 0x01)); // smallest subnormal
        assertTrue(Float.isNaN(Half.f8e4m3ToFloat((byte) 0x7F)));
        assertEquals(-1.0f, Half.f8e4m3ToFloat((byte) 0xB8));
        assertEquals(1.0f, Half.f8e5m2ToFloat((byte) 0x3C));
        assertEquals(57344f, Half.f8e5m2ToFloat((byte) 0x7B));
        assertEquals(Float.POSITIVE_INFINITY, Half.f8e5m2ToFloat((byte) 0x7C));
    }
}
