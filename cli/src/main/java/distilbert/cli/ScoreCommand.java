package distilbert.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import distilbert.model.TextClassification;
import distilbert.model.TextClassification.LabelScore;
import distilbert.model.TextClassification.Result;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code distilbert score}: JSONL text in, the labels of a DistilBertForSequenceClassification
 * model out, one line per input line in input order, as HuggingFace's text-classification pipeline
 * gives them. The streaming, batching and errors are embed's ({@link ModelRun}); the scoring is the
 * library's {@link TextClassification}.
 */
@Command(name = "score", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, sortOptions = false,
        usageHelpWidth = 100,
        description = {
            "Classify text with a DistilBertForSequenceClassification model directory, as HuggingFace's "
                    + "text-classification pipeline does.",
            "",
            ModelRun.HELP_INPUT,
            "Output: one line per input line, in input order: the best label, {\"label\": \"POSITIVE\", \"score\": 0.9998}; "
                    + "with --top-k, a list of {\"label\", \"score\"} objects, highest score first (equal scores in label id "
                    + "order); with --logits, the raw \"logits\" too (and the --top-k list goes under \"scores\"). Labels are "
                    + "config.json's id2label (LABEL_0, LABEL_1, ... when it has none). Floats are float32, written in the "
                    + "shortest form that reads back as the same float32.",
            "Scores: --function, by default as HF picks it from config.json: problem_type regression: none; "
                    + "multi_label_classification or a single label: sigmoid; otherwise softmax.",
            "Texts longer than the model takes are truncated (longest_first, keeping the start) to --max-length; a line "
                    + "on stderr says how many rows were cut.",
            ModelRun.HELP_BATCHING,
            ""},
        footer = {"",
            "Examples:",
            "  distilbert score --model models/distilbert-sst-2 --input in.jsonl --output out.jsonl",
            "  echo '{\"text\": \"What a lovely day!\"}' | distilbert score --model DIR --top-k all",
            "  distilbert score --model DIR --function none --logits < in.jsonl > scores.jsonl",
            "",
            "Exit codes: 0 done, 1 failed (unusable model directory, not a sequence classification model, unreadable input, "
                    + "bad input line, unwritable output), 2 usage error."})
final class ScoreCommand implements Callable<Integer> {
    /** --top-k all. */
    static final int ALL = Integer.MAX_VALUE;

    static final class FunctionConverter implements CommandLine.ITypeConverter<TextClassification.Function> {
        @Override
        public TextClassification.Function convert(String s) {
            return TokenizeCommand.choice(TextClassification.Function.values(), s);
        }
    }

    /** A count of at least 1, or "all". */
    static final class TopKConverter implements CommandLine.ITypeConverter<Integer> {
        @Override
        public Integer convert(String s) {
            if (s.equals("all")) return ALL;
            try {
                int k = Integer.parseInt(s);
                if (k >= 1) return k;
            } catch (NumberFormatException e) {
                // said below
            }
            throw new CommandLine.TypeConversionException("expected a number of at least 1 or 'all', got '" + s + "'");
        }
    }

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A HuggingFace DistilBertForSequenceClassification" + ModelRun.HELP_HEAD_CONFIG
                    + ", and whose id2label names the labels), " + ModelRun.HELP_MODEL_FILES + ".")
    Path model;

    @Option(names = "--top-k", paramLabel = "K", converter = TopKConverter.class,
            description = "Write the K best labels as a list, highest score first, or all of them with 'all' (HF's top_k; "
                    + "K beyond the number of labels gives all). Default: the best label alone, as an object.")
    Integer topK;

    @Option(names = "--function", paramLabel = "FUNCTION", converter = FunctionConverter.class,
            description = "${COMPLETION-CANDIDATES}: what turns the logits into scores (HF's function_to_apply). "
                    + "Default: from config.json, as HF picks it (see above).")
    TextClassification.Function function;

    @Option(names = "--logits", description = "Add the raw logits, one per label in id order: \"logits\": [floats].")
    boolean logits;

    @Option(names = "--max-length", paramLabel = "N", description = ModelRun.HELP_MAX_LENGTH)
    Integer maxLength;

    @Mixin
    RunOptions run;

    @Override
    public Integer call() throws IOException {
        ModelRun modelRun = ModelRun.prepare(run, model, maxLength, ModelRun.LengthLimit.NONE)
                .requireHead(Head.SEQUENCE_CLASSIFICATION);
        modelRun.stream(ModelRun.CHUNK_BATCHES, db -> {
            TextClassification classifier = new TextClassification(db, modelRun.tokenizer())
                    .withFunction(function).withMaxLength(modelRun.maxLength()).withBatchTokens(run.batchTokens);
            return (encodings, out, progress) -> write(out, classifier.classifyEncodings(encodings, progress));
        });
        return Main.OK;
    }

    private void write(JsonlLines out, List<Result> results) {
        out.write(results, (gen, r) -> {
            if (topK == null) {
                gen.writeStartObject();
                labelScore(gen, r.best());
                if (logits) logits(gen, r);
                gen.writeEndObject();
            } else if (!logits) {
                labelScores(gen, r.top(topK));
            } else {
                gen.writeStartObject();
                gen.writeFieldName("scores");
                labelScores(gen, r.top(topK));
                logits(gen, r);
                gen.writeEndObject();
            }
        }, r -> 48 * Math.min(r.numLabels(), topK == null ? 1 : topK) + (logits ? 16 * r.numLabels() : 0));
    }

    /** A JSON list of {"label", "score"} objects. */
    private static void labelScores(JsonGenerator gen, List<LabelScore> scores) throws IOException {
        gen.writeStartArray();
        for (LabelScore s : scores) {
            gen.writeStartObject();
            labelScore(gen, s);
            gen.writeEndObject();
        }
        gen.writeEndArray();
    }

    private static void labelScore(JsonGenerator gen, LabelScore s) throws IOException {
        gen.writeStringField("label", s.label());
        gen.writeFieldName("score");
        gen.writeNumber(s.score());
    }

    private static void logits(JsonGenerator gen, Result r) throws IOException {
        gen.writeFieldName("logits");
        JsonlOutput.floats(gen, r.logits(), 0, r.numLabels());
    }
}
