package distilbert.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.SafetensorsFile;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GpuInferenceBench end to end on the CPU backend and a tiny random model: the JSON it writes, the
 * inputs it hands the peer, the token counts of a length mix whose lengths are known, the FLOPs
 * formula on a case computed by hand; and, where python3 with numpy is installed, the peer's whole
 * pipeline on the same files with bench/peer/selftest's stand-ins for torch and transformers.
 */
class GpuInferenceBenchTest {

    /** A corpus whose encodings are known: [CLS] … [SEP], bert-base-uncased. */
    static final String[] CORPUS = {
            "{\"text\": \"a\"}",                                      // [CLS] a [SEP]: 3
            "{\"text\": \"hello world\"}",                            // 4
            "{\"text\": \"the cat sat\"}",                            // 5
            "{\"text\": \"hello there\", \"text_pair\": \"the world\"}", // [CLS] hello there [SEP] the world [SEP]: 7
    };
    static final int[] CORPUS_LENGTHS = {3, 4, 5, 7};

    @TempDir
    static Path tmp;
    static Path model, corpus, tokenizer, inputs, logits, json;
    static int exitCode;
    static String stderr;
    static JsonNode result;
    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void runOnce() throws IOException {
        model = tmp.resolve("tiny");
        corpus = tmp.resolve("corpus.jsonl");
        Files.writeString(corpus, String.join("\n", CORPUS) + "\n");
        tokenizer = tmp.resolve("tokenizer.json");
        try (InputStream in = GpuInferenceBenchTest.class.getResourceAsStream("/all-minilm-l6-v2-tokenizer.json")) {
            Files.copy(in, tokenizer);
        }
        inputs = tmp.resolve("inputs");
        logits = tmp.resolve("ours-logits.safetensors");
        json = tmp.resolve("ours.json");
        Run r = run("--random-base", model.toString(), "--random-size", "tiny", "--device", "cpu",
                "--batch", "1,3", "--length", "16", "--mix", corpus.toString(), "--tokenizer", tokenizer.toString(),
                "--warmup", "1", "--iters", "1", "--peak-tflops", "2", "--inputs-out", inputs.toString(),
                "--logits-out", logits.toString(), "--json", json.toString());
        exitCode = r.code;
        stderr = r.err;
        result = JSON.readTree(json.toFile());
    }

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = GpuInferenceBench.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), false);
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void everyCaseRanAndReportsItsNumbers() {
        assertEquals(0, exitCode, stderr);
        assertEquals("", stderr, "quiet when stderr is not a terminal");
        assertEquals(GpuInferenceBench.SCHEMA, result.get("schema").asText());
        assertEquals("cpu", result.at("/settings/device").asText());
        assertEquals(32, result.at("/model/dim").asInt());
        assertTrue(Files.isRegularFile(model.resolve("config.json")) && Files.isRegularFile(model.resolve("model.safetensors")));
        List<String> names = new ArrayList<>();
        for (JsonNode c : result.get("cases")) {
            names.add(c.get("name").asText());
            assertEquals("ok", c.get("status").asText(), c.toString());
            assertEquals("fp32", c.get("precision").asText());
            for (String f : List.of("median_ms", "p10_ms", "p90_ms", "sequences_per_s", "tokens_per_s", "tflops", "mfu",
                    "flops", "padded_flops", "real_tokens", "padded_tokens", "backend", "warmup")) {
                assertTrue(c.hasNonNull(f), f + " missing in " + c);
            }
            assertEquals(1, c.get("iterations").asInt());
            assertEquals(1, c.get("times_ms").size());
            double median = c.get("median_ms").asDouble();
            assertTrue(median > 0 && c.get("p10_ms").asDouble() <= median && median <= c.get("p90_ms").asDouble());
            // median_ms is rounded to 0.1 µs, the rate is computed before rounding
            assertEquals(c.get("real_tokens").asDouble() / (median / 1e3), c.get("tokens_per_s").asDouble(),
                    (0.6e-4 / median + 1e-5) * c.get("tokens_per_s").asDouble());
            assertEquals(c.get("tflops").asDouble() / 2, c.get("mfu").asDouble(), 1e-3 * c.get("mfu").asDouble());
        }
        assertEquals(List.of("fixed-b1-l16", "fixed-b3-l16", "mix-b1", "mix-b3"), names);
        JsonNode fixed = result.get("cases").get(1);
        assertEquals(48, fixed.get("real_tokens").asInt());
        assertEquals(48, fixed.get("padded_tokens").asInt());
        assertEquals(fixed.get("flops").asLong(), fixed.get("padded_flops").asLong());
    }

    /** The mix draws are java.util.Random(MIX_SEED + B) over the corpus: the lengths follow from CORPUS_LENGTHS. */
    @Test
    void theLengthMixCountsRealTokens() throws IOException {
        for (int B : new int[] {1, 3}) {
            Random rnd = new Random(GpuInferenceBench.MIX_SEED + B);
            int[] expected = new int[B];
            for (int b = 0; b < B; b++) expected[b] = CORPUS_LENGTHS[rnd.nextInt(CORPUS_LENGTHS.length)];
            int longest = Arrays.stream(expected).max().orElseThrow(), sum = Arrays.stream(expected).sum();

            JsonNode c = find(result.get("cases"), "mix-b" + B);
            assertEquals("mix", c.get("kind").asText());
            assertEquals(sum, c.get("real_tokens").asInt());
            assertEquals(B * longest, c.get("padded_tokens").asInt());
            assertEquals(longest, c.get("length").asInt());
            int[] lengths = new int[B];
            for (int b = 0; b < B; b++) lengths[b] = c.get("lengths").get(b).asInt();
            assertEquals(Arrays.toString(expected), Arrays.toString(lengths));
            assertEquals(longest, c.at("/length_summary/max").asInt());
            assertEquals(GpuInferenceBench.flops(GpuInferenceBench.randomConfig("tiny"), expected), c.get("flops").asLong());

            // What the peer reads: the same rows, padded with id 0 and mask 0.
            try (SafetensorsFile st = SafetensorsFile.open(inputs.resolve("inputs.safetensors"))) {
                long[] mask = st.readLongs("mix-b" + B + ".attention_mask");
                long[] ids = st.readLongs("mix-b" + B + ".input_ids");
                assertEquals(B * longest, mask.length);
                for (int b = 0; b < B; b++) {
                    long real = 0;
                    for (int l = 0; l < longest; l++) {
                        real += mask[b * longest + l];
                        if (mask[b * longest + l] == 0) assertEquals(0, ids[b * longest + l]);
                    }
                    assertEquals(expected[b], real);
                    assertEquals(101, ids[b * longest], "[CLS] first");
                }
            }
        }
        JsonNode corpusLengths = result.at("/mix/corpus_lengths");
        assertEquals(4, corpusLengths.get("count").asInt());
        assertEquals(7, corpusLengths.get("max").asInt());
        assertEquals(4.75, corpusLengths.get("mean").asDouble(), 1e-9);
    }

    @Test
    void inputsManifestAndLogitsCoverEveryCase() throws IOException {
        JsonNode manifest = JSON.readTree(inputs.resolve("inputs.json").toFile());
        assertEquals(GpuInferenceBench.INPUTS_SCHEMA, manifest.get("schema").asText());
        assertEquals(4, manifest.get("cases").size());
        try (SafetensorsFile st = SafetensorsFile.open(logits)) {
            for (JsonNode c : manifest.get("cases")) {
                String key = "fp32/" + c.get("name").asText();
                float[] v = st.readFloats(key);
                assertEquals(c.get("batch").asInt() * 2, v.length, key);
                assertEquals(c.get("flops").asLong(), find(result.get("cases"), c.get("name").asText()).get("flops").asLong());
            }
        }
    }

    /**
     * C = 32, F = 64, 2 layers, 2 labels; rows of 3 and 5 tokens:
     * linear 2·(4·32² + 2·32·64) = 16,384 per token per layer · 8 tokens · 2 layers = 262,144;
     * attention 4·32·(3² + 5²) · 2 layers = 8,704; head (2·32·32 + 2·32·2) · 2 rows = 4,352.
     */
    @Test
    void flopsByHand() {
        DistilBertConfig tiny = GpuInferenceBench.randomConfig("tiny");
        assertEquals(262_144 + 8_704 + 4_352, GpuInferenceBench.flops(tiny, new int[] {3, 5}));
        // DistilBERT-base at n = 128: 87.3 MFLOP per token (the class comment's figure).
        DistilBertConfig base = GpuInferenceBench.randomConfig("base");
        int[] row = {128};
        assertEquals(87.3e6, (GpuInferenceBench.flops(base, row) - 2 * 768 * 768 - 2 * 768 * 2) / 128.0, 0.05e6);
    }

    @Test
    void percentilesInterpolateLikeNumpy() {
        double[] v = {1, 2, 3, 4, 10};
        assertEquals(3, GpuInferenceBench.percentile(v, 50));
        assertEquals(1.4, GpuInferenceBench.percentile(v, 10), 1e-12);
        assertEquals(7.6, GpuInferenceBench.percentile(v, 90), 1e-12);
    }

    @Test
    void badCommandLinesExitWithTwo() {
        String m = model.toString();
        for (String[] args : List.of(
                new String[] {"--model", m, "--bogus", "1"},
                new String[] {"--model", m, "--device", "gpu"},
                new String[] {"--model", m, "--device", "cpu", "--precision", "bf16"},
                new String[] {"--model", m, "--batch", "0"},
                new String[] {"--model", m, "--length", "abc"},
                new String[] {"--model", m, "--random-base", m},
                new String[] {"--model", tmp.resolve("nowhere").toString(), "--device", "cpu"},
                new String[] {"--model", m, "--device", "cpu", "--length", "4096"},
                new String[] {"--model", m, "--iters"})) {
            Run r = run(args);
            assertEquals(2, r.code, String.join(" ", args) + " -> " + r.err);
            assertTrue(r.err.startsWith("gpu-inference-bench: "), r.err);
        }
        Run help = run("--help");
        assertEquals(0, help.code);
        assertTrue(help.out.contains("--random-base DIR"));
    }

    /**
     * The peer's whole pipeline on the CPU: hf_inference.py with bench/peer/selftest's numpy stand-ins for
     * torch and transformers times the same inputs, writes its JSON and logits; --check compares them with
     * ours (an implementation sharing no code with ours: fp32 within 1e-4); gpu_report.py writes the file.
     */
    @Test
    void peerPipelineOnTheCpu() throws Exception {
        assumeTrue(python("-c", "import numpy").exitValue() == 0, "python3 with numpy is not installed");
        Path ceilings = tmp.resolve("ceilings.json");
        Process ceil = python("peer/ceilings.py", "--n", "64", "--copy-gib", "0.001", "--quick", "--json", ceilings.toString());
        assertEquals(0, ceil.exitValue(), output(ceil));
        double fp32Peak = JSON.readTree(ceilings.toFile()).at("/matmul/fp32/tflops").asDouble();
        assertTrue(fp32Peak > 0);

        Path hfJson = tmp.resolve("hf-eager.json"), hfLogits = tmp.resolve("hf-eager-logits.safetensors");
        Process p = python("peer/hf_inference.py", "--model", model.toString(), "--inputs", inputs.toString(),
                "--attn", "eager", "--precision", "fp32", "--warmup", "0", "--iters", "1", "--ceilings", ceilings.toString(),
                "--json", hfJson.toString(), "--logits-out", hfLogits.toString());
        assertEquals(0, p.exitValue(), output(p));
        JsonNode hf = JSON.readTree(hfJson.toFile());
        assertEquals(GpuInferenceBench.SCHEMA, hf.get("schema").asText());
        for (JsonNode c : hf.get("cases")) {
            JsonNode ours = find(result.get("cases"), c.get("name").asText());
            assertEquals("ok", c.get("status").asText(), c.toString());
            assertEquals(fp32Peak, c.get("peak_tflops").asDouble());
            for (String f : List.of("real_tokens", "padded_tokens", "flops", "padded_flops", "batch", "length")) {
                assertEquals(ours.get(f).asLong(), c.get(f).asLong(), f + " of " + c.get("name"));
            }
        }
        Process check = python("peer/hf_inference.py", "--check", "--ours", logits.toString(), "--hf", "eager=" + hfLogits,
                "--json", tmp.resolve("check.json").toString());
        assertEquals(0, check.exitValue(), output(check));
        JsonNode c = JSON.readTree(tmp.resolve("check.json").toFile());
        assertTrue(c.get("ok").asBoolean());
        assertEquals(4, c.get("compared").asInt());

        Process report = python("peer/gpu_report.py", "--work", tmp.toString(), "--out", tmp.resolve("report.md").toString());
        assertEquals(0, report.exitValue(), output(report));
        String md = Files.readString(tmp.resolve("report.md"));
        assertTrue(md.contains("| fixed-b3-l16 | 3 | 16 | 48 |"), md);
        assertTrue(md.contains("Overall: **ok**"), md);
        assertTrue(md.contains("| matmul fp32, 64³ |"), md);
    }

    private static JsonNode find(JsonNode cases, String name) {
        for (JsonNode c : cases) if (c.get("name").asText().equals(name)) return c;
        throw new AssertionError("no case " + name);
    }

    /** python3 ARGS in the bench module's folder with the stand-ins first on PYTHONPATH; waits up to 2 minutes. */
    private static Process python(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("python3"));
        cmd.addAll(List.of(args));
        Path log = Files.createTempFile(tmp, "python", ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("PYTHONPATH", Path.of("peer/selftest").toAbsolutePath().toString());
        pb.environment().put("PYTHONDONTWRITEBYTECODE", "1"); // no __pycache__ in the source tree
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            assumeTrue(false, "no python3: " + e.getMessage());
            throw e;
        }
        if (!p.waitFor(2, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("python3 " + String.join(" ", args) + " took over 2 minutes");
        }
        LOGS.put(p, log);
        return p;
    }

    private static final java.util.Map<Process, Path> LOGS = new java.util.concurrent.ConcurrentHashMap<>();

    private static String output(Process p) throws IOException {
        return Files.readString(LOGS.get(p));
    }
}
