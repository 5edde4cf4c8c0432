package distilbert.cli;

import static distilbert.cli.Cli.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.ZeroShotClassification;
import distilbert.model.ZeroShotClassification.Query;
import distilbert.model.ZeroShotClassification.Result;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.DistilBertConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distilbert zero-shot} on a small random three-label NLI-style DistilBertForSequenceClassification
 * (entailment first, as typeform/distilbert-base-uncased-mnli) with bert-base-uncased's tokenizer:
 * every line against the library's {@link ZeroShotClassification} on the same directory, the format,
 * --labels, --template, --multi-label, --entailment-label, --logits, --max-length, order, batching,
 * errors. The module tests' golden files check the library against HF's pipeline itself.
 */
class ZeroShotCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;

    static Path model, unnamed;

    static DistilBertConfig nli(DistilBertConfig base, String... labels) {
        Map<Integer, String> id2label = new TreeMap<>();
        Map<String, Integer> label2id = new LinkedHashMap<>();
        for (int i = 0; i < labels.length; i++) {
            id2label.put(i, labels[i]);
            label2id.put(labels[i], i);
        }
        return base.toBuilder().labelMaps(id2label, label2id).build();
    }

    @BeforeAll
    static void writeModels() throws IOException {
        model = TinyModels.classifier(dir.resolve("nli"), nli(TinyModels.config(), "ENTAILMENT", "NEUTRAL", "CONTRADICTION"));
        unnamed = TinyModels.classifier(dir.resolve("unnamed"), TinyModels.config().toBuilder().numLabels(3).build());
    }

    static final List<Query> QUERIES = List.of(
            new Query("I have a problem with my iphone that needs to be resolved asap!!",
                    List.of("urgent", "not urgent", "phone", "tablet", "computer")),
            new Query("The match went to extra time.", List.of("sports", "politics")),
            new Query("Ünïcödé \uD83D\uDC33 text", List.of("", "a label, with a comma", "x")),
            new Query("", List.of("only one label")),
            new Query("A long text " + "that goes on and on ".repeat(20), List.of("short", "long")),
            new Query("twice", List.of("same", "other", "same")));

    static String rows(List<Query> queries) {
        StringBuilder s = new StringBuilder();
        for (Query q : queries) {
            ObjectNode o = JSON.createObjectNode().put("text", q.sequence());
            ArrayNode labels = o.putArray("candidate_labels");
            q.candidateLabels().forEach(labels::add);
            s.append(o).append('\n');
        }
        return s.toString();
    }

    /** The lines as JSON trees: the output escapes characters beyond the BMP, which the hand-built lines do not. */
    static List<com.fasterxml.jackson.databind.JsonNode> trees(List<String> lines) {
        return lines.stream().map(l -> {
            try {
                return JSON.readTree(l);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }).toList();
    }

    static Cli.Result zs(String stdin, String... args) {
        return Cli.onCpu("zero-shot", model, stdin, args);
    }

    static List<Result> library(Path dir, List<Query> queries, Function<ZeroShotClassification, ZeroShotClassification> setup)
            throws IOException {
        try (DistilBert db = DistilBert.load(dir, Device.CPU)) {
            return setup.apply(new ZeroShotClassification(db, Tokenizer.fromPretrained(dir))).classify(queries);
        }
    }

    /** The line zero-shot should write, built by hand: Java's Float.toString is the shortest float32 form. */
    static String line(Result r, boolean logits) {
        StringBuilder s = new StringBuilder("{\"sequence\":").append(json(r.sequence())).append(",\"labels\":")
                .append(json(r.labels())).append(",\"scores\":");
        floats(s, r.rankedScores());
        if (logits) {
            s.append(",\"logits\":[");
            for (int i = 0; i < r.scores().length; i++) {
                if (i > 0) s.append(',');
                floats(s, r.logitsOf(i));
            }
            s.append(']');
        }
        return s.append('}').toString();
    }

    private static String json(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void floats(StringBuilder s, float[] xs) {
        s.append('[');
        for (int i = 0; i < xs.length; i++) s.append(i == 0 ? "" : ",").append(xs[i]);
        s.append(']');
    }

    @Test
    void eachLineIsItsLabelsRankedInInputOrder() throws IOException {
        List<Result> want = library(model, QUERIES, z -> z);
        Cli.Result r = zs(rows(QUERIES));
        List<String> got = ok(r);
        assertEquals(trees(want.stream().map(x -> line(x, false)).toList()), trees(got));
        assertEquals(trees(want.stream().map(x -> line(x, true)).toList()), trees(ok(zs(rows(QUERIES), "--logits"))));
        JsonNodeCheck.labels(got.get(0), "urgent", "not urgent", "phone", "tablet", "computer");
        assertEquals(3, JSON.readTree(got.get(5)).get("labels").size(), "a label given twice is scored twice");
        for (int i = 0; i < QUERIES.size(); i++) {
            assertEquals(got.get(i), ok(zs(rows(List.of(QUERIES.get(i))))).getFirst(), "query " + i + " alone");
        }
        // single-label scores sum to 1 over a line's labels
        double sum = 0;
        for (var x : JSON.readTree(got.get(0)).get("scores")) sum += x.asDouble();
        assertEquals(1.0, sum, 1e-6);
    }

    @Test
    void optionsReachTheLibrary() throws IOException {
        String template = "It is about {}.";
        List<Result> multi = library(model, QUERIES, z -> z.withMultiLabel(true).withHypothesisTemplate(template));
        assertEquals(trees(multi.stream().map(x -> line(x, false)).toList()),
                trees(ok(zs(rows(QUERIES), "--multi-label", "--template", template))));
        List<Result> cut = library(model, QUERIES, z -> z.withMaxLength(20));
        assertEquals(trees(cut.stream().map(x -> line(x, false)).toList()), trees(ok(zs(rows(QUERIES), "--max-length", "20"))));
        // --labels for lines without their own; a line's own, as a list or a comma string, wins
        List<Query> defaults = List.of(new Query("the game", List.of("sports", "cooking")), new Query("a recipe", List.of("x", "y")),
                new Query("the stew", List.of("sports", "cooking")));
        List<Result> want = library(model, defaults, z -> z);
        String input = "{\"text\": \"the game\"}\n{\"text\": \"a recipe\", \"candidate_labels\": \" x,, y \"}\n"
                + "{\"text\": \"the stew\", \"candidate_labels\": null}\n".replace(", \"candidate_labels\": null", "");
        assertEquals(trees(want.stream().map(x -> line(x, false)).toList()), trees(ok(zs(input, "--labels", "sports, cooking"))));
    }

    @Test
    void aLineMayBringItsOwnTemplateAndMultiLabel() throws IOException {
        String template = "It is about {}.";
        String plain = "{\"text\": \"the game went on\", \"candidate_labels\": [\"sports\", \"cooking\"]}\n";
        String own = "{\"text\": \"the game went on\", \"candidate_labels\": [\"sports\", \"cooking\"], "
                + "\"hypothesis_template\": \"" + template + "\", \"multi_label\": true}\n";
        String nulls = "{\"text\": \"the game went on\", \"candidate_labels\": [\"sports\", \"cooking\"], "
                + "\"hypothesis_template\": null, \"multi_label\": null}\n";
        List<String> got = ok(zs(plain + own + nulls));
        assertEquals(ok(zs(plain)).getFirst(), got.get(0));
        assertEquals(ok(zs(plain, "--template", template, "--multi-label")).getFirst(), got.get(1), "the line's own options");
        assertEquals(ok(zs(plain)).getFirst(), got.get(2), "null: the command's");
        // the other way round: the command's options, a line that says otherwise
        String single = "{\"text\": \"the game went on\", \"candidate_labels\": [\"sports\", \"cooking\"], \"multi_label\": false}\n";
        assertEquals(ok(zs(plain)).getFirst(), ok(zs(single, "--multi-label")).getFirst());
        for (String[] bad : new String[][] {
                {"\"multi_label\": \"yes\"", "stdin line 1: \"multi_label\" must be true or false, found a string"},
                {"\"hypothesis_template\": 3", "stdin line 1: \"hypothesis_template\" must be a string, found a number"},
                {"\"hypothesis_template\": \"none\"", "stdin line 1: the hypothesis template \"none\" has no place for the label"}}) {
            Cli.Result r = zs("{\"text\": \"t\", \"candidate_labels\": [\"a\"], " + bad[0] + "}\n");
            assertEquals(1, r.code(), bad[0]);
            assertTrue(r.err().startsWith("distilbert zero-shot: " + bad[1]), r.err());
        }
    }

    @Test
    void theEntailmentLabelByNameOrOption() throws IOException {
        List<Query> two = QUERIES.subList(0, 2);
        // label2id without "entail": HF's last label, with a warning; --entailment-label names another
        Cli.Result r = Cli.onCpu("zero-shot", unnamed, rows(two));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().startsWith("distilbert zero-shot: warning: the model's label2id [LABEL_0, LABEL_1, LABEL_2] has no label "
                + "starting with \"entail\""), r.err());
        try (DistilBert db = DistilBert.load(unnamed, Device.CPU)) {
            Tokenizer tok = Tokenizer.fromPretrained(unnamed);
            assertEquals(trees(new ZeroShotClassification(db, tok, 2).classify(two).stream().map(x -> line(x, false)).toList()),
                    trees(r.lines()));
            Cli.Result named = Cli.onCpu("zero-shot", unnamed, rows(two), "--entailment-label", "LABEL_1");
            assertEquals("", named.err());
            assertEquals(trees(new ZeroShotClassification(db, tok, 1).classify(two).stream().map(x -> line(x, false)).toList()),
                    trees(ok(named)));
        }
        Cli.Result bad = zs(rows(two), "--entailment-label", "entailment");
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("--entailment-label 'entailment' is not a label of") && bad.err().contains(
                "[ENTAILMENT, NEUTRAL, CONTRADICTION]"), bad.err());
    }

    @Test
    void longTextsAreCutAndAHypothesisTooLongIsRefused() throws IOException {
        Cli.Result r = zs(rows(QUERIES));
        assertEquals("distilbert zero-shot: 2 (text, hypothesis) pairs were longer than 64 tokens and truncated to 64 "
                + "(--max-length)\n", r.err());
        // a label whose hypothesis alone is longer than the text's room: not truncated (HF's fallback), and
        // refused when the pair is longer than the model's positions, after the lines before it
        String longLabel = "word ".repeat(70).strip();
        String input = rows(QUERIES.subList(0, 2)) + rows(List.of(new Query("some text", List.of("a", longLabel))));
        Cli.Result refused = zs(input);
        assertEquals(1, refused.code());
        assertEquals(trees(library(model, QUERIES.subList(0, 2), z -> z).stream().map(x -> line(x, false)).toList()),
                trees(refused.lines()));
        assertTrue(refused.err().startsWith("distilbert zero-shot: stdin line 3: a (text, hypothesis) pair is 79 tokens long, more "
                + "than the model's max_position_embeddings = 64, and cannot be truncated"), refused.err());
        // within the positions, such a pair runs whole, as in the library
        String mid = "word ".repeat(14).strip();
        List<Query> q = List.of(new Query("some text that is long enough", List.of("a", mid)));
        List<Result> want = library(model, q, z -> z.withMaxLength(16));
        assertEquals(trees(want.stream().map(x -> line(x, false)).toList()), trees(ok(zs(rows(q), "--max-length", "16"))));
    }

    @Test
    void batchingByTokensChangesNothing() {
        Cli.assertBatchingChangesNothing(ZeroShotCommandTest::zs, rows(QUERIES), QUERIES.size());
    }

    @Test
    void aBadLineStopsWithItsLineNumberAfterTheLinesBeforeItAreWritten() throws IOException {
        String two = rows(QUERIES.subList(0, 2));
        List<String> first = library(model, QUERIES.subList(0, 2), z -> z).stream().map(r -> line(r, false)).toList();
        record Bad(String line, String error) {}
        for (Bad b : List.of(
                new Bad("{\"text\": \"t\"}", "stdin line 3: missing \"candidate_labels\" (or give them all with --labels)"),
                new Bad("{\"candidate_labels\": [\"a\"]}", "stdin line 3: missing \"text\""),
                new Bad("{\"text\": \"t\", \"candidate_labels\": []}", "stdin line 3: \"candidate_labels\" is empty; give at least one"),
                new Bad("{\"text\": \"t\", \"candidate_labels\": \" , \"}", "stdin line 3: \"candidate_labels\" is empty; give at least one"),
                new Bad("{\"text\": \"t\", \"candidate_labels\": 3}",
                        "stdin line 3: \"candidate_labels\" must be a list of strings or a string, found a number"),
                new Bad("{\"text\": \"t\", \"candidate_labels\": [\"a\", 3]}",
                        "stdin line 3: \"candidate_labels\" must be a list of strings, but item 1 is a number"),
                new Bad("", "stdin line 3: blank line; every line must be a JSON object with a \"text\" string and "
                        + "\"candidate_labels\" (a list of strings, or one string of comma-separated ones)"))) {
            Cli.Result r = zs(two + b.line() + "\n" + rows(QUERIES.subList(2, 3)));
            assertEquals(1, r.code(), b.line());
            assertEquals(trees(first), trees(r.lines()), "the rows before the bad line are written: " + b.line());
            assertEquals("distilbert zero-shot: " + b.error() + "\n", r.err());
        }
    }

    @Test
    void usageErrorsOfItsOwn() {
        for (String[] bad : new String[][] {
                {"--labels", " , ", "--labels ' , ' names no label"},
                {"--template", "no label", "--template: the hypothesis template \"no label\" has no place for the label"},
                {"--template", "{} or {}", "has {} twice"}}) {
            Cli.Result r = zs(rows(QUERIES.subList(0, 1)), bad[0], bad[1]);
            assertEquals(2, r.code(), String.join(" ", bad));
            assertTrue(r.err().contains(bad[2]), r.err());
        }
    }

    @Test
    void aProgressLineOnlyOnATerminal() {
        Cli.assertProgressOnlyOnATerminal("zero-shot", rows(QUERIES.subList(0, 4)), 4, "--model", model.toString(),
                "--device", "cpu");
    }

    @Test
    void inputAndOutputFilesAndEmptyInput() throws IOException {
        Cli.assertFilesAndEmptyInput("zero-shot", ZeroShotCommandTest::zs, dir, rows(QUERIES.subList(0, 4)));
    }

    @Test
    void onlyASequenceClassificationModelOfTwoLabelsOrMore() throws IOException {
        Cli.assertNeedsClass("zero-shot", "DistilBertForSequenceClassification", TinyModels.maskedLm(dir.resolve("mlm"),
                TinyModels.config()), "DistilBertForMaskedLM", rows(QUERIES));
        Path one = TinyModels.classifier(dir.resolve("one"), TinyModels.config().toBuilder().numLabels(1).build());
        Cli.Result r = Cli.onCpu("zero-shot", one, rows(QUERIES));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("zero-shot needs a natural language inference model") && r.err().contains("has 1 label"), r.err());
    }

    @Test
    void deviceCudaFailsClearlyWhereItCannotRun() {
        Cli.assertCudaRefusedWithoutGpu("zero-shot", "--model", model.toString(), "--labels", "a,b");
    }

    @Test
    void usageErrors() throws IOException {
        Cli.assertRunOptionsUsageErrors("zero-shot", model, dir, true);
    }

    @Test
    void helpDocumentsTheFormats() {
        String words = Cli.helpWords("zero-shot", "--model", "--labels", "--template", "--multi-label", "--entailment-label",
                "--logits", "--max-length", "--input", "--output", "--batch-tokens", "--device", "--precision", "--verbose");
        assertTrue(words.contains("{\"text\": \"...\", \"candidate_labels\": [\"...\", ...]}"), words);
        assertTrue(words.contains("{\"sequence\": \"...\", \"labels\": [...], \"scores\": [...]}"), words);
        assertTrue(words.contains("Default: \"This example is {}.\""), words);
    }

    /** Checks on one output line. */
    static final class JsonNodeCheck {
        static void labels(String line, String... candidates) throws IOException {
            var labels = JSON.readTree(line).get("labels");
            assertEquals(candidates.length, labels.size(), line);
            java.util.Set<String> seen = new java.util.HashSet<>();
            labels.forEach(x -> seen.add(x.asText()));
            assertEquals(java.util.Set.of(candidates), seen, line);
        }
    }
}
