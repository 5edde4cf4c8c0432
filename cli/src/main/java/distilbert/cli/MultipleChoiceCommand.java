package distilbert.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import distilbert.model.MultipleChoice;
import distilbert.model.MultipleChoice.ChoiceScore;
import distilbert.model.MultipleChoice.Result;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code distilbert multiple-choice}: JSONL prompts with their choices in, a DistilBertForMultipleChoice
 * model's scores of the choices out, one line per input line in input order. transformers has no
 * pipeline for the task; the numbers are the model's as HF's documentation runs it (the library's
 * {@link MultipleChoice} says how). The streaming, batching and errors are {@link ModelRun}'s.
 */
@Command(name = "multiple-choice", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        sortOptions = false, usageHelpWidth = 100,
        description = {
            "Pick among choices with a DistilBertForMultipleChoice model directory (SWAG-style: a prompt and its possible "
                    + "endings), as HuggingFace's model scores them.",
            "",
            "Input: one JSON object per line, {\"prompt\": \"...\", \"choices\": [\"...\", \"...\"]}, a string and a non-empty "
                    + "list of strings (any number of choices, different from line to line); other keys are ignored. A blank or "
                    + "malformed line stops the command with an error naming the line, after the lines before it have been written.",
            "Each choice is encoded with the prompt as a pair, [CLS] prompt [SEP] choice [SEP], truncated longest_first to "
                    + "--max-length; the model scores each pair; the softmax over a line's choices is its scores.",
            "Output: one line per input line, in input order: {\"choice\": 1, \"score\": 0.87, \"scores\": [0.13, 0.87]}, the "
                    + "best choice's index (0-based; the first among equal scores), its score, and every choice's score in input "
                    + "order; with --logits, the raw \"logits\" too. Floats are float32, written in the shortest form that reads "
                    + "back as the same float32.",
            "Choices are run in batches of about --batch-tokens real tokens (sorted by length first; a line's choices need not "
                    + "share a batch). On a terminal, stderr shows a progress line (rows/s, tokens/s, ETA for --input files).",
            ""},
        footer = {"",
            "Examples:",
            "  distilbert multiple-choice --model models/distilbert-swag --input questions.jsonl --output answers.jsonl",
            "  echo '{\"prompt\": \"The chef put the pizza\", \"choices\": [\"in the oven.\", \"on the moon.\"]}' \\",
            "      | distilbert multiple-choice --model DIR --logits",
            "",
            "Exit codes: 0 done, 1 failed (unusable model directory, not a multiple choice model, unreadable input, bad input "
                    + "line, unwritable output), 2 usage error."})
final class MultipleChoiceCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A HuggingFace DistilBertForMultipleChoice" + ModelRun.HELP_HEAD_CONFIG + "), "
                    + ModelRun.HELP_MODEL_FILES + ".")
    Path model;

    @Option(names = "--logits", description = "Add the raw logits, one per choice in input order: \"logits\": [floats].")
    boolean logits;

    @Option(names = "--max-length", paramLabel = "N", description = "Truncate each (prompt, choice) pair "
            + ModelRun.HELP_MAX_LENGTH_LIMIT + ModelRun.HELP_MAX_LENGTH_DEFAULT)
    Integer maxLength;

    @Mixin
    RunOptions run;

    @Override
    public Integer call() throws IOException {
        ModelRun modelRun = ModelRun.prepare(run, model, maxLength, ModelRun.LengthLimit.NONE)
                .requireHead(Head.MULTIPLE_CHOICE);
        ModelRun.Rows rows = new ModelRun.Rows(JsonlInput.Keys.PROMPT_CHOICES, MultipleChoice.encodeOptions(modelRun.maxLength()),
                false);
        modelRun.stream(rows, ModelRun.CHUNK_BATCHES, db -> {
            MultipleChoice mc = new MultipleChoice(db, modelRun.tokenizer()).withMaxLength(modelRun.maxLength())
                    .withBatchTokens(run.batchTokens);
            return (chunk, encodings, out, progress) -> {
                int[] numChoices = chunk.stream().mapToInt(ModelRun::width).toArray();
                write(out, mc.chooseEncodings(encodings, numChoices, progress));
            };
        });
        return Main.OK;
    }

    private void write(JsonlLines out, List<Result> results) {
        out.write(results, (gen, r) -> {
            ChoiceScore best = r.best();
            gen.writeStartObject();
            gen.writeNumberField("choice", best.index());
            gen.writeFieldName("score");
            gen.writeNumber(best.score());
            gen.writeFieldName("scores");
            JsonlOutput.floats(gen, r.scores(), 0, r.numChoices());
            if (logits) {
                gen.writeFieldName("logits");
                JsonlOutput.floats(gen, r.logits(), 0, r.numChoices());
            }
            gen.writeEndObject();
        }, r -> 48 + (logits ? 32 : 16) * r.numChoices());
    }
}
