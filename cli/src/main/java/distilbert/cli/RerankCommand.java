package distilbert.cli;

import distilbert.cli.JsonlInput.Row;
import distilbert.model.CrossEncoder;
import distilbert.model.SentenceEmbeddings.Dense.Activation;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Truncation;
import distilbert.weights.Head;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code distilbert rerank}: sentence-transformers' {@code CrossEncoder.rank} over JSONL lines of a
 * query and its documents, one ranking per line in input order ({@link CrossEncoder}). The
 * streaming, batching and errors are {@link ModelRun}'s: the (query, document) pairs of all lines
 * run together in batches by length.
 */
@Command(name = "rerank", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, sortOptions = false,
        usageHelpWidth = 100,
        description = {
            "Rank documents for a query with a cross-encoder (a DistilBertForSequenceClassification of one label: a relevance "
                    + "score), as sentence-transformers' CrossEncoder.rank: the second stage after `distilbert search`.",
            "",
            "Input: one JSON object per line, {\"query\": \"...\", \"documents\": [\"...\", \"...\"]}, a string and a list "
                    + "of strings (an empty list: no hits); other keys are ignored. A blank or malformed line stops the command with an error "
                    + "naming the line, after the lines before it have been written.",
            "Each document is encoded with the query as a pair, [CLS] query [SEP] document [SEP] (the prompt, if any, before "
                    + "the query), truncated longest_first to --max-length; the model scores each pair; the activation "
                    + "(the directory's activation_fn: sentence-transformers 6's config_sentence_transformers.json, "
                    + "config.json's sentence_transformers entry or sbert_ce_default_activation_function; without one, "
                    + "Sigmoid) turns each logit into the score.",
            "Output: one line per input line, in input order: {\"hits\": [{\"corpus_id\": 2, \"score\": 0.93, \"text\": "
                    + "\"...\"}, ...]}, best first (corpus_id: the document's index in the line, from 0; equal scores in "
                    + "document order). Floats are float32, written in the shortest form that reads back as the same float32.",
            "Pairs are run in batches of about --batch-tokens real tokens (sorted by length first; a line's pairs need not "
                    + "share a batch). On a terminal, stderr shows a progress line (rows/s, tokens/s, ETA for --input files).",
            ""},
        footer = {"",
            "Examples:",
            "  distilbert rerank --model models/ms-marco-distilbert --input candidates.jsonl --top-k 10",
            "  echo '{\"query\": \"who wrote Moby-Dick?\", \"documents\": [\"Melville wrote it.\", \"Paris is in France.\"]}' \\",
            "      | distilbert rerank --model DIR",
            "",
            "Exit codes: 0 done, 1 failed (unusable model directory, not a one-label cross-encoder, unreadable input, bad "
                    + "input line, unwritable output), 2 usage error."})
final class RerankCommand implements Callable<Integer> {
    static final JsonlInput.Keys KEYS = new JsonlInput.Keys("query", "documents", true, true, null, false,
            "(query, document)", Map.of(), null, true);

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A cross-encoder: a sentence-transformers CrossEncoder directory, or a HuggingFace "
                    + "DistilBertForSequenceClassification" + ModelRun.HELP_HEAD_CONFIG + ") of one label, "
                    + ModelRun.HELP_MODEL_FILES + ".")
    Path model;

    @Option(names = "--top-k", paramLabel = "K", description = "Hits per line. Default: every document.")
    Integer topK;

    @Option(names = "--no-text", description = "Leave the documents' texts out of the hits.")
    boolean noText;

    @Option(names = "--activation", paramLabel = "NAME", description = "What turns a logit into the score: sigmoid, "
            + "identity (the raw logit), tanh, relu, gelu, silu, or a torch class name. Default: the directory's.")
    String activation;

    @Option(names = "--prompt-name", paramLabel = "NAME", description = "Put the directory's prompt of this name "
            + "(config_sentence_transformers.json) before each query. Default: its default_prompt_name, if any.")
    String promptName;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "Put TEXT before each query instead (\"\": no prompt).")
    String prompt;

    @Option(names = "--max-length", paramLabel = "N", description = "Truncate each (query, document) pair "
            + ModelRun.HELP_MAX_LENGTH_LIMIT + ModelRun.HELP_MAX_LENGTH_DEFAULT + " and sentence_bert_config.json's "
            + "max_seq_length.")
    Integer maxLength;

    @Mixin
    RunOptions run;

    @Override
    public Integer call() throws IOException {
        if (topK != null && topK < 1) throw run.usage("--top-k must be at least 1, got " + topK);
        if (promptName != null && prompt != null) throw run.usage("give --prompt-name or --prompt, not both");
        Activation chosen = null;
        if (activation != null) {
            try {
                chosen = Activation.named(activation, "--activation");
            } catch (IllegalArgumentException e) {
                throw run.usage(e.getMessage());
            }
        }
        ModelRun.checkModelDirectory(model);
        CrossEncoder.Directory dir = crossEncoder(model);
        String text = prompt != null ? prompt
                : promptName != null ? EmbedCommand.namedPrompt(model, dir.prompts(), promptName)
                : dir.defaultPromptName() == null ? null : dir.prompts().get(dir.defaultPromptName());
        ModelRun prepared = ModelRun.prepare(run, dir.transformer(), maxLength, d -> dir.maxSeqLength())
                .requireHead(Head.SEQUENCE_CLASSIFICATION);
        if (prepared.config().numLabels() != 1) {
            throw new CliException(model + ": rerank needs a cross-encoder of one label (a relevance score), but config.json "
                    + "has num_labels " + prepared.config().numLabels() + " (" + String.join(", ", prepared.config().id2label().values())
                    + "); `distilbert score` takes pairs ({\"text\", \"text_pair\"}) and gives every label's score");
        }
        ModelRun modelRun = prepared.withText(dir.doLowerCase() ? prepared.tokenizer().withLowercase() : prepared.tokenizer(),
                text == null || text.isEmpty() ? null : text);
        ModelRun.Rows rows = new ModelRun.Rows(KEYS, new EncodeOptions(true, Truncation.longestFirst(modelRun.maxLength()), null),
                false);
        Activation activationFn = chosen;
        int k = topK == null ? Integer.MAX_VALUE : topK;
        modelRun.stream(rows, ModelRun.CHUNK_BATCHES, db -> {
            CrossEncoder base = CrossEncoder.fromDirectory(db, dir).withMaxLength(modelRun.maxLength()).withBatchTokens(run.batchTokens);
            CrossEncoder ce = activationFn == null ? base : base.withActivation(activationFn);
            return (chunk, encodings, out, progress) -> {
                int[] numDocuments = chunk.stream().mapToInt(ModelRun::width).toArray();
                write(out, ce.rankEncodings(encodings, numDocuments, noText ? null : chunk.stream().map(Row::choices).toList(),
                        k, progress));
            };
        });
        return Main.OK;
    }

    /** The cross-encoder files of {@code dir} ({@link CrossEncoder.Directory}), or an error naming the file. */
    static CrossEncoder.Directory crossEncoder(Path dir) {
        try {
            return CrossEncoder.Directory.read(dir);
        } catch (IllegalArgumentException | UncheckedIOException e) {
            throw new CliException(e.getMessage(), e);
        }
    }

    private void write(JsonlLines out, List<List<CrossEncoder.Hit>> rankings) {
        out.write(rankings, (gen, hits) -> {
            gen.writeStartObject();
            gen.writeArrayFieldStart("hits");
            for (CrossEncoder.Hit h : hits) {
                gen.writeStartObject();
                gen.writeNumberField("corpus_id", h.corpusId());
                gen.writeFieldName("score");
                gen.writeNumber(h.score());
                if (h.text() != null) gen.writeStringField("text", h.text());
                gen.writeEndObject();
            }
            gen.writeEndArray();
            gen.writeEndObject();
        }, hits -> 16 + hits.stream().mapToInt(h -> 48 + (h.text() == null ? 0 : 2 * h.text().length())).sum());
    }
}
