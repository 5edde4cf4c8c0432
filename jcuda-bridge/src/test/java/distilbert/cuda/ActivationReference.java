package distilbert.cuda;

import org.apache.commons.math3.special.Erf;

/**
 * The CPU oracle for activation.cu, written from the textbook definitions in double precision (GELU
 * through commons-math's erfc, gelu_new through tanh; the kernels use other but equal forms, so this
 * also checks those rewrites). Same argument order as the launchers: outputs first.
 *
 * <p>z = inp + bias is formed in float, as the kernel forms it, so that both sides evaluate the
 * activation at the same point; everything after is double.
 */
final class ActivationReference {

    private static final double SQRT_2 = Math.sqrt(2.0);
    private static final double INV_SQRT_2PI = 1.0 / Math.sqrt(2.0 * Math.PI);
    private static final double K0 = Math.sqrt(2.0 / Math.PI);
    private static final double K1 = 0.044715;

    private ActivationReference() {}

    static void forward(Activation act, double[] out, float[] inp, float[] bias, int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                int i = r * cols + c;
                out[i] = value(act, inp[i] + bias[c]);
            }
        }
    }

    /** dinp = dout · act'(z); dbias += column sums of dinp (starting from dbias's values). */
    static void backward(Activation act, double[] dinp, double[] dbias, float[] dout, float[] inp, float[] bias,
                         int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                int i = r * cols + c;
                dinp[i] = dout[i] * derivative(act, inp[i] + bias[c]);
                dbias[c] += dinp[i];
            }
        }
    }

    static double value(Activation act, double z) {
        return switch (act) {
            case GELU -> z * 0.5 * Erf.erfc(-z / SQRT_2);
            case GELU_NEW -> 0.5 * z * (1.0 + Math.tanh(K0 * (z + K1 * z * z * z)));
            case RELU -> z > 0 ? z : 0.0;
            case SILU -> z / (1.0 + Math.exp(-z));
        };
    }

    static double derivative(Activation act, double z) {
        return switch (act) {
            case GELU -> 0.5 * Erf.erfc(-z / SQRT_2) + z * INV_SQRT_2PI * Math.exp(-0.5 * z * z);
            case GELU_NEW -> {
                double t = Math.tanh(K0 * (z + K1 * z * z * z));
                yield 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * K0 * (1.0 + 3.0 * K1 * z * z);
            }
            case RELU -> z > 0 ? 1.0 : 0.0;
            case SILU -> {
                double s = 1.0 / (1.0 + Math.exp(-z));
                yield s * (1.0 + z * (1.0 - s));
            }
        };
    }
}
