package distilbert.model;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Element-wise comparison (STYLE habit 8): each value must satisfy
 * {@code |actual − expected| <= atol + rtol·|expected|}. A failure lists the first mismatches with
 * their multi-indices and the worst one, never a single norm that could hide a wrong region.
 */
final class Check {

    private Check() {
    }

    private static final int SHOWN = 8;

    static void close(String what, double[] expected, float[] actual, int[] shape, double atol, double rtol) {
        if (expected.length != actual.length) {
            fail(what + ": expected " + expected.length + " values, got " + actual.length);
        }
        List<String> first = new ArrayList<>();
        int mismatches = 0;
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i], a = actual[i];
            double err = Math.abs(a - e);
            double bound = atol + rtol * Math.abs(e);
            boolean bad = !(err <= bound) && !(Double.isNaN(e) && Double.isNaN(a)) && !(e == a);
            if (bad) {
                mismatches++;
                double excess = Double.isNaN(err) ? Double.POSITIVE_INFINITY : err / bound;
                if (worst < 0 || excess > worstExcess) {
                    worst = i;
                    worstExcess = excess;
                }
                if (first.size() < SHOWN) {
                    first.add(String.format("  %s expected %.9g got %.9g (|diff| %.3g > %.3g)", index(i, shape), e, a, err,
                            bound));
                }
            }
        }
        if (mismatches > 0) {
            fail(String.format("%s: %d of %d values differ beyond atol %.1g + rtol %.1g·|expected|; first:%n%s%n"
                            + "  worst %s expected %.9g got %.9g", what, mismatches, expected.length, atol, rtol,
                    String.join("\n", first), index(worst, shape), expected[worst], actual[worst]));
        }
    }

    static void close(String what, double[] expected, float[] actual, double atol, double rtol) {
        close(what, expected, actual, new int[] {actual.length}, atol, rtol);
    }

    /** float vs float, e.g. two runs of the model that must agree. */
    static void close(String what, float[] expected, float[] actual, int[] shape, double atol, double rtol) {
        double[] e = new double[expected.length];
        for (int i = 0; i < e.length; i++) {
            e[i] = expected[i];
        }
        close(what, e, actual, shape, atol, rtol);
    }

    static void close(String what, Tensor expected, Tensor actual, double atol, double rtol) {
        if (!Arrays.equals(expected.shape(), actual.shape())) {
            fail(what + ": shape " + Arrays.toString(actual.shape()) + ", expected " + Arrays.toString(expected.shape()));
        }
        close(what, expected.data(), actual.data(), actual.shape(), atol, rtol);
    }

    static String index(int flat, int[] shape) {
        int[] idx = new int[shape.length];
        for (int d = shape.length - 1; d >= 0; d--) {
            idx[d] = flat % shape[d];
            flat /= shape[d];
        }
        return Arrays.toString(idx);
    }
}
