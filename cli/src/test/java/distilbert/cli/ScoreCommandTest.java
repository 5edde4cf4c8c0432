package distilbert.cli;

import static distilbert.cli.Cli.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.TextClassification;
import distilbert.model.TextClassification.LabelScore;
import distilbert.model.TextClassification.Result;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.ProblemType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distilbert score} on small random classifiers with bert-base-uncased's tokenizer: every line
 * against the library's {@link TextClassification} on the same directory, formats, order, batching,
 * truncation, errors.
 */
class ScoreCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final List<String> EMOTIONS = List.of("sadness", "joy", "love", "anger", "fear");

    @TempDir
    static Path dir;

    /** Five labels named in id2label, problem_type unset: softmax. */
    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = TinyModels.classifier(dir.resolve("emotions"), TinyModels.config().toBuilder().labels(EMOTIONS).build());
    }

    static final String[] TEXTS = {"i feel wonderful today", "A man is eating food.", "", "Ünïcödé and emoji 🙂 go through the tokenizer too.",
            "The quick brown fox jumps over the lazy dog, and then it jumps back again, twice.", "so sad", "Hello world!"};

    static Cli.Result score(Path dir, String stdin, String... args) {
        return Cli.onCpu("score", dir, stdin, args);
    }

    static Cli.Result score(String stdin, String... args) {
        return score(model, stdin, args);
    }

    static String rows(String... texts) {
        return Cli.rows(texts);
    }

    /** What the library gives for {@code texts} (and pairs) on {@code dir}, on the CPU. */
    static List<Result> library(Path dir, List<String> texts, List<String> pairs, Function<TextClassification, TextClassification> setup)
            throws IOException {
        try (DistilBert db = DistilBert.load(dir, Device.CPU)) {
            return setup.apply(new TextClassification(db, Tokenizer.fromPretrained(dir))).classify(texts, pairs);
        }
    }

    static List<Result> library(String... texts) throws IOException {
        return library(model, List.of(texts), null, c -> c);
    }

    // The lines score should write, built by hand: Java's Float.toString is the shortest float32 form.

    static String labelScore(LabelScore s) {
        return "{\"label\":\"" + s.label() + "\",\"score\":" + s.score() + "}";
    }

    static String floats(float[] v) {
        return IntStream.range(0, v.length).mapToObj(i -> Float.toString(v[i])).collect(Collectors.joining(",", "[", "]"));
    }

    static String list(List<LabelScore> scores) {
        return scores.stream().map(ScoreCommandTest::labelScore).collect(Collectors.joining(",", "[", "]"));
    }

    static List<String> lines(List<Result> results, Function<Result, String> line) {
        return results.stream().map(line).toList();
    }

    @Test
    void eachLineIsTheBestLabelOfItsRowInInputOrder() throws IOException {
        List<Result> want = library(TEXTS);
        List<String> got = ok(score(rows(TEXTS)));
        assertEquals(lines(want, r -> labelScore(r.best())), got);
        assertTrue(got.getFirst().matches("\\{\"label\":\"(sadness|joy|love|anger|fear)\",\"score\":0\\.\\d+(E-\\d+)?}"), got.getFirst());
        assertEquals(TEXTS.length, want.stream().map(r -> r.best().score()).distinct().count(), "every row its own score: the order shows");
        for (Result r : want) {
            double sum = 0;
            for (float s : r.scores()) sum += s;
            assertEquals(1, sum, 1e-6, "softmax: problem_type unset, five labels");
        }
        // one row at a time gives the same line as the whole file
        for (int i = 0; i < TEXTS.length; i++) {
            assertEquals(got.get(i), ok(score(rows(TEXTS[i]))).getFirst(), "line " + (i + 1));
        }
    }

    @Test
    void topKListsTheBestLabelsAndLogitsAddsTheRawValues() throws IOException {
        List<Result> want = library(TEXTS);
        assertEquals(lines(want, r -> list(r.top(2))), ok(score(rows(TEXTS), "--top-k", "2")));
        assertEquals(lines(want, r -> list(r.top(1))), ok(score(rows(TEXTS), "--top-k", "1")), "--top-k 1 is a list of one, as HF's top_k=1");
        assertEquals(lines(want, r -> list(r.all())), ok(score(rows(TEXTS), "--top-k", "all")));
        assertEquals(ok(score(rows(TEXTS), "--top-k", "all")), ok(score(rows(TEXTS), "--top-k", "9")), "beyond the labels: all");
        assertEquals(lines(want, r -> labelScore(r.best()).replaceFirst("}$", ",\"logits\":" + floats(r.logits()) + "}")),
                ok(score(rows(TEXTS), "--logits")));
        assertEquals(lines(want, r -> "{\"scores\":" + list(r.top(3)) + ",\"logits\":" + floats(r.logits()) + "}"),
                ok(score(rows(TEXTS), "--top-k", "3", "--logits")));
        for (Result r : want) {
            List<LabelScore> all = r.all();
            for (int i = 0; i + 1 < all.size(); i++) assertTrue(all.get(i).score() >= all.get(i + 1).score());
        }
    }

    @Test
    void theFunctionFollowsProblemTypeAndNumLabelsUnlessGiven() throws IOException {
        record Case(String name, int numLabels, ProblemType problem, TextClassification.Function function) {}
        for (Case c : List.of(new Case("one-label", 1, null, TextClassification.Function.SIGMOID),
                new Case("regression", 1, ProblemType.REGRESSION, TextClassification.Function.NONE),
                new Case("multi-label", 3, ProblemType.MULTI_LABEL_CLASSIFICATION, TextClassification.Function.SIGMOID),
                new Case("two-labels", 2, null, TextClassification.Function.SOFTMAX))) {
            Path m = TinyModels.classifier(dir.resolve(c.name()), TinyModels.config().toBuilder().numLabels(c.numLabels())
                    .problemType(c.problem()).build());
            List<Result> want = library(m, List.of(TEXTS), null, tc -> tc);
            float[] first = want.getFirst().logits();
            float[] expect = c.function().apply(first);
            assertEquals(Arrays.toString(expect), Arrays.toString(want.getFirst().scores()), c.name());
            assertEquals(lines(want, r -> "{\"scores\":" + list(r.all()) + ",\"logits\":" + floats(r.logits()) + "}"),
                    ok(score(m, rows(TEXTS), "--top-k", "all", "--logits")), c.name());
            assertTrue(ok(score(m, rows(TEXTS))).getFirst().startsWith("{\"label\":\"LABEL_"), "no id2label: HF's LABEL_i names");
            for (TextClassification.Function f : TextClassification.Function.values()) {
                List<Result> chosen = library(m, List.of(TEXTS), null, tc -> tc.withFunction(f));
                assertEquals(lines(chosen, r -> list(r.all())), ok(score(m, rows(TEXTS), "--top-k", "all", "--function", f.toString())),
                        c.name() + " --function " + f);
            }
        }
        Path regression = dir.resolve("regression");
        List<String> got = ok(score(regression, rows(TEXTS), "--logits"));
        for (String line : got) {
            var n = JSON.readTree(line);
            assertEquals(n.get("score").floatValue(), n.get("logits").get(0).floatValue(), "regression: the score is the logit");
        }
    }

    @Test
    void aTextPairIsEncodedAsAPair() throws IOException {
        String in = "{\"text\": \"Who wrote it?\", \"text_pair\": \"Melville wrote Moby-Dick.\"}\n{\"text\": \"Who wrote it?\", \"text_pair\": null}\n";
        List<Result> want = library(model, List.of("Who wrote it?", "Who wrote it?"), Arrays.asList("Melville wrote Moby-Dick.", null), c -> c);
        List<String> got = ok(score(in, "--logits"));
        assertEquals(lines(want, r -> labelScore(r.best()).replaceFirst("}$", ",\"logits\":" + floats(r.logits()) + "}")), got);
        assertNotEquals(got.get(0), got.get(1));
        assertEquals(ok(score(rows("Who wrote it?"), "--logits")).getFirst(), got.get(1));
    }

    @Test
    void batchingByTokensChangesNothing() {
        String[] texts = Cli.randomTexts("the quick brown fox jumps over a lazy dog while people watch and wonder why", 40);
        Cli.assertBatchingChangesNothing(ScoreCommandTest::score, rows(texts), texts.length, "--top-k", "all", "--logits");
    }

    @Test
    void longTextsAreTruncatedToTheModelsLengthAndStderrSaysHowMany() throws IOException {
        String longText = "word ".repeat(200);
        Cli.Result r = score(rows("short", longText, longText), "--logits");
        assertEquals(3, ok(r).size());
        assertEquals("distilbert score: 2 rows were longer than 64 tokens and truncated to 64 (--max-length)\n", r.err());
        List<Result> cut = library(model, List.of(longText), null, c -> c.withMaxLength(64));
        assertEquals(labelScore(cut.getFirst().best()).replaceFirst("}$", ",\"logits\":" + floats(cut.getFirst().logits()) + "}"),
                r.lines().get(1));
        r = score(rows("short", longText), "--max-length", "10", "--logits");
        List<Result> ten = library(model, List.of(longText), null, c -> c.withMaxLength(10));
        assertTrue(r.lines().get(1).endsWith(",\"logits\":" + floats(ten.getFirst().logits()) + "}"), r.lines().get(1));
        assertEquals("distilbert score: 1 row was longer than 10 tokens and truncated to 10 (--max-length)\n", r.err());
        assertEquals("", score(rows("short")).err(), "nothing to say when nothing was cut");
    }

    @Test
    void floatsAreWrittenAsShortestFloat32() {
        Cli.Result r = score(rows(TEXTS), "--top-k", "all", "--logits");
        String numbers = r.out().replaceAll("\"[a-z_]+\"", "");
        var m = java.util.regex.Pattern.compile("-?\\d[0-9.Ee+-]*").matcher(numbers);
        int count = 0;
        while (m.find()) {
            assertEquals(Float.toString(Float.parseFloat(m.group())), m.group());
            count++;
        }
        assertEquals(TEXTS.length * 2 * EMOTIONS.size(), count, "a score and a logit per label per line");
    }

    @Test
    void aBadLineStopsWithItsLineNumberAfterTheLinesBeforeItAreWritten() throws IOException {
        Cli.Result r = score(rows("one", "two") + "{\"text\": 3}\n" + rows("four"));
        assertEquals(1, r.code());
        assertEquals(lines(library("one", "two"), res -> labelScore(res.best())), r.lines(), "the rows before the bad line are written");
        assertEquals("distilbert score: stdin line 3: \"text\" must be a string, found a number\n", r.err());
        r = score(rows("one") + "\n" + rows("three"));
        assertEquals(1, r.code());
        assertEquals(1, r.lines().size());
        assertEquals("distilbert score: stdin line 2: blank line; every line must be a JSON object with a \"text\" string\n", r.err());
        Path in = Files.writeString(dir.resolve("bad.jsonl"), rows("one") + "not json\n");
        r = score("", "--input", in.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("distilbert score: " + in + " line 2: not valid JSON"), r.err());
        r = score("{\"text\": \"a\", \"text_pair\": \"b\"}\n", "--max-length", "2");
        assertEquals(1, r.code());
        assertEquals("distilbert score: stdin line 1: max_length 2 leaves no room: 3 special tokens are added to each pair\n", r.err());
    }

    @Test
    void aProgressLineOnlyOnATerminal() {
        Cli.assertProgressOnlyOnATerminal("score", rows(TEXTS), TEXTS.length, "--model", model.toString(), "--device", "cpu");
    }

    @Test
    void inputAndOutputFilesAndEmptyInput() throws IOException {
        Cli.assertFilesAndEmptyInput("score", ScoreCommandTest::score, dir, rows(TEXTS));
    }

    @Test
    void onlyASequenceClassificationModel() throws IOException {
        Cli.assertNeedsClass("score", "DistilBertForSequenceClassification", TinyModels.withTokenizer(dir.resolve("base")),
                "DistilBertModel", rows("x"));
    }

    @Test
    void deviceCudaFailsClearlyWhereItCannotRun() {
        Cli.assertCudaRefusedWithoutGpu("score", "--model", model.toString());
    }

    private static void assertUsageError(String message, String... args) {
        Cli.assertUsageError("score", message, args);
    }

    @Test
    void usageErrors() throws IOException {
        Cli.assertRunOptionsUsageErrors("score", model, dir, true);
        String m = "--model=" + model;
        assertUsageError("Invalid value for option '--top-k': expected a number of at least 1 or 'all', got '0'", m, "--top-k", "0");
        assertUsageError("Invalid value for option '--top-k': expected a number of at least 1 or 'all', got 'best'", m, "--top-k", "best");
        assertUsageError("Invalid value for option '--top-k': expected a number of at least 1 or 'all', got '-2'", m, "--top-k", "-2");
        assertUsageError("Invalid value for option '--function': expected one of softmax, sigmoid, none, got 'relu'", m, "--function", "relu");
        assertUsageError("Invalid value for option '--function': expected one of softmax, sigmoid, none, got 'SOFTMAX'", m,
                "--function", "SOFTMAX");
        assertUsageError("Unknown options: '--pooling', 'mean'", m, "--pooling", "mean");
    }

    @Test
    void helpDocumentsTheFormatsAndDefaults() {
        String words = Cli.helpWords("score", "--model", "--top-k", "--function", "--logits", "--input", "--output",
                "--batch-tokens", "--max-length", "--device", "--precision", "--verbose");
        assertTrue(words.contains("{\"label\": \"POSITIVE\", \"score\": 0.9998}"), words);
        assertTrue(words.contains("Default: 8192."), words);
        assertTrue(words.contains("softmax, sigmoid, none"), words);
    }
}
