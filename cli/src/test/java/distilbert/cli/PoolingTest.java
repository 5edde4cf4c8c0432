package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Pooling and normalization as sentence-transformers does them, and the batch planner. */
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

    @Test
    void batchesAreSortedByLengthAndStayWithinTheTokenBudget() {
        Random random = new Random(5);
        for (int trial = 0; trial < 200; trial++) {
            int[] lengths = new int[random.nextInt(60)];
            for (int i = 0; i < lengths.length; i++) lengths[i] = 1 + random.nextInt(50);
            int budget = 1 + random.nextInt(300);
            List<int[]> batches = LengthBatches.plan(lengths, budget);
            List<Integer> seen = new ArrayList<>();
            int previous = 0;
            for (int[] batch : batches) {
                assertTrue(batch.length > 0);
                long tokens = 0;
                for (int i : batch) {
                    assertTrue(lengths[i] >= previous, "ascending length");
                    previous = lengths[i];
                    tokens += lengths[i];
                    seen.add(i);
                }
                assertTrue(tokens <= budget || batch.length == 1, "within the budget, or one row alone: " + Arrays.toString(batch));
            }
            assertEquals(lengths.length, seen.size(), "every row once");
            assertEquals(lengths.length, seen.stream().distinct().count());
            // greedy: a batch stops only where the next row would not fit
            for (int b = 0; b + 1 < batches.size(); b++) {
                long tokens = Arrays.stream(batches.get(b)).mapToLong(i -> lengths[i]).sum();
                assertTrue(tokens + lengths[batches.get(b + 1)[0]] > budget);
            }
        }
    }

    @Test
    void equalLengthsKeepInputOrderAndALongRowRunsAlone() {
        List<int[]> batches = LengthBatches.plan(new int[] {5, 3, 5, 100, 3}, 10);
        assertEquals(3, batches.size());
        assertArrayEquals(new int[] {1, 4}, batches.get(0));
        assertArrayEquals(new int[] {0, 2}, batches.get(1));
        assertArrayEquals(new int[] {3}, batches.get(2));
        assertEquals(List.of(), LengthBatches.plan(new int[0], 10));
        assertThrows(IllegalArgumentException.class, () -> LengthBatches.plan(new int[] {1}, 0));
    }
}
