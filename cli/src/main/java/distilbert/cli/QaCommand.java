package distilbert.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import distilbert.cli.JsonlInput.Row;
import distilbert.model.QuestionAnswering;
import distilbert.model.QuestionAnswering.Answer;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code distilbert qa}: JSONL questions with their contexts in, the answers a
 * DistilBertForQuestionAnswering model finds in the contexts out, one line per input line in input
 * order, as HuggingFace's question-answering pipeline gives them. The streaming, batching and
 * errors are {@link ModelRun}'s; the answering is the library's {@link QuestionAnswering}.
 */
@Command(name = "qa", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, sortOptions = false,
        usageHelpWidth = 100,
        description = {
            "Extractive question answering with a DistilBertForQuestionAnswering model directory, as HuggingFace's "
                    + "question-answering pipeline does it.",
            "",
            "Input: one JSON object per line, {\"question\": \"...\", \"context\": \"...\"}, both non-empty strings; other "
                    + "keys are ignored. A blank or malformed line stops the command with an error naming the line, after the "
                    + "lines before it have been written.",
            "Output: one line per input line, in input order: the best answer, {\"score\": 0.97, \"start\": 25, \"end\": 40, "
                    + "\"answer\": \"Herman Melville\"}, where start and end are character offsets of the context in code points "
                    + "(Python's str indices) and answer is the context between them; with --top-k above 1, a list of such "
                    + "objects, highest score first (fewer where the context has fewer answers). With "
                    + "--handle-impossible-answer, {\"score\": s, \"start\": 0, \"end\": 0, \"answer\": \"\"} when that scores best. "
                    + "Scores are float32, written in the shortest form that reads back as the same float32.",
            "A context too long for one window of --max-seq-len tokens ([CLS] question [SEP] context [SEP]) is read in "
                    + "several windows, each overlapping the one before by --doc-stride tokens; the same answer found in several "
                    + "windows (or twice in one) is one answer, its scores summed, as HF does.",
            "Windows are run in batches of about --batch-tokens real tokens (sorted by length first), and the answers "
                    + "written back in input order. On a terminal, stderr shows a progress line (rows/s, tokens/s, ETA for "
                    + "--input files).",
            ""},
        footer = {"",
            "Examples:",
            "  distilbert qa --model models/distilbert-squad --input questions.jsonl --output answers.jsonl",
            "  echo '{\"question\": \"Who wrote it?\", \"context\": \"Moby-Dick was written by Herman Melville.\"}' \\",
            "      | distilbert qa --model DIR --top-k 3",
            "  distilbert qa --model DIR --max-seq-len 256 --doc-stride 64 --handle-impossible-answer < in.jsonl > out.jsonl",
            "",
            "Exit codes: 0 done, 1 failed (unusable model directory, not a question answering model, unreadable input, bad "
                    + "input line, a question too long for --max-seq-len, unwritable output), 2 usage error."})
final class QaCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A HuggingFace DistilBertForQuestionAnswering" + ModelRun.HELP_HEAD_CONFIG + "), "
                    + ModelRun.HELP_MODEL_FILES + ".")
    Path model;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "" + QuestionAnswering.DEFAULT_TOP_K,
            description = "Write the K best answers as a list (HF's top_k). Default: ${DEFAULT-VALUE}, the best answer "
                    + "alone, as an object.")
    int topK;

    @Option(names = "--doc-stride", paramLabel = "N",
            description = "Context tokens a window shares with the one before (HF's doc_stride); less than the room a "
                    + "window leaves for the context. Default: the smaller of --max-seq-len / 2 and 128.")
    Integer docStride;

    @Option(names = "--max-seq-len", paramLabel = "N",
            description = "Tokens in a window, special tokens and question included (HF's max_seq_len); at most the "
                    + "model's max_position_embeddings. Default: the smallest of 384, the tokenizer's model_max_length "
                    + "and max_position_embeddings.")
    Integer maxSeqLen;

    @Option(names = "--max-question-len", paramLabel = "N", defaultValue = "" + QuestionAnswering.DEFAULT_MAX_QUESTION_LEN,
            description = "HF's max_question_len, accepted for its signature: HF's pipeline applies it only with a slow "
                    + "Python tokenizer, never with a fast one such as this, so it changes nothing. Default: ${DEFAULT-VALUE}.")
    int maxQuestionLen;

    @Option(names = "--max-answer-len", paramLabel = "N", defaultValue = "" + QuestionAnswering.DEFAULT_MAX_ANSWER_LEN,
            description = "The longest answer, in tokens (HF's max_answer_len). Default: ${DEFAULT-VALUE}.")
    int maxAnswerLen;

    @Option(names = "--handle-impossible-answer",
            description = "Let the empty answer compete (HF's handle_impossible_answer), scored by the smallest over the "
                    + "windows of p_start[CLS]·p_end[CLS].")
    boolean handleImpossibleAnswer;

    @Mixin
    RunOptions run;

    @Override
    public Integer call() throws IOException {
        checkOptions();
        ModelRun modelRun = ModelRun.prepare(run, model, null, ModelRun.LengthLimit.NONE).requireHead(Head.QUESTION_ANSWERING);
        int positions = modelRun.config().maxPositionEmbeddings();
        if (maxSeqLen != null && maxSeqLen > positions) {
            throw run.usage("--max-seq-len " + maxSeqLen + " is more than the model takes: " + model
                    + "/config.json has max_position_embeddings " + positions);
        }
        int seqLen = maxSeqLen != null ? maxSeqLen : QuestionAnswering.defaultMaxSeqLen(modelRun.tokenizer(), modelRun.config());
        int stride = docStride != null ? docStride : QuestionAnswering.defaultDocStride(seqLen);
        if (stride > seqLen) throw run.usage("--doc-stride " + stride + " is larger than --max-seq-len " + seqLen);
        ModelRun.Rows rows = new ModelRun.Rows(JsonlInput.Keys.QUESTION_CONTEXT, QuestionAnswering.encodeOptions(seqLen, stride), true);
        modelRun.stream(rows, ModelRun.CHUNK_BATCHES, db -> {
            QuestionAnswering qa = new QuestionAnswering(db, modelRun.tokenizer()).withMaxSeqLen(seqLen).withDocStride(stride)
                    .withTopK(topK).withMaxQuestionLen(maxQuestionLen).withMaxAnswerLen(maxAnswerLen)
                    .withHandleImpossibleAnswer(handleImpossibleAnswer).withBatchTokens(run.batchTokens);
            return (chunk, encodings, out, progress) ->
                    write(out, qa.answerEncodings(encodings, chunk.stream().map(Row::pair).toList(), progress));
        });
        return Main.OK;
    }

    /** The checks that need no model: a usage error before anything is loaded. */
    private void checkOptions() {
        if (topK < 1) throw run.usage("--top-k must be at least 1, got " + topK);
        if (maxAnswerLen < 1) throw run.usage("--max-answer-len must be at least 1, got " + maxAnswerLen);
        if (maxQuestionLen < 1) throw run.usage("--max-question-len must be at least 1, got " + maxQuestionLen);
        if (maxSeqLen != null && maxSeqLen < 4) {
            throw run.usage("--max-seq-len must be at least 4 ([CLS], [SEP], [SEP] and a context token), got " + maxSeqLen);
        }
        if (docStride != null && docStride < 0) throw run.usage("--doc-stride must be at least 0, got " + docStride);
    }

    private void write(JsonlLines out, List<List<Answer>> results) {
        out.write(results, (gen, answers) -> {
            if (topK == 1) {
                answer(gen, answers.getFirst());
            } else {
                gen.writeStartArray();
                for (Answer a : answers) answer(gen, a);
                gen.writeEndArray();
            }
        }, answers -> 64 + answers.stream().mapToInt(a -> 64 + 2 * a.answer().length()).sum());
    }

    private static void answer(JsonGenerator gen, Answer a) throws IOException {
        gen.writeStartObject();
        gen.writeFieldName("score");
        gen.writeNumber((float) a.score());
        gen.writeNumberField("start", a.start());
        gen.writeNumberField("end", a.end());
        gen.writeStringField("answer", a.answer());
        gen.writeEndObject();
    }
}
