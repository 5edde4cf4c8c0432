package distilbert.cli;

import static distilbert.cli.Cli.ok;
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
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distilbert ner} on a small random token classifier with bert-base-uncased's tokenizer:
 * every line against the library's {@link TokenClassification} on the same directory, HF's keys
 * and their order, code point offsets, order, batching, truncation and windows, errors.
 */
class NerCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final List<String> LABELS = List.of("O", "B-PER", "I-PER", "B-LOC", "I-LOC");

    @TempDir
    static Path dir;

    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = TinyModels.tokenClassifier(dir.resolve("ner"), TinyModels.config().toBuilder().labels(LABELS).build());
    }

    static final String[] TEXTS = {"My name is Wolfgang and I live in Berlin", "A man is eating food.", "",
        "Ünïcödé and emoji \uD83D\uDE42 go through the tokenizer too: \uD83D\uDE42\uD83D\uDE42 Zürich, 𝒜lbert!",
        "The quick brown fox jumps over the lazy dog, and then it jumps back again, twice.", "playing unbelievably", "Hello world!"};

    static Cli.Result ner(Path dir, String stdin, String... args) {
        return Cli.onCpu("ner", dir, stdin, args);
    }

    static Cli.Result ner(String stdin, String... args) {
        return ner(model, stdin, args);
    }

    static String rows(String... texts) {
        return Cli.rows(texts);
    }

    /** What the library gives for {@code texts} on the model, on the CPU. */
    static List<List<Entity>> library(List<String> texts, Function<TokenClassification, TokenClassification> setup) throws IOException {
        try (DistilBert db = DistilBert.load(model, Device.CPU)) {
            return setup.apply(new TokenClassification(db, Tokenizer.fromPretrained(model))).classify(texts);
        }
    }

    /** The line ner should write for {@code entities}: HF's keys in HF's order, floats in their shortest float32 form. */
    static String line(List<Entity> entities) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Entity e : entities) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put(e.isGroup() ? "entity_group" : "entity", e.label());
            m.put("score", e.score());
            if (!e.isGroup()) m.put("index", e.index());
            m.put("word", e.word());
            m.put("start", e.start());
            m.put("end", e.end());
            out.add(m);
        }
        try {
            return JSON.writeValueAsString(out);
        } catch (IOException x) {
            throw new AssertionError(x);
        }
    }

    /**
     * The lines, parsed: the JSON values must be equal (the generator writes a character outside the
     * BMP as a \\u surrogate pair, which reads back as the same string); key order is checked apart.
     */
    static List<JsonNode> lines(List<List<Entity>> results) {
        return parsed(results.stream().map(NerCommandTest::line).toList());
    }

    static List<JsonNode> parsed(List<String> lines) {
        List<JsonNode> out = new ArrayList<>();
        for (String l : lines) {
            try {
                out.add(JSON.readTree(l));
            } catch (IOException x) {
                throw new AssertionError(l, x);
            }
        }
        return out;
    }

    static List<JsonNode> okParsed(Cli.Result r) {
        return parsed(ok(r));
    }

    @Test
    void eachLineIsTheLibrarysEntitiesInInputOrderForEveryAggregation() throws IOException {
        for (Aggregation a : Aggregation.values()) {
            List<List<Entity>> want = library(List.of(TEXTS), tc -> tc.withAggregation(a));
            List<JsonNode> got = okParsed(ner(rows(TEXTS), "--aggregation", a.toString()));
            assertEquals(lines(want), got, a.toString());
            assertTrue(want.stream().mapToInt(List::size).sum() > TEXTS.length, a + ": entities to see " + want);
        }
        assertEquals(ok(ner(rows(TEXTS), "--aggregation", "none")), ok(ner(rows(TEXTS))), "none is the default");
        String first = ok(ner(rows(TEXTS), "--ignore-labels", "")).getFirst();
        assertTrue(first.matches("\\[\\{\"entity\":\"[BIO-]+(PER|LOC)?\",\"score\":0\\.\\d+(E-\\d+)?,\"index\":1,\"word\":\"my\","
                + "\"start\":0,\"end\":2},.*"), first);
        String group = ok(ner(rows(TEXTS), "--ignore-labels", "", "--aggregation", "simple")).getFirst();
        assertTrue(group.matches("\\[\\{\"entity_group\":\"(O|PER|LOC)\",\"score\":0\\.\\d+(E-\\d+)?,\"word\":\"my[a-z ]*\","
                + "\"start\":0,\"end\":\\d+},.*"), group);
        // one row at a time gives the same line as the whole file
        List<String> all = ok(ner(rows(TEXTS), "--aggregation", "first"));
        for (int i = 0; i < TEXTS.length; i++) {
            assertEquals(all.get(i), ok(ner(rows(TEXTS[i]), "--aggregation", "first")).getFirst(), "line " + (i + 1));
        }
    }

    @Test
    void ignoreLabelsTakesAListAndAnEmptyOneKeepsEverything() throws IOException {
        List<List<Entity>> every = library(List.of(TEXTS), tc -> tc.withIgnoreLabels(List.of()));
        List<String> got = ok(ner(rows(TEXTS), "--ignore-labels", ""));
        assertEquals(lines(every), parsed(got));
        assertTrue(got.stream().anyMatch(l -> l.contains("\"entity\":\"O\"")), "O tokens shown");
        assertEquals(lines(library(List.of(TEXTS), tc -> tc.withIgnoreLabels(List.of("O", "B-PER")))),
                okParsed(ner(rows(TEXTS), "--ignore-labels", "O,B-PER")));
        assertEquals(lines(library(List.of(TEXTS), tc -> tc.withAggregation(Aggregation.MAX).withIgnoreLabels(List.of("PER")))),
                okParsed(ner(rows(TEXTS), "--ignore-labels", "PER", "--aggregation", "max")));
    }

    @Test
    void offsetsAreCodePointsAsPythonIndexesTheText() throws IOException {
        String text = TEXTS[3];
        List<String> got = ok(ner(rows(text), "--ignore-labels", ""));
        JsonNode entities = JSON.readTree(got.getFirst());
        int[] cps = text.codePoints().toArray();
        int checked = 0;
        for (JsonNode e : entities) {
            int start = e.get("start").asInt(), end = e.get("end").asInt();
            String covered = new String(cps, start, end - start);
            String word = e.get("word").asText();
            // a token's text is its word (lowercased, accents stripped), or the unknown token's own text
            String normalized = java.text.Normalizer.normalize(covered.toLowerCase(java.util.Locale.ROOT), java.text.Normalizer.Form.NFD)
                    .replaceAll("\\p{Mn}", "");
            assertTrue(word.equals(covered) || word.replace("##", "").equals(normalized), word + " at " + start + "-" + end + ": " + covered);
            checked++;
        }
        assertTrue(checked > 10);
        // after U+1F642 (two UTF-16 units) a String index and a code point differ
        assertEquals("\uD83D\uDE42", entities.get(5).get("word").asText(), "the unknown token's own text");
        assertEquals(18, entities.get(5).get("start").asInt(), "code points: \"Ünïcödé and emoji \" is 18 of them");
        int utf16 = text.indexOf("Zürich"), cp = text.codePointCount(0, utf16);
        assertTrue(utf16 != cp && got.getFirst().contains("\"start\":" + cp + ",\"end\":" + (cp + 6)),
                "Zürich is code points " + cp + "-" + (cp + 6) + ": " + got.getFirst());
    }

    @Test
    void withoutId2labelTheLabelsAreHfsLabelI() throws IOException {
        Path plain = TinyModels.tokenClassifier(dir.resolve("plain"), TinyModels.config().toBuilder().numLabels(3).build());
        List<String> got = ok(ner(plain, rows(TEXTS)));
        java.util.Set<String> labels = new java.util.TreeSet<>();
        for (JsonNode line : parsed(got)) line.forEach(e -> labels.add(e.get("entity").asText()));
        assertEquals(java.util.Set.of("LABEL_0", "LABEL_1", "LABEL_2"), labels, "no O among them: nothing is ignored by default");
        int tokens = 0;
        for (JsonNode line : parsed(got)) tokens += line.size();
        assertEquals(tokens, parsed(ok(ner(plain, rows(TEXTS), "--ignore-labels", ""))).stream().mapToInt(JsonNode::size).sum());
    }

    @Test
    void aTextPairIsAnErrorNamingItsLineAfterTheLinesBeforeIt() throws IOException {
        String in = rows("one", "two") + "{\"text\": \"Who wrote it?\", \"text_pair\": \"Melville.\"}\n" + rows("four");
        Cli.Result r = ner(in, "--ignore-labels", "");
        assertEquals(1, r.code());
        assertEquals(lines(library(List.of("one", "two"), tc -> tc.withIgnoreLabels(List.of()))), parsed(r.lines()));
        assertEquals("distilbert ner: stdin line 3: ner takes one text per line, but this one has a \"text_pair\" (HF's pipeline "
                + "takes single texts)\n", r.err());
        // a null text_pair is no pair
        assertEquals(ok(ner(rows("Who wrote it?"))), ok(ner("{\"text\": \"Who wrote it?\", \"text_pair\": null}\n")));
    }

    @Test
    void batchingByTokensChangesNothing() {
        String[] texts = Cli.randomTexts("the quick brown fox jumps over a lazy dog while people in Paris watch and wonder why", 40);
        Cli.assertBatchingChangesNothing(NerCommandTest::ner, rows(texts), texts.length, "--ignore-labels", "");
    }

    @Test
    void longTextsAreTruncatedOrRunInWindowsAndStderrSaysHowMany() throws IOException {
        String longText = "Wolfgang lives in Berlin and works in Paris . ".repeat(20).strip();
        Cli.Result r = ner(rows("short", longText, longText), "--ignore-labels", "");
        assertEquals(3, ok(r).size());
        assertEquals("distilbert ner: 2 rows were longer than 64 tokens and truncated to 64 (--max-length)\n", r.err());
        assertEquals(lines(library(List.of(longText), tc -> tc.withIgnoreLabels(List.of()))).getFirst(), parsed(r.lines()).get(1));
        assertEquals(62, JSON.readTree(r.lines().get(1)).size(), "the tokens between [CLS] and [SEP]");

        r = ner(rows("short", longText), "--aggregation", "simple", "--stride", "16", "--ignore-labels", "");
        List<List<Entity>> want = library(List.of("short", longText),
                tc -> tc.withAggregation(Aggregation.SIMPLE).withStride(16).withIgnoreLabels(List.of()));
        assertEquals(lines(want), okParsed(r));
        assertEquals(longText.length(), want.get(1).getLast().end(), "the windows reach the end of the text");
        assertEquals("distilbert ner: 1 row was longer than 64 tokens and was run in windows of 64 overlapping by 16 (--stride)\n", r.err());

        r = ner(rows(longText), "--aggregation", "first", "--stride", "4", "--max-length", "12", "--ignore-labels", "");
        assertEquals(lines(library(List.of(longText), tc -> tc.withAggregation(Aggregation.FIRST).withMaxLength(12).withStride(4)
                .withIgnoreLabels(List.of()))), okParsed(r));
        assertEquals("", ner(rows("short")).err(), "nothing to say when nothing was cut");
    }

    @Test
    void aProgressLineOnlyOnATerminal() {
        Cli.assertProgressOnlyOnATerminal("ner", rows(TEXTS), TEXTS.length, "--model", model.toString(), "--device", "cpu");
    }

    @Test
    void inputAndOutputFilesAndEmptyInput() throws IOException {
        Cli.assertFilesAndEmptyInput("ner", NerCommandTest::ner, dir, rows(TEXTS));
    }

    @Test
    void onlyATokenClassificationModel() throws IOException {
        Cli.assertNeedsClass("ner", "DistilBertForTokenClassification", TinyModels.classifier(dir.resolve("classifier"),
                TinyModels.config()), "DistilBertForSequenceClassification", rows("x"));
    }

    @Test
    void deviceCudaFailsClearlyWhereItCannotRun() {
        Cli.assertCudaRefusedWithoutGpu("ner", "--model", model.toString());
    }

    private static void assertUsageError(String message, String... args) {
        Cli.assertUsageError("ner", message, args);
    }

    @Test
    void usageErrors() throws IOException {
        Cli.assertRunOptionsUsageErrors("ner", model, dir, true);
        String m = "--model=" + model;
        assertUsageError("Invalid value for option '--aggregation': expected one of none, simple, first, average, max, got 'sum'",
                m, "--aggregation", "sum");
        assertUsageError("--stride needs --aggregation simple, first, average or max (as in HF: the tokens of overlapping windows "
                + "cannot be told apart)", m, "--stride", "8");
        assertUsageError("--stride must be at least 0, got -1", m, "--stride", "-1", "--aggregation", "simple");
        assertUsageError("--stride 62 must be smaller than the 62 tokens a window of 64 (--max-length) has for the text",
                m, "--stride", "62", "--aggregation", "simple");
        assertUsageError("--stride 8 must be smaller than the 8 tokens a window of 10 (--max-length) has for the text",
                m, "--stride", "8", "--aggregation", "max", "--max-length", "10");
        assertUsageError("Unknown options: '--top-k', '2'", m, "--top-k", "2");
    }

    @Test
    void helpDocumentsTheFormatsAndDefaults() {
        String words = Cli.helpWords("ner", "--model", "--aggregation", "--ignore-labels", "--stride", "--max-length", "--input",
                "--output", "--batch-tokens", "--device", "--precision", "--verbose");
        assertTrue(words.contains("{\"entity_group\": \"PER\", \"score\": 0.998, \"word\": \"wolfgang\", \"start\": 11, \"end\": 19}"), words);
        assertTrue(words.contains("none, simple, first, average, max"), words);
        assertTrue(words.contains("code points"), words);
    }
}
