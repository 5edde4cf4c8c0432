package distilbert.cli;

import static distilbert.cli.Cli.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.FillMask;
import distilbert.model.FillMask.Prediction;
import distilbert.model.FillMask.Result;
import distilbert.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distilbert fill-mask} on a small random DistilBertForMaskedLM with bert-base-uncased's
 * tokenizer: every line against the library's {@link FillMask} on the same directory; one mask and
 * several, --top-k, --targets and their warnings, batching, truncation, errors.
 */
class FillMaskCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;

    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = TinyModels.maskedLm(dir.resolve("mlm"), TinyModels.config());
    }

    static final String[] TEXTS = {"Paris is the [MASK] of France.", "[MASK] is a [MASK] day, isn't it?", "I [MASK] you",
            "Ünïcödé and emoji 🙂 [MASK] through the tokenizer too.", "[MASK]",
            "The quick brown fox jumps over the lazy [MASK], and then it jumps back again, [MASK] [MASK]."};

    static Cli.Result fillMask(Path dir, String stdin, String... args) {
        return Cli.onCpu("fill-mask", dir, stdin, args);
    }

    static Cli.Result fillMask(String stdin, String... args) {
        return fillMask(model, stdin, args);
    }

    static String rows(String... texts) {
        return Cli.rows(texts);
    }

    /** What the library gives for {@code texts} on {@code dir}, on the CPU. */
    static List<Result> library(Path dir, List<String> texts, Function<FillMask, FillMask> setup) throws IOException {
        try (DistilBert db = DistilBert.load(dir, Device.CPU)) {
            return setup.apply(new FillMask(db, Tokenizer.fromPretrained(dir))).fill(texts);
        }
    }

    static List<Result> library(Function<FillMask, FillMask> setup, String... texts) throws IOException {
        return library(model, List.of(texts), setup);
    }

    // The lines fill-mask should write, built by hand: Java's Float.toString is the shortest float32 form.

    static String prediction(Prediction p) {
        return "{\"score\":" + p.score() + ",\"token\":" + p.token() + ",\"token_str\":" + JSON.valueToTree(p.tokenStr())
                + ",\"sequence\":" + JSON.valueToTree(p.sequence()) + "}";
    }

    static String list(List<Prediction> ps) {
        return ps.stream().map(FillMaskCommandTest::prediction).collect(Collectors.joining(",", "[", "]"));
    }

    static String line(Result r) {
        return r.singleMask() ? list(r.predictions().getFirst())
                : r.predictions().stream().map(FillMaskCommandTest::list).collect(Collectors.joining(",", "[", "]"));
    }

    static List<String> lines(List<Result> results) {
        return results.stream().map(FillMaskCommandTest::line).toList();
    }

    @Test
    void eachLineIsTheLibrarysPredictionsInInputOrderAListPerMaskWithSeveral() throws IOException {
        List<Result> want = library(f -> f, TEXTS);
        List<String> got = ok(fillMask(rows(TEXTS)));
        assertEquals(lines(want), got);
        JsonNode first = JSON.readTree(got.getFirst());
        assertEquals(5, first.size(), "HF's default top_k");
        assertEquals(List.of("score", "token", "token_str", "sequence"), iterable(first.get(0).fieldNames()), "HF's keys, in HF's order");
        assertTrue(first.get(0).get("sequence").asText().startsWith("paris is the "), first.toString());
        JsonNode two = JSON.readTree(got.get(1));
        assertEquals(2, two.size(), "two masks: a list per mask");
        assertTrue(two.get(0).get(0).get("sequence").asText().startsWith("[CLS] "), "several masks keep the special tokens");
        assertEquals(3, JSON.readTree(got.getLast()).size());
        // one row at a time gives the same line as the whole file
        for (int i = 0; i < TEXTS.length; i++) {
            assertEquals(got.get(i), ok(fillMask(rows(TEXTS[i]))).getFirst(), "line " + (i + 1));
        }
    }

    @Test
    void topKAndTargets() throws IOException {
        assertEquals(lines(library(f -> f.withTopK(1), TEXTS)), ok(fillMask(rows(TEXTS), "--top-k", "1")));
        assertEquals(lines(library(f -> f.withTopK(12), TEXTS)), ok(fillMask(rows(TEXTS), "--top-k", "12")));
        List<String> targets = List.of("capital", "city", "heart", "the");
        Cli.Result r = fillMask(rows(TEXTS), "--targets", "capital,city", "--targets", "heart,the");
        assertEquals(lines(library(f -> f.withTargets(targets), TEXTS)), ok(r));
        assertEquals("", r.err(), "every target a token: nothing to say");
        assertEquals(4, JSON.readTree(r.lines().getFirst()).size(), "top_k capped by the targets");
        assertEquals(lines(library(f -> f.withTargets(targets).withTopK(2), TEXTS)),
                ok(fillMask(rows(TEXTS), "--targets", "capital,city,heart,the", "--top-k", "2")));
        // a target that is no token: its first token, with HF's warning; one with no token is dropped
        r = fillMask(rows(TEXTS[0]), "--targets", "Capital,capitalxyz,,city");
        assertEquals(lines(library(f -> f.withTargets(List.of("capital", "city")), TEXTS[0])), ok(r));
        int capital = Tokenizer.fromPretrained(model).tokenToId("capital");
        assertEquals("distilbert fill-mask: warning: the target 'Capital' is not in the vocabulary; using its first token 'capital' (id "
                + capital + ")\n"
                + "distilbert fill-mask: warning: the target 'capitalxyz' is not in the vocabulary; using its first token 'capital' (id "
                + capital + ")\n"
                + "distilbert fill-mask: warning: the target '' is not in the vocabulary and has no tokens; ignoring it\n", r.err());
        r = fillMask(rows(TEXTS[0]), "--targets", " ");
        assertEquals(1, r.code());
        assertEquals("distilbert fill-mask: --targets: no target is left of [ ]: at least one must be given\n", r.err());
        assertEquals("", r.out());
        // --top-k beyond the vocabulary is refused, as HF's pipeline fails on it; with targets it is capped
        assertEquals(2, JSON.readTree(ok(fillMask(rows(TEXTS[0]), "--targets", "city,heart", "--top-k", "40000")).getFirst()).size());
    }

    @Test
    void batchingByTokensChangesNothing() {
        Random random = new Random(3);
        String[] words = "the quick brown fox jumps over a lazy dog while people watch and wonder why".split(" ");
        String[] texts = new String[40];
        for (int i = 0; i < texts.length; i++) {
            StringBuilder t = new StringBuilder();
            int n = random.nextInt(30) + 1, mask = random.nextInt(n);
            for (int w = 0; w < n; w++) t.append(w == mask || random.nextInt(15) == 0 ? "[MASK]" : words[random.nextInt(words.length)]).append(' ');
            texts[i] = t.toString().strip();
        }
        Cli.assertBatchingChangesNothing(FillMaskCommandTest::fillMask, rows(texts), texts.length);
    }

    @Test
    void aTextWithoutAMaskStopsWithItsLineNumberAfterTheLinesBeforeItAreWritten() throws IOException {
        Cli.Result r = fillMask(rows("one [MASK]", "two [MASK]", "three", "four [MASK]"));
        assertEquals(1, r.code());
        assertEquals(lines(library(f -> f, "one [MASK]", "two [MASK]")), r.lines(), "the rows before the bad line are written");
        assertEquals("distilbert fill-mask: stdin line 3: no mask token ([MASK]) in the text\n", r.err());
        r = fillMask(rows("[MASK]") + "{\"text\": \"a [MASK]\", \"text_pair\": \"b\"}\n");
        assertEquals(1, r.code());
        assertEquals(1, r.lines().size());
        assertEquals("distilbert fill-mask: stdin line 2: fill-mask takes one text per line, but this one has a \"text_pair\" (HF's "
                + "pipeline takes single texts)\n", r.err());
        r = fillMask(rows("[MASK]") + "\n");
        assertEquals(1, r.code());
        assertEquals("distilbert fill-mask: stdin line 2: blank line; every line must be a JSON object with a \"text\" string\n", r.err());
    }

    @Test
    void longTextsAreTruncatedAndAMaskBeyondTheCutIsAnError() throws IOException {
        String longText = "[MASK] " + "word ".repeat(200);
        Cli.Result r = fillMask(rows("short [MASK]", longText, longText));
        assertEquals(lines(library(f -> f.withMaxLength(64), "short [MASK]", longText, longText)), ok(r));
        assertEquals("distilbert fill-mask: 2 rows were longer than 64 tokens and truncated to 64 (--max-length)\n", r.err());
        r = fillMask(rows("short [MASK]", longText + " [MASK]"), "--max-length", "10");
        assertEquals(lines(library(f -> f.withMaxLength(10), "short [MASK]", longText)), ok(r), "the mask beyond the cut is dropped");
        r = fillMask(rows("short [MASK]", "word ".repeat(20) + "[MASK]"), "--max-length", "10");
        assertEquals(1, r.code());
        assertEquals(1, r.lines().size());
        assertEquals("distilbert fill-mask: stdin line 2: no mask token ([MASK]) in the 10 tokens the text was truncated to\n", r.err());
    }

    @Test
    void aProgressLineOnlyOnATerminal() {
        Cli.assertProgressOnlyOnATerminal("fill-mask", rows(TEXTS), TEXTS.length, "--model", model.toString(), "--device", "cpu");
    }

    @Test
    void inputAndOutputFilesAndEmptyInput() throws IOException {
        Cli.assertFilesAndEmptyInput("fill-mask", FillMaskCommandTest::fillMask, dir, rows(TEXTS));
    }

    @Test
    void onlyAMaskedLmModel() throws IOException {
        Cli.assertNeedsClass("fill-mask", "DistilBertForMaskedLM", TinyModels.withTokenizer(dir.resolve("base")), "DistilBertModel",
                rows("[MASK]"));
    }

    @Test
    void deviceCudaFailsClearlyWhereItCannotRun() {
        Cli.assertCudaRefusedWithoutGpu("fill-mask", "--model", model.toString());
    }

    private static void assertUsageError(String message, String... args) {
        Cli.assertUsageError("fill-mask", message, args);
    }

    @Test
    void usageErrors() throws IOException {
        Cli.assertRunOptionsUsageErrors("fill-mask", model, dir, true);
        String m = "--model=" + model;
        assertUsageError("--top-k must be at least 1, got 0", m, "--top-k", "0");
        assertUsageError("Invalid value for option '--top-k': 'all' is not an int", m, "--top-k", "all");
        assertUsageError("--top-k 30523 is more than the vocabulary's 30522 tokens (" + model + "/config.json vocab_size)",
                m, "--top-k", "30523");
        assertUsageError("Unknown options: '--function', 'softmax'", m, "--function", "softmax");
    }

    @Test
    void helpDocumentsTheFormatsAndDefaults() {
        String words = Cli.helpWords("fill-mask", "--model", "--top-k", "--targets", "--input", "--output", "--batch-tokens",
                "--max-length", "--device", "--precision", "--verbose");
        assertTrue(words.contains("{\"score\": 0.9963, \"token\": 3007, \"token_str\": \"capital\", \"sequence\": \"paris is the capital "
                + "of france.\"}"), words);
        assertTrue(words.contains("Default: 5."), words);
    }

    private static List<String> iterable(java.util.Iterator<String> it) {
        List<String> out = new ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }
}
