package distilbert.weights;

import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The feed-forward activation of DistilBERT ({@code config.activation}). HF resolves the string
 * through {@code get_activation} (ACT2FN); the seed documents these four.
 *
 * <ul>
 *   <li>{@link #GELU}: exact, {@code 0.5·x·(1 + erf(x/√2))} (ACT2FN "gelu")</li>
 *   <li>{@link #RELU}: {@code max(0, x)}</li>
 *   <li>{@link #SILU}: {@code x·sigmoid(x)} (ACT2FN "silu"; "swish" is an alias)</li>
 *   <li>{@link #GELU_NEW}: tanh approximation {@code 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))}
 *       (ACT2FN "gelu_new"; "gelu_pytorch_tanh" is accepted as an alias: the same formula, which
 *       torch evaluates in a fused kernel, so it differs from "gelu_new" only by float rounding)</li>
 * </ul>
 * An alias read from config.json is written back under its canonical name.
 */
public enum Activation {
    GELU("gelu"),
    RELU("relu"),
    SILU("silu"),
    GELU_NEW("gelu_new");

    private final String hfName;

    Activation(String hfName) {
        this.hfName = hfName;
    }

    /** The string HF writes in config.json. */
    public String hfName() {
        return hfName;
    }

    /**
     * Parses an HF activation string. Accepts the four canonical names and two ACT2FN aliases for
     * the same functions: "swish" (= silu) and "gelu_pytorch_tanh" (= gelu_new).
     */
    public static Optional<Activation> fromHf(String name) {
        if (name == null) return Optional.empty();
        return switch (name) {
            case "gelu" -> Optional.of(GELU);
            case "relu" -> Optional.of(RELU);
            case "silu", "swish" -> Optional.of(SILU);
            case "gelu_new", "gelu_pytorch_tanh" -> Optional.of(GELU_NEW);
            default -> Optional.empty();
        };
    }

    /** "gelu, relu, silu, gelu_new", for error messages. */
    public static String choices() {
        return Arrays.stream(values()).map(Activation::hfName).collect(Collectors.joining(", "));
    }
}
