package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.TokenClassification;
import distilbert.model.TokenClassification.Aggregation;
import distilbert.model.TokenClassification.Entity;
import distilbert.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * HuggingFace's token-classification pipeline (tests/golden/make_golden.py, the "pipelines" cases
 * of task "token-classification"): a random DistilBertForTokenClassification with id2label O,
 * B-PER, I-PER, B-LOC, I-LOC saved with a WordPiece tokenizer, and the entities the pipeline gave
 * for fixed texts under every aggregation, with and without ignore_labels, and with a stride over
 * texts longer than the model takes. {@link TokenClassification} (what {@code distilbert ner} runs)
 * must give the same tokens and, run by run, the same entities: labels, words, indices and offsets
 * exactly, scores to |ours − HF| ≤ 2e-5 + 1e-4·|HF| ({@link GoldenParityTest}'s bound).
 *
 * <p>A stride run whose "covers_text" is false was made by a tokenizers (0.23.1+) whose windows
 * stop short of the end of the text, where ours cover all of it: it is reported skipped.
 *
 * <p>Checked against files make_golden.py wrote with transformers 5.18.0, tokenizers 0.23.2 and
 * torch 2.13 (CPU): the tokens and all 34 runs match but the 12 stride runs over the long text,
 * which are skipped as above (the 12 over the text of exactly model_max_length tokens match).
 */
class TokenClassificationGoldenParityTest {
    static final String TASK = "token-classification";

    @TestFactory
    Stream<DynamicTest> tokenClassificationMatchesHuggingFacesPipeline() throws Exception {
        return PipelineGolden.forTask(TASK, c -> {
            List<DynamicTest> tests = new ArrayList<>();
            tests.add(DynamicTest.dynamicTest(c.name() + " tokens", () -> checkTokens(c.dir(), c.expected())));
            JsonNode runs = c.expected().get("runs");
            for (int r = 0; r < runs.size(); r++) {
                JsonNode run = runs.get(r);
                String tokenizers = c.expected().path("tokenizers").asText("?");
                tests.add(DynamicTest.dynamicTest(c.name() + " " + describe(run), () -> checkRun(c.dir(), run, tokenizers)));
            }
            return tests;
        });
    }

    static String describe(JsonNode run) {
        return "aggregation " + run.get("aggregation").asText()
                + (run.get("ignore_labels").isNull() ? "" : " ignore_labels " + run.get("ignore_labels"))
                + (run.get("stride").isNull() ? "" : " stride " + run.get("stride").asInt() + " on a text of "
                + run.get("texts").get(0).asText().length() + " chars");
    }

    static void checkTokens(Path dir, JsonNode expected) throws Exception {
        Tokenizer tok = Tokenizer.fromPretrained(dir);
        JsonNode texts = expected.get("texts");
        for (int i = 0; i < texts.size(); i++) {
            int[] want = new ObjectMapper().treeToValue(expected.get("tokens").get(i), int[].class);
            assertEquals(Arrays.toString(want), Arrays.toString(tok.encode(texts.get(i).asText()).ids()), texts.get(i).asText());
        }
    }

    static void checkRun(Path dir, JsonNode run, String tokenizers) throws Exception {
        if (run.has("covers_text") && !run.get("covers_text").asBoolean()) {
            Assumptions.abort("HF's tokenizer (tokenizers " + tokenizers + ") cut the windows short of the "
                    + "end of the text (tokenizers issue 2091); ours cover all of it");
        }
        List<String> texts = new ArrayList<>();
        run.get("texts").forEach(t -> texts.add(t.asText()));
        Tokenizer tok = Tokenizer.fromPretrained(dir);
        try (DistilBert db = DistilBert.load(dir, Device.CPU)) {
            TokenClassification tc = new TokenClassification(db, tok)
                    .withAggregation(Aggregation.valueOf(run.get("aggregation").asText().toUpperCase(Locale.ROOT)));
            if (!run.get("ignore_labels").isNull()) {
                List<String> ignore = new ArrayList<>();
                run.get("ignore_labels").forEach(l -> ignore.add(l.asText()));
                tc = tc.withIgnoreLabels(ignore);
            }
            if (!run.get("stride").isNull()) {
                tc = tc.withStride(run.get("stride").asInt());
            }
            List<List<Entity>> got = tc.classify(texts);
            List<String> mismatches = new ArrayList<>();
            for (int i = 0; i < texts.size(); i++) {
                compare("\"" + texts.get(i) + "\"", run.get("entities").get(i), got.get(i), mismatches);
            }
            assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
        }
    }

    /** HF's entities against ours, one by one: the same keys' values, close scores. */
    static void compare(String what, JsonNode hf, List<Entity> ours, List<String> mismatches) {
        if (hf.size() != ours.size()) {
            mismatches.add(what + ": HF gives " + hf.size() + " entities, we give " + ours.size() + "\n  HF:   " + hf + "\n  ours: " + ours);
            return;
        }
        for (int i = 0; i < hf.size(); i++) {
            JsonNode h = hf.get(i);
            Entity o = ours.get(i);
            boolean group = h.has("entity_group");
            String label = group ? h.get("entity_group").asText() : h.get("entity").asText();
            int index = group ? Entity.NO_INDEX : h.get("index").asInt();
            Entity want = new Entity(label, o.score(), index, h.get("word").asText(), h.get("start").asInt(), h.get("end").asInt());
            if (!want.equals(o)) {
                mismatches.add(what + " entity " + i + ": HF " + h + ", ours " + o);
            }
            double score = h.get("score").asDouble();
            if (!(Math.abs(o.score() - score) <= GoldenParityTest.ATOL + GoldenParityTest.RTOL * Math.abs(score))) {
                mismatches.add(what + " entity " + i + ": score " + o.score() + ", HF " + score);
            }
        }
    }
}
