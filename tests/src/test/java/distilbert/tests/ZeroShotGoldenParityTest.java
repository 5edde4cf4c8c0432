package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.ZeroShotClassification;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Zero-shot classification against HuggingFace's zero-shot-classification pipeline
 * (tests/golden/make_golden.py, the "zero-shot-classification" cases): random three-label NLI-style
 * classifiers with entailment last, entailment first (so that contradiction is the last label) and
 * no entailment label at all (HF takes the last label), each run on several sequences and candidate
 * labels: single- and multi-label, one label, labels as a comma string, a template with {0} twice
 * and escaped braces, a label given twice, and a sequence that only_first truncation cuts.
 * {@link ZeroShotClassification} (what {@code distilbert zero-shot} runs) must make the same pairs
 * token for token, find the same entailment label, and give the same logits, the same scores and
 * the same ranking, on the CPU backend, all of a run's sequences in one call.
 *
 * <p>Bound per logit and score: |ours − HF| ≤ 2e-5 + 1e-4·|HF|, {@link GoldenParityTest}'s (the
 * logits differ by summation order only; HF's float32 softmax adds a few float32 roundings). The
 * ranked scores are compared position by position (sorting moves no value by more than the bound);
 * the ranked labels must be HF's wherever a score is not within the bound of its neighbour's.
 */
class ZeroShotGoldenParityTest {

    private static final double ATOL = 2e-5, RTOL = 1e-4;

    @TestFactory
    Stream<DynamicTest> zeroShotMatchesHuggingFace() throws Exception {
        return PipelineGolden.forTask("zero-shot-classification",
                c -> List.of(DynamicTest.dynamicTest(c.name(), () -> check(c))));
    }

    private static void check(PipelineGolden.Case c) throws Exception {
        Tokenizer tok = Tokenizer.fromPretrained(c.dir());
        ObjectMapper json = new ObjectMapper();
        List<String> mismatches = new ArrayList<>();
        int truncated = 0, runs = 0, multi = 0;
        try (DistilBert db = DistilBert.load(c.dir(), Device.CPU)) {
            ZeroShotClassification base = new ZeroShotClassification(db, tok);
            int hfEntailment = c.expected().get("entailment_id").asInt();
            assertEquals(hfEntailment < 0 ? db.config().numLabels() - 1 : hfEntailment, base.entailmentId(),
                    c.name() + ": entailment label");
            assertEquals(hfEntailment < 0, ZeroShotClassification.missingEntailmentWarning(db.config()).isPresent(),
                    c.name() + ": warned about the entailment label");
            // a hypothesis longer than model_max_length alone: HF's pipeline tokenizes the pair untruncated
            JsonNode fallback = c.expected().get("fallback");
            List<Encoding> whole = base.encode(List.of(new ZeroShotClassification.Query(fallback.get("text").asText(),
                    List.of(fallback.get("label").asText()))));
            assertEquals(Arrays.toString(json.treeToValue(fallback.get("input_ids"), int[].class)),
                    Arrays.toString(whole.getFirst().ids()), c.name() + ": the untruncated fallback");
            assertTrue(whole.getFirst().length() > base.maxLength(), "longer than the max length: " + whole.getFirst().length());
            for (JsonNode run : c.expected().get("runs")) {
                String what = c.name() + " run " + runs++;
                JsonNode given = run.get("candidate_labels");
                List<String> labels = new ArrayList<>();
                if (given.isTextual()) {
                    labels.addAll(ZeroShotClassification.parseLabels(given.asText()));
                } else {
                    given.forEach(x -> labels.add(x.asText()));
                }
                assertEquals(json.convertValue(run.get("parsed_labels"), List.class), labels, what + ": parsed labels");
                ZeroShotClassification zs = base.withMultiLabel(run.get("multi_label").asBoolean());
                if (!run.get("hypothesis_template").isNull()) {
                    zs = zs.withHypothesisTemplate(run.get("hypothesis_template").asText());
                }
                if (zs.multiLabel()) multi++;
                List<ZeroShotClassification.Query> queries = new ArrayList<>();
                run.get("texts").forEach(t -> queries.add(new ZeroShotClassification.Query(t.asText(), labels)));
                List<Encoding> rows = zs.encode(queries);
                List<ZeroShotClassification.Result> got = zs.classify(queries);
                JsonNode answers = run.get("answers").isArray() ? run.get("answers") : json.createArrayNode().add(run.get("answers"));
                assertEquals(queries.size(), answers.size(), what + ": answers");
                int row = 0;
                for (int q = 0; q < queries.size(); q++) {
                    ZeroShotClassification.Result r = got.get(q);
                    for (int i = 0; i < labels.size(); i++, row++) {
                        JsonNode pair = run.get("pairs").get(row);
                        String at = what + " text " + q + " label " + i;
                        assertEquals(Arrays.toString(json.treeToValue(pair.get("input_ids"), int[].class)),
                                Arrays.toString(rows.get(row).ids()), at + ": tokens");
                        if (!rows.get(row).overflowing().isEmpty()) truncated++;
                        float[] logits = r.logitsOf(i);
                        for (int k = 0; k < logits.length; k++) {
                            close(at + " logit " + k, pair.get("logits").get(k).asDouble(), logits[k], mismatches);
                        }
                    }
                    JsonNode want = answers.get(q);
                    assertEquals(want.get("sequence").asText(), r.sequence(), what + " text " + q + ": sequence");
                    float[] scores = r.rankedScores();
                    List<String> ranked = r.labels();
                    JsonNode hfScores = want.get("scores"), hfLabels = want.get("labels");
                    assertEquals(hfScores.size(), scores.length, what + " text " + q + ": labels");
                    for (int k = 0; k < scores.length; k++) {
                        double s = hfScores.get(k).asDouble();
                        close(what + " text " + q + " ranked score " + k, s, scores[k], mismatches);
                        boolean nearPrevious = k > 0 && hfScores.get(k - 1).asDouble() - s <= ATOL + RTOL * s;
                        boolean nearNext = k + 1 < scores.length && s - hfScores.get(k + 1).asDouble() <= ATOL + RTOL * s;
                        if (!nearPrevious && !nearNext) {
                            assertEquals(hfLabels.get(k).asText(), ranked.get(k), what + " text " + q + ": label ranked " + k);
                        }
                    }
                }
            }
        }
        assertEquals(6, runs, c.name() + ": runs");
        assertTrue(multi >= 1, "a multi-label run");
        assertTrue(truncated >= 4, c.name() + ": the long sequence is cut (only_first) in its pairs: " + truncated);
        assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
    }

    private static void close(String what, double hf, float ours, List<String> mismatches) {
        if (!(Math.abs(ours - hf) <= ATOL + RTOL * Math.abs(hf))) {
            mismatches.add(what + ": HF " + hf + ", ours " + ours);
        }
    }
}
