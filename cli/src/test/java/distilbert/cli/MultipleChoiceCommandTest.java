package distilbert.cli;

import static distilbert.cli.Cli.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.MultipleChoice;
import distilbert.model.MultipleChoice.Question;
import distilbert.model.MultipleChoice.Result;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distilbert multiple-choice} on a small random DistilBertForMultipleChoice with bert-base-uncased's
 * tokenizer: every line against the library's {@link MultipleChoice} on the same directory, the
 * format, --logits, --max-length, order, batching, errors.
 */
class MultipleChoiceCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;

    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = TinyModels.widened(dir.resolve("mc"), TinyModels.config(), Head.MULTIPLE_CHOICE);
    }

    static final List<Question> QUESTIONS = List.of(
            new Question("The chef put the pizza", List.of("in the oven.", "on the moon.", "into a letter box.")),
            new Question("She opened the umbrella because", List.of("it was raining.", "the sun had set.")),
            new Question("Ünïcödé \uD83D\uDC33 prompt", List.of("", "a choice", "another, longer choice with more words in it",
                    "x", "the fifth")),
            new Question("", List.of("only one choice")),
            new Question("A long prompt " + "that goes on and on ".repeat(20), List.of("short", "and a long choice "
                    + "with many words ".repeat(10))));

    static String rows(List<Question> questions) {
        StringBuilder s = new StringBuilder();
        for (Question q : questions) {
            ObjectNode o = JSON.createObjectNode().put("prompt", q.prompt());
            ArrayNode choices = o.putArray("choices");
            q.choices().forEach(choices::add);
            s.append(o).append('\n');
        }
        return s.toString();
    }

    static Cli.Result mc(String stdin, String... args) {
        return Cli.onCpu("multiple-choice", model, stdin, args);
    }

    static List<Result> library(List<Question> questions, Function<MultipleChoice, MultipleChoice> setup) throws IOException {
        try (DistilBert db = DistilBert.load(model, Device.CPU)) {
            return setup.apply(new MultipleChoice(db, Tokenizer.fromPretrained(model))).choose(questions);
        }
    }

    /** The line multiple-choice should write, built by hand: Java's Float.toString is the shortest float32 form. */
    static String line(Result r, boolean logits) {
        StringBuilder s = new StringBuilder("{\"choice\":" + r.best().index() + ",\"score\":" + r.best().score() + ",\"scores\":");
        floats(s, r.scores());
        if (logits) {
            s.append(",\"logits\":");
            floats(s, r.logits());
        }
        return s.append('}').toString();
    }

    private static void floats(StringBuilder s, float[] xs) {
        s.append('[');
        for (int i = 0; i < xs.length; i++) s.append(i == 0 ? "" : ",").append(xs[i]);
        s.append(']');
    }

    @Test
    void eachLineIsItsQuestionsScoresInInputOrder() throws IOException {
        List<Result> want = library(QUESTIONS, m -> m);
        List<String> got = ok(mc(rows(QUESTIONS)));
        assertEquals(want.stream().map(r -> line(r, false)).toList(), got);
        assertEquals(want.stream().map(r -> line(r, true)).toList(), ok(mc(rows(QUESTIONS), "--logits")));
        assertEquals("{\"choice\":0,\"score\":1.0,\"scores\":[1.0]}", got.get(3), "one choice is certain");
        for (int i = 0; i < QUESTIONS.size(); i++) {
            assertEquals(QUESTIONS.get(i).choices().size(), JSON.readTree(got.get(i)).get("scores").size(), "line " + i);
            assertEquals(got.get(i), ok(mc(rows(List.of(QUESTIONS.get(i))))).getFirst(), "question " + i + " alone");
        }
    }

    @Test
    void longPairsAreTruncatedToMaxLengthAndSaySo() throws IOException {
        Cli.Result r = mc(rows(QUESTIONS));
        // the last question's two pairs are longer than the model's 64 positions
        assertEquals("distilbert multiple-choice: 2 (prompt, choice) pairs were longer than 64 tokens and truncated to 64 "
                + "(--max-length)\n", r.err());
        List<Result> want = library(QUESTIONS, m -> m.withMaxLength(12));
        assertEquals(want.stream().map(x -> line(x, false)).toList(), ok(mc(rows(QUESTIONS), "--max-length", "12")));
    }

    @Test
    void batchingByTokensChangesNothing() {
        Cli.assertBatchingChangesNothing(MultipleChoiceCommandTest::mc, rows(QUESTIONS), QUESTIONS.size());
    }

    @Test
    void aBadLineStopsWithItsLineNumberAfterTheLinesBeforeItAreWritten() throws IOException {
        String two = rows(QUESTIONS.subList(0, 2));
        List<String> first = library(QUESTIONS.subList(0, 2), m -> m).stream().map(r -> line(r, false)).toList();
        record Bad(String line, String error) {}
        for (Bad b : List.of(
                new Bad("{\"prompt\": \"p\"}", "stdin line 3: missing \"choices\""),
                new Bad("{\"choices\": [\"a\"]}", "stdin line 3: missing \"prompt\""),
                new Bad("{\"prompt\": \"p\", \"choices\": []}", "stdin line 3: \"choices\" is empty; give at least one"),
                new Bad("{\"prompt\": \"p\", \"choices\": \"a\"}", "stdin line 3: \"choices\" must be a list of strings, found a string"),
                new Bad("{\"prompt\": \"p\", \"choices\": [\"a\", 3]}",
                        "stdin line 3: \"choices\" must be a list of strings, but item 1 is a number"),
                new Bad("{\"prompt\": \"p\", \"choices\": [\"a\", [\"b\"]]}",
                        "stdin line 3: \"choices\" must be a list of strings, but item 1 is an array"),
                new Bad("{\"prompt\": null, \"choices\": [\"a\"]}", "stdin line 3: \"prompt\" must be a string, found null"),
                new Bad("{\"text\": \"a\"}", "stdin line 3: missing \"prompt\""),
                new Bad("", "stdin line 3: blank line; every line must be a JSON object with a \"prompt\" string and a "
                        + "\"choices\" list of strings"))) {
            Cli.Result r = mc(two + b.line() + "\n" + rows(QUESTIONS.subList(2, 3)));
            assertEquals(1, r.code(), b.line());
            assertEquals(first, r.lines(), "the rows before the bad line are written: " + b.line());
            assertEquals("distilbert multiple-choice: " + b.error() + "\n", r.err());
        }
    }

    @Test
    void aProgressLineOnlyOnATerminal() {
        Cli.assertProgressOnlyOnATerminal("multiple-choice", rows(QUESTIONS.subList(0, 4)), 4, "--model", model.toString(),
                "--device", "cpu");
    }

    @Test
    void inputAndOutputFilesAndEmptyInput() throws IOException {
        Cli.assertFilesAndEmptyInput("multiple-choice", MultipleChoiceCommandTest::mc, dir, rows(QUESTIONS.subList(0, 4)));
    }

    @Test
    void onlyAMultipleChoiceModel() throws IOException {
        Cli.assertNeedsClass("multiple-choice", "DistilBertForMultipleChoice", TinyModels.classifier(dir.resolve("classifier"),
                TinyModels.config()), "DistilBertForSequenceClassification", rows(QUESTIONS));
    }

    @Test
    void deviceCudaFailsClearlyWhereItCannotRun() {
        Cli.assertCudaRefusedWithoutGpu("multiple-choice", "--model", model.toString());
    }

    @Test
    void usageErrors() throws IOException {
        Cli.assertRunOptionsUsageErrors("multiple-choice", model, dir, true);
    }

    @Test
    void helpDocumentsTheFormats() {
        String words = Cli.helpWords("multiple-choice", "--model", "--logits", "--max-length", "--input", "--output",
                "--batch-tokens", "--device", "--precision", "--verbose");
        assertTrue(words.contains("{\"prompt\": \"...\", \"choices\": [\"...\", \"...\"]}"), words);
        assertTrue(words.contains("{\"choice\": 1, \"score\": 0.87, \"scores\": [0.13, 0.87]}"), words);
    }
}
