package distilbert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import distilbert.cli.TrainCommand.Task;
import distilbert.model.ModelInput;
import distilbert.model.MultipleChoice;
import distilbert.model.QuestionAnswering;
import distilbert.model.SequenceLabels;
import distilbert.model.Tensor;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import distilbert.weights.ProblemType;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.random.RandomGenerator;

/**
 * The examples {@code distilbert train} learns from, per task, prepared as HF's run_glue.py,
 * run_ner.py, run_mlm.py, run_qa.py and run_swag.py prepare them: JSONL lines read and checked (a
 * bad one is refused with its file and line), the labels resolved, the texts tokenized and truncated
 * to the run's max length; then batches padded to their longest row, and masked-LM's masks.
 */
final class TrainingData {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TrainingData() {
    }

    /**
     * One training row: a text's tokens and its label in the task's form (a class, values, a label
     * per token, or for question answering a window with its answer's start and end token in
     * {@code tokenLabels}; for multiple choice, {@code choices} holds a row per choice, {@code ids}
     * all of them one after the other, and {@code classId} the right one).
     *
     * @param truncated whether the text was longer than --max-length and cut
     */
    record Example(long line, int[] ids, int classId, float[] values, int[] tokenLabels, boolean truncated, int[][] choices) {
        Example(long line, int[] ids, int classId, float[] values, int[] tokenLabels, boolean truncated) {
            this(line, ids, classId, values, tokenLabels, truncated, null);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // lines and labels

    /** A JSON object line of an input file and its number (from 1), for messages. */
    record Line(long number, ObjectNode node) {
    }

    /** The JSON object lines of {@code file}, blank lines skipped. */
    static List<Line> readJsonl(Path file) throws IOException {
        List<Line> rows = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            long n = 0;
            while ((line = r.readLine()) != null) {
                n++;
                if (line.isBlank()) continue;
                JsonNode node;
                try {
                    node = JSON.readTree(line);
                } catch (IOException e) {
                    throw new CliException(file + ":" + n + ": not a JSON object (" + Main.oneLine(e.getMessage()) + ")");
                }
                if (!(node instanceof ObjectNode o)) throw new CliException(file + ":" + n + ": not a JSON object");
                rows.add(new Line(n, o));
            }
        } catch (NoSuchFileException e) {
            throw new CliException(file + ": no such file");
        }
        if (rows.isEmpty()) throw new CliException(file + ": no examples");
        return rows;
    }

    /**
     * The config to train with: the model's, with the labels and problem type of the data. A classifier
     * whose labels are named keeps them (the data must use them); otherwise --labels, else the data's.
     * {@code file} names the training lines in messages; {@code problemType} is --problem-type's, or
     * null for the model's, else the one the first label implies.
     */
    static DistilBertConfig labelledConfig(DistilBertConfig base, List<Line> rows, Path file, List<String> labels,
                                           ProblemType problemType) {
        ProblemType problem = problemType != null ? problemType : base.problemType();
        if (problem == null) {
            JsonNode first = rows.getFirst().node().get("label");
            problem = first != null && first.isArray() ? ProblemType.MULTI_LABEL_CLASSIFICATION
                    : first != null && first.isFloatingPointNumber() ? ProblemType.REGRESSION : ProblemType.SINGLE_LABEL_CLASSIFICATION;
        }
        boolean isClassifier = ModelDirectory.headOf(base) == Head.SEQUENCE_CLASSIFICATION;
        List<String> names;
        if (labels != null) {
            names = labels;
        } else if (isClassifier && !base.id2label().equals(DistilBertConfig.defaultId2Label(base.numLabels()))) {
            names = new ArrayList<>(base.id2label().values());
        } else if (problem == ProblemType.REGRESSION) {
            names = List.of("LABEL_0");
        } else if (problem == ProblemType.MULTI_LABEL_CLASSIFICATION) {
            int n = rows.getFirst().node().get("label").size();
            names = new ArrayList<>(DistilBertConfig.defaultId2Label(n).values());
        } else {
            TreeSet<String> strings = new TreeSet<>();
            int maxId = -1;
            for (Line r : rows) {
                JsonNode l = r.node().get("label");
                if (l == null) throw new CliException(file + ":" + r.number() + ": no \"label\"");
                if (l.isTextual()) strings.add(l.asText());
                else if (l.isIntegralNumber() && l.canConvertToInt()) maxId = Math.max(maxId, l.asInt());
                else throw new CliException(file + ":" + r.number() + ": \"label\" must be a class name or id, got " + l);
            }
            if (!strings.isEmpty() && maxId >= 0) {
                throw new CliException(file + ": labels are both names and ids; use one kind (or give --labels)");
            }
            names = !strings.isEmpty() ? new ArrayList<>(strings) : new ArrayList<>(DistilBertConfig.defaultId2Label(maxId + 1).values());
            if (names.size() < 2) throw new CliException(file + ": every example has the same label; a classifier needs two or more");
        }
        return base.toBuilder().labels(names).problemType(problem).build();
    }

    /** The per-word labels of a token-classification line: "ner_tags" (HF datasets' conll2003) or "labels". */
    private static JsonNode wordLabels(Path file, Line row) {
        JsonNode l = row.node().has("ner_tags") ? row.node().get("ner_tags") : row.node().get("labels");
        if (l == null || !l.isArray()) {
            throw new CliException(file + ":" + row.number() + ": token classification needs \"ner_tags\" (or \"labels\"): a list of labels, one per word");
        }
        return l;
    }

    /** As {@link #labelledConfig}, for word labels: --labels, the model's named labels, else the data's. */
    static DistilBertConfig tokenLabelledConfig(DistilBertConfig base, List<Line> rows, Path file, List<String> labels) {
        List<String> names;
        if (labels != null) {
            names = labels;
        } else if (ModelDirectory.headOf(base) == Head.TOKEN_CLASSIFICATION
                && !base.id2label().equals(DistilBertConfig.defaultId2Label(base.numLabels()))) {
            names = new ArrayList<>(base.id2label().values());
        } else {
            TreeSet<String> strings = new TreeSet<>();
            int maxId = -1;
            for (Line r : rows) {
                for (JsonNode l : wordLabels(file, r)) {
                    if (l.isTextual()) strings.add(l.asText());
                    else if (l.isIntegralNumber() && l.canConvertToInt() && l.asInt() >= 0) maxId = Math.max(maxId, l.asInt());
                    else throw new CliException(file + ":" + r.number() + ": a word label must be a name or an id >= 0, got " + l);
                }
            }
            if (!strings.isEmpty() && maxId >= 0) throw new CliException(file + ": word labels are both names and ids; use one kind (or give --labels)");
            names = !strings.isEmpty() ? new ArrayList<>(strings) : new ArrayList<>(DistilBertConfig.defaultId2Label(maxId + 1).values());
            if (names.size() < 2) throw new CliException(file + ": every word has the same label; a classifier needs two or more");
        }
        return base.toBuilder().labels(names).build();
    }

    // ---------------------------------------------------------------------------------------------
    // examples per task

    /** The examples of a task's lines; masked LM's grouped into blocks unless {@code lineByLine}. */
    static List<Example> examples(Task t, Path file, List<Line> rows, Tokenizer tokenizer, DistilBertConfig config,
                                  int length, boolean lineByLine) {
        return switch (t) {
            case SEQUENCE_CLASSIFICATION -> examples(file, rows, tokenizer, config, length);
            case TOKEN_CLASSIFICATION -> tokenExamples(file, rows, tokenizer, config, length);
            case MASKED_LM -> lineByLine ? textExamples(file, rows, tokenizer, length) : groupedTexts(file, rows, tokenizer, length);
            case QUESTION_ANSWERING -> qaExamples(file, rows, tokenizer, length);
            case MULTIPLE_CHOICE -> choiceExamples(file, rows, tokenizer, length);
        };
    }

    /** Sequence-classification examples: "text" (and "text_pair") tokenized and truncated, the label in the config's problem type. */
    private static List<Example> examples(Path file, List<Line> rows, Tokenizer tokenizer, DistilBertConfig config, int length) {
        List<String> texts = new ArrayList<>(), pairs = new ArrayList<>();
        boolean anyPair = false;
        for (Line r : rows) {
            JsonNode t = r.node().get("text");
            if (t == null || !t.isTextual()) throw new CliException(file + ":" + r.number() + ": \"text\" must be a string");
            texts.add(t.asText());
            JsonNode p = r.node().get("text_pair");
            if (p != null && !p.isNull() && !p.isTextual()) throw new CliException(file + ":" + r.number() + ": \"text_pair\" must be a string");
            pairs.add(p == null || p.isNull() ? null : p.asText());
            anyPair |= p != null && !p.isNull();
        }
        List<Encoding> enc = tokenizer.encodeBatch(texts, anyPair ? pairs : null,
                new EncodeOptions(true, Truncation.longestFirst(length), null));
        Map<String, Integer> label2id = new LinkedHashMap<>(config.label2id());
        ProblemType problem = config.problemType();
        int NL = config.numLabels();
        List<Example> out = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) {
            Line r = rows.get(i);
            JsonNode l = r.node().get("label");
            long line = r.number();
            if (l == null) throw new CliException(file + ":" + line + ": no \"label\"");
            int classId = -1;
            float[] values = null;
            switch (problem) {
                case SINGLE_LABEL_CLASSIFICATION -> {
                    if (l.isTextual()) {
                        Integer id = label2id.get(l.asText());
                        if (id == null) throw new CliException(file + ":" + line + ": label '" + l.asText() + "' is not one of " + label2id.keySet());
                        classId = id;
                    } else if (l.isIntegralNumber() && l.canConvertToInt() && l.asInt() >= 0 && l.asInt() < NL) {
                        classId = l.asInt();
                    } else {
                        throw new CliException(file + ":" + line + ": label " + l + " is not a class name nor an id in [0, " + NL + ")");
                    }
                }
                case REGRESSION -> {
                    if (!l.isNumber()) throw new CliException(file + ":" + line + ": regression needs a number as \"label\", got " + l);
                    values = new float[] {l.floatValue()};
                }
                case MULTI_LABEL_CLASSIFICATION -> {
                    if (!l.isArray() || l.size() != NL) {
                        throw new CliException(file + ":" + line + ": multi-label needs a list of " + NL + " numbers as \"label\", got " + l);
                    }
                    values = new float[NL];
                    for (int j = 0; j < NL; j++) values[j] = l.get(j).floatValue();
                }
            }
            out.add(new Example(line, enc.get(i).ids(), classId, values, null, !enc.get(i).overflowing().isEmpty()));
        }
        return out;
    }

    /**
     * Token-classification examples, as run_ner.py prepares them: the words joined by spaces and
     * tokenized (truncated to --max-length), each word's label on its first token, -100 on its other
     * tokens and on [CLS]/[SEP] (label_all_tokens off). A word cut off by truncation loses its label.
     */
    private static List<Example> tokenExamples(Path file, List<Line> rows, Tokenizer tokenizer, DistilBertConfig config,
                                               int length) {
        Map<String, Integer> label2id = config.label2id();
        int NL = config.numLabels();
        List<String> texts = new ArrayList<>();
        List<int[]> starts = new ArrayList<>(), wordIds = new ArrayList<>();
        for (Line r : rows) {
            JsonNode words = r.node().get("tokens"), tags = wordLabels(file, r);
            if (words == null || !words.isArray()) throw new CliException(file + ":" + r.number() + ": \"tokens\" must be a list of words");
            if (tags.size() != words.size()) {
                throw new CliException(file + ":" + r.number() + ": " + words.size() + " words but " + tags.size() + " labels");
            }
            StringBuilder text = new StringBuilder();
            int[] at = new int[words.size()], ids = new int[words.size()];
            for (int w = 0; w < words.size(); w++) {
                if (!words.get(w).isTextual()) throw new CliException(file + ":" + r.number() + ": word " + w + " is not a string");
                if (w > 0) text.append(' ');
                at[w] = text.length();
                text.append(words.get(w).asText());
                JsonNode l = tags.get(w);
                Integer id = l.isTextual() ? label2id.get(l.asText())
                        : l.isIntegralNumber() && l.canConvertToInt() && l.asInt() >= 0 && l.asInt() < NL ? Integer.valueOf(l.asInt()) : null;
                if (id == null) {
                    throw new CliException(file + ":" + r.number() + ": the label of word " + w + " (" + l + ") is not one of "
                            + label2id.keySet() + " nor an id in [0, " + NL + ")");
                }
                ids[w] = id;
            }
            texts.add(text.toString());
            starts.add(at);
            wordIds.add(ids);
        }
        List<Encoding> enc = tokenizer.encodeBatch(texts, null, new EncodeOptions(true, Truncation.longestFirst(length), null));
        List<Example> out = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) {
            Encoding e = enc.get(i);
            int[] at = starts.get(i), tagIds = wordIds.get(i), special = e.specialTokensMask();
            int[] tokenLabels = new int[e.length()];
            Arrays.fill(tokenLabels, -100);
            int lastWord = -1;
            for (int k = 0; k < e.length(); k++) {
                if (special[k] == 1) continue;
                int w = Arrays.binarySearch(at, e.start(k));
                if (w < 0) w = -w - 2;                  // the word whose span holds the token's start
                if (w > lastWord) {
                    tokenLabels[k] = tagIds[w];         // the word's first token
                    lastWord = w;
                }
            }
            out.add(new Example(rows.get(i).number(), e.ids(), -1, null, tokenLabels, !e.overflowing().isEmpty()));
        }
        return out;
    }

    /** masked-lm examples: each line's "text", tokenized and truncated; its special tokens are never masked. */
    private static List<Example> textExamples(Path file, List<Line> rows, Tokenizer tokenizer, int length) {
        List<String> texts = new ArrayList<>();
        for (Line r : rows) {
            JsonNode t = r.node().get("text");
            if (t == null || !t.isTextual()) throw new CliException(file + ":" + r.number() + ": \"text\" must be a string");
            texts.add(t.asText());
        }
        List<Encoding> enc = tokenizer.encodeBatch(texts, null, new EncodeOptions(true, Truncation.longestFirst(length), null));
        List<Example> out = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) {
            out.add(new Example(rows.get(i).number(), enc.get(i).ids(), -1, null, enc.get(i).specialTokensMask(),
                    !enc.get(i).overflowing().isEmpty()));
        }
        return out;
    }

    /** Lines that run_mlm.py's group_texts concatenates at a time: datasets' map(batched=True) batch size. */
    static final int GROUP_TEXTS_LINES = 1000;

    /**
     * Masked-LM examples as run_mlm.py makes them without --line_by_line: every text tokenized whole,
     * with [CLS] and [SEP] (tokenize_function), then, 1000 lines at a time (group_texts under
     * datasets' map with batched=True), the ids concatenated and cut into blocks of {@code block}
     * tokens, the remainder that does not fill a block dropped. The [CLS] and [SEP] inside a block stay
     * special: never masked. Each block's line is the line its first token came from.
     *
     * @throws CliException when the texts do not fill one block, naming the file, its tokens and the way out
     */
    static List<Example> groupedTexts(Path file, List<Line> rows, Tokenizer tokenizer, int block) {
        List<String> texts = new ArrayList<>();
        for (Line r : rows) {
            JsonNode t = r.node().get("text");
            if (t == null || !t.isTextual()) throw new CliException(file + ":" + r.number() + ": \"text\" must be a string");
            texts.add(t.asText());
        }
        List<Encoding> enc = tokenizer.encodeBatch(texts, null, new EncodeOptions(true, null, null));
        List<Example> out = new ArrayList<>();
        long tokens = 0;
        for (int from = 0; from < rows.size(); from += GROUP_TEXTS_LINES) {
            int to = Math.min(rows.size(), from + GROUP_TEXTS_LINES), total = 0;
            for (int i = from; i < to; i++) total += enc.get(i).ids().length;
            tokens += total;
            int[] ids = new int[total], special = new int[total];
            long[] lineOf = new long[total];
            for (int i = from, at = 0; i < to; i++) {
                int[] e = enc.get(i).ids();
                System.arraycopy(e, 0, ids, at, e.length);
                System.arraycopy(enc.get(i).specialTokensMask(), 0, special, at, e.length);
                Arrays.fill(lineOf, at, at + e.length, rows.get(i).number());
                at += e.length;
            }
            for (int b = 0; b + block <= total; b += block) {
                out.add(new Example(lineOf[b], Arrays.copyOfRange(ids, b, b + block), -1, null,
                        Arrays.copyOfRange(special, b, b + block), false));
            }
        }
        if (out.isEmpty()) {
            throw new CliException(file + ": its texts are " + tokens + " tokens in all (per " + GROUP_TEXTS_LINES + " lines), "
                    + "fewer than one block of --max-length " + block + ": give a smaller --max-length, or --line-by-line");
        }
        return out;
    }

    /** A SQuAD-style line: the question, its context, the gold answers (texts, and starts in code points). */
    record QaRow(long line, String question, String context, List<String> answers, List<Integer> starts) {
    }

    /** SQuAD lines: {"question", "context", "answers": {"text": [...], "answer_start": [...]}} (HF datasets' squad). */
    static List<QaRow> qaRows(Path file, List<Line> rows) {
        List<QaRow> out = new ArrayList<>();
        for (Line r : rows) {
            long line = r.number();
            JsonNode q = r.node().get("question"), c = r.node().get("context"), a = r.node().get("answers");
            if (q == null || !q.isTextual() || q.asText().isBlank()) throw new CliException(file + ":" + line + ": \"question\" must be a non-empty string");
            if (c == null || !c.isTextual() || c.asText().isEmpty()) throw new CliException(file + ":" + line + ": \"context\" must be a non-empty string");
            if (a == null || !a.path("text").isArray() || !a.path("answer_start").isArray() || a.get("text").size() != a.get("answer_start").size()) {
                throw new CliException(file + ":" + line + ": \"answers\" must be {\"text\": [...], \"answer_start\": [...]} of the same length");
            }
            String context = c.asText();
            int codePoints = context.codePointCount(0, context.length());
            List<String> texts = new ArrayList<>();
            List<Integer> starts = new ArrayList<>();
            for (int i = 0; i < a.get("text").size(); i++) {
                String text = a.get("text").get(i).asText();
                int start = a.get("answer_start").get(i).asInt(-1);
                int end = start < 0 ? -1 : start + text.codePointCount(0, text.length());
                if (start < 0 || end > codePoints
                        || !context.substring(context.offsetByCodePoints(0, start), context.offsetByCodePoints(0, end)).equals(text)) {
                    throw new CliException(file + ":" + line + ": answer " + i + " ('" + text + "') is not at code point " + start
                            + " of the context");
                }
                texts.add(text);
                starts.add(start);
            }
            out.add(new QaRow(line, q.asText(), context, texts, starts));
        }
        return out;
    }

    /**
     * Question-answering features as run_qa.py prepares them: (question, context) tokenized with
     * only_second truncation to --max-length (384 at most) in windows overlapping by doc_stride
     * (HF's default, min(max_length / 2, 128)); per window the first answer's first and last token, or
     * both 0 ([CLS]) when the window does not hold it whole or there is no answer (SQuAD v2).
     */
    static List<Example> qaExamples(Path file, List<Line> rows, Tokenizer tokenizer, int length) {
        List<QaRow> qa = qaRows(file, rows);
        int maxSeqLen = Math.min(length, QuestionAnswering.DEFAULT_MAX_SEQ_LEN);
        EncodeOptions options = QuestionAnswering.encodeOptions(maxSeqLen,
                QuestionAnswering.defaultDocStride(maxSeqLen));
        List<Encoding> enc = tokenizer.encodeBatch(qa.stream().map(QaRow::question).toList(),
                qa.stream().map(QaRow::context).toList(), options);
        List<Example> out = new ArrayList<>();
        for (int i = 0; i < qa.size(); i++) {
            QaRow r = qa.get(i);
            int sc = -1, ec = -1;   // the first answer's [start, end) in String indices
            if (!r.answers().isEmpty()) {
                sc = r.context().offsetByCodePoints(0, r.starts().getFirst());
                ec = sc + r.answers().getFirst().length();
            }
            List<Encoding> windows = QuestionAnswering.windows(enc.get(i));
            for (Encoding w : windows) {
                int[] seq = w.sequenceIds();
                int first = -1, last = -1;
                for (int k = 0; k < seq.length; k++) {
                    if (seq[k] == 1) {
                        if (first < 0) first = k;
                        last = k;
                    }
                }
                int start = 0, end = 0;
                if (sc >= 0 && first >= 0 && w.start(first) <= sc && w.end(last) >= ec) {
                    start = first;
                    while (start <= last && w.start(start) <= sc) start++;
                    start--;
                    end = last;
                    while (end >= first && w.end(end) >= ec) end--;
                    end++;
                }
                out.add(new Example(r.line(), w.ids(), -1, null, new int[] {start, end}, windows.size() > 1));
            }
        }
        return out;
    }

    /**
     * Multiple-choice examples, as the multiple-choice command reads a line, with the answer:
     * {"prompt": ..., "choices": [...], "label": N}; each (prompt, choice) a row, longest_first
     * truncated to --max-length (run_swag.py pairs the context with each ending the same way). Every
     * line must have as many choices as the first: the head scores [B, NC].
     */
    private static List<Example> choiceExamples(Path file, List<Line> rows, Tokenizer tokenizer, int length) {
        List<String> prompts = new ArrayList<>(), choices = new ArrayList<>();
        int nc = -1;
        for (Line r : rows) {
            JsonNode p = r.node().get("prompt"), c = r.node().get("choices"), l = r.node().get("label");
            if (p == null || !p.isTextual()) throw new CliException(file + ":" + r.number() + ": \"prompt\" must be a string");
            if (c == null || !c.isArray() || c.size() < 2) throw new CliException(file + ":" + r.number() + ": \"choices\" must be a list of two or more strings");
            if (nc < 0) nc = c.size();
            if (c.size() != nc) {
                throw new CliException(file + ":" + r.number() + ": " + c.size() + " choices, the first line has " + nc + " (a batch scores the same number per line)");
            }
            if (l == null || !l.isIntegralNumber() || l.asInt() < 0 || l.asInt() >= nc) {
                throw new CliException(file + ":" + r.number() + ": \"label\" must be the right choice's index in [0, " + nc + "), got " + l);
            }
            for (JsonNode choice : c) {
                if (!choice.isTextual()) throw new CliException(file + ":" + r.number() + ": a choice is not a string: " + choice);
                prompts.add(p.asText());
                choices.add(choice.asText());
            }
        }
        List<Encoding> enc = tokenizer.encodeBatch(prompts, choices, MultipleChoice.encodeOptions(length));
        List<Example> out = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) {
            int[][] rowIds = new int[nc][];
            boolean cut = false;
            int total = 0;
            for (int c = 0; c < nc; c++) {
                Encoding e = enc.get(i * nc + c);
                rowIds[c] = e.ids();
                cut |= !e.overflowing().isEmpty();
                total += rowIds[c].length;
            }
            int[] all = new int[total];
            for (int c = 0, at = 0; c < nc; at += rowIds[c].length, c++) System.arraycopy(rowIds[c], 0, all, at, rowIds[c].length);
            out.add(new Example(rows.get(i).number(), all, rows.get(i).node().get("label").asInt(), null, null, cut, rowIds));
        }
        return out;
    }

    /** A line on stderr saying how many examples of {@code file} were cut to the max length (what the model saw of them). */
    static void noteTruncated(Main.Io io, Path file, List<Example> set, int length, Task t) {
        if (t == Task.QUESTION_ANSWERING) {
            long rows = set.stream().map(Example::line).distinct().count();
            long split = set.stream().filter(Example::truncated).map(Example::line).distinct().count();
            if (split > 0) {
                io.err().println("distilbert train: " + split + " of " + rows + " questions of " + file + " were longer than "
                        + Math.min(length, QuestionAnswering.DEFAULT_MAX_SEQ_LEN) + " tokens with their context and"
                        + " run in overlapping windows (" + set.size() + " windows in all)");
            }
            return;
        }
        long n = set.stream().filter(Example::truncated).count();
        if (n > 0) {
            io.err().println("distilbert train: " + n + " of " + set.size() + " examples of " + file + " were longer than " + length
                    + " tokens and truncated to it (--max-length)" + (t == Task.TOKEN_CLASSIFICATION
                    ? "; their words past it are not trained on" : ""));
        }
    }

    // ---------------------------------------------------------------------------------------------
    // batches

    /** A padded batch with each row's special-tokens mask, for {@link Masking}. */
    record Batch(int[] ids, int[] mask, int length, List<int[]> special) {
        int size() {
            return special.size();
        }
    }

    /**
     * HF's DataCollatorForLanguageModeling: each token that is not special is chosen with probability
     * p; a chosen token becomes [MASK] 80% of the time, a random vocabulary token 10%, and stays 10%;
     * the labels are the chosen tokens' ids, −100 elsewhere. Drawn from the given generator.
     */
    record Masking(int maskId, int vocabSize, double p) {
        Masking(Tokenizer tokenizer, int vocabSize, double p) {
            this(tokenizer.tokenToId(tokenizer.specialTokens().mask()), vocabSize, p);
        }

        record Masked(ModelInput input, int[][] labels) {
        }

        /** The batch with its tokens masked (padding and special tokens untouched) and its labels. */
        Masked mask(Batch batch, RandomGenerator rnd) {
            int B = batch.size(), L = batch.length();
            int[] ids = batch.ids().clone();
            int[][] labels = new int[B][L];
            for (int b = 0; b < B; b++) {
                Arrays.fill(labels[b], -100);
                int[] special = batch.special().get(b);
                for (int l = 0; l < special.length; l++) {
                    if (special[l] == 1 || rnd.nextDouble() >= p) continue;
                    int i = b * L + l;
                    labels[b][l] = ids[i];
                    double r = rnd.nextDouble();
                    if (r < 0.8) ids[i] = maskId;
                    else if (r < 0.9) ids[i] = rnd.nextInt(vocabSize);
                }
            }
            return new Masked(ModelInput.ofIds(B, L, ids, batch.mask()), labels);
        }
    }

    /** The batch padded to its longest row (HF's DataCollatorWithPadding), padding on the right. */
    static ModelInput input(List<Example> examples) {
        Batch b = padded(examples);
        return ModelInput.ofIds(b.size(), b.length(), b.ids(), b.mask());
    }

    static Batch padded(List<Example> examples) {
        int B = examples.size(), L = 0;
        for (Example e : examples) L = Math.max(L, e.ids().length);
        int[] ids = new int[B * L], mask = new int[B * L];
        List<int[]> special = new ArrayList<>(B);
        for (int b = 0; b < B; b++) {
            int[] row = examples.get(b).ids();
            System.arraycopy(row, 0, ids, b * L, row.length);
            Arrays.fill(mask, b * L, b * L + row.length, 1);
            special.add(examples.get(b).tokenLabels());
        }
        return new Batch(ids, mask, L, special);
    }

    /** The choices of a batch of questions as [B·NC, L] rows padded to the longest (ModelInput.ofChoices's layout). */
    static ModelInput choiceInput(List<Example> examples) {
        int B = examples.size(), nc = examples.getFirst().choices().length;
        int[][][] ids = new int[B][][], mask = new int[B][nc][];
        int L = 0;
        for (Example e : examples) for (int[] row : e.choices()) L = Math.max(L, row.length);
        for (int b = 0; b < B; b++) {
            ids[b] = new int[nc][];
            for (int c = 0; c < nc; c++) {
                int[] row = examples.get(b).choices()[c];
                ids[b][c] = Arrays.copyOf(row, L);
                mask[b][c] = new int[L];
                Arrays.fill(mask[b][c], 0, row.length, 1);
            }
        }
        return ModelInput.ofChoices(ids, mask);
    }

    static SequenceLabels labelsOf(List<Example> examples, DistilBertConfig config) {
        if (config.problemType() == ProblemType.SINGLE_LABEL_CLASSIFICATION) {
            return new SequenceLabels.Classes(examples.stream().mapToInt(Example::classId).toArray());
        }
        int NL = config.problemType() == ProblemType.REGRESSION ? 1 : config.numLabels();
        float[] v = new float[examples.size() * NL];
        for (int i = 0; i < examples.size(); i++) System.arraycopy(examples.get(i).values(), 0, v, i * NL, NL);
        return new SequenceLabels.Values(NL == 1 ? Tensor.of(v, examples.size()) : Tensor.of(v, examples.size(), NL));
    }

    /** [B][L] token labels of a padded batch, −100 on padding. */
    static int[][] tokenLabelsOf(List<Example> examples, int L) {
        int[][] out = new int[examples.size()][L];
        for (int b = 0; b < examples.size(); b++) {
            Arrays.fill(out[b], -100);
            int[] t = examples.get(b).tokenLabels();
            System.arraycopy(t, 0, out[b], 0, t.length);
        }
        return out;
    }

    /** The start (0) or end (1) token of each QA window. */
    static int[] column(List<Example> examples, int j) {
        return examples.stream().mapToInt(e -> e.tokenLabels()[j]).toArray();
    }

    static long tokens(List<Example> examples) {
        long n = 0;
        for (Example e : examples) n += e.ids().length;
        return n;
    }
}
