package distilbert.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import distilbert.model.TokenClassification;
import distilbert.model.TokenClassification.Aggregation;
import distilbert.model.TokenClassification.Entity;
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
 * {@code distilbert ner}: JSONL text in, the entities of a DistilBertForTokenClassification model
 * out, one line per input line in input order, as HuggingFace's token-classification pipeline gives
 * them. The streaming, batching and errors are embed's ({@link ModelRun}); the pipeline is the
 * library's {@link TokenClassification}.
 */
@Command(name = "ner", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, sortOptions = false,
        usageHelpWidth = 100,
        description = {
            "Find entities (or label every token) with a DistilBertForTokenClassification model directory, as "
                    + "HuggingFace's token-classification (\"ner\") pipeline does.",
            "",
            "Input: one JSON object per line, {\"text\": \"...\"}; other keys are ignored. A line with a \"text_pair\" is an "
                    + "error, as HF's pipeline takes single texts. A blank or malformed line stops the command with an error "
                    + "naming the line, after the lines before it have been written.",
            "Output: one line per input line, in input order: a list of entities. With --aggregation none, one per token "
                    + "whose label is not ignored: {\"entity\": \"B-PER\", \"score\": 0.998, \"index\": 3, \"word\": \"##ing\", "
                    + "\"start\": 9, \"end\": 12}; otherwise one per group of tokens: {\"entity_group\": \"PER\", \"score\": 0.998, "
                    + "\"word\": \"wolfgang\", \"start\": 11, \"end\": 19}. start and end are offsets into the text in code points "
                    + "(Python's str indices, as HF gives them); index counts tokens from [CLS] = 0; word is the token (the text "
                    + "itself for an unknown token) or the group's tokens decoded. Labels are config.json's id2label (LABEL_0, "
                    + "LABEL_1, ... when it has none). Floats are float32, written in the shortest form that reads back as the "
                    + "same float32.",
            "Texts longer than the model takes are truncated (keeping the start) to --max-length, or with --stride run in "
                    + "overlapping windows; a line on stderr says how many rows were.",
            ModelRun.HELP_BATCHING,
            ""},
        footer = {"",
            "Examples:",
            "  distilbert ner --model models/distilbert-ner --input in.jsonl --output entities.jsonl",
            "  echo '{\"text\": \"My name is Wolfgang and I live in Berlin\"}' | distilbert ner --model DIR --aggregation simple",
            "  distilbert ner --model DIR --aggregation first --stride 128 --ignore-labels O,MISC < in.jsonl > out.jsonl",
            "",
            "Exit codes: 0 done, 1 failed (unusable model directory, not a token classification model, unreadable input, "
                    + "bad input line, unwritable output), 2 usage error."})
final class NerCommand implements Callable<Integer> {

    static final class AggregationConverter implements CommandLine.ITypeConverter<Aggregation> {
        @Override
        public Aggregation convert(String s) {
            return TokenizeCommand.choice(Aggregation.values(), s);
        }
    }

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A HuggingFace DistilBertForTokenClassification" + ModelRun.HELP_HEAD_CONFIG
                    + ", and whose id2label names the labels), " + ModelRun.HELP_MODEL_FILES + ".")
    Path model;

    @Option(names = "--aggregation", paramLabel = "STRATEGY", converter = AggregationConverter.class, defaultValue = "none",
            description = "${COMPLETION-CANDIDATES} (HF's aggregation_strategy). none: every token; simple: adjacent tokens "
                    + "of one tag grouped (B-X starts a group, I-X and X continue it); first, average, max: as simple, but each "
                    + "word (a token and its ## subwords) takes one label: its first token's, the best of its tokens' average "
                    + "scores, or its highest-scoring token's. Default: ${DEFAULT-VALUE}.")
    Aggregation aggregation;

    @Option(names = "--ignore-labels", paramLabel = "LABELS", split = ",",
            description = "Leave out the entities with these labels, comma-separated (HF's ignore_labels: the token's label "
                    + "with --aggregation none, the group's tag otherwise). '' keeps every label. Default: O.")
    List<String> ignoreLabels;

    @Option(names = "--stride", paramLabel = "N",
            description = "Run a text longer than --max-length in windows of --max-length tokens, each overlapping the one "
                    + "before by N tokens, and merge their entities as HF does (where two overlap, the longer, then the higher "
                    + "score). Needs an --aggregation other than none. Default: long texts are truncated.")
    Integer stride;

    @Option(names = "--max-length", paramLabel = "N",
            description = "Truncate rows (or cut windows) " + ModelRun.HELP_MAX_LENGTH_LIMIT + ModelRun.HELP_MAX_LENGTH_DEFAULT)
    Integer maxLength;

    @Mixin
    RunOptions run;

    @Override
    public Integer call() throws IOException {
        if (stride != null) {
            if (stride < 0) throw run.usage("--stride must be at least 0, got " + stride);
            if (aggregation == Aggregation.NONE) {
                throw run.usage("--stride needs --aggregation simple, first, average or max (as in HF: the tokens of "
                        + "overlapping windows cannot be told apart)");
            }
        }
        List<String> ignore = ignoreLabels == null ? List.of("O") : ignoreLabels.stream().filter(l -> !l.isEmpty()).toList();
        ModelRun modelRun = ModelRun.prepare(run, model, maxLength, ModelRun.LengthLimit.NONE);
        if (stride != null) {
            int room = modelRun.maxLength() - modelRun.tokenizer().numSpecialTokensToAdd(false);
            if (stride >= room) {
                throw run.usage("--stride " + stride + " must be smaller than the " + room + " tokens a window of "
                        + modelRun.maxLength() + " (--max-length) has for the text");
            }
        }
        modelRun.requireHead(Head.TOKEN_CLASSIFICATION).singleTexts().windowed(stride).stream(ModelRun.CHUNK_BATCHES, db -> {
            TokenClassification ner = new TokenClassification(db, modelRun.tokenizer()).withAggregation(aggregation)
                    .withIgnoreLabels(ignore).withMaxLength(modelRun.maxLength()).withStride(stride)
                    .withBatchTokens(run.batchTokens);
            return (encodings, out, progress) -> write(out, ner.classifyEncodings(encodings, progress));
        });
        return Main.OK;
    }

    private static void write(JsonlLines out, List<List<Entity>> results) {
        out.write(results, NerCommand::entities, es -> 2 + 96 * es.size());
    }

    /** A JSON list of entities, with HF's keys in HF's order. */
    static void entities(JsonGenerator gen, List<Entity> entities) throws IOException {
        gen.writeStartArray();
        for (Entity e : entities) {
            gen.writeStartObject();
            gen.writeStringField(e.isGroup() ? "entity_group" : "entity", e.label());
            gen.writeFieldName("score");
            gen.writeNumber(e.score());
            if (!e.isGroup()) gen.writeNumberField("index", e.index());
            gen.writeStringField("word", e.word());
            gen.writeNumberField("start", e.start());
            gen.writeNumberField("end", e.end());
            gen.writeEndObject();
        }
        gen.writeEndArray();
    }
}
