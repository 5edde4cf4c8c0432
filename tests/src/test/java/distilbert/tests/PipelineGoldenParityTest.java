package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.TextClassification;
import distilbert.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * HuggingFace's text-classification pipeline (tests/golden/make_golden.py, the "pipelines" cases):
 * random DistilBertForSequenceClassification models saved with a WordPiece tokenizer, and what the
 * pipeline answered for fixed texts and pairs (top 1 and {@code top_k=None}). {@link TextClassification}
 * (what {@code distilbert score} runs) must give the same tokens, the same labels in the same
 * order and the same scores, on the CPU backend.
 *
 * <p>Bound per score: |ours − HF| ≤ 2e-5 + 1e-4·|HF|, {@link GoldenParityTest}'s: both sides turn
 * float32 logits into float32 scores, and the logits differ by summation order only. Where two of
 * HF's scores lie within that bound of each other, their order is not checked.
 */
class PipelineGoldenParityTest {

    @TestFactory
    Stream<DynamicTest> textClassificationMatchesHuggingFacesPipeline() throws Exception {
        return PipelineGolden.forTask("text-classification",
                c -> List.of(DynamicTest.dynamicTest(c.name(), () -> check(c.dir(), c.expected()))));
    }

    private static void check(Path dir, JsonNode expected) throws Exception {
        List<String> texts = strings(expected.get("texts"));
        Tokenizer tok = Tokenizer.fromPretrained(dir);
        for (int i = 0; i < texts.size(); i++) {
            int[] want = expected.get("tokens").get(i).traverse(new ObjectMapper()).readValueAs(int[].class);
            assertEquals(Arrays.toString(want), Arrays.toString(tok.encode(texts.get(i)).ids()), texts.get(i) + ": tokens");
        }
        try (DistilBert db = DistilBert.load(dir, Device.CPU)) {
            TextClassification clf = new TextClassification(db, tok);
            List<TextClassification.Result> got = clf.classify(texts);
            List<String> mismatches = new ArrayList<>();
            for (int i = 0; i < texts.size(); i++) {
                String what = dir.getFileName() + " \"" + texts.get(i) + "\"";
                compare(what + " top 1", List.of(expected.get("top1").get(i)), List.of(got.get(i).best()), mismatches);
                compare(what + " top_k=None", list(expected.get("all").get(i)), got.get(i).all(), mismatches);
            }
            JsonNode pairs = expected.get("pairs");
            List<String> firsts = new ArrayList<>(), seconds = new ArrayList<>();
            pairs.forEach(p -> {
                firsts.add(p.get(0).asText());
                seconds.add(p.get(1).asText());
            });
            List<TextClassification.Result> gotPairs = clf.classify(firsts, seconds);
            for (int i = 0; i < firsts.size(); i++) {
                compare(dir.getFileName() + " pair " + pairs.get(i), list(expected.get("pairs_all").get(i)),
                        gotPairs.get(i).all(), mismatches);
            }
            assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
        }
    }

    /** HF's list against ours: the same labels in the same order (where HF's scores are apart), close scores. */
    private static void compare(String what, List<JsonNode> hf, List<TextClassification.LabelScore> ours,
                                List<String> mismatches) {
        if (hf.size() != ours.size()) {
            mismatches.add(what + ": HF gives " + hf.size() + " labels, we give " + ours.size());
            return;
        }
        Map<String, Float> ourScores = new LinkedHashMap<>();
        ours.forEach(ls -> ourScores.put(ls.label(), ls.score()));
        for (int i = 0; i < hf.size(); i++) {
            String label = hf.get(i).get("label").asText();
            double want = hf.get(i).get("score").asDouble();
            Float got = ourScores.get(label);
            if (got == null || !(Math.abs(got - want) <= GoldenParityTest.ATOL + GoldenParityTest.RTOL * Math.abs(want))) {
                mismatches.add(what + ": " + label + " scores " + got + ", HF " + want);
            }
            boolean tiedWithNeighbour = i + 1 < hf.size()
                    && Math.abs(want - hf.get(i + 1).get("score").asDouble()) <= 2 * (GoldenParityTest.ATOL
                    + GoldenParityTest.RTOL * Math.abs(want))
                    || i > 0 && Math.abs(want - hf.get(i - 1).get("score").asDouble()) <= 2 * (GoldenParityTest.ATOL
                    + GoldenParityTest.RTOL * Math.abs(want));
            if (!tiedWithNeighbour && !ours.get(i).label().equals(label)) {
                mismatches.add(what + ": place " + i + " is " + ours.get(i).label() + ", HF has " + label);
            }
        }
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    private static List<JsonNode> list(JsonNode array) {
        List<JsonNode> out = new ArrayList<>();
        array.forEach(out::add);
        return out;
    }
}
