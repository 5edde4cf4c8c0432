package distilbert.cuda;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assertions;

/**
 * Element-wise comparison with {@code |actual - expected| <= atol + rtol * |expected|} per element.
 * A failure lists the first mismatches with their [row, col] and the worst one, never only a norm
 * that could hide a wrong region. NaN in {@code actual} is always a mismatch.
 */
final class Compare {

    private static final int SHOWN = 10;

    private Compare() {}

    static void assertClose(String tensor, float[] actual, double[] expected, int cols, double atol, double rtol,
                            String context) {
        double[] atols = new double[expected.length];
        java.util.Arrays.fill(atols, atol);
        assertClose(tensor, actual, expected, cols, atols, rtol, context);
    }

    /** With a separate absolute tolerance per element (a sum's error grows with its terms). */
    static void assertClose(String tensor, float[] actual, double[] expected, int cols, double[] atol, double rtol,
                            String context) {
        List<String> shown = new ArrayList<>();
        int mismatches = 0;
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            double tol = atol[i] + rtol * Math.abs(expected[i]);
            if (!(err <= tol)) {
                mismatches++;
                double excess = Double.isNaN(err) ? Double.POSITIVE_INFINITY : err / tol;
                if (worst < 0 || excess > worstExcess) {
                    worst = i;
                    worstExcess = excess;
                }
                if (shown.size() < SHOWN) {
                    shown.add(describe(i, cols, actual[i], expected[i], tol));
                }
            }
        }
        if (mismatches > 0) {
            Assertions.fail(String.format("%s: %d of %d elements outside atol + rtol·|ref| (rtol %.1e) [%s]%n"
                            + "  first: %s%n  worst: %s", tensor, mismatches, expected.length, rtol, context,
                    String.join("; ", shown), describe(worst, cols, actual[worst], expected[worst],
                            atol[worst] + rtol * Math.abs(expected[worst]))));
        }
    }

    /** Every element of {@code actual[from, to)} is still the poison NaN (nothing wrote past the end). */
    static void assertUntouched(String tensor, float[] actual, int from, int to, float poison, String context) {
        int poisonBits = Float.floatToRawIntBits(poison);
        for (int i = from; i < to; i++) {
            if (Float.floatToRawIntBits(actual[i]) != poisonBits) {
                Assertions.fail(tensor + ": element " + i + " past the end (" + from + ") was written: "
                        + actual[i] + " [" + context + "]");
            }
        }
    }

    private static String describe(int i, int cols, float actual, double expected, double tol) {
        return String.format("[%d, %d] gpu %.9g cpu %.9g |diff| %.3g tol %.3g",
                i / cols, i % cols, actual, expected, Math.abs(actual - expected), tol);
    }
}
