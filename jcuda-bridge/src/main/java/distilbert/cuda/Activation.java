package distilbert.cuda;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The activations DistilBERT's config accepts ({@code activation} in config.json), named as
 * HuggingFace names them; the name is also the kernel's: {@code bias_<hfName>_forward_f32}.
 */
public enum Activation {
    /** x · Φ(x), the exact GELU (erf); every released DistilBERT checkpoint uses it. */
    GELU("gelu"),
    /** The tanh approximation of GELU: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))). */
    GELU_NEW("gelu_new"),
    /** max(x, 0), with derivative 0 at 0 as in torch. */
    RELU("relu"),
    /** x · sigmoid(x). */
    SILU("silu");

    private final String hfName;

    Activation(String hfName) {
        this.hfName = hfName;
    }

    public String hfName() {
        return hfName;
    }

    /**
     * The activation called {@code name} in a HuggingFace config.
     *
     * @throws IllegalArgumentException naming the accepted values
     */
    public static Activation fromHfName(String name) {
        for (Activation a : values()) {
            if (a.hfName.equals(name)) {
                return a;
            }
        }
        throw new IllegalArgumentException("unsupported activation '" + name + "'; supported: "
                + Arrays.stream(values()).map(Activation::hfName).collect(Collectors.joining(", ")));
    }
}
