package distilbert.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Token-for-token parity with HuggingFace tokenizers 0.23.2 (tokenizer/parity/reference.js) on
 * a corpus of real multilingual text and a hand-made edge-case set, under every configuration
 * of configs.json: ids, type ids, attention and special-tokens masks, offsets (code points),
 * tokens, overflowing windows, and decoding. The bar is 100%: any difference fails.
 */
class HuggingFaceParityTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path tmp;

    /** bert-base-uncased's tokenizer.json, from the all-MiniLM-L6-v2 jar on the test classpath. */
    static Path bertBaseUncased(Path dir) throws IOException {
        Path p = dir.resolve("tokenizer.json");
        if (!Files.exists(p)) {
            try (InputStream in = HuggingFaceParityTest.class.getResourceAsStream("/all-minilm-l6-v2-tokenizer.json")) {
                if (in == null) throw new IllegalStateException("all-minilm-l6-v2-tokenizer.json is not on the test classpath");
                Files.copy(in, p);
            }
        }
        return p;
    }

    record Input(String id, String text, String pair) {}

    @TestFactory
    Stream<DynamicTest> everyConfigurationMatchesHuggingFace() throws Exception {
        JsonNode root = JSON.readTree(resource("/parity/configs.json"));
        String sha = root.path("tokenizer").path("sha256").asText();
        byte[] digest = java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(bertBaseUncased(tmp)));
        assertEquals(sha, java.util.HexFormat.of().formatHex(digest), "the reference outputs were made from another tokenizer.json");
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode cfg : root.get("configs")) {
            tests.add(DynamicTest.dynamicTest(cfg.get("name").asText(), () -> checkConfig(cfg)));
        }
        assertTrue(tests.size() >= Integer.getInteger("parity.minConfigs", 10), "configs.json lists " + tests.size() + " configurations");
        return tests.stream();
    }

    private void checkConfig(JsonNode cfg) throws IOException {
        String name = cfg.get("name").asText();
        Tokenizer tok = Tokenizer.fromPretrained(patchedTokenizer(cfg.get("tokenizer_patch"), name));
        List<Input> inputs = inputs(cfg);
        List<JsonNode> expected = readJsonl("/parity/" + cfg.get("expected").asText());
        assertEquals(cfg.get("expected_records").asInt(), expected.size(), name + ": expected file is incomplete");
        assertEquals(inputs.size(), expected.size(), name + ": inputs and expected outputs differ in count");

        EncodeOptions options = options(cfg);
        int batch = Math.max(1, cfg.path("batch_size").asInt(1));
        List<String> mismatches = new ArrayList<>();
        int compared = 0, errors = 0;
        for (int from = 0; from < inputs.size(); from += batch) {
            List<Input> chunk = inputs.subList(from, Math.min(inputs.size(), from + batch));
            List<JsonNode> want = expected.subList(from, from + chunk.size());
            boolean anyError = want.stream().anyMatch(w -> w.has("error"));
            if (anyError) {
                // Errors are per input: encode one at a time (only unpadded configs have them).
                for (int i = 0; i < chunk.size(); i++) {
                    Input in = chunk.get(i);
                    if (want.get(i).has("error")) {
                        assertThrows(TokenizerException.class, () -> tok.encode(in.text(), in.pair(), options),
                                name + "/" + in.id() + ": HF raised '" + want.get(i).get("error").asText() + "'");
                        errors++;
                    } else {
                        compare(name + "/" + in.id(), tok.encode(in.text(), in.pair(), options), want.get(i), mismatches);
                        compared++;
                    }
                }
                continue;
            }
            List<Encoding> got = tok.encodeBatch(chunk.stream().map(Input::text).toList(),
                    chunk.stream().map(Input::pair).toList(), options);
            for (int i = 0; i < chunk.size(); i++) {
                compare(name + "/" + chunk.get(i).id(), got.get(i), want.get(i), mismatches);
                if (want.get(i).has("decoded")) {
                    int[] ids = got.get(i).ids();
                    check(mismatches, name + "/" + chunk.get(i).id() + " decoded", want.get(i).get("decoded").asText(), tok.decode(ids, true));
                    check(mismatches, name + "/" + chunk.get(i).id() + " decoded_with_special",
                            want.get(i).get("decoded_with_special").asText(), tok.decode(ids, false));
                }
                compared++;
            }
        }
        assertEquals(inputs.size(), compared + errors);
        assertEquals(cfg.path("expected_errors").asInt(0), errors, name + ": inputs HF refused");
        assertTrue(mismatches.isEmpty(), name + ": " + mismatches.size() + " differences from HuggingFace in " + compared
                + " records; first ones:\n" + String.join("\n", mismatches.subList(0, Math.min(25, mismatches.size()))));
    }

    static void compare(String where, Encoding got, JsonNode want, List<String> out) {
        checkInts(out, where + " input_ids", want.get("input_ids"), got.ids());
        checkInts(out, where + " token_type_ids", want.get("token_type_ids"), got.typeIds());
        checkInts(out, where + " attention_mask", want.get("attention_mask"), got.attentionMask());
        checkInts(out, where + " special_tokens_mask", want.get("special_tokens_mask"), got.specialTokensMask());
        int[][] offsets = got.codePointOffsets();
        JsonNode wantOffsets = want.get("offsets");
        if (wantOffsets.size() != offsets.length) {
            out.add(where + " offsets: " + wantOffsets.size() + " expected, got " + offsets.length);
        } else {
            for (int i = 0; i < offsets.length; i++) {
                int ws = wantOffsets.get(i).get(0).asInt(), we = wantOffsets.get(i).get(1).asInt();
                if (ws != offsets[i][0] || we != offsets[i][1]) {
                    out.add(where + " offsets[" + i + "] (token '" + got.tokens()[i] + "'): expected [" + ws + ", " + we + "], got "
                            + Arrays.toString(offsets[i]));
                    break;
                }
            }
        }
        if (want.has("tokens")) {
            List<String> wantTokens = new ArrayList<>();
            want.get("tokens").forEach(t -> wantTokens.add(t.asText()));
            check(out, where + " tokens", wantTokens, Arrays.asList(got.tokens()));
        }
        JsonNode wantOver = want.path("overflowing");
        int n = wantOver.isArray() ? wantOver.size() : 0;
        if (n != got.overflowing().size()) {
            out.add(where + " overflowing: " + n + " windows expected, got " + got.overflowing().size());
        } else {
            for (int i = 0; i < n; i++) compare(where + " overflowing[" + i + "]", got.overflowing().get(i), wantOver.get(i), out);
        }
    }

    private static void checkInts(List<String> out, String where, JsonNode want, int[] got) {
        int[] w = new int[want.size()];
        for (int i = 0; i < w.length; i++) w[i] = want.get(i).asInt();
        if (!Arrays.equals(w, got)) {
            int i = Arrays.mismatch(w, got);
            out.add(where + ": first difference at " + i + ", expected " + (i < w.length ? w[i] : "end") + ", got "
                    + (i < got.length ? got[i] : "end") + " (lengths " + w.length + " vs " + got.length + ")");
        }
    }

    private static void check(List<String> out, String where, Object want, Object got) {
        if (!want.equals(got)) out.add(where + ": expected " + want + ", got " + got);
    }

    static EncodeOptions options(JsonNode cfg) {
        Truncation t = null;
        JsonNode tn = cfg.get("truncation");
        if (tn != null && !tn.isNull()) {
            t = new Truncation(Truncation.Strategy.valueOf(tn.get("strategy").asText().toUpperCase()), tn.get("max_length").asInt(),
                    tn.path("stride").asInt(0), Direction.valueOf(tn.path("direction").asText("right").toUpperCase()));
        }
        Padding p = null;
        JsonNode pn = cfg.get("padding");
        if (pn != null && !pn.isNull()) {
            p = new Padding(Padding.Strategy.valueOf(pn.get("strategy").asText().toUpperCase()), pn.path("max_length").asInt(0),
                    pn.path("pad_to_multiple_of").asInt(0), Direction.valueOf(pn.path("direction").asText("right").toUpperCase()));
        }
        return new EncodeOptions(cfg.path("add_special_tokens").asBoolean(true), t, p);
    }

    static Path patchedTokenizer(JsonNode patch, String name) throws IOException {
        Path base = bertBaseUncased(tmp);
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
            JsonNode cur = target.get(e.getKey());
            if (cur instanceof ObjectNode o && e.getValue().isObject()) deepMerge(o, e.getValue());
            else target.set(e.getKey(), e.getValue());
        }
    }

    static List<Input> inputs(JsonNode cfg) throws IOException {
        List<Input> out = new ArrayList<>();
        for (JsonNode which : cfg.get("inputs")) {
            String file = switch (which.asText()) {
                case "corpus" -> "/parity/corpus.jsonl.gz";
                case "edge-cases" -> "/parity/edge-cases.jsonl";
                default -> throw new IllegalArgumentException("unknown input set " + which);
            };
            List<JsonNode> rows = readJsonl(file);
            // limit: {"corpus": N} keeps the first N records of that set; pairs_only applies after it.
            int limit = cfg.path("limit").path(which.asText()).asInt(rows.size());
            boolean pairsOnly = cfg.path("pairs_only").asBoolean(false);
            for (JsonNode r : rows.subList(0, Math.min(limit, rows.size()))) {
                String pair = r.hasNonNull("text_pair") ? r.get("text_pair").asText() : null;
                if (pairsOnly && pair == null) continue;
                out.add(new Input(r.get("id").asText(), r.get("text").asText(), pair));
            }
        }
        return out;
    }

    static List<JsonNode> readJsonl(String resource) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(open(resource), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) if (!line.isBlank()) out.add(JSON.readTree(line));
        }
        return out;
    }

    private static InputStream open(String resource) throws IOException {
        InputStream in = resource(resource);
        return resource.endsWith(".gz") ? new GZIPInputStream(in) : in;
    }

    private static InputStream resource(String name) {
        InputStream in = HuggingFaceParityTest.class.getResourceAsStream(name);
        if (in == null) throw new IllegalStateException(name + " is missing from the test resources");
        return in;
    }
}
