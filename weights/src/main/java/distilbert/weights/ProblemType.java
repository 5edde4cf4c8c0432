package distilbert.weights;

import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * {@code config.problem_type}: which loss DistilBertForSequenceClassification uses. HF leaves it
 * null and decides per batch (see {@link DistilBertConfig#resolveProblemType(boolean)}).
 */
public enum ProblemType {
    /** MSE loss over {@code num_labels} outputs. */
    REGRESSION("regression"),
    /** Softmax cross-entropy, integer labels. */
    SINGLE_LABEL_CLASSIFICATION("single_label_classification"),
    /** BCE-with-logits, float multi-hot labels. */
    MULTI_LABEL_CLASSIFICATION("multi_label_classification");

    private final String hfName;

    ProblemType(String hfName) {
        this.hfName = hfName;
    }

    public String hfName() {
        return hfName;
    }

    public static Optional<ProblemType> fromHf(String name) {
        return Arrays.stream(values()).filter(p -> p.hfName.equals(name)).findFirst();
    }

    public static String choices() {
        return Arrays.stream(values()).map(ProblemType::hfName).collect(Collectors.joining(", "));
    }
}
