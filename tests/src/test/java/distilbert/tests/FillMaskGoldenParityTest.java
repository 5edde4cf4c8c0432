package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.FillMask;
import distilbert.model.FillMask.Prediction;
import distilbert.model.FillMask.Result;
import distilbert.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * HuggingFace's fill-mask pipeline (tests/golden/make_golden.py, the "pipelines" cases of task
 * "fill-mask"): random DistilBertForMaskedLM models saved with a WordPiece tokenizer, and what the
 * pipeline answered for texts with one and several masks, with top_k 5 and 2 and with targets
 * (some not tokens: HF's first-token rule). {@link FillMask} (what {@code distilbert fill-mask}
 * runs) must give the same tokens, the same target ids, the same shape (a list, or a list per mask),
 * and per mask the same tokens in the same order with the same token_str and sequence, and the
 * scores to |ours − HF| ≤ 2e-5 + 1e-4·|HF| ({@link GoldenParityTest}'s bound). Where two of HF's
 * scores lie within that bound of each other, their order is not checked.
 */
class FillMaskGoldenParityTest {

    @TestFactory
    Stream<DynamicTest> fillMaskMatchesHuggingFacesPipeline() throws Exception {
        return PipelineGolden.forTask("fill-mask", c -> {
            List<String> texts = new ArrayList<>();
            c.expected().get("texts").forEach(t -> texts.add(t.asText()));
            List<String> targets = new ArrayList<>();
            c.expected().get("targets").forEach(t -> targets.add(t.asText()));
            List<DynamicTest> tests = new ArrayList<>();
            tests.add(DynamicTest.dynamicTest(c.name() + " tokens and target ids", () -> {
                Tokenizer tok = Tokenizer.fromPretrained(c.dir());
                for (int i = 0; i < texts.size(); i++) {
                    assertEquals(c.expected().get("tokens").get(i).toString(), Arrays.toString(tok.encode(texts.get(i)).ids())
                            .replace(" ", ""), texts.get(i));
                }
                assertEquals(c.expected().get("target_ids").toString(),
                        Arrays.toString(FillMask.Targets.resolve(tok, targets).ids()).replace(" ", ""));
            }));
            record Run(String key, UnaryOperator<FillMask> setup) {
            }
            for (Run run : List.of(new Run("top5", f -> f), new Run("top2", f -> f.withTopK(2)),
                    new Run("targets_top3", f -> f.withTargets(targets).withTopK(3)),
                    new Run("targets_all", f -> f.withTargets(targets).withTopK(100)))) {
                tests.add(DynamicTest.dynamicTest(c.name() + " " + run.key(), () -> {
                    try (DistilBert db = DistilBert.load(c.dir(), Device.CPU)) {
                        List<Result> got = run.setup().apply(new FillMask(db, Tokenizer.fromPretrained(c.dir()))).fill(texts);
                        List<String> mismatches = new ArrayList<>();
                        for (int i = 0; i < texts.size(); i++) {
                            compare(c.name() + " " + run.key() + " \"" + texts.get(i) + "\"", c.expected().get(run.key()).get(i),
                                    got.get(i), mismatches);
                        }
                        assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
                    }
                }));
            }
            return tests;
        });
    }

    /** HF's answer for one text (a list, or a list per mask) against ours. */
    private static void compare(String what, JsonNode hf, Result ours, List<String> mismatches) {
        boolean hfSingle = !hf.get(0).isArray();
        if (hfSingle != ours.singleMask()) {
            mismatches.add(what + ": HF answers " + (hfSingle ? "one list" : hf.size() + " lists") + ", we "
                    + ours.predictions().size());
            return;
        }
        for (int m = 0; m < ours.predictions().size(); m++) {
            compareMask(what + (hfSingle ? "" : " mask " + m), hfSingle ? hf : hf.get(m), ours.predictions().get(m), mismatches);
        }
    }

    private static void compareMask(String what, JsonNode hf, List<Prediction> ours, List<String> mismatches) {
        if (hf.size() != ours.size()) {
            mismatches.add(what + ": HF gives " + hf.size() + " predictions, we give " + ours.size());
            return;
        }
        for (int i = 0; i < hf.size(); i++) {
            JsonNode h = hf.get(i);
            int token = h.get("token").asInt();
            double want = h.get("score").asDouble();
            Prediction p = ours.stream().filter(o -> o.token() == token).findFirst().orElse(null);
            if (p == null) {
                mismatches.add(what + ": HF's token " + token + " (" + h.get("token_str").asText() + ", " + want + ") is not ours");
                continue;
            }
            if (!(Math.abs(p.score() - want) <= GoldenParityTest.ATOL + GoldenParityTest.RTOL * Math.abs(want))) {
                mismatches.add(what + ": token " + token + " scores " + p.score() + ", HF " + want);
            }
            if (!p.tokenStr().equals(h.get("token_str").asText())) {
                mismatches.add(what + ": token " + token + " token_str \"" + p.tokenStr() + "\", HF \"" + h.get("token_str").asText() + "\"");
            }
            if (!p.sequence().equals(h.get("sequence").asText())) {
                mismatches.add(what + ": token " + token + " sequence \"" + p.sequence() + "\", HF \"" + h.get("sequence").asText() + "\"");
            }
            double bound = 2 * (GoldenParityTest.ATOL + GoldenParityTest.RTOL * Math.abs(want));
            boolean tied = i + 1 < hf.size() && Math.abs(want - hf.get(i + 1).get("score").asDouble()) <= bound
                    || i > 0 && Math.abs(want - hf.get(i - 1).get("score").asDouble()) <= bound;
            if (!tied && ours.get(i).token() != token) {
                mismatches.add(what + ": place " + i + " is token " + ours.get(i).token() + ", HF has " + token);
            }
        }
    }
}
