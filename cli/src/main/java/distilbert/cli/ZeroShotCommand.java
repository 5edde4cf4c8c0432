package distilbert.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import distilbert.cli.JsonlInput.Row;
import distilbert.model.ZeroShotClassification;
import distilbert.model.ZeroShotClassification.Query;
import distilbert.model.ZeroShotClassification.Result;
import distilbert.tokenizer.Encoding;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code distilbert zero-shot}: JSONL texts in, candidate labels ranked by an NLI
 * DistilBertForSequenceClassification out, one line per input line in input order, as
 * HuggingFace's zero-shot-classification pipeline gives them. The streaming, batching and errors
 * are {@link ModelRun}'s; the classification is the library's {@link ZeroShotClassification}.
 */
@Command(name = "zero-shot", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, sortOptions = false,
        usageHelpWidth = 100,
        description = {
            "Classify text into labels chosen at run time with a DistilBertForSequenceClassification model fine-tuned for "
                    + "natural language inference (an MNLI model), as HuggingFace's zero-shot-classification pipeline does.",
            "",
            "Input: one JSON object per line, {\"text\": \"...\", \"candidate_labels\": [\"...\", ...]}; candidate_labels is a "
                    + "list of strings or one string of comma-separated labels (\"sports, politics\"), and may be left out when "
                    + "--labels gives them for every line. As HF's pipeline takes them per call, a line may also bring its own "
                    + "\"hypothesis_template\" (a string) and \"multi_label\" (true or false), in place of --template and "
                    + "--multi-label. Other keys are ignored. A blank or malformed line stops the command with an error naming "
                    + "the line, after the lines before it have been written.",
            "Each label becomes a hypothesis (--template) and the pair [CLS] text [SEP] hypothesis [SEP] is scored by the "
                    + "model; the text is truncated (only_first, so that the hypothesis stays whole) to --max-length. Scores: "
                    + "the softmax of the pairs' entailment logits over the line's labels; with --multi-label (or a single "
                    + "label), each label's softmax of (contradiction, entailment) on its own. The entailment label is the "
                    + "first of config.json's label2id whose name starts with \"entail\" (else the last label, with a warning, "
                    + "as HF); contradiction is label 0, or the last when entailment is 0.",
            "Output: one line per input line, in input order, HF's answer: {\"sequence\": \"...\", \"labels\": [...], "
                    + "\"scores\": [...]}, the labels best first (equal scores: the later label first, as HF); with --logits, "
                    + "the raw \"logits\" too, one list per candidate label in input order. Floats are float32, written in the "
                    + "shortest form that reads back as the same float32.",
            "The pairs are run in batches of about --batch-tokens real tokens (sorted by length first; a line's pairs need "
                    + "not share a batch). On a terminal, stderr shows a progress line (rows/s, tokens/s, ETA for --input files).",
            ""},
        footer = {"",
            "Examples:",
            "  distilbert zero-shot --model models/distilbert-mnli --labels 'urgent, not urgent, phone, tablet' --input in.jsonl",
            "  echo '{\"text\": \"The match went to extra time.\", \"candidate_labels\": [\"sports\", \"politics\"]}' \\",
            "      | distilbert zero-shot --model DIR --template 'This text is about {}.' --multi-label",
            "",
            "Exit codes: 0 done, 1 failed (unusable model directory, not a sequence classification model, unreadable input, "
                    + "bad input line, a pair too long for the model, unwritable output), 2 usage error."})
final class ZeroShotCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A HuggingFace DistilBertForSequenceClassification" + ModelRun.HELP_HEAD_CONFIG
                    + ", and whose label2id names the entailment label), " + ModelRun.HELP_MODEL_FILES
                    + "; a model fine-tuned for natural language inference (an MNLI model).")
    Path model;

    @Option(names = "--labels", paramLabel = "LABELS",
            description = "The candidate labels of every line that gives none, comma-separated (HF's candidate_labels as "
                    + "a string: each stripped of spaces, empty ones dropped).")
    String labels;

    @Option(names = "--template", paramLabel = "TEMPLATE", defaultValue = ZeroShotClassification.DEFAULT_TEMPLATE,
            description = "The hypothesis, with {} where the label goes (Python's str.format: {0} also, {{ and }} for "
                    + "braces). Default: \"${DEFAULT-VALUE}\".")
    String template;

    @Option(names = "--multi-label", description = "Score each label on its own (several may be true), not the labels "
            + "against each other.")
    boolean multiLabel;

    @Option(names = "--entailment-label", paramLabel = "NAME",
            description = "The model's label that means entailment (a name of config.json's id2label), for a model whose "
                    + "label2id does not name it. Default: the first label2id name starting with \"entail\".")
    String entailmentLabel;

    @Option(names = "--logits", description = "Add the model's raw logits for each candidate label's pair, in input "
            + "order: \"logits\": [[floats], ...].")
    boolean logits;

    @Option(names = "--max-length", paramLabel = "N", description = "Truncate each (text, hypothesis) pair, cutting the text "
            + "only, " + ModelRun.HELP_MAX_LENGTH_LIMIT + ModelRun.HELP_MAX_LENGTH_DEFAULT)
    Integer maxLength;

    @Mixin
    RunOptions run;

    @Override
    public Integer call() throws IOException {
        List<String> defaults = null;
        if (labels != null) {
            defaults = ZeroShotClassification.parseLabels(labels);
            if (defaults.isEmpty()) throw run.usage("--labels '" + labels + "' names no label; give them comma-separated");
        }
        try {
            ZeroShotClassification.checkTemplate(template);
        } catch (IllegalArgumentException e) {
            throw run.usage("--template: " + e.getMessage());
        }
        ModelRun modelRun = ModelRun.prepare(run, model, maxLength, ModelRun.LengthLimit.NONE)
                .requireHead(Head.SEQUENCE_CLASSIFICATION);
        DistilBertConfig config = modelRun.config();
        if (config.numLabels() < 2) {
            throw new CliException(model + ": zero-shot needs a natural language inference model, with at least an entailment "
                    + "and a contradiction label; config.json has " + config.numLabels() + " label");
        }
        int entailment = entailmentId(config);
        int positions = config.maxPositionEmbeddings();
        JsonlInput.Keys keys = JsonlInput.Keys.zeroShot(defaults, options -> {
            Object own = options.get(JsonlInput.Keys.TEMPLATE);
            if (own == null) return null;
            try {
                ZeroShotClassification.checkTemplate((String) own);
                return null;
            } catch (IllegalArgumentException e) {
                return e.getMessage();
            }
        });
        ModelRun.Rows rows = new ModelRun.Rows(keys, ZeroShotClassification.encodeOptions(modelRun.maxLength()), false)
                .withChoices((row, label) -> ZeroShotClassification.format(template(row), label),
                        ZeroShotClassification.untruncatedOptions());
        modelRun.stream(rows, ModelRun.CHUNK_BATCHES, db -> {
            ZeroShotClassification zs = new ZeroShotClassification(db, modelRun.tokenizer(), entailment)
                    .withHypothesisTemplate(template).withMultiLabel(multiLabel)
                    .withMaxLength(modelRun.maxLength()).withBatchTokens(run.batchTokens);
            return new ModelRun.RowsJob() {
                @Override
                public void run(List<Row> chunk, List<Encoding> encodings, JsonlLines out, Progress progress) {
                    List<Query> queries = new ArrayList<>(chunk.size());
                    for (Row r : chunk) {
                        queries.add(new Query(r.text(), r.choices(), (String) r.option(JsonlInput.Keys.TEMPLATE),
                                (Boolean) r.option(JsonlInput.Keys.MULTI_LABEL)));
                    }
                    write(out, zs.classifyEncodings(queries, encodings, progress));
                }

                @Override
                public String refuse(Encoding e) {
                    if (e.length() <= positions) return null;
                    return "a (text, hypothesis) pair is " + e.length() + " tokens long, more than the model's "
                            + "max_position_embeddings = " + positions + ", and cannot be truncated: its hypothesis alone (a label "
                            + "in \"" + template + "\" or the line's own hypothesis_template) leaves no room for the text; shorten "
                            + "the label or the template";
                }
            };
        });
        return Main.OK;
    }

    /** The line's own hypothesis_template, or --template. */
    private String template(Row row) {
        Object own = row.option(JsonlInput.Keys.TEMPLATE);
        return own != null ? (String) own : template;
    }

    /** --entailment-label's id, or the one label2id names; with a warning on stderr where it names none. */
    private int entailmentId(DistilBertConfig config) {
        if (entailmentLabel != null) {
            for (Map.Entry<Integer, String> e : config.id2label().entrySet()) {
                if (e.getValue().equals(entailmentLabel)) return e.getKey();
            }
            throw run.usage("--entailment-label '" + entailmentLabel + "' is not a label of " + model + "/config.json; its "
                    + "id2label names " + config.id2label().values());
        }
        int id = ZeroShotClassification.entailmentIdOf(config);
        if (id < 0) {
            run.io().err().println("distilbert zero-shot: warning: "
                    + ZeroShotClassification.missingEntailmentWarning(config).orElseThrow());
            id = config.numLabels() - 1;
        }
        return id;
    }

    private void write(JsonlLines out, List<Result> results) {
        out.write(results, (gen, r) -> {
            gen.writeStartObject();
            gen.writeStringField("sequence", r.sequence());
            gen.writeFieldName("labels");
            gen.writeStartArray();
            for (String label : r.labels()) gen.writeString(label);
            gen.writeEndArray();
            gen.writeFieldName("scores");
            float[] scores = r.rankedScores();
            JsonlOutput.floats(gen, scores, 0, scores.length);
            if (logits) logits(gen, r);
            gen.writeEndObject();
        }, r -> 64 + r.sequence().length() + 32 * r.scores().length + (logits ? r.logits().length * 16 : 0));
    }

    private static void logits(JsonGenerator gen, Result r) throws IOException {
        gen.writeFieldName("logits");
        gen.writeStartArray();
        int nl = r.logits().length / r.scores().length;
        for (int i = 0; i < r.scores().length; i++) JsonlOutput.floats(gen, r.logits(), i * nl, nl);
        gen.writeEndArray();
    }
}
