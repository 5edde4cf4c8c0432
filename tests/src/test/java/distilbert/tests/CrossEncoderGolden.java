package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import distilbert.model.CrossEncoder;
import distilbert.model.DistilBert;
import distilbert.model.SentenceEmbeddings.Dense.Activation;
import distilbert.tokenizer.Encoding;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The cross-encoder golden files (tests/golden/make_cross_encoder_golden.py): model directories as
 * cross-encoders are found on the hub or as {@code CrossEncoder.save} writes them, and what
 * {@code CrossEncoder.predict} and {@code CrossEncoder.rank} answered, with the input_ids of each pair.
 */
final class CrossEncoderGolden {

    private CrossEncoderGolden() {
    }

    /** One golden case: its directory, name and expected.json. */
    record Case(Path dir, String name, JsonNode expected) {
    }

    static List<Case> cases() throws Exception {
        return SentenceTransformersGolden.cases("golden-ce").stream().map(c -> new Case(c.dir(), c.name(), c.expected())).toList();
    }

    /** The cross-encoder a run asks for: its prompt_name or prompt, apply_softmax. */
    static CrossEncoder configured(CrossEncoder base, JsonNode run) {
        CrossEncoder ce = base;
        if (run.hasNonNull("prompt_name")) ce = ce.withPromptName(run.get("prompt_name").asText());
        if (run.hasNonNull("prompt")) ce = ce.withPrompt(run.get("prompt").asText());
        if (run.path("apply_softmax").asBoolean(false)) ce = ce.withSoftmax(true);
        return ce;
    }

    /** What a run is, for messages: the case and the run's options. */
    static String describe(Case c, String kind, int index, JsonNode run) {
        StringBuilder s = new StringBuilder(c.name() + " " + kind + " " + index);
        for (String k : List.of("prompt_name", "prompt", "apply_softmax", "top_k")) {
            if (run.hasNonNull(k)) s.append(' ').append(k).append('=').append(run.get(k).asText());
        }
        return s.toString();
    }

    /**
     * Every predict and rank run of the case through {@link CrossEncoder#fromPretrained} on
     * {@code db}: the activation and max length the directory gives, the same input_ids, the scores
     * checked by {@code compare} (a run's scores as one vector), and, with {@code order}, each
     * ranking's corpus ids in sentence-transformers' order (where two of its scores are within
     * {@link GoldenParityTest}'s bound of each other their order is not checked); the mismatches as lines.
     */
    static List<String> check(Case c, DistilBert db, SentenceTransformersGolden.Comparison compare, boolean order) {
        return check(c, db, compare, order, false);
    }

    /**
     * {@link #check(Case, DistilBert, SentenceTransformersGolden.Comparison, boolean)}, for a reduced
     * precision when {@code reduced}: the logits are compared instead of the scores (ours without the
     * activation; sentence-transformers' scores taken back through its inverse, sigmoid: log(s / (1 − s)),
     * tanh: atanh, in double), each run's within {@link #REDUCED_BOUND} relative L2 or within twice
     * the distance of HF's own bf16 logits of the run ("bf16_logits") from its float32 ones, whichever
     * is larger; {@code compare} is not used, and the runs with the softmax (which has no inverse) are
     * left out. A sigmoid or tanh near its tails magnifies a logit's relative error, and logits near
     * zero (cancellation in the classifier's dot product) have a large relative error in any 16-bit
     * forward: HF's own bf16 is 0.093 from its float32 on the top three of ce_legacy_tanh.
     */
    static List<String> check(Case c, DistilBert db, SentenceTransformersGolden.Comparison compare, boolean order,
                              boolean reduced) {
        CrossEncoder base = CrossEncoder.fromPretrained(db, c.dir());
        JsonNode e = c.expected();
        assertEquals(e.get("activation_fn").asText(), base.activation().torchName(), c.name() + ": activation");
        assertEquals(e.get("max_length").asInt(), base.maxLength(), c.name() + ": max length");
        assertEquals(e.get("num_labels").asInt(), base.numLabels(), c.name() + ": num_labels");
        Activation activation = base.activation();
        if (reduced) base = base.withActivation(Activation.IDENTITY);
        List<String> mismatches = new ArrayList<>();
        int index = 0;
        for (JsonNode run : e.get("predict")) {
            String what = describe(c, "predict", index++, run);
            if (reduced && run.path("apply_softmax").asBoolean(false)) continue;
            CrossEncoder ce = configured(base, run);
            SentenceTransformersGolden.Comparison cmp = reduced ? reducedPrecision(activation, run) : compare;
            List<String> firsts = new ArrayList<>(), seconds = new ArrayList<>();
            run.get("pairs").forEach(p -> {
                firsts.add(p.get(0).asText());
                seconds.add(p.get(1).asText());
            });
            List<Encoding> encodings = ce.encode(firsts, seconds);
            for (int i = 0; i < encodings.size(); i++) {
                int[] want = ints(run.get("input_ids").get(i));
                if (!Arrays.equals(want, encodings.get(i).ids())) {
                    mismatches.add(what + " pair " + i + ": input_ids " + Arrays.toString(encodings.get(i).ids())
                            + ", sentence-transformers " + Arrays.toString(want));
                }
            }
            List<float[]> got = ce.predictEncodings(encodings, distilbert.model.LengthBatches.Listener.NONE);
            cmp.check(what, floats(run.get("scores")), flatten(got), mismatches);
        }
        if (base.numLabels() != 1) {
            CrossEncoder several = base;
            IllegalStateException refused = assertThrows(IllegalStateException.class,
                    () -> several.rank("q", List.of("d"), 1), c.name() + ": rank of a model of several labels");
            assertTrue(refused.getMessage().contains("one label"), refused.getMessage());
        }
        index = 0;
        for (JsonNode run : e.path("rank")) {
            String what = describe(c, "rank", index++, run);
            CrossEncoder ce = configured(base, run);
            SentenceTransformersGolden.Comparison cmp = reduced ? reducedPrecision(activation, run) : compare;
            List<String> documents = new ArrayList<>();
            run.get("documents").forEach(d -> documents.add(d.asText()));
            int topK = run.hasNonNull("top_k") ? run.get("top_k").asInt() : Integer.MAX_VALUE;
            List<CrossEncoder.Hit> got = ce.rank(run.get("query").asText(), documents, topK);
            JsonNode want = run.get("ranking");
            if (want.size() != got.size()) {
                mismatches.add(what + ": " + got.size() + " hits, sentence-transformers " + want.size());
                continue;
            }
            // the scores of sentence-transformers' hits, ours taken by corpus id
            List<float[]> all = ce.predict(java.util.Collections.nCopies(documents.size(), run.get("query").asText()), documents);
            float[] wantScores = new float[want.size()], gotScores = new float[want.size()];
            for (int k = 0; k < want.size(); k++) {
                wantScores[k] = (float) want.get(k).get("score").asDouble();
                gotScores[k] = all.get(want.get(k).get("corpus_id").asInt())[0];
                CrossEncoder.Hit hit = got.get(k);
                if (hit.score() != all.get(hit.corpusId())[0] || !documents.get(hit.corpusId()).equals(hit.text())) {
                    mismatches.add(what + " hit " + k + ": " + hit + " is not document " + hit.corpusId() + " with its score");
                }
                boolean tie = (k > 0 && close(wantScores[k], (float) want.get(k - 1).get("score").asDouble()))
                        || (k + 1 < want.size() && close(wantScores[k], (float) want.get(k + 1).get("score").asDouble()));
                if (order && !tie && hit.corpusId() != want.get(k).get("corpus_id").asInt()) {
                    mismatches.add(what + " hit " + k + ": corpus_id " + hit.corpusId() + ", sentence-transformers "
                            + want.get(k).get("corpus_id").asInt());
                }
                if (want.get(k).has("text") && !want.get(k).get("text").asText().equals(hit.text()) && (order && !tie)) {
                    mismatches.add(what + " hit " + k + ": text '" + hit.text() + "', sentence-transformers '"
                            + want.get(k).get("text").asText() + "'");
                }
            }
            cmp.check(what + " scores", wantScores, gotScores, mismatches);
        }
        return mismatches;
    }

    /** A reduced precision's bound on a run's logits: HF's float32 forward against its bf16 forward (tests/golden/precision_sensitivity.py) is 0.008 to 0.038. */
    static final double REDUCED_BOUND = 3e-2;

    /**
     * The comparison of a run in a reduced precision: sentence-transformers' scores taken back
     * through the inverse of {@code activation}, against ours (logits), within the larger of
     * {@link #REDUCED_BOUND} and twice the distance of the run's "bf16_logits" from those logits.
     */
    private static SentenceTransformersGolden.Comparison reducedPrecision(Activation activation, JsonNode run) {
        return (what, want, got, mismatches) -> {
            float[] logits = new float[want.length];
            for (int i = 0; i < want.length; i++) {
                double s = want[i];
                logits[i] = (float) switch (activation) {
                    case IDENTITY -> s;
                    case SIGMOID -> Math.log(s) - Math.log1p(-s);
                    case TANH -> 0.5 * Math.log((1 + s) / (1 - s));
                    default -> throw new IllegalStateException("no inverse of " + activation + " in these tests");
                };
            }
            double hf = CudaGoldenParityTest.relativeL2(logits, floats(run.get("bf16_logits")));
            double bound = Math.max(REDUCED_BOUND, 2 * hf), rel = CudaGoldenParityTest.relativeL2(logits, got);
            if (!(rel <= bound)) {
                mismatches.add(what + " (logits): relative L2 " + rel + " > " + bound + " (HF's own bf16: " + hf + ")");
            }
        };
    }

    static boolean close(float want, float got) {
        return Math.abs((double) got - want) <= GoldenParityTest.ATOL + GoldenParityTest.RTOL * Math.abs(want);
    }

    static float[] flatten(List<float[]> rows) {
        int n = rows.stream().mapToInt(r -> r.length).sum(), at = 0;
        float[] out = new float[n];
        for (float[] r : rows) {
            System.arraycopy(r, 0, out, at, r.length);
            at += r.length;
        }
        return out;
    }

    /** A JSON number or a list of numbers (one label: a score per pair; several: a list per pair), flattened. */
    static float[] floats(JsonNode scores) {
        List<Float> out = new ArrayList<>();
        for (JsonNode s : scores) {
            if (s.isArray()) s.forEach(x -> out.add((float) x.asDouble()));
            else out.add((float) s.asDouble());
        }
        float[] v = new float[out.size()];
        for (int i = 0; i < v.length; i++) v[i] = out.get(i);
        return v;
    }

    static int[] ints(JsonNode row) {
        int[] v = new int[row.size()];
        for (int k = 0; k < v.length; k++) v[k] = row.get(k).asInt();
        return v;
    }
}
