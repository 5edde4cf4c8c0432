package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Pooling and normalization as sentence-transformers does them. */
class PoolingTest {
    // two rows of a padded batch [B=2, L=3, C=2]; row 1 has 2 real tokens and a pad (zeros)
    static final float[] H = {1, 2, 3, 4, 5, 6, /* row 1 */ -1, 0.5f, 3, 1.5f, 0, 0};

    @Test
    void meanAveragesTheRealTokensOnly() {
        assertArrayEquals(new float[] {3, 4}, Pooling.MEAN.pool(H, 0, 3, 2));
        assertArrayEquals(new float[] {1, 1}, Pooling.MEAN.pool(H, 6, 2, 2), "the pad position is not averaged in");
    }

    @Test
    void clsTakesTokenZero() {
        assertArrayEquals(new float[] {1, 2}, Pooling.CLS.pool(H, 0, 3, 2));
        assertArrayEquals(new float[] {-1, 0.5f}, Pooling.CLS.pool(H, 6, 2, 2));
        assertThrows(IllegalStateException.class, () -> Pooling.NONE.pool(H, 0, 3, 2));
    }

    @Test
    void normalizeDividesByTheL2NormAndLeavesZeroAlone() {
        float[] v = {3, 4};
        Pooling.normalize(v);
        assertArrayEquals(new float[] {0.6f, 0.8f}, v);
        float[] zero = {0, 0, 0};
        Pooling.normalize(zero);
        assertArrayEquals(new float[] {0, 0, 0}, zero, "torch's F.normalize: x / max(‖x‖, 1e-12)");
        float[] tiny = {1e-30f, 0};
        Pooling.normalize(tiny);
        assertArrayEquals(new float[] {1e-18f, 0}, tiny, 1e-24f, "below the eps the divisor is 1e-12");
    }
}
