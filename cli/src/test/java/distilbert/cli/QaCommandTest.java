package distilbert.cli;

import static distilbert.cli.Cli.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.QuestionAnswering;
import distilbert.model.QuestionAnswering.Answer;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.Head;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distilbert qa} on a small random DistilBertForQuestionAnswering with bert-base-uncased's
 * tokenizer: every line against the library's {@link QuestionAnswering} on the same directory,
 * formats, options, windows, offsets outside the BMP, order, batching, errors.
 */
class QaCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;

    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = TinyModels.widened(dir.resolve("qa"), TinyModels.config(), Head.QUESTION_ANSWERING);
    }

    static final String MOBY = "Moby-Dick is an 1851 novel by Herman Melville. It tells of the voyage of the whaling ship Pequod, "
            + "led by Captain Ahab, in pursuit of a white sperm whale.";
    static final String EMOJI = "\uD83D\uDC33 The whale \uD83D\uDC0B was white; Ahab \uD83E\uDDD4 hunted it \uD83C\uDF0A across the sea.";
    static final String[][] ROWS = {
        {"Who wrote Moby-Dick?", MOBY},
        {"What was the ship called?", MOBY},
        {"What colour was the whale?", EMOJI},
        {"Who?", "Ahab."},
        {"Ünïcödé question?", "A short context with punctuation: yes, no!"},
    };

    static String rows(String[][] pairs) {
        StringBuilder s = new StringBuilder();
        for (String[] p : pairs) s.append(JSON.createObjectNode().put("question", p[0]).put("context", p[1])).append('\n');
        return s.toString();
    }

    static Cli.Result qa(String stdin, String... args) {
        return Cli.onCpu("qa", model, stdin, args);
    }

    /** What the library answers for {@code pairs} on the model, on the CPU. */
    static List<List<Answer>> library(String[][] pairs, Function<QuestionAnswering, QuestionAnswering> setup) throws IOException {
        try (DistilBert db = DistilBert.load(model, Device.CPU)) {
            QuestionAnswering p = setup.apply(new QuestionAnswering(db, Tokenizer.fromPretrained(model)));
            List<String> questions = new ArrayList<>(), contexts = new ArrayList<>();
            for (String[] r : pairs) {
                questions.add(r[0]);
                contexts.add(r[1]);
            }
            return p.answer(questions, contexts);
        }
    }

    // The lines qa should write, built by hand: Java's Float.toString is the shortest float32 form.

    static String answer(Answer a) {
        return "{\"score\":" + (float) a.score() + ",\"start\":" + a.start() + ",\"end\":" + a.end() + ",\"answer\":"
                + utf8Json(a.answer()) + "}";
    }

    /** A JSON string as Jackson writes it in UTF-8: characters outside the BMP as escaped surrogate pairs. */
    static String utf8Json(String s) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.getFactory().createGenerator(bytes, JsonEncoding.UTF8)) {
            g.writeString(s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    static List<String> best(List<List<Answer>> answers) {
        return answers.stream().map(a -> answer(a.getFirst())).toList();
    }

    static List<String> lists(List<List<Answer>> answers) {
        return answers.stream().map(as -> as.stream().map(QaCommandTest::answer).collect(Collectors.joining(",", "[", "]"))).toList();
    }

    @Test
    void eachLineIsTheBestAnswerOfItsRowInInputOrder() throws IOException {
        List<List<Answer>> want = library(ROWS, p -> p);
        List<String> got = ok(qa(rows(ROWS)));
        assertEquals(best(want), got);
        assertTrue(got.getFirst().matches("\\{\"score\":[0-9.E-]+,\"start\":\\d+,\"end\":\\d+,\"answer\":\".*\"}"), got.getFirst());
        for (int i = 0; i < ROWS.length; i++) {
            JsonNode n = JSON.readTree(got.get(i));
            String context = ROWS[i][1];
            int start = n.get("start").asInt(), end = n.get("end").asInt();
            assertEquals(n.get("answer").asText(), context.substring(context.offsetByCodePoints(0, start), context.offsetByCodePoints(0, end)),
                    "the answer is the context between start and end, in code points");
            assertTrue(n.get("score").asDouble() > 0 && n.get("score").asDouble() <= 1, got.get(i));
            assertEquals(got.get(i), ok(qa(rows(new String[][] {ROWS[i]}))).getFirst(), "row " + i + " alone");
        }
        assertEquals(ROWS.length, want.stream().map(a -> a.getFirst().score()).distinct().count(), "every row its own score");
    }

    @Test
    void topKListsAndTheImpossibleAnswer() throws IOException {
        assertEquals(lists(library(ROWS, p -> p.withTopK(3))), ok(qa(rows(ROWS), "--top-k", "3")));
        List<List<Answer>> impossible = library(ROWS, p -> p.withTopK(4).withHandleImpossibleAnswer(true));
        List<String> got = ok(qa(rows(ROWS), "--top-k", "4", "--handle-impossible-answer"));
        assertEquals(lists(impossible), got);
        // the empty answer takes its place by score among the answers HF gives without it
        List<List<Answer>> without = library(ROWS, p -> p.withTopK(4));
        int empties = 0;
        for (int i = 0; i < ROWS.length; i++) {
            List<Answer> with = impossible.get(i), others = new ArrayList<>(with);
            others.removeIf(a -> a.answer().isEmpty() && a.start() == 0 && a.end() == 0);
            assertEquals(without.get(i).subList(0, others.size()), others, "row " + i);
            empties += with.size() - others.size();
            for (int k = 0; k + 1 < with.size(); k++) assertTrue(with.get(k).score() >= with.get(k + 1).score(), with.toString());
        }
        assertTrue(empties > 0, "the empty answer is among the top 4 somewhere");
        assertEquals(best(library(ROWS, p -> p.withHandleImpossibleAnswer(true))), ok(qa(rows(ROWS), "--handle-impossible-answer")));
        assertEquals(lists(library(ROWS, p -> p.withTopK(50).withMaxAnswerLen(2))),
                ok(qa(rows(ROWS), "--top-k", "50", "--max-answer-len", "2")));
    }

    @Test
    void longContextsAreReadInOverlappingWindows() throws IOException {
        String[][] pairs = {{"Who led the ship?", MOBY + " " + MOBY}, {"Who?", EMOJI + " " + MOBY}};
        Function<QuestionAnswering, QuestionAnswering> small = p -> p.withMaxSeqLen(24).withDocStride(6).withTopK(3);
        try (DistilBert db = DistilBert.load(model, Device.CPU)) {
            QuestionAnswering p = small.apply(new QuestionAnswering(db, Tokenizer.fromPretrained(model)));
            int windows = p.encode(List.of(pairs[0][0]), List.of(pairs[0][1])).getFirst().overflowing().size() + 1;
            assertTrue(windows >= 5, windows + " windows");
        }
        assertEquals(lists(library(pairs, small)), ok(qa(rows(pairs), "--max-seq-len", "24", "--doc-stride", "6", "--top-k", "3")));
        // the default stride is min(max_seq_len / 2, 128)
        assertEquals(best(library(pairs, p -> p.withMaxSeqLen(30).withDocStride(15))), ok(qa(rows(pairs), "--max-seq-len", "30")));
        // max_question_len changes nothing, as in HF with a fast tokenizer
        assertEquals(ok(qa(rows(pairs), "--max-seq-len", "30")), ok(qa(rows(pairs), "--max-seq-len", "30", "--max-question-len", "1")));
        assertEquals("", qa(rows(pairs), "--max-seq-len", "30").err(), "windows are not truncation: nothing to say");
    }

    @Test
    void offsetsAreCodePointsOfTheContext() throws IOException {
        String[][] pairs = {{"What colour was the whale?", EMOJI}};
        List<String> got = ok(qa(rows(pairs), "--top-k", "40"));
        JsonNode list = JSON.readTree(got.getFirst());
        assertTrue(list.size() > 30, "40 spans a window, fewer answers where spans widen to the same words: " + list.size());
        int afterEmoji = 0;
        for (JsonNode a : list) {
            int start = a.get("start").asInt(), end = a.get("end").asInt();
            String text = EMOJI.substring(EMOJI.offsetByCodePoints(0, start), EMOJI.offsetByCodePoints(0, end));
            assertEquals(a.get("answer").asText(), text, a.toString());
            if (start > 2) afterEmoji++;
        }
        assertTrue(afterEmoji > 10, "answers after characters outside the BMP, where code points and UTF-16 differ");
        assertTrue(got.getFirst().contains("\\uD83D\\uDC0B"), "escaped as a surrogate pair, which JSON readers join: " + got.getFirst());
    }

    @Test
    void aContextOfSpacesHasOnlyTheEmptyAnswer() {
        // not empty, so HF takes it: no context token, [CLS] takes all the probability, then is zeroed
        String[][] pairs = {{"Who?", "   "}};
        assertEquals(List.of("{\"score\":0.0,\"start\":0,\"end\":0,\"answer\":\"\"}"), ok(qa(rows(pairs))));
        assertEquals(List.of("[{\"score\":1.0,\"start\":0,\"end\":0,\"answer\":\"\"},{\"score\":0.0,\"start\":0,\"end\":0,\"answer\":\"\"}]"),
                ok(qa(rows(pairs), "--top-k", "2", "--handle-impossible-answer")), "the null answer: p_start[CLS]·p_end[CLS] = 1");
    }

    @Test
    void batchingByTokensChangesNothing() {
        String[][] pairs = new String[12][];
        for (int i = 0; i < pairs.length; i++) pairs[i] = ROWS[i % ROWS.length];
        Cli.assertBatchingChangesNothing(QaCommandTest::qa, rows(pairs), pairs.length, "--top-k", "2", "--max-seq-len", "28",
                "--doc-stride", "8");
    }

    @Test
    void aBadLineStopsWithItsLineNumberAfterTheLinesBeforeItAreWritten() throws IOException {
        String two = rows(new String[][] {ROWS[0], ROWS[3]});
        List<String> first = best(library(new String[][] {ROWS[0], ROWS[3]}, p -> p));
        record Bad(String line, String error) {}
        for (Bad b : List.of(
                new Bad("{\"question\": \"Who?\"}", "stdin line 3: missing \"context\""),
                new Bad("{\"context\": \"Ahab.\"}", "stdin line 3: missing \"question\""),
                new Bad("{\"question\": \"\", \"context\": \"Ahab.\"}", "stdin line 3: \"question\" is empty"),
                new Bad("{\"question\": \"Who?\", \"context\": \"\"}", "stdin line 3: \"context\" is empty"),
                new Bad("{\"question\": \"Who?\", \"context\": null}", "stdin line 3: \"context\" must be a string, found null"),
                new Bad("{\"question\": 3, \"context\": \"Ahab.\"}", "stdin line 3: \"question\" must be a string, found a number"),
                new Bad("{\"text\": \"Ahab.\"}", "stdin line 3: missing \"question\""),
                new Bad("", "stdin line 3: blank line; every line must be a JSON object with \"question\" and \"context\" strings"))) {
            Cli.Result r = qa(two + b.line() + "\n" + rows(new String[][] {ROWS[1]}));
            assertEquals(1, r.code(), b.line());
            assertEquals(first, r.lines(), "the rows before the bad line are written: " + b.line());
            assertEquals("distilbert qa: " + b.error() + "\n", r.err());
        }
        // a question that leaves the context no room, or a stride as long as the room: the tokenizer's error, with its line
        Cli.Result r = qa(two + rows(new String[][] {{"a question far too long to leave any room for the context in twelve", "Ahab."}}),
                "--max-seq-len", "12", "--doc-stride", "0");
        assertEquals(1, r.code());
        assertEquals(2, r.lines().size());
        assertTrue(r.err().startsWith("distilbert qa: stdin line 3: truncation only_second cannot reach max_length 12"), r.err());
        r = qa(rows(new String[][] {{"Who wrote Moby-Dick?", MOBY}}), "--max-seq-len", "12", "--doc-stride", "6");
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("distilbert qa: stdin line 1: stride 6 must be smaller than the length left for the sequence"),
                r.err());
    }

    @Test
    void aProgressLineOnlyOnATerminal() {
        Cli.assertProgressOnlyOnATerminal("qa", rows(ROWS), ROWS.length, "--model", model.toString(), "--device", "cpu",
                "--max-seq-len", "24", "--doc-stride", "4");
    }

    @Test
    void inputAndOutputFilesAndEmptyInput() throws IOException {
        Cli.assertFilesAndEmptyInput("qa", QaCommandTest::qa, dir, rows(ROWS));
    }

    @Test
    void onlyAQuestionAnsweringModel() throws IOException {
        Cli.assertNeedsClass("qa", "DistilBertForQuestionAnswering", TinyModels.classifier(dir.resolve("classifier"),
                TinyModels.config()), "DistilBertForSequenceClassification", rows(ROWS));
    }

    @Test
    void deviceCudaFailsClearlyWhereItCannotRun() {
        Cli.assertCudaRefusedWithoutGpu("qa", "--model", model.toString());
    }

    private static void assertUsageError(String message, String... args) {
        Cli.assertUsageError("qa", message, args);
    }

    @Test
    void usageErrors() throws IOException {
        Cli.assertRunOptionsUsageErrors("qa", model, dir, false);
        String m = "--model=" + model;
        assertUsageError("--top-k must be at least 1, got 0", m, "--top-k", "0");
        assertUsageError("Invalid value for option '--top-k': 'all' is not an int", m, "--top-k", "all");
        assertUsageError("--max-answer-len must be at least 1, got 0", m, "--max-answer-len", "0");
        assertUsageError("--max-question-len must be at least 1, got -1", m, "--max-question-len", "-1");
        assertUsageError("--max-seq-len must be at least 4 ([CLS], [SEP], [SEP] and a context token), got 3", m, "--max-seq-len", "3");
        assertUsageError("--max-seq-len 65 is more than the model takes: " + model + "/config.json has max_position_embeddings 64",
                m, "--max-seq-len", "65");
        assertUsageError("--doc-stride must be at least 0, got -1", m, "--doc-stride", "-1");
        assertUsageError("--doc-stride 21 is larger than --max-seq-len 20", m, "--doc-stride", "21", "--max-seq-len", "20");
        assertUsageError("--doc-stride 65 is larger than --max-seq-len 64", m, "--doc-stride", "65");
        assertUsageError("Unknown options: '--max-length', '10'", m, "--max-length", "10");
    }

    @Test
    void helpDocumentsTheFormatsAndDefaults() {
        String words = Cli.helpWords("qa", "--model", "--top-k", "--doc-stride", "--max-seq-len", "--max-question-len",
                "--max-answer-len", "--handle-impossible-answer", "--input", "--output", "--batch-tokens", "--device", "--precision",
                "--verbose");
        assertTrue(words.contains("{\"question\": \"...\", \"context\": \"...\"}"), words);
        assertTrue(words.contains("\"start\": 0, \"end\": 0, \"answer\": \"\""), words);
        assertTrue(words.contains("Default: 15."), words);
        assertTrue(words.contains("smaller of --max-seq-len / 2 and 128"), words);
    }
}
