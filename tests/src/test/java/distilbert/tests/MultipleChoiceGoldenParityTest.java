package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.MultipleChoice;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Multiple choice against HuggingFace (tests/golden/make_golden.py, the "multiple-choice" cases):
 * random DistilBertForMultipleChoice models saved with a WordPiece tokenizer, and per question what
 * the model gives when run as HF's documentation runs it (the choices tokenized as pairs with the
 * prompt, truncation=True, padded, unsqueezed to [1, n, L]). {@link MultipleChoice} (what
 * {@code distilbert multiple-choice} runs) must give the same rows token for token, and the same
 * logits, scores and best choice, on the CPU backend; all the questions go in one call, so that
 * choices of several questions share batches.
 *
 * <p>Bound per logit and score: |ours − HF| ≤ 2e-5 + 1e-4·|HF|, {@link GoldenParityTest}'s (the
 * logits differ by summation order only). The best choice must be HF's unless HF's two best scores
 * lie within that bound of each other.
 */
class MultipleChoiceGoldenParityTest {

    private static final double ATOL = 2e-5, RTOL = 1e-4;

    @TestFactory
    Stream<DynamicTest> multipleChoiceMatchesHuggingFace() throws Exception {
        return PipelineGolden.forTask("multiple-choice",
                c -> List.of(DynamicTest.dynamicTest(c.name(), () -> check(c))));
    }

    private static void check(PipelineGolden.Case c) throws Exception {
        Tokenizer tok = Tokenizer.fromPretrained(c.dir());
        List<MultipleChoice.Question> questions = new ArrayList<>();
        for (JsonNode q : c.expected().get("questions")) {
            List<String> choices = new ArrayList<>();
            q.get("choices").forEach(x -> choices.add(x.asText()));
            questions.add(new MultipleChoice.Question(q.get("prompt").asText(), choices));
        }
        assertTrue(questions.size() >= 5, "questions: " + questions.size());
        try (DistilBert db = DistilBert.load(c.dir(), Device.CPU)) {
            MultipleChoice mc = new MultipleChoice(db, tok);
            List<Encoding> rows = mc.encode(questions);
            List<MultipleChoice.Result> got = mc.choose(questions);
            List<String> mismatches = new ArrayList<>();
            int row = 0, truncated = 0;
            for (int i = 0; i < questions.size(); i++) {
                JsonNode want = c.expected().get("questions").get(i);
                String what = c.name() + " question " + i;
                for (int j = 0; j < questions.get(i).choices().size(); j++, row++) {
                    int[] ids = new ObjectMapper().treeToValue(want.get("input_ids").get(j), int[].class);
                    assertEquals(Arrays.toString(ids), Arrays.toString(rows.get(row).ids()), what + " choice " + j + ": tokens");
                    if (!rows.get(row).overflowing().isEmpty()) truncated++;
                }
                MultipleChoice.Result r = got.get(i);
                assertEquals(want.get("logits").size(), r.numChoices(), what + ": choices");
                double first = Double.NEGATIVE_INFINITY, second = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < r.numChoices(); j++) {
                    close(what + " logit " + j, want.get("logits").get(j).asDouble(), r.logits()[j], mismatches);
                    double s = want.get("scores").get(j).asDouble();
                    close(what + " score " + j, s, r.scores()[j], mismatches);
                    if (s > first) {
                        second = first;
                        first = s;
                    } else if (s > second) {
                        second = s;
                    }
                }
                if (first - second > ATOL + RTOL * first) {
                    assertEquals(want.get("best").asInt(), r.best().index(), what + ": best choice");
                }
            }
            assertTrue(truncated >= 3, "the cases truncate some rows (longest_first): " + truncated);
            assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
        }
    }

    private static void close(String what, double hf, float ours, List<String> mismatches) {
        if (!(Math.abs(ours - hf) <= ATOL + RTOL * Math.abs(hf))) {
            mismatches.add(what + ": HF " + hf + ", ours " + ours);
        }
    }
}
