package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.weights.SafetensorsFile;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link LearningRateSchedule} against HF's schedulers driven by a real torch optimizer
 * (tests/golden/make_optimizer_golden.py: base lr 5e-5, warmup 3, total 10, the lr before each of
 * 12 optimizer steps), to 1e-12 relative: the same double arithmetic, and a cosine that may differ
 * from libm's in its last bit.
 */
class LearningRateScheduleTest {

    static final double BASE_LR = 5e-5;

    @ParameterizedTest
    @ValueSource(strings = {"linear", "cosine", "constant", "constant_with_warmup"})
    void matchesHfSchedulerOnATorchOptimizer(String name) throws Exception {
        double[] expected;
        try (SafetensorsFile golden = SafetensorsFile.open(AdamWTest.goldenPath())) {
            expected = golden.segment("schedule." + name)
                    .toArray(ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
        }
        assertEquals(12, expected.length);
        LearningRateSchedule schedule = LearningRateSchedule.of(name, 3, 10);
        for (int k = 1; k <= expected.length; k++) {
            double lr = schedule.lrAt(k, BASE_LR);
            double e = expected[k - 1];
            assertTrue(Math.abs(lr - e) <= 1e-12 * Math.abs(e), name + " optimizer step " + k + ": " + lr + ", HF " + e);
        }
    }

    @Test
    void handValues() {
        LearningRateSchedule linear = LearningRateSchedule.of("linear", 4, 12);
        assertEquals(0.0, linear.multiplier(0));
        assertEquals(0.5, linear.multiplier(2));
        assertEquals(1.0, linear.multiplier(4));
        assertEquals(0.5, linear.multiplier(8));
        assertEquals(0.0, linear.multiplier(12));
        assertEquals(0.0, linear.multiplier(20), "linear stays at 0 past the total");
        assertEquals(0.0, linear.lrAt(1, 1e-3), "with warmup the first optimizer step runs at lr 0");
        assertEquals(0.25e-3, linear.lrAt(2, 1e-3));

        LearningRateSchedule cosine = LearningRateSchedule.of("cosine", 0, 8);
        assertEquals(1.0, cosine.multiplier(0));
        assertEquals(0.5, cosine.multiplier(4), 1e-15);
        assertEquals(0.0, cosine.multiplier(8), 1e-15);
        assertEquals(0.5, cosine.multiplier(12), 1e-15, "half a cycle, not clamped: cosine rises again past the total");

        assertEquals(1.0, LearningRateSchedule.of("constant", 5, 10).multiplier(0));
        LearningRateSchedule warm = LearningRateSchedule.of("constant_with_warmup", 4, 0);
        assertEquals(0.75, warm.multiplier(3));
        assertEquals(1.0, warm.multiplier(4));
        assertEquals(1.0, warm.multiplier(1000));

        // no warmup, no steps: HF's max(1, ·) guards the divisions
        assertEquals(0.0, LearningRateSchedule.of("linear", 0, 0).multiplier(0));
    }

    @Test
    void unknownNameListsTheValidOnes() {
        var e = assertThrows(IllegalArgumentException.class, () -> LearningRateSchedule.of("cosine_with_restarts", 0, 10));
        assertEquals("unknown lr scheduler type 'cosine_with_restarts': use linear, cosine, constant, constant_with_warmup",
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LearningRateSchedule.of("Linear", 0, 10));
    }

    @Test
    void rejectsStepsOutOfRange() {
        LearningRateSchedule s = LearningRateSchedule.of("linear", 1, 10);
        assertThrows(IllegalArgumentException.class, () -> s.lrAt(0, 1e-3));
        assertThrows(IllegalArgumentException.class, () -> s.multiplier(-1));
        assertThrows(IllegalArgumentException.class, () -> LearningRateSchedule.of("linear", -1, 10));
    }
}
