package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.cli.Main;
import distilbert.model.BaseModelOutput;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.DistilBertModel;
import distilbert.model.ModelInput;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real pretrained weights end to end: all-MiniLM-L6-v2 (a 6-layer BERT encoder, as ONNX from
 * Maven Central) converted by {@code distilbert convert} into a DistilBERT directory, then run by
 * our CPU model and compared with ONNX Runtime running the original ONNX file.
 *
 * <p>Bound: relative L2 of last_hidden_state per sentence ≤ 1e-4 (the bar). Both sides
 * compute in float32 with different summation orders through 6 layers; measured differences are
 * around 1e-6, so the bound has two orders of magnitude of room yet catches any real mistake (a
 * wrong fold of the token-type row alone moves it past 1e-2).
 */
class OnnxConversionParityTest {
    static final double BOUND = 1e-4;
    static final int SENTENCES = 40;

    @TempDir
    static Path tmp;

    static Path onnx, tokenizerJson, converted;
    static List<int[]> ids = new ArrayList<>();

    @BeforeAll
    static void convert() throws IOException {
        onnx = copyResource("/all-minilm-l6-v2.onnx", tmp.resolve("model.onnx"));
        tokenizerJson = copyResource("/all-minilm-l6-v2-tokenizer.json", tmp.resolve("tokenizer.json"));
        converted = tmp.resolve("converted");
        Run r = cli("convert", "--from", "onnx", "--input", onnx.toString(), "--tokenizer", tokenizerJson.toString(),
                "--output", converted.toString());
        assertEquals(0, r.code, r.err);

        // Real text of varied length: the first records of the tokenizer's parity corpus (English and
        // other languages), one sentence each, cut to 128 tokens.
        Tokenizer tok = Tokenizer.fromPretrained(converted);
        ObjectMapper json = new ObjectMapper();
        Path corpus = Path.of("..", "tokenizer", "src", "test", "resources", "parity", "corpus.jsonl.gz");
        try (var in = new java.io.BufferedReader(new java.io.InputStreamReader(new GZIPInputStream(Files.newInputStream(corpus)),
                StandardCharsets.UTF_8))) {
            EncodeOptions cut = EncodeOptions.DEFAULT.withTruncation(Truncation.longestFirst(128));
            for (String line; ids.size() < SENTENCES && (line = in.readLine()) != null; ) {
                JsonNode row = json.readTree(line);
                Encoding e = tok.encode(row.get("text").asText(), null, cut);
                if (e.length() > 2) ids.add(e.ids());
            }
        }
        assertEquals(SENTENCES, ids.size());
        assertTrue(ids.stream().mapToInt(a -> a.length).max().orElseThrow() >= 100, "some sentences are long");
        assertTrue(ids.stream().mapToInt(a -> a.length).min().orElseThrow() <= 12, "some sentences are short");
    }

    @Test
    void convertedDirectoryIsAHuggingFaceDistilBertDirectory() throws IOException {
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json")) {
            Path p = converted.resolve(f);
            assertTrue(Files.isRegularFile(p), f);
            assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(p)), f + " permissions");
        }
        JsonNode cfg = new ObjectMapper().readTree(converted.resolve("config.json").toFile());
        assertEquals("distilbert", cfg.get("model_type").asText());
        assertEquals("DistilBertModel", cfg.get("architectures").get(0).asText());
        assertEquals(384, cfg.get("dim").asInt());
        assertEquals(12, cfg.get("n_heads").asInt());
        assertEquals(6, cfg.get("n_layers").asInt());
        assertEquals(1536, cfg.get("hidden_dim").asInt());
        assertEquals("gelu", cfg.get("activation").asText());
    }

    @Test
    void lastHiddenStateMatchesOnnxRuntimeOneAtATimeAndBatched() throws Exception {
        List<float[]> reference = new ArrayList<>();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession session = env.createSession(onnx.toString(), new OrtSession.SessionOptions())) {
            for (int[] s : ids) {
                long[][] in = {toLongs(s)};
                long[][] mask = {filled(s.length, 1)};
                long[][] types = {filled(s.length, 0)};
                try (OnnxTensor a = OnnxTensor.createTensor(env, in); OnnxTensor m = OnnxTensor.createTensor(env, mask);
                     OnnxTensor t = OnnxTensor.createTensor(env, types);
                     OrtSession.Result r = session.run(Map.of("input_ids", a, "attention_mask", m, "token_type_ids", t))) {
                    float[][][] h = (float[][][]) r.get("last_hidden_state").orElseThrow().getValue();
                    float[] flat = new float[s.length * 384];
                    for (int l = 0; l < s.length; l++) System.arraycopy(h[0][l], 0, flat, l * 384, 384);
                    reference.add(flat);
                }
            }
        }
        try (DistilBert db = DistilBert.load(converted, Device.CPU)) {
            DistilBertModel model = db.as(DistilBertModel.class);
            double worstSingle = 0;
            for (int i = 0; i < ids.size(); i++) {
                int[] s = ids.get(i);
                BaseModelOutput out = model.forward(ModelInput.ofIds(new int[][] {s}, new int[][] {ones(s.length)}));
                double rel = relL2(out.lastHiddenState().data(), 0, reference.get(i), s.length * 384);
                worstSingle = Math.max(worstSingle, rel);
                assertTrue(rel <= BOUND, "sentence " + i + " (" + s.length + " tokens) alone: relative L2 " + rel);
            }
            // All sentences as one right-padded batch: each row must still match at its real tokens.
            int maxLen = ids.stream().mapToInt(a -> a.length).max().orElseThrow();
            int[][] batch = new int[ids.size()][maxLen], mask = new int[ids.size()][maxLen];
            for (int i = 0; i < ids.size(); i++) {
                System.arraycopy(ids.get(i), 0, batch[i], 0, ids.get(i).length);
                for (int l = 0; l < ids.get(i).length; l++) mask[i][l] = 1;
            }
            float[] h = model.forward(ModelInput.ofIds(batch, mask)).lastHiddenState().data();
            double worstBatch = 0;
            for (int i = 0; i < ids.size(); i++) {
                double rel = relL2(h, i * maxLen * 384, reference.get(i), ids.get(i).length * 384);
                worstBatch = Math.max(worstBatch, rel);
                assertTrue(rel <= BOUND, "sentence " + i + " in the padded batch: relative L2 " + rel);
                for (int k = ids.get(i).length * 384; k < maxLen * 384; k++) {
                    assertEquals(0f, h[i * maxLen * 384 + k], "padding of row " + i + " is zero (documented)");
                }
            }
            System.out.printf("ONNX Runtime parity over %d sentences: worst relative L2 %.2e alone, %.2e batched (bound %.0e)%n",
                    ids.size(), worstSingle, worstBatch, BOUND);
        }
    }

    @Test
    void convertRefusesBadInputWithClearErrors() throws IOException {
        Path garbage = Files.writeString(tmp.resolve("garbage.onnx"), "this is not protobuf at all, just text");
        Run r = cli("convert", "--from", "onnx", "--input", garbage.toString(), "--tokenizer", tokenizerJson.toString(),
                "--output", tmp.resolve("out-garbage").toString());
        assertEquals(1, r.code);
        assertTrue(r.err.startsWith("distilbert convert: " + garbage + ": "), r.err);

        r = cli("convert", "--from", "onnx", "--input", onnx.toString(), "--tokenizer", tokenizerJson.toString(),
                "--output", converted.toString());
        assertEquals(1, r.code);
        assertTrue(r.err.contains(converted + ": not empty (use --force"), r.err);

        r = cli("convert", "--from", "onnx", "--input", tmp.resolve("missing.onnx").toString(), "--tokenizer",
                tokenizerJson.toString(), "--output", tmp.resolve("out-missing").toString());
        assertEquals(1, r.code);
        assertTrue(r.err.contains("missing.onnx"), r.err);
    }

    record Run(int code, String out, String err) {}

    static Run cli(String... args) {
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        int code = Main.run(args, InputStream.nullInputStream(), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static Path copyResource(String name, Path to) throws IOException {
        try (InputStream in = OnnxConversionParityTest.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException(name + " is not on the test classpath");
            Files.copy(in, to);
        }
        return to;
    }

    static double relL2(float[] got, int offset, float[] want, int n) {
        double diff = 0, norm = 0;
        for (int k = 0; k < n; k++) {
            double d = got[offset + k] - want[k];
            diff += d * d;
            norm += (double) want[k] * want[k];
        }
        return Math.sqrt(diff / norm);
    }

    static long[] toLongs(int[] a) {
        long[] l = new long[a.length];
        for (int i = 0; i < a.length; i++) l[i] = a[i];
        return l;
    }

    static long[] filled(int n, long v) {
        long[] l = new long[n];
        java.util.Arrays.fill(l, v);
        return l;
    }

    static int[] ones(int n) {
        int[] a = new int[n];
        java.util.Arrays.fill(a, 1);
        return a;
    }
}
