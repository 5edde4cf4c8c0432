package distilbert.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import distilbert.model.FillMask;
import distilbert.model.FillMask.Prediction;
import distilbert.model.FillMask.Result;
import distilbert.tokenizer.Encoding;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code distilbert fill-mask}: JSONL text with [MASK] tokens in, the likeliest tokens for each mask
 * out, one line per input line in input order, as HuggingFace's fill-mask pipeline gives them. The
 * streaming, batching and errors are {@link ModelRun}'s; the predicting is the library's
 * {@link FillMask}.
 */
@Command(name = "fill-mask", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, sortOptions = false,
        usageHelpWidth = 100,
        description = {
            "Fill the [MASK] tokens of texts with a DistilBertForMaskedLM model directory, as HuggingFace's fill-mask "
                    + "pipeline does.",
            "",
            "Input: one JSON object per line, {\"text\": \"Paris is the [MASK] of France.\"}, with at least one mask token "
                    + "(the tokenizer's, [MASK] for BERT vocabularies); other keys are ignored. A line without a mask, "
                    + "blank or malformed, or with a \"text_pair\" (the pipeline takes single texts) stops the command with "
                    + "an error naming the line, after the lines before it have been written.",
            "Output: one line per input line, in input order. For a text with one mask, a list of the --top-k best tokens, "
                    + "highest score first (equal scores in token id order): {\"score\": 0.9963, \"token\": 3007, "
                    + "\"token_str\": \"capital\", \"sequence\": \"paris is the capital of france.\"}. For a text with several "
                    + "masks, one such list per mask, in order. score is the token's probability at the mask (softmax over "
                    + "the vocabulary); sequence is the text's tokens with that mask replaced, decoded: special tokens left "
                    + "out with one mask, kept with several (so that the other masks show), as HF does.",
            "Texts longer than the model takes are truncated (keeping the start) to --max-length; a line on stderr says how "
                    + "many rows were cut. A text whose masks all fall beyond the cut is an error; masks before it are filled.",
            ModelRun.HELP_BATCHING,
            ""},
        footer = {"",
            "Examples:",
            "  echo '{\"text\": \"Paris is the [MASK] of France.\"}' | distilbert fill-mask --model models/distilbert-base-uncased",
            "  distilbert fill-mask --model DIR --top-k 10 --input in.jsonl --output out.jsonl",
            "  distilbert fill-mask --model DIR --targets capital,heart,city < in.jsonl",
            "",
            "Exit codes: 0 done, 1 failed (unusable model directory, not a masked LM model, no usable target, unreadable "
                    + "input, bad input line or a text without a mask, unwritable output), 2 usage error."})
final class FillMaskCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A HuggingFace DistilBertForMaskedLM" + ModelRun.HELP_HEAD_CONFIG + "), " + ModelRun.HELP_MODEL_FILES + ".")
    Path model;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "" + FillMask.DEFAULT_TOP_K,
            description = "The K best tokens per mask (HF's top_k); at most the vocabulary's size, or with --targets capped "
                    + "by their number. Default: ${DEFAULT-VALUE}.")
    int topK;

    @Option(names = "--targets", paramLabel = "WORD", split = ",",
            description = "Score only these tokens, comma-separated (HF's targets): a word of the vocabulary stands for "
                    + "itself; any other is tokenized and its first token used, with a warning on stderr (an unknown word "
                    + "becomes [UNK]). Their scores are their probabilities over the whole vocabulary. A comma cannot be a "
                    + "target.")
    List<String> targets;

    @Option(names = "--max-length", paramLabel = "N", description = ModelRun.HELP_MAX_LENGTH)
    Integer maxLength;

    @Mixin
    RunOptions run;

    @Override
    public Integer call() throws IOException {
        if (topK < 1) throw run.usage("--top-k must be at least 1, got " + topK);
        ModelRun modelRun = ModelRun.prepare(run, model, maxLength, ModelRun.LengthLimit.NONE).requireHead(Head.MASKED_LM)
                .singleTexts();
        int vocab = modelRun.config().vocabSize();
        if (targets == null && topK > vocab) {
            throw run.usage("--top-k " + topK + " is more than the vocabulary's " + vocab + " tokens (" + model
                    + "/config.json vocab_size)");
        }
        if (modelRun.tokenizer().maskTokenId() < 0) {
            throw new CliException(model + ": the tokenizer has no mask token (" + modelRun.tokenizer().specialTokens().mask()
                    + " is not in its vocabulary)");
        }
        FillMask.Targets resolved = null;
        if (targets != null) {
            try {
                resolved = FillMask.Targets.resolve(modelRun.tokenizer(), targets);
            } catch (IllegalArgumentException e) {
                throw new CliException("--targets: " + e.getMessage(), e);
            }
            for (String w : resolved.warnings()) run.io().err().println("distilbert fill-mask: warning: " + w);
        }
        FillMask.Targets chosen = resolved;
        modelRun.stream(ModelRun.CHUNK_BATCHES, db -> {
            FillMask fill = new FillMask(db, modelRun.tokenizer()).withTargets(chosen).withTopK(topK)
                    .withMaxLength(modelRun.maxLength()).withBatchTokens(run.batchTokens);
            return new ModelRun.Job() {
                @Override
                public void run(List<Encoding> encodings, JsonlLines out, Progress progress) {
                    write(out, fill.fillEncodings(encodings, progress));
                }

                @Override
                public String refuse(Encoding encoding) {
                    return fill.missingMask(encoding);
                }
            };
        });
        return Main.OK;
    }

    private static void write(JsonlLines out, List<Result> results) {
        out.write(results, (gen, r) -> {
            if (r.singleMask()) {
                predictions(gen, r.predictions().getFirst());
            } else {
                gen.writeStartArray();
                for (List<Prediction> mask : r.predictions()) predictions(gen, mask);
                gen.writeEndArray();
            }
        }, r -> r.predictions().stream().mapToInt(m -> m.stream().mapToInt(p -> 64 + 2 * p.sequence().length()).sum()).sum());
    }

    /** One mask's list of {"score", "token", "token_str", "sequence"} objects, HF's keys in HF's order. */
    private static void predictions(JsonGenerator gen, List<Prediction> predictions) throws IOException {
        gen.writeStartArray();
        for (Prediction p : predictions) {
            gen.writeStartObject();
            gen.writeFieldName("score");
            gen.writeNumber(p.score());
            gen.writeNumberField("token", p.token());
            gen.writeStringField("token_str", p.tokenStr());
            gen.writeStringField("sequence", p.sequence());
            gen.writeEndObject();
        }
        gen.writeEndArray();
    }
}
