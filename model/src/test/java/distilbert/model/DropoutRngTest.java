package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** The dropout stream's contract: which Philox word each element uses, the keep rule, the scale, replay. */
class DropoutRngTest {

    private static final float TWO_POW_MINUS_24 = 1f / 16777216f;

    @Test
    void uniformsOfSeedZeroOffsetZeroAreTheTopBitsOfTheZeroKnownAnswer() {
        // Random123 kat_vectors, philox4x32 10, counter 0 and key 0: 6627e8d5 e169c58d bc57ac4c 9b00dbd8
        DropoutRng rng = new DropoutRng(0, 0);
        assertEquals(0x6627e8 * TWO_POW_MINUS_24, rng.uniform(0));
        assertEquals(0xe169c5 * TWO_POW_MINUS_24, rng.uniform(1));
        assertEquals(0xbc57ac * TWO_POW_MINUS_24, rng.uniform(2));
        assertEquals(0x9b00db * TWO_POW_MINUS_24, rng.uniform(3));
        // offset -1: element 4 is in counter -1 + 1, which wraps to 0, the same block
        DropoutRng wrapped = new DropoutRng(0, -1);
        for (int w = 0; w < 4; w++) {
            assertEquals(rng.uniform(w), wrapped.uniform(4 + w));
        }
    }

    @Test
    void elementIUsesWordIMod4OfCounterOffsetPlusIDiv4() {
        long seed = 0x299f31d0_a4093822L;      // k0 = a4093822, k1 = 299f31d0
        long offset = 0x0000_0001_ffff_fffeL;  // element 8 carries into the counter's high word
        DropoutRng rng = new DropoutRng(seed, offset);
        long[] elements = {0, 1, 3, 4, 7, 8, 10, (1L << 40) + 6};
        int[] words = new int[4];
        for (long i : elements) {
            long ctr = offset + i / 4;
            Philox.block((int) ctr, (int) (ctr >>> 32), 0, 0, 0xa4093822, 0x299f31d0, words);
            float expected = (words[(int) (i % 4)] >>> 8) * TWO_POW_MINUS_24;
            assertEquals(expected, rng.uniform(i), "element " + i);
            assertTrue(expected >= 0f && expected < 1f);
        }
        Philox.block(0, 2, 0, 0, 0xa4093822, 0x299f31d0, words);
        assertEquals((words[1] >>> 8) * TWO_POW_MINUS_24, rng.uniform(9), "counter 0x2_0000_0000");
    }

    @Test
    void pZeroKeepsEverythingBitForBit() {
        float[] in = {1.5f, -0f, 0f, Float.MIN_VALUE, -3e38f, Float.NaN, Float.NEGATIVE_INFINITY, 7f, -2.25f};
        float[] out = new float[in.length];
        new DropoutRng(42, 7).apply(out, 0, in, 0, in.length, 0f);
        assertArrayEquals(in, out);
        assertEquals(1f, DropoutRng.scale(0f));
        for (int i = 0; i < 100; i++) {
            assertTrue(new DropoutRng(42, 7).keep(i, 0f));
        }
    }

    @Test
    void pOneDropsEverythingToZeroNotNaN() {
        float[] in = {1.5f, -1f, Float.POSITIVE_INFINITY, Float.NaN, -0f, 3f, 4f};
        float[] out = {9f, 9f, 9f, 9f, 9f, 9f, 9f};
        new DropoutRng(42, 7).apply(out, 0, in, 0, in.length, 1f);
        assertArrayEquals(new float[in.length], out);
        assertEquals(0f, DropoutRng.scale(1f));
    }

    @Test
    void pTenthKeepsNineTenthsScaledExactly() {
        int n = 1_000_000;
        float p = 0.1f;
        float scale = 1f / (1f - p);
        Random random = new Random(3);
        float[] in = new float[n];
        for (int j = 0; j < n; j++) {
            in[j] = 0.5f + random.nextFloat();  // never 0, so a kept element is nonzero
        }
        DropoutRng rng = new DropoutRng(0x1234_5678_9abc_def0L, 99);
        float[] out = new float[n];
        rng.apply(out, 0, in, 0, n, p);
        long kept = 0;
        for (int j = 0; j < n; j++) {
            if (out[j] != 0f) {
                kept++;
                assertEquals(in[j] * scale, out[j], "kept element " + j);
            }
        }
        double sigma = Math.sqrt(n * p * (1 - p));
        assertTrue(Math.abs(kept - n * (1 - p)) < 5 * sigma, "kept " + kept + " of " + n);
        // the bulk path agrees with the one-element rule, here and at the ragged end
        for (int j : new int[] {0, 1, 2, 3, 4, 5, 1000, 123457, n - 3, n - 2, n - 1}) {
            assertEquals(rng.keep(j, p), out[j] != 0f, "element " + j);
        }
    }

    @Test
    void sameSeedAndOffsetReplayTheMaskOtherSeedsOrOffsetsDoNot() {
        int n = 10_000;
        float[] ones = new float[n];
        Arrays.fill(ones, 1f);
        float[] a = mask(new DropoutRng(5, 100), ones, n);
        assertArrayEquals(a, mask(new DropoutRng(5, 100), ones, n));
        assertMostlyDifferent(a, mask(new DropoutRng(6, 100), ones, n));
        assertMostlyDifferent(a, mask(new DropoutRng(5L | 1L << 32, 100), ones, n));
        assertMostlyDifferent(a, mask(new DropoutRng(5, 100).advance(n), ones, n));
        assertMostlyDifferent(a, mask(new DropoutRng(5, 101), ones, n));
    }

    @Test
    void advanceSkipsTheCountersOfASite() {
        assertEquals(0, DropoutRng.blocks(0));
        assertEquals(1, DropoutRng.blocks(1));
        assertEquals(1, DropoutRng.blocks(4));
        assertEquals(2, DropoutRng.blocks(5));
        assertEquals(1L << 61, DropoutRng.blocks(Long.MAX_VALUE));
        DropoutRng rng = new DropoutRng(5, 100);
        assertEquals(new DropoutRng(5, 102), rng.advance(5));
        assertEquals(new DropoutRng(5, 102), rng.advance(8));
        assertEquals(rng, rng.advance(0));
        // the next site of a 5-element site starts at the third block: element 8 of one long stream
        for (int j = 0; j < 12; j++) {
            assertEquals(rng.uniform(8 + j), rng.advance(5).uniform(j));
        }
        assertThrows(IllegalArgumentException.class, () -> DropoutRng.blocks(-1));
    }

    @Test
    void backwardUsesTheForwardMaskAndScale() {
        int n = 1003;
        float p = 0.3f;
        Random random = new Random(11);
        float[] x = new float[n];
        float[] dy = new float[n];
        for (int j = 0; j < n; j++) {
            x[j] = 1f + random.nextFloat();
            dy[j] = -1f - random.nextFloat();
        }
        DropoutRng rng = new DropoutRng(77, 1L << 33);
        float[] y = new float[n];
        rng.apply(y, 0, x, 0, n, p);
        float[] dx = new float[n];
        new DropoutRng(77, 1L << 33).applyBackward(dx, 0, dy, 0, n, p);
        float scale = DropoutRng.scale(p);
        int dropped = 0;
        for (int j = 0; j < n; j++) {
            assertEquals(y[j] != 0f, dx[j] != 0f, "element " + j);
            assertEquals(y[j] != 0f ? dy[j] * scale : 0f, dx[j], "element " + j);
            dropped += y[j] == 0f ? 1 : 0;
        }
        assertTrue(dropped > 0 && dropped < n);
    }

    @Test
    void offsetsIntoArraysAndInPlace() {
        int n = 37;
        float p = 0.5f;
        DropoutRng rng = new DropoutRng(9, 3);
        float[] in = new float[n + 5];
        for (int j = 0; j < in.length; j++) {
            in[j] = j + 1;
        }
        float[] out = new float[n + 10];
        Arrays.fill(out, -7f);
        rng.apply(out, 6, in, 5, n, p);
        for (int j = 0; j < n; j++) {
            // the element index is j, relative to the site, whatever the array offsets
            assertEquals(rng.keep(j, p) ? in[5 + j] * DropoutRng.scale(p) : 0f, out[6 + j], "element " + j);
        }
        for (int k : new int[] {0, 1, 2, 3, 4, 5, n + 6, n + 7, n + 8, n + 9}) {
            assertEquals(-7f, out[k], "outside the site: " + k);
        }
        float[] inPlace = in.clone();
        rng.apply(inPlace, 5, inPlace, 5, n, p);
        for (int j = 0; j < n; j++) {
            assertEquals(out[6 + j], inPlace[5 + j]);
        }
    }

    @Test
    void probabilitiesOutsideZeroOneAreRefused() {
        DropoutRng rng = new DropoutRng(1, 0);
        float[] a = new float[8];
        for (float p : new float[] {-0.1f, -Float.MIN_VALUE, Math.nextUp(1f), 2f, Float.NaN,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            refused(() -> rng.apply(a, 0, a, 0, 8, p), p);
            refused(() -> rng.applyBackward(a, 0, a, 0, 8, p), p);
            refused(() -> rng.keep(0, p), p);
            refused(() -> DropoutRng.scale(p), p);
        }
        assertThrows(IllegalArgumentException.class, () -> rng.apply(a, 0, a, 0, -1, 0.5f));
        assertThrows(IllegalArgumentException.class, () -> rng.uniform(-1));
    }

    private static void refused(Executable call, float p) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call, "p = " + p);
        assertTrue(e.getMessage().contains(String.valueOf(p)), e.getMessage());
    }

    private static float[] mask(DropoutRng rng, float[] ones, int n) {
        float[] out = new float[n];
        rng.apply(out, 0, ones, 0, n, 0.5f);
        return out;
    }

    private static void assertMostlyDifferent(float[] a, float[] b) {
        int differ = 0;
        for (int j = 0; j < a.length; j++) {
            differ += a[j] != b[j] ? 1 : 0;
        }
        // independent masks at p = 0.5 differ in half the places
        assertTrue(differ > 0.4 * a.length, differ + " of " + a.length + " differ");
    }
}
