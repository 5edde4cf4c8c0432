package distilbert.model;

import distilbert.weights.Activation;

/**
 * The four activations of DistilBERT's config, as scalar functions evaluated in double and rounded
 * once to float (torch evaluates them in float; the difference is at most a rounding or two).
 */
final class ActivationFunctions {

    private ActivationFunctions() {
    }

    private static final double INV_SQRT2 = 0.70710678118654752440;
    private static final double SQRT_2_OVER_PI = 0.79788456080286535588;

    static float apply(Activation act, float x) {
        return switch (act) {
            case GELU -> gelu(x);
            case GELU_NEW -> geluNew(x);
            case RELU -> relu(x);
            case SILU -> silu(x);
        };
    }

    /** x·Φ(x) = 0.5·x·erfc(−x/√2): HF "gelu" (torch's exact GELU). */
    static float gelu(float x) {
        return (float) (0.5 * x * Erf.erfc(-x * INV_SQRT2));
    }

    /** 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))): HF "gelu_new". */
    static float geluNew(float x) {
        double xd = x;
        return (float) (0.5 * xd * (1.0 + Math.tanh(SQRT_2_OVER_PI * (xd + 0.044715 * xd * xd * xd))));
    }

    /** max(x, 0); NaN stays NaN as in torch. */
    static float relu(float x) {
        return x > 0f ? x : (x != x ? x : 0f);
    }

    /** x·sigmoid(x). */
    static float silu(float x) {
        return (float) (x / (1.0 + Math.exp(-(double) x)));
    }

    /** d act(x) / dx in double: the backward of {@link #apply}. */
    static double derivative(Activation act, double x) {
        return switch (act) {
            case GELU -> 0.5 * Erf.erfc(-x * INV_SQRT2) + x * Math.exp(-0.5 * x * x) * INV_SQRT_2PI;
            case GELU_NEW -> {
                double u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
                double t = Math.tanh(u);
                yield 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x);
            }
            case RELU -> x > 0 ? 1.0 : (x != x ? x : 0.0); // torch's threshold_backward: 0 at x = 0
            case SILU -> {
                double s = 1.0 / (1.0 + Math.exp(-x));
                yield s * (1.0 + x * (1.0 - s));
            }
        };
    }

    private static final double INV_SQRT_2PI = 0.39894228040143267794;
}
