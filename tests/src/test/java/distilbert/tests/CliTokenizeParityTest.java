package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import distilbert.cli.Main;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distilbert tokenize} end to end against HuggingFace tokenizers 0.23.2: every
 * configuration of the tokenizer module's parity data (tokenizer/src/test/resources/parity,
 * read in place) is turned into CLI options, the CLI runs on a JSONL file of the configuration's
 * input lines, and every output line must carry exactly HF's input_ids, token_type_ids,
 * attention_mask, special_tokens_mask and offsets (and overflowing windows, with --overflowing).
 * Where HF refused an input, the CLI must stop there with an error naming that line, having
 * written every line before it.
 */
class CliTokenizeParityTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Path PARITY = Path.of("../tokenizer/src/test/resources/parity");
    static final List<String> KEYS = List.of("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "offsets");

    @TempDir
    static Path tmp;

    @TestFactory
    Stream<DynamicTest> everyParityConfigurationThroughTheCli() throws Exception {
        assertTrue(Files.isDirectory(PARITY), PARITY.toAbsolutePath() + " is missing (tests run from the tests/ module folder)");
        JsonNode root = JSON.readTree(PARITY.resolve("configs.json").toFile());
        Path tokenizer = bertBaseUncased();
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(tokenizer)));
        assertEquals(root.path("tokenizer").path("sha256").asText(), sha, "the parity data was made with another tokenizer.json");
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode cfg : root.get("configs")) {
            tests.add(DynamicTest.dynamicTest(cfg.get("name").asText(), () -> check(root, cfg, tokenizer)));
        }
        List<String> names = tests.stream().map(DynamicTest::getDisplayName).toList();
        for (String required : List.of("default", "trunc_longest_first_48_stride_8", "trunc_left_40_stride_5", "pad_longest_batch16",
                "pad_max_length_50_multiple_8_stride_10", "pad_left_longest")) {
            assertTrue(names.contains(required), "configs.json no longer has " + required);
        }
        return tests.stream();
    }

    private void check(JsonNode root, JsonNode cfg, Path baseTokenizer) throws IOException {
        String name = cfg.get("name").asText();
        Path tokenizer = patched(baseTokenizer, cfg.get("tokenizer_patch"), name);
        List<String> inputLines = inputLines(root, cfg);
        List<JsonNode> expected = readJsonl(PARITY.resolve(cfg.get("expected").asText()));
        assertEquals(cfg.get("expected_records").asInt(), expected.size(), name + ": expected file is incomplete");
        assertEquals(inputLines.size(), expected.size(), name + ": inputs and expected outputs differ in count");

        List<String> args = options(cfg);
        boolean overflowing = args.contains("--overflowing");
        Path in = tmp.resolve(name + ".in.jsonl"), out = tmp.resolve(name + ".out.jsonl");
        Files.write(in, inputLines, StandardCharsets.UTF_8);
        List<String> all = new ArrayList<>(List.of("tokenize", "--tokenizer", tokenizer.toString(), "--input", in.toString(),
                "--output", out.toString()));
        all.addAll(args);
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code;
        try (PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
             PrintStream o = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)) {
            code = Main.run(all.toArray(String[]::new), new ByteArrayInputStream(new byte[0]), o, e);
        }
        String stderr = err.toString(StandardCharsets.UTF_8);

        int firstError = 0;
        while (firstError < expected.size() && !expected.get(firstError).has("error")) firstError++;
        List<String> got = Files.readAllLines(out, StandardCharsets.UTF_8);
        if (firstError == expected.size()) {
            assertEquals(0, code, name + ": " + stderr);
            assertEquals("", stderr, name);
        } else {
            assertEquals(1, code, name + ": HF refused line " + (firstError + 1) + ": " + expected.get(firstError).get("error"));
            assertTrue(stderr.startsWith("distilbert tokenize: " + in + " line " + (firstError + 1) + ": "), name + ": " + stderr);
            assertEquals(1, stderr.lines().count(), stderr);
        }
        assertEquals(firstError, got.size(), name + ": output lines");

        List<String> mismatches = new ArrayList<>();
        for (int i = 0; i < got.size(); i++) {
            String where = name + " line " + (i + 1) + " (" + expected.get(i).path("id").asText() + ")";
            JsonNode line = JSON.readTree(got.get(i));
            compare(where, line, expected.get(i), overflowing, mismatches);
        }
        assertTrue(mismatches.isEmpty(), name + ": " + mismatches.size() + " differences from HuggingFace in " + got.size()
                + " lines; first ones:\n" + String.join("\n", mismatches.subList(0, Math.min(20, mismatches.size()))));
    }

    /** The five keys, in order, equal to HF's; with --overflowing, the windows too, recursively. */
    private static void compare(String where, JsonNode got, JsonNode want, boolean overflowing, List<String> out) {
        List<String> keys = new ArrayList<>();
        for (Iterator<String> it = got.fieldNames(); it.hasNext(); ) keys.add(it.next());
        List<String> wantKeys = new ArrayList<>(KEYS);
        if (overflowing) wantKeys.add("overflowing");
        if (!keys.equals(wantKeys)) {
            out.add(where + ": keys " + keys + ", expected " + wantKeys);
            return;
        }
        for (String k : KEYS) {
            if (!got.get(k).equals(want.get(k))) out.add(where + " " + k + ": expected " + want.get(k) + ", got " + got.get(k));
        }
        if (!overflowing) return;
        JsonNode g = got.get("overflowing"), w = want.path("overflowing");
        int n = w.isArray() ? w.size() : 0; // HF's data leaves the key out when there are none
        if (g.size() != n) {
            out.add(where + " overflowing: " + n + " windows expected, got " + g.size());
            return;
        }
        for (int i = 0; i < n; i++) compare(where + " overflowing[" + i + "]", g.get(i), w.get(i), true, out);
    }

    /** The CLI options for a configuration of configs.json. */
    static List<String> options(JsonNode cfg) {
        List<String> a = new ArrayList<>();
        if (!cfg.path("add_special_tokens").asBoolean(true)) a.add("--no-special-tokens");
        JsonNode t = cfg.get("truncation"), p = cfg.get("padding");
        boolean truncating = t != null && !t.isNull(), padding = p != null && !p.isNull();
        Integer maxLength = null;
        if (truncating) {
            maxLength = t.get("max_length").asInt();
            a.addAll(List.of("--truncation", t.get("strategy").asText(), "--max-length", "" + maxLength, "--stride",
                    "" + t.path("stride").asInt(0), "--truncation-side", t.path("direction").asText("right"), "--overflowing"));
        }
        if (padding) {
            String strategy = p.get("strategy").asText();
            a.addAll(List.of("--padding", strategy, "--padding-side", p.path("direction").asText("right")));
            if (p.hasNonNull("pad_to_multiple_of")) a.addAll(List.of("--pad-to-multiple-of", "" + p.get("pad_to_multiple_of").asInt()));
            if (strategy.equals("max_length")) {
                int length = p.get("max_length").asInt();
                if (maxLength == null) a.addAll(List.of("--truncation", "none", "--max-length", "" + length));
                else assertEquals(maxLength, length, "the CLI has one --max-length for truncation and padding");
            }
            // HF's batches: longest padding pads within each batch of batch_size rows.
            if (strategy.equals("longest")) a.addAll(List.of("--batch-size", "" + cfg.path("batch_size").asInt(1)));
        }
        return a;
    }

    /**
     * The configuration's input lines, verbatim (the CLI ignores their "id"): for each input set in
     * order, its first {@code limit} records, then only pairs if {@code pairs_only}.
     */
    static List<String> inputLines(JsonNode root, JsonNode cfg) throws IOException {
        List<String> out = new ArrayList<>();
        for (JsonNode which : cfg.get("inputs")) {
            List<String> lines = readLines(PARITY.resolve(root.get("input_files").get(which.asText()).asText()));
            int limit = cfg.path("limit").path(which.asText()).asInt(lines.size());
            for (String line : lines.subList(0, Math.min(limit, lines.size()))) {
                if (cfg.path("pairs_only").asBoolean(false) && !JSON.readTree(line).hasNonNull("text_pair")) continue;
                out.add(line);
            }
        }
        return out;
    }

    static List<JsonNode> readJsonl(Path file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String line : readLines(file)) out.add(JSON.readTree(line));
        return out;
    }

    static List<String> readLines(Path file) throws IOException {
        InputStream in = Files.newInputStream(file);
        if (file.toString().endsWith(".gz")) in = new GZIPInputStream(in, 1 << 16);
        List<String> out = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) if (!line.isBlank()) out.add(line);
        }
        return out;
    }

    /** bert-base-uncased's tokenizer.json, from the all-MiniLM-L6-v2 jar on the test classpath. */
    static Path bertBaseUncased() throws IOException {
        Path p = tmp.resolve("tokenizer.json");
        if (!Files.exists(p)) {
            try (InputStream in = CliTokenizeParityTest.class.getResourceAsStream("/all-minilm-l6-v2-tokenizer.json")) {
                if (in == null) throw new IllegalStateException("all-minilm-l6-v2-tokenizer.json is not on the test classpath");
                Files.copy(in, p);
            }
        }
        return p;
    }

    /** The tokenizer.json with configs.json's tokenizer_patch deep-merged into it. */
    static Path patched(Path base, JsonNode patch, String name) throws IOException {
        if (patch == null || patch.isNull()) return base;
        ObjectNode root = (ObjectNode) JSON.readTree(base.toFile());
        deepMerge(root, patch);
        Path p = tmp.resolve("tokenizer-" + name + ".json");
        JSON.writeValue(p.toFile(), root);
        return p;
    }

    private static void deepMerge(ObjectNode target, JsonNode patch) {
        for (Iterator<Map.Entry<String, JsonNode>> it = patch.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (target.get(e.getKey()) instanceof ObjectNode o && e.getValue().isObject()) deepMerge(o, e.getValue());
            else target.set(e.getKey(), e.getValue());
        }
    }
}
