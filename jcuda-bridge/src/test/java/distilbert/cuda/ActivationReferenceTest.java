package distilbert.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The oracle itself, on the CPU: known values, and derivatives against finite differences. */
final class ActivationReferenceTest {

    @Test
    void knownValues() {
        // torch.nn.functional.gelu / gelu(approximate='tanh') / silu at 1 and -1, in float64.
        assertEquals(0.8413447460685429, ActivationReference.value(Activation.GELU, 1.0), 1e-15);
        assertEquals(-0.15865525393145707, ActivationReference.value(Activation.GELU, -1.0), 1e-15);
        assertEquals(0.8411919906082768, ActivationReference.value(Activation.GELU_NEW, 1.0), 1e-15);
        assertEquals(0.7310585786300049, ActivationReference.value(Activation.SILU, 1.0), 1e-15);
        assertEquals(0.0, ActivationReference.value(Activation.RELU, -2.0));
        assertEquals(0.0, ActivationReference.derivative(Activation.RELU, 0.0), "torch: relu'(0) = 0");
    }

    @ParameterizedTest
    @EnumSource(Activation.class)
    void derivativesMatchCentralDifferences(Activation act) {
        double h = 1e-5;
        for (double z = -8.0; z <= 8.0; z += 0.37) {
            double numeric = (ActivationReference.value(act, z + h) - ActivationReference.value(act, z - h)) / (2 * h);
            assertEquals(numeric, ActivationReference.derivative(act, z), 1e-8, act + " at z = " + z);
        }
    }
}
