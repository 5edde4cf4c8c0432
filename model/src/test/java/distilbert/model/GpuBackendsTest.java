package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

/**
 * The GPU tests' comparison, on the CPU: a GPU run may be the only one a session gets, so its failure
 * message must say where the error is, not only how large its norm is.
 */
final class GpuBackendsTest {

    private static float[] ramp(int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = 1 + (i % 7) * 0.25f;
        }
        return x;
    }

    @Test
    void withinTheBoundPasses() {
        float[] expected = ramp(64), actual = expected.clone();
        actual[5] *= 1 + 1e-6f;
        assertDoesNotThrow(() -> GpuBackends.assertWithin("ramp", 1e-5, expected, actual, 8, 8));
    }

    @Test
    void aWrongRowIsLocatedByIndexGroupAndColumn() {
        // [20, 8]: row 13 is wrong, most of all in column 6
        float[] expected = ramp(160), actual = expected.clone();
        for (int c = 0; c < 8; c++) {
            actual[13 * 8 + c] += c == 6 ? 3 : 0.5f;
        }
        AssertionFailedError e = assertThrows(AssertionFailedError.class,
                () -> GpuBackends.assertWithin("ramp", 1e-2, expected, actual, 20, 8));
        String m = e.getMessage();
        assertTrue(m.startsWith("ramp: relative L2 error "), m);
        // the worst element first, with its [row, column]
        assertTrue(m.contains("worst elements: [13, 6] "), m);
        // 20 rows in 16 groups: row 13 falls in group 13 * 16 / 20 = 10, which holds all of the error
        assertTrue(m.contains("squared error by first index (20 in 16 groups): 0% 0% 0% 0% 0% 0% 0% 0% 0% 0% 100% 0%"), m);
        assertTrue(m.contains("the 5 worst of 8 last-index columns (6, "), m);
    }

    @Test
    void aFlatTensorIsSplitInEighths() {
        float[] expected = ramp(80), actual = expected.clone();
        actual[79] = -actual[79];
        String m = assertThrows(AssertionFailedError.class,
                () -> GpuBackends.assertWithin("flat", 1e-3, expected, actual)).getMessage();
        assertTrue(m.contains("worst elements: [79] "), m);
        assertTrue(m.contains("squared error by eighths of the tensor: 0% 0% 0% 0% 0% 0% 0% 100%"), m);
    }

    @Test
    void aShapeThatDoesNotFitIsReadFlat() {
        float[] expected = ramp(10), actual = expected.clone();
        actual[2] = 100;
        String m = assertThrows(AssertionFailedError.class,
                () -> GpuBackends.assertWithin("odd", 1e-3, expected, actual, 3, 3)).getMessage();
        assertTrue(m.contains("worst elements: [2] "), m);
    }

    @Test
    void anUnwrittenElementFailsAtOnce() {
        float[] expected = ramp(16), actual = expected.clone();
        actual[9] = Float.NaN;
        String m = assertThrows(AssertionFailedError.class,
                () -> GpuBackends.assertWithin("nan", 1, expected, actual, 4, 4)).getMessage();
        assertTrue(m.contains("element 9 is NaN"), m);
        assertTrue(m.endsWith("1 of 16 elements so, from 9 to 9"), m);
    }
}
