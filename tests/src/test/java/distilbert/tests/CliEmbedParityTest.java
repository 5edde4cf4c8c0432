package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code distilbert embed} end to end on real weights: all-MiniLM-L6-v2 converted to DistilBERT,
 * against sentence-transformers' recipe for it (mean pooling, then L2 normalization) applied by
 * this test to ONNX Runtime's last_hidden_state of the original ONNX model.
 *
 * <p>Bounds: cosine ≥ 0.99999 and, element by element, |ours − ORT| ≤ 1e-4·|ORT| + 1e-6 (the 1e-6
 * floor is for elements near zero, where a relative bound means nothing; the vectors have norm 1
 * and 384 elements, so a typical element is 0.05). The encoders agree to about 1e-6 relative L2
 * (OnnxConversionParityTest), so both bounds have room.
 */
class CliEmbedParityTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final double COSINE = 0.99999, REL = 1e-4, ABS = 1e-6;

    static final List<String> SENTENCES = List.of(
            "This is an example sentence.",
            "Each sentence is converted.",
            "A man is eating food.",
            "Hello world!",
            "The new movie is awesome, and the popcorn was great too; we will come back next week with the whole family.",
            "Die Katze sitzt auf der Matte.",
            "東京は日本の首都です。",
            "Sentence embeddings map text of any length to one vector; texts with similar meaning land close together, which "
                    + "makes them useful for semantic search, clustering and deduplication across large collections of documents, "
                    + "as long as the texts fit the model's window of tokens.");

    static Path model;
    static Tokenizer tokenizer;

    @BeforeAll
    static void convert() {
        model = ConvertedMiniLm.directory();
        tokenizer = Tokenizer.fromPretrained(model);
    }

    static String rows(List<String> texts) {
        StringBuilder s = new StringBuilder();
        for (String t : texts) s.append(JSON.createObjectNode().put("text", t)).append('\n');
        return s.toString();
    }

    static ConvertedMiniLm.Run embed(String stdin, String... args) {
        List<String> all = new ArrayList<>(List.of("embed", "--model", model.toString(), "--device", "cpu"));
        all.addAll(List.of(args));
        return ConvertedMiniLm.cli(stdin, all.toArray(String[]::new));
    }

    static List<JsonNode> lines(ConvertedMiniLm.Run r) throws IOException {
        assertEquals(0, r.code(), r.err());
        List<JsonNode> out = new ArrayList<>();
        for (String line : r.out().lines().toList()) out.add(JSON.readTree(line));
        return out;
    }

    static float[] floats(JsonNode array) {
        float[] v = new float[array.size()];
        for (int i = 0; i < v.length; i++) v[i] = array.get(i).floatValue();
        return v;
    }

    /** What the CLI feeds the model: the tokenizer's ids, cut to the model's 512 positions. */
    static List<int[]> ids(List<String> texts) {
        EncodeOptions cut = EncodeOptions.DEFAULT.withTruncation(Truncation.longestFirst(512));
        return texts.stream().map(t -> tokenizer.encode(t, null, cut).ids()).toList();
    }

    /** Checks one embedding against the reference; returns {cosine, worst |diff| / (REL·|ref| + ABS)}. */
    static double[] compare(float[] got, double[] want, String what) {
        assertEquals(want.length, got.length, what);
        double dot = 0, gg = 0, ww = 0, worst = 0;
        List<String> mismatches = new ArrayList<>();
        for (int i = 0; i < want.length; i++) {
            dot += got[i] * want[i];
            gg += (double) got[i] * got[i];
            ww += want[i] * want[i];
            double ratio = Math.abs(got[i] - want[i]) / (REL * Math.abs(want[i]) + ABS);
            worst = Math.max(worst, ratio);
            if (ratio > 1 && mismatches.size() < 5) mismatches.add("[" + i + "] " + got[i] + " vs " + want[i]);
        }
        double cosine = dot / Math.sqrt(gg * ww);
        assertTrue(mismatches.isEmpty(), what + ": elements off: " + mismatches + " (worst at " + worst + "× the bound)");
        assertTrue(cosine >= COSINE, what + ": cosine " + cosine);
        return new double[] {cosine, worst};
    }

    @Test
    void meanPooledNormalizedEmbeddingsMatchOnnxRuntime() throws Exception {
        List<float[][]> reference = ConvertedMiniLm.onnxLastHiddenStates(ids(SENTENCES));
        List<JsonNode> out = lines(embed(rows(SENTENCES), "--normalize"));
        assertEquals(SENTENCES.size(), out.size());
        double worstCosine = 1, worstRatio = 0;
        for (int i = 0; i < SENTENCES.size(); i++) {
            float[] e = floats(out.get(i).get("embedding"));
            double[] c = compare(e, ConvertedMiniLm.meanPooledNormalized(reference.get(i)), "sentence " + i);
            worstCosine = Math.min(worstCosine, c[0]);
            worstRatio = Math.max(worstRatio, c[1]);
        }
        System.out.printf("embed --normalize vs ONNX Runtime over %d sentences: worst 1 - cosine %.1e, worst element at %.3f of the bound%n",
                SENTENCES.size(), 1 - worstCosine, worstRatio);
    }

    @Test
    void clsAndNoneHaveTheShapesOfTheTokens() throws Exception {
        List<int[]> ids = ids(SENTENCES);
        List<float[][]> reference = ConvertedMiniLm.onnxLastHiddenStates(ids);
        List<JsonNode> none = lines(embed(rows(SENTENCES), "--pooling", "none"));
        List<JsonNode> cls = lines(embed(rows(SENTENCES), "--pooling", "cls"));
        for (int i = 0; i < SENTENCES.size(); i++) {
            JsonNode rows = none.get(i).get("last_hidden_state");
            assertEquals(ids.get(i).length, rows.size(), "one row per token, [CLS] and [SEP] included: sentence " + i);
            double diff = 0, norm = 0;
            for (int t = 0; t < rows.size(); t++) {
                float[] h = floats(rows.get(t));
                assertEquals(ConvertedMiniLm.DIM, h.length);
                for (int c = 0; c < h.length; c++) {
                    double d = h[c] - reference.get(i)[t][c];
                    diff += d * d;
                    norm += (double) reference.get(i)[t][c] * reference.get(i)[t][c];
                }
            }
            assertTrue(Math.sqrt(diff / norm) <= 1e-4, "last_hidden_state of sentence " + i + ": relative L2 " + Math.sqrt(diff / norm));
            float[] first = floats(rows.get(0)), c = floats(cls.get(i).get("embedding"));
            assertEquals(ConvertedMiniLm.DIM, c.length);
            assertTrue(java.util.Arrays.equals(first, c), "cls is token 0 of sentence " + i);
        }
    }

    @Test
    void batchingByTokensReturnsInputOrderAndTheSameValuesAsOneAtATime() throws Exception {
        Random random = new Random(11);
        String[] words = "the a quick brown fox jumps over lazy dog river mountain city people walk talk read write think"
                .split(" ");
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            StringBuilder t = new StringBuilder();
            for (int w = 1 + random.nextInt(40); w > 0; w--) t.append(words[random.nextInt(words.length)]).append(' ');
            texts.add(t.toString().strip() + ".");
        }
        List<float[][]> reference = ConvertedMiniLm.onnxLastHiddenStates(ids(texts));
        List<JsonNode> alone = lines(embed(rows(texts), "--normalize", "--batch-tokens", "1"));
        List<JsonNode> batched = lines(embed(rows(texts), "--normalize", "--batch-tokens", "64"));
        assertEquals(texts.size(), alone.size());
        assertEquals(texts.size(), batched.size());
        for (int i = 0; i < texts.size(); i++) {
            double[] want = ConvertedMiniLm.meanPooledNormalized(reference.get(i));
            compare(floats(alone.get(i).get("embedding")), want, "one at a time, line " + (i + 1));
            compare(floats(batched.get(i).get("embedding")), want, "batched by 64 tokens, line " + (i + 1));
        }
    }

    @Test
    void aBadLineNamesItsNumberAfterTheRowsBeforeItAreWritten() throws IOException {
        Path in = Files.createTempFile("bad", ".jsonl");
        try {
            Files.writeString(in, rows(SENTENCES.subList(0, 3)) + "{\"text\": \"unterminated}\n" + rows(SENTENCES.subList(3, 4)));
            ConvertedMiniLm.Run r = embed("", "--input", in.toString());
            assertEquals(1, r.code());
            assertEquals(3, r.out().lines().count(), "the three rows before the bad line are written");
            assertTrue(r.err().startsWith("distilbert embed: " + in + " line 4: not valid JSON"), r.err());
            assertEquals(1, r.err().lines().count(), r.err());
        } finally {
            Files.delete(in);
        }
    }

    @Test
    void aMissingModelDirectoryIsAClearError() {
        Path missing = ConvertedMiniLm.root().resolve("no-such-model");
        ConvertedMiniLm.Run r = ConvertedMiniLm.cli(rows(SENTENCES), "embed", "--model", missing.toString());
        assertEquals(1, r.code());
        assertEquals("", r.out());
        assertEquals("distilbert embed: " + missing + ": no such directory\n", r.err());
    }
}
