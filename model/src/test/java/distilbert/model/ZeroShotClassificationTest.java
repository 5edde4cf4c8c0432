package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.model.ZeroShotClassification.Query;
import distilbert.model.ZeroShotClassification.Result;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.Activation;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Zero-shot classification against its definition (HF's pipeline, step by step): each candidate
 * label's pair is the classifier's row for (sequence, template(label)); single-label scores are the
 * softmax of the entailment logits over a sequence's labels, multi-label (and one-label) scores the
 * entailment share of (contradiction, entailment); the entailment label is found by name, the
 * contradiction label is 0 or, when entailment is 0, the last. The golden files of module tests
 * check the same against HF's pipeline itself.
 */
class ZeroShotClassificationTest {

    @TempDir
    static Path dir;

    static Tokenizer tokenizer;

    @BeforeAll
    static void writeTokenizer() throws IOException {
        tokenizer = TinyTokenizer.create(dir);
    }

    static final List<Query> QUERIES = List.of(
            new Query("the cat sat on the mat .", List.of("cat", "dog", "bird", "the sun and the moon")),
            new Query("who wrote this very good story ?", List.of("book", "movie")),
            new Query("", List.of("day")),
            new Query("it was a bad movie , not a good one", List.of("good", "bad", "good")));

    static DistilBertConfig nli(String... labels) {
        Map<Integer, String> id2label = new TreeMap<>();
        Map<String, Integer> label2id = new LinkedHashMap<>();
        for (int i = 0; i < labels.length; i++) {
            id2label.put(i, labels[i]);
            label2id.put(labels[i], i);
        }
        return TestModels.config(Activation.GELU, false, labels.length).toBuilder().labelMaps(id2label, label2id).build();
    }

    /** The logits of (sequence, hypothesis) run alone through the classifier. */
    static float[] alone(DistilBert db, String sequence, String hypothesis, ZeroShotClassification zs) {
        Encoding e = tokenizer.encode(sequence, hypothesis, zs.encodeOptions());
        int[] ids = e.ids(), mask = new int[ids.length];
        java.util.Arrays.fill(mask, 1);
        return db.as(DistilBertForSequenceClassification.class).forward(ModelInput.ofIds(new int[][] {ids}, new int[][] {mask}))
                .logits().data();
    }

    @Test
    void singleLabelScoresAreTheSoftmaxOfTheEntailmentLogits() {
        try (DistilBert db = TestModels.model(nli("contradiction", "neutral", "entailment"), Head.SEQUENCE_CLASSIFICATION, 51)) {
            ZeroShotClassification zs = new ZeroShotClassification(db, tokenizer);
            assertEquals(2, zs.entailmentId());
            assertEquals(0, zs.contradictionId());
            assertFalse(zs.multiLabel());
            List<Result> results = zs.classify(QUERIES);
            for (int q = 0; q < QUERIES.size(); q++) {
                Query query = QUERIES.get(q);
                Result r = results.get(q);
                int k = query.candidateLabels().size();
                float[] entail = new float[k];
                for (int i = 0; i < k; i++) {
                    float[] want = alone(db, query.sequence(), "This example is " + query.candidateLabels().get(i) + ".", zs);
                    float[] got = r.logitsOf(i);
                    for (int j = 0; j < 3; j++) {
                        // another batch may sum in another order
                        assertEquals(want[j], got[j], 1e-5 + 1e-5 * Math.abs(want[j]), "query " + q + " label " + i + " logit " + j);
                    }
                    entail[i] = got[2];
                }
                double[] softmax = TextClassificationTest.expectedScores(TextClassification.Function.SOFTMAX, entail);
                for (int i = 0; i < k; i++) {
                    float want = k == 1 ? (float) (1 / (1 + Math.exp((double) r.logitsOf(0)[0] - r.logitsOf(0)[2])))
                            : (float) softmax[i];
                    assertEquals(want, r.scores()[i], 0f, "query " + q + " label " + i + " score");
                }
                assertEquals(query.sequence(), r.sequence());
                assertEquals(query.candidateLabels(), r.candidateLabels());
            }
        }
    }

    @Test
    void multiLabelScoresWeighEntailmentAgainstContradiction() {
        // entailment first, as typeform/distilbert-base-uncased-mnli: HF's contradiction is then the last label
        try (DistilBert db = TestModels.model(nli("ENTAILMENT", "NEUTRAL", "CONTRADICTION"), Head.SEQUENCE_CLASSIFICATION, 52)) {
            ZeroShotClassification zs = new ZeroShotClassification(db, tokenizer).withMultiLabel(true);
            assertEquals(0, zs.entailmentId());
            assertEquals(2, zs.contradictionId());
            Result r = zs.classify("the dog ran away from the big house", List.of("dog", "house", "moon"));
            for (int i = 0; i < 3; i++) {
                float[] l = r.logitsOf(i);
                double e = Math.exp(l[0]), c = Math.exp(l[2]);
                assertEquals((float) (e / (e + c)), r.scores()[i], 1e-7f, "label " + i);
            }
        }
    }

    @Test
    void theEntailmentLabelIsFoundByNameOrElseTheLast() {
        try (DistilBert db = TestModels.model(nli("neutral", "Entailed", "contra"), Head.SEQUENCE_CLASSIFICATION, 53)) {
            assertEquals(1, new ZeroShotClassification(db, tokenizer).entailmentId());
            assertTrue(ZeroShotClassification.missingEntailmentWarning(db.config()).isEmpty());
        }
        try (DistilBert db = TestModels.model(TestModels.config(), Head.SEQUENCE_CLASSIFICATION, 54)) {
            assertEquals(-1, ZeroShotClassification.entailmentIdOf(db.config()));
            assertEquals(2, new ZeroShotClassification(db, tokenizer).entailmentId());
            String warning = ZeroShotClassification.missingEntailmentWarning(db.config()).orElseThrow();
            assertTrue(warning.contains("[LABEL_0, LABEL_1, LABEL_2]") && warning.contains("(LABEL_2)"), warning);
            ZeroShotClassification chosen = new ZeroShotClassification(db, tokenizer, 0);
            assertEquals(0, chosen.entailmentId());
            assertEquals(2, chosen.contradictionId());
            assertThrows(IndexOutOfBoundsException.class, () -> new ZeroShotClassification(db, tokenizer, 3));
        }
        try (DistilBert db = TestModels.model(TestModels.config(Activation.GELU, false, 1), Head.SEQUENCE_CLASSIFICATION, 55)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> new ZeroShotClassification(db, tokenizer));
            assertTrue(e.getMessage().contains("has 1 label"), e.getMessage());
        }
    }

    @Test
    void templatesFormatAsPythonDoes() {
        assertEquals("This example is cat.", ZeroShotClassification.format(ZeroShotClassification.DEFAULT_TEMPLATE, "cat"));
        assertEquals("cat or cat", ZeroShotClassification.format("{0} or {0}", "cat"));
        assertEquals("{braces} cat}", ZeroShotClassification.format("{{braces}} {}}}", "cat"));
        assertEquals("{}", ZeroShotClassification.format("{{}}", "cat"));
        for (String[] bad : new String[][] {
                {"no label here", "no place for the label"}, {"{{}}", "no place for the label"},
                {"{} and {}", "{} twice"}, {"{} and {0}", "both {} and {0}"}, {"{1}", "the field {1}"},
                {"{name}", "the field {name}"}, {"open {", "not closed"}, {"a } b {}", "a single '}'"}}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ZeroShotClassification.checkTemplate(bad[0]), bad[0]);
            assertTrue(e.getMessage().contains(bad[1]) && e.getMessage().contains("\"" + bad[0] + "\""), e.getMessage());
        }
        try (DistilBert db = TestModels.model(nli("contradiction", "neutral", "entailment"), Head.SEQUENCE_CLASSIFICATION, 56)) {
            ZeroShotClassification zs = new ZeroShotClassification(db, tokenizer).withHypothesisTemplate("it is {0} , {0} .");
            assertEquals("it is day , day .", zs.hypothesis("day"));
            assertThrows(IllegalArgumentException.class, () -> zs.withHypothesisTemplate("static"));
        }
    }

    @Test
    void aQueryMayBringItsOwnTemplateAndMultiLabelChoice() {
        try (DistilBert db = TestModels.model(nli("contradiction", "neutral", "entailment"), Head.SEQUENCE_CLASSIFICATION, 59)) {
            ZeroShotClassification zs = new ZeroShotClassification(db, tokenizer);
            String template = "it is about {} .";
            Query plain = QUERIES.get(0), own = new Query(plain.sequence(), plain.candidateLabels(), template, true);
            List<Result> mixed = zs.classify(List.of(plain, own, new Query("a dog", List.of("cat", "dog"), null, true)));
            assertEquals(zs.classify(List.of(plain)).getFirst().labels(), mixed.get(0).labels());
            Result want = zs.withHypothesisTemplate(template).withMultiLabel(true).classify(List.of(plain)).getFirst();
            for (int i = 0; i < want.scores().length; i++) {
                assertEquals(want.scores()[i], mixed.get(1).scores()[i], 1e-6f, "label " + i);
            }
            Result multi = zs.withMultiLabel(true).classify("a dog", List.of("cat", "dog"));
            assertArrayEquals(multi.scores(), mixed.get(2).scores(), 1e-6f);
            assertEquals("it is about cat .", zs.hypothesis(own, "cat"));
            assertEquals("This example is cat.", zs.hypothesis(plain, "cat"));
            IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                    () -> new Query("x", List.of("a"), "no place", null));
            assertTrue(bad.getMessage().contains("no place for the label"), bad.getMessage());
        }
    }

    @Test
    void labelsInOneStringAreSplitAtCommas() {
        assertEquals(List.of("a", "b c", "d"), ZeroShotClassification.parseLabels(" a, b c ,,d ,"));
        assertEquals(List.of(), ZeroShotClassification.parseLabels(" , "));
        assertThrows(IllegalArgumentException.class, () -> new Query("text", List.of()));
    }

    @Test
    void onlyTheSequenceIsCutAndALongHypothesisIsNotCutAtAll() {
        try (DistilBert db = TestModels.model(nli("contradiction", "neutral", "entailment"), Head.SEQUENCE_CLASSIFICATION, 57)) {
            ZeroShotClassification zs = new ZeroShotClassification(db, tokenizer).withMaxLength(16);
            String sequence = String.join(" ", Collections.nCopies(6, "the big red house"));         // 24 tokens
            String shortLabel = "cat", longLabel = String.join(" ", Collections.nCopies(4, "small blue tree"));
            List<Encoding> rows = zs.encode(List.of(new Query(sequence, List.of(shortLabel, longLabel))));
            Encoding cut = rows.get(0), whole = rows.get(1);
            Encoding hypothesis = tokenizer.encode(zs.hypothesis(shortLabel), null, distilbert.tokenizer.EncodeOptions.DEFAULT);
            assertEquals(16, cut.length());
            assertFalse(cut.overflowing().isEmpty());
            // [CLS] sequence… [SEP] This example is cat . [SEP]: the hypothesis whole at the end
            int hyp = hypothesis.length() - 2;
            assertArrayEquals(java.util.Arrays.copyOfRange(hypothesis.ids(), 1, hypothesis.length()),
                    java.util.Arrays.copyOfRange(cut.ids(), 16 - hyp - 1, 16));
            // the long hypothesis (3 + 12 + 1 tokens with its [SEP]s) leaves no room: nothing is cut
            Encoding untruncated = tokenizer.encode(sequence, zs.hypothesis(longLabel), distilbert.tokenizer.EncodeOptions.DEFAULT);
            assertArrayEquals(untruncated.ids(), whole.ids());
            assertTrue(whole.length() > 16 && whole.length() <= 64, "length " + whole.length());
            Result r = zs.classify(sequence, List.of(shortLabel, longLabel));
            assertEquals(2, r.scores().length);

            // beyond the positions, the pair cannot run: an error naming the query and the label
            String tooLong = String.join(" ", Collections.nCopies(30, "small tree"));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> zs.classify(List.of(new Query("a cat", List.of("dog")), new Query(sequence, List.of("cat", tooLong)))));
            assertTrue(e.getMessage().startsWith("query 1, label 1 (\"small tree") && e.getMessage().contains("max_position_embeddings = 64"),
                    e.getMessage());
        }
    }

    @Test
    void rankingPutsTheBestFirstAndTiesAsHuggingFaceDoes() {
        Result r = new Result("s", List.of("a", "b", "c", "b"), new float[] {0.1f, 0.3f, 0.3f, 0.3f}, new float[8]);
        List<String> order = new ArrayList<>();
        r.ranked().forEach(x -> order.add(x.label() + x.index()));
        // numpy's reversed ascending argsort: equal scores, the later label first
        assertEquals(List.of("b3", "c2", "b1", "a0"), order);
        assertEquals(List.of("b", "c", "b", "a"), r.labels());
        assertArrayEquals(new float[] {0.3f, 0.3f, 0.3f, 0.1f}, r.rankedScores());
        Result nan = new Result("s", List.of("a", "b"), new float[] {0.5f, Float.NaN}, new float[4]);
        assertEquals("b", nan.best().label());
        try (DistilBert db = TestModels.model(nli("contradiction", "neutral", "entailment"), Head.SEQUENCE_CLASSIFICATION, 58)) {
            Result twice = new ZeroShotClassification(db, tokenizer).classify("a good day", List.of("good", "bad", "good"));
            assertEquals(twice.scores()[0], twice.scores()[2]);
        }
    }
}
