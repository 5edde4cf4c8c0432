package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.DistilBertForMaskedLM;
import distilbert.model.DistilBertForMultipleChoice;
import distilbert.model.DistilBertForQuestionAnswering;
import distilbert.model.DistilBertForSequenceClassification;
import distilbert.model.DistilBertForTokenClassification;
import distilbert.model.DistilBertModel;
import distilbert.model.MaskedPositions;
import distilbert.model.ModelInput;
import distilbert.model.ParameterSlab;
import distilbert.model.Precision;
import distilbert.model.SequenceLabels;
import distilbert.model.Tensor;
import distilbert.weights.SafetensorsFile;
import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The backward pass against HuggingFace: for every golden case (tests/golden/make_golden.py), the
 * training step of our CPU model (dropout 0, as the files were made) gives HF's loss and the
 * gradient HF's {@code loss.backward()} left on every parameter, element-wise.
 *
 * <p>Bound per element: |ours − HF| ≤ max(1e-5·S_tensor, 1e-6·S_model) + 1e-4·|HF|, S_tensor the
 * largest |HF gradient| of the tensor and S_model of the whole model. A gradient is a sum over
 * every token of the batch of products of float32 activations, accumulated in another order than
 * torch's, so its absolute error scales with the tensor's largest gradient rather than with each
 * element (a near-cancelling sum has a tiny value and an error of the tensor's scale). Some
 * gradients are zero in exact arithmetic and hold only rounding noise on both sides (k_lin's bias,
 * which the softmax cancels; a bias added to every logit of a softmax, as QA's and multiple choice's;
 * the last layer norm's bias under QA): the model-wide floor, a millionth of the largest gradient,
 * covers that noise. Observed errors are ~1e-7 of the scale; a wrong derivative, a missing residual
 * path or a wrong mask is off by 1e-2 of it or more.
 */
class GradientGoldenParityTest {
    static final double SCALE_TOL = 1e-5, GLOBAL_TOL = 1e-6, RTOL = 1e-4;

    @TestFactory
    Stream<DynamicTest> everyGradientMatchesHuggingFace() throws Exception {
        URL index = GradientGoldenParityTest.class.getResource("/golden/index.json");
        if (index == null) {
            return Stream.of(DynamicTest.dynamicTest("golden files", () -> Assumptions.abort(
                    "the HF golden files are not generated: run `python3 tests/golden/make_golden.py`")));
        }
        Path root = Path.of(index.toURI()).getParent();
        JsonNode cases = new ObjectMapper().readTree(index).get("cases");
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : cases) {
            String name = c.get("case").asText();
            tests.add(DynamicTest.dynamicTest(name, () -> check(root.resolve(name), c.get("head").asText())));
        }
        return tests.stream();
    }

    static void check(Path dir, String head) throws Exception {
        check(dir, head, Device.CPU, null);
    }

    /** {@link #check(Path, String)} with the model on {@code device} at {@code precision} (null: the default). */
    static void check(Path dir, String head, Device device, Precision precision) throws Exception {
        try (SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"));
             DistilBert db = DistilBert.load(dir, device, precision)) {
            ParameterSlab grads = ParameterSlab.allocate(db.ops(), db.architecture().parameters().table());
            Float loss = step(db, io, head, grads);
            List<String> mismatches = new ArrayList<>();
            if (loss != null) {
                GoldenParityTest.compare("loss", io.readFloats("output.loss"), new float[] {loss}, mismatches);
            }
            TreeSet<String> names = new TreeSet<>();
            for (String n : io.names()) {
                if (n.startsWith("grad.")) {
                    names.add(n.substring("grad.".length()));
                }
            }
            assertTrue(names.size() >= 20, dir + ": only " + names.size() + " gradients in the file");
            double global = 0;
            for (String name : names) {
                global = Math.max(global, maxAbs(io.readFloats("grad." + name)));
            }
            for (String name : names) {
                assertTrue(grads.contains(name), dir.getFileName() + ": HF has a gradient for " + name + ", we have no such parameter");
                float[] want = io.readFloats("grad." + name);
                double allowed = Math.max(SCALE_TOL * maxAbs(want), GLOBAL_TOL * global);
                compare(dir.getFileName() + " grad " + name, want, db.ops().download(grads.get(name)), allowed, mismatches);
            }
            // a parameter HF left without a gradient (the word embeddings under inputs_embeds) gets none from us
            TreeSet<String> untouched = new TreeSet<>(db.architecture().parameters().table().offsets().keySet());
            untouched.removeAll(names);
            untouched.remove("vocab_projector.weight"); // tied to the word embeddings: HF lists it once
            for (String name : untouched) {
                assertEquals(0.0, maxAbs(db.ops().download(grads.get(name))), dir.getFileName() + ": " + name
                        + " has a gradient where HF has none");
            }
            assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
        }
    }

    /** The case's training step through {@code db}: HF's loss (null for the base model), gradients in {@code grads}. */
    static Float step(DistilBert db, SafetensorsFile io, String head, ParameterSlab grads) {
        return step(db, io, head, grads, 1f);
    }

    /**
     * {@link #step(DistilBert, SafetensorsFile, String, ParameterSlab)} with the gradients of {@code lossScale}
     * times the loss (the base model's probe times it), as a loss-scaled fp16 step computes them.
     */
    static Float step(DistilBert db, SafetensorsFile io, String head, ParameterSlab grads, float lossScale) {
        long[] idShape = io.contains("input.input_ids") ? io.info("input.input_ids").shape() : null;
        ModelInput input;
        if (head.equals("DistilBertForMultipleChoice")) {
            int b = (int) idShape[0], c = (int) idShape[1], l = (int) idShape[2];
            input = ModelInput.ofChoices(GoldenParityTest.ints3(io.readLongs("input.input_ids"), b, c, l),
                    GoldenParityTest.ints3(io.readLongs("input.attention_mask"), b, c, l));
        } else if (io.contains("input.inputs_embeds")) {
            long[] s = io.info("input.inputs_embeds").shape();
            input = ModelInput.ofEmbeds(Tensor.of(io.readFloats("input.inputs_embeds"), (int) s[0], (int) s[1], (int) s[2]),
                    GoldenParityTest.ints(io.readLongs("input.attention_mask")));
        } else {
            input = ModelInput.ofIds((int) idShape[0], (int) idShape[1], GoldenParityTest.ints(io.readLongs("input.input_ids")),
                    GoldenParityTest.ints(io.readLongs("input.attention_mask")));
        }
        // HF computes every position, padding included, and its losses read some of them
        input = input.withMaskedPositions(MaskedPositions.COMPUTE);
        return switch (head) {
            case "DistilBertModel" -> {
                long[] s = io.info("input.probe").shape();
                float[] probe = io.readFloats("input.probe");
                for (int i = 0; i < probe.length; i++) {
                    probe[i] *= lossScale;
                }
                db.as(DistilBertModel.class).backward(input, Tensor.of(probe, (int) s[0], (int) s[1], (int) s[2]), grads);
                yield null;
            }
            case "DistilBertForMaskedLM" ->
                    db.as(DistilBertForMaskedLM.class).backward(input, GoldenParityTest.rows(io, "input.labels"), grads, lossScale).loss();
            case "DistilBertForSequenceClassification" -> {
                var info = io.info("input.labels");
                SequenceLabels labels = info.dtype().isFloatingPoint()
                        ? new SequenceLabels.Values(Tensor.of(io.readFloats("input.labels"), GoldenParityTest.dims(info.shape())))
                        : new SequenceLabels.Classes(GoldenParityTest.ints(io.readLongs("input.labels")));
                yield db.as(DistilBertForSequenceClassification.class).backward(input, labels, grads, lossScale).loss();
            }
            case "DistilBertForMultipleChoice" -> db.as(DistilBertForMultipleChoice.class).backward(input, (int) idShape[1],
                    GoldenParityTest.ints(io.readLongs("input.labels")), grads, lossScale).loss();
            case "DistilBertForTokenClassification" -> db.as(DistilBertForTokenClassification.class).backward(input,
                    GoldenParityTest.rows(io, "input.labels"), grads, lossScale).loss();
            case "DistilBertForQuestionAnswering" -> db.as(DistilBertForQuestionAnswering.class).backward(input,
                    GoldenParityTest.ints(io.readLongs("input.start_positions")),
                    GoldenParityTest.ints(io.readLongs("input.end_positions")), grads, lossScale).loss();
            default -> throw new IllegalStateException("unknown head " + head);
        };
    }

    static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    /** Element-wise: |ours − HF| ≤ absolute + RTOL·|HF|; reports the first mismatches and the worst. */
    static void compare(String what, float[] want, float[] got, double absolute, List<String> out) {
        if (want.length != got.length) {
            out.add(what + ": " + want.length + " values expected, got " + got.length);
            return;
        }
        int bad = 0, worst = -1;
        double worstRatio = 0;
        for (int i = 0; i < want.length; i++) {
            double err = Math.abs((double) got[i] - want[i]), allowed = absolute + RTOL * Math.abs(want[i]);
            if (!(err <= allowed)) {
                if (bad++ < 3) {
                    out.add(what + "[" + i + "]: expected " + want[i] + ", got " + got[i] + " (absolute bound " + (float) absolute + ")");
                }
                double ratio = Double.isNaN(err) ? Double.POSITIVE_INFINITY : err / allowed;
                if (ratio > worstRatio) {
                    worstRatio = ratio;
                    worst = i;
                }
            }
        }
        if (bad > 0) {
            out.add(what + ": " + bad + " of " + want.length + " differ; worst at " + worst + ", " + (float) worstRatio + "x the bound");
        }
    }
}
