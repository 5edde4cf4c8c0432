package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.ProblemType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distilbert train} on a tiny random base model with bert-base-uncased's tokenizer: it learns a
 * separable task, writes a directory the other commands (and HF) load, logs, resumes bit for bit
 * from a checkpoint, and refuses bad input with the file and line.
 */
class TrainCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Path base;
    static Path trainFile;
    static Path evalFile;

    /** Sentences whose label is decided by one word, "good" or "awful", among neutral ones. */
    static List<String> examples(int n, int seed) {
        java.util.Random r = new java.util.Random(seed);
        String[] filler = {"the", "movie", "was", "a", "story", "with", "music", "and", "plot", "today"};
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            boolean positive = i % 2 == 0;
            StringBuilder s = new StringBuilder();
            int words = 2 + r.nextInt(6), at = r.nextInt(words);
            for (int w = 0; w < words; w++) {
                if (w > 0) s.append(' ');
                s.append(w == at ? (positive ? "good" : "awful") : filler[r.nextInt(filler.length)]);
            }
            lines.add("{\"text\": \"" + s + "\", \"label\": \"" + (positive ? "positive" : "negative") + "\"}");
        }
        return lines;
    }

    @BeforeAll
    static void data() throws IOException {
        base = TinyModels.withTokenizer(dir.resolve("base"));
        trainFile = Files.write(dir.resolve("train.jsonl"), examples(48, 1));
        evalFile = Files.write(dir.resolve("eval.jsonl"), examples(16, 2));
    }

    static Cli.Result train(Path output, String... more) {
        List<String> args = new ArrayList<>(List.of("train", "--model", base.toString(), "--train", trainFile.toString(),
                "--output", output.toString()));
        args.addAll(List.of(more));
        return Cli.run("", args.toArray(String[]::new));
    }

    static List<JsonNode> log(Path output) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String l : Files.readAllLines(output.resolve("train_log.jsonl"))) out.add(JSON.readTree(l));
        return out;
    }

    @Test
    void learnsASeparableTaskAndWritesAModelTheOtherCommandsRun() throws IOException {
        Path out = dir.resolve("learned");
        Cli.Result r = train(out, "--eval", evalFile.toString(), "--epochs", "15", "--batch-size", "8", "--learning-rate", "1e-2",
                "--logging-steps", "1", "--warmup-ratio", "0.1");
        assertEquals(0, r.code(), r.err());
        DistilBertConfig config = DistilBertConfig.read(out.resolve("config.json"));
        assertEquals(List.of("DistilBertForSequenceClassification"), config.architectures());
        assertEquals(Map.of(0, "negative", 1, "positive"), Map.copyOf(config.id2label()));
        assertEquals(ProblemType.SINGLE_LABEL_CLASSIFICATION, config.problemType());
        assertTrue(Files.isRegularFile(out.resolve("tokenizer.json")));

        List<JsonNode> log = log(out);
        List<JsonNode> steps = log.stream().filter(e -> e.has("loss")).toList();
        List<JsonNode> evals = log.stream().filter(e -> e.has("eval_loss")).toList();
        assertEquals(15, evals.size(), "one evaluation per epoch");
        assertEquals(90, steps.size(), "15 epochs of 6 batches, each logged");
        // warmup: 9 steps (ceil(0.1 · 90)) from 0, then the linear decay: step 11 runs at 1e-2 · (90 − 10) / (90 − 9)
        assertEquals(0.0, steps.get(0).get("learning_rate").asDouble(), "step 1 of the warmup");
        assertEquals(1e-2 * 3 / 9, steps.get(3).get("learning_rate").asDouble(), 1e-15);
        assertEquals(1e-2 * 80 / 81, steps.get(10).get("learning_rate").asDouble(), 1e-15);
        double first = steps.getFirst().get("loss").asDouble();
        double last = steps.subList(84, 90).stream().mapToDouble(e -> e.get("loss").asDouble()).average().orElseThrow();
        assertTrue(first > 0.6 && last < 0.1, "training loss went from " + first + " to " + last + " (last epoch): " + log);
        assertEquals(0.5, evals.getFirst().get("eval_accuracy").asDouble(), 0.13, evals.toString()); // chance, to a row or two
        assertTrue(evals.getLast().get("eval_accuracy").asDouble() >= 14 / 16.0, evals.toString());
        assertTrue(evals.getLast().get("eval_loss").asDouble() < evals.getFirst().get("eval_loss").asDouble(), evals.toString());

        List<String> scored = Cli.ok(Cli.onCpu("score", out, "{\"text\": \"good music\"}\n{\"text\": \"awful plot\"}\n"));
        assertEquals("positive", JSON.readTree(scored.get(0)).get("label").asText());
        assertEquals("negative", JSON.readTree(scored.get(1)).get("label").asText());
    }

    @Test
    void resumingFromACheckpointGivesTheUninterruptedRunsModel() throws IOException {
        String[] args = {"--epochs", "2", "--batch-size", "8", "--gradient-accumulation", "2", "--learning-rate", "1e-3",
                "--save-steps", "2", "--save-total-limit", "3", "--weight-decay", "0.01"};
        Path a = dir.resolve("whole"), b = dir.resolve("resumed");
        assertEquals(0, train(a, args).code());
        assertEquals(0, train(b, args).code());
        assertTrue(Files.isDirectory(b.resolve("checkpoint-2")) && Files.isDirectory(b.resolve("checkpoint-6")));
        // as if the run had died after its first checkpoint
        for (String gone : List.of("checkpoint-4", "checkpoint-6")) {
            try (var walk = Files.walk(b.resolve(gone))) {
                for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
            }
        }
        Files.delete(b.resolve("model.safetensors"));
        Cli.Result again = train(b, mergeArgs(args, "--resume"));
        assertEquals(0, again.code(), again.err());
        assertTrue(again.err().contains("resumed from " + b.resolve("checkpoint-2") + " at step 2"), again.err());
        assertArrayEquals(Files.readAllBytes(a.resolve("model.safetensors")), Files.readAllBytes(b.resolve("model.safetensors")));
        assertEquals(Files.readString(a.resolve("train_log.jsonl")), Files.readString(b.resolve("train_log.jsonl")));

        Cli.Result refused = train(b, args);
        assertEquals(1, refused.code());
        assertTrue(refused.err().contains("holds checkpoints of an earlier run: give --resume"), refused.err());
        Path finished = dir.resolve("finished");
        assertEquals(0, train(finished, "--max-steps", "1", "--save-steps", "0").code());
        refused = train(finished, "--max-steps", "1", "--save-steps", "0");
        assertEquals(1, refused.code());
        assertTrue(refused.err().contains(finished + " holds a model already: give another --output, or --overwrite-output"),
                refused.err());
        assertEquals(0, train(finished, "--max-steps", "1", "--save-steps", "0", "--overwrite-output").code());
    }

    @Test
    void regressionAndMultiLabelAreReadFromTheLabels() throws IOException {
        Path reg = Files.write(dir.resolve("reg.jsonl"), List.of("{\"text\": \"good\", \"label\": 0.5}", "{\"text\": \"awful\", \"label\": -1.25}"));
        Path out = dir.resolve("regression");
        Cli.Result r = Cli.run("", "train", "--model", base.toString(), "--train", reg.toString(), "--output", out.toString(),
                "--max-steps", "2");
        assertEquals(0, r.code(), r.err());
        DistilBertConfig config = DistilBertConfig.read(out.resolve("config.json"));
        assertEquals(ProblemType.REGRESSION, config.problemType());
        assertEquals(1, config.numLabels());

        Path multi = Files.write(dir.resolve("multi.jsonl"), List.of("{\"text\": \"good\", \"label\": [1, 0, 1]}",
                "{\"text\": \"awful\", \"label\": [0, 1, 0]}"));
        assertFalse(r.err().contains("were longer than"), r.err());
        Path longText = Files.write(dir.resolve("long.jsonl"), List.of("{\"text\": \"good good good good good good good good\", \"label\": 1.0}",
                "{\"text\": \"awful\", \"label\": 0.0}"));
        r = Cli.run("", "train", "--model", base.toString(), "--train", longText.toString(), "--output",
                dir.resolve("long-out").toString(), "--max-steps", "1", "--max-length", "6");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("1 of 2 examples of " + longText + " were longer than 6 tokens and truncated to it (--max-length)"),
                r.err());
        Path out2 = dir.resolve("multi");
        r = Cli.run("", "train", "--model", base.toString(), "--train", multi.toString(), "--output", out2.toString(),
                "--max-steps", "1", "--labels", "a,b,c");
        assertEquals(0, r.code(), r.err());
        config = DistilBertConfig.read(out2.resolve("config.json"));
        assertEquals(ProblemType.MULTI_LABEL_CLASSIFICATION, config.problemType());
        assertEquals(Map.of(0, "a", 1, "b", 2, "c"), Map.copyOf(config.id2label()));
    }

    @Test
    void badExamplesNameTheFileAndLine() throws IOException {
        Path bad = Files.write(dir.resolve("bad.jsonl"), List.of("{\"text\": \"good\", \"label\": \"positive\"}",
                "", "{\"text\": \"meh\", \"label\": 3.5}"));
        Cli.Result r = Cli.run("", "train", "--model", base.toString(), "--train", bad.toString(), "--output",
                dir.resolve("x").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(bad + ":3: \"label\" must be a class name or id, got 3.5"), r.err());

        Path notJson = Files.write(dir.resolve("nojson.jsonl"), List.of("{\"text\": \"good\", \"label\": \"positive\"}", "{text"));
        r = Cli.run("", "train", "--model", base.toString(), "--train", notJson.toString(), "--output", dir.resolve("y").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(notJson + ":2: not a JSON object"), r.err());

        Path unknown = Files.write(dir.resolve("unknown.jsonl"), List.of("{\"text\": \"good\", \"label\": \"positive\"}",
                "{\"text\": \"bad\", \"label\": \"neutral\"}"));
        r = Cli.run("", "train", "--model", base.toString(), "--train", unknown.toString(), "--output", dir.resolve("z").toString(),
                "--labels", "negative,positive");
        assertEquals(1, r.code());
        assertTrue(r.err().contains(unknown + ":2: label 'neutral' is not one of [negative, positive]"), r.err());

        Path one = Files.write(dir.resolve("one.jsonl"), List.of("{\"text\": \"good\", \"label\": \"positive\"}"));
        r = Cli.run("", "train", "--model", base.toString(), "--train", one.toString(), "--output", dir.resolve("w").toString());
        assertTrue(r.err().contains("every example has the same label"), r.err());

        r = Cli.run("", "train", "--model", base.toString(), "--train", trainFile.toString(), "--output",
                dir.resolve("gpu").toString(), "--device", "cuda:0", "--max-steps", "1");
        if (distilbert.cuda.GpuProbe.status() instanceof distilbert.cuda.GpuStatus.Unusable why) {
            assertEquals(1, r.code(), r.err());
            assertTrue(r.err().contains("--device cuda:0: ") && r.err().contains(why.describe()), r.err());
        } else {
            assertEquals(0, r.code(), r.err()); // a GPU trains (fp32 by default)
        }

        r = Cli.run("", "train", "--model", base.toString(), "--train", trainFile.toString(), "--output",
                dir.resolve("fp16").toString(), "--fp16", "--precision", "fp16");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("give one of --precision, --bf16, --fp16 and --tf32"), r.err());

        r = Cli.run("", "train", "--model", base.toString(), "--train", trainFile.toString(), "--output",
                dir.resolve("both").toString(), "--bf16", "--precision", "tf32");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("give one of --precision, --bf16, --fp16 and --tf32"), r.err());

        r = Cli.run("", "train", "--model", base.toString(), "--train", trainFile.toString(), "--output",
                dir.resolve("two").toString(), "--device", "cuda:0,1");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--device cuda:0,1: training runs on one device"), r.err());

        r = Cli.run("", "train", "--model", base.toString(), "--train", trainFile.toString(), "--output",
                dir.resolve("nothing-yet").toString(), "--resume");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--resume found no checkpoint-N directory"), r.err());
    }

    @Test
    void helpPrintsEveryTaskWithoutFormatWarnings() {
        Cli.Result r = Cli.run("", "train", "--help");
        assertEquals(0, r.code());
        assertFalse(r.err().contains("WARN"), r.err());
        String out = r.out().replaceAll("\\s+", " ");
        for (String s : List.of("--task", "sequence-classification", "token-classification", "question-answering", "multiple-choice",
                "masked-lm", "(80% [MASK], 10% random, 10% kept)", "--resume", "--best-metric", "--early-stopping-patience")) {
            assertTrue(out.contains(s), s + " missing from: " + out);
        }
    }

    @Test
    void usageErrors() {
        Cli.assertUsageError("train", "--batch-size must be at least 1, got 0", "--model", base.toString(), "--train",
                trainFile.toString(), "--output", dir.resolve("u").toString(), "--batch-size", "0");
        Cli.assertUsageError("train", "give --warmup-steps or --warmup-ratio, not both", "--model", base.toString(), "--train",
                trainFile.toString(), "--output", dir.resolve("u").toString(), "--warmup-steps", "2", "--warmup-ratio", "0.1");
        Cli.assertUsageError("train", "--scheduler: unknown lr scheduler type 'steep': use linear, cosine, constant, constant_with_warmup", "--model", base.toString(), "--train", trainFile.toString(),
                "--output", dir.resolve("u").toString(), "--scheduler", "steep");
    }

    @Test
    void progressOnlyOnATerminal() {
        String[] args = {"train", "--model", base.toString(), "--train", trainFile.toString(), "--max-steps", "2", "--output"};
        Cli.Result quiet = Cli.run(new byte[0], false, mergeArgs(args, dir.resolve("p1").toString()));
        Cli.Result shown = Cli.run(new byte[0], true, mergeArgs(args, dir.resolve("p2").toString()));
        assertEquals(0, quiet.code(), quiet.err());
        assertFalse(quiet.err().contains("rows/s"), quiet.err());
        assertTrue(shown.err().contains("train: ") && shown.err().contains("rows/s"), shown.err());
    }

    /** conll-style lines: a word is PER when it is one of four names, LOC one of four places, else O. */
    static List<String> nerExamples(int n, int seed) {
        java.util.Random r = new java.util.Random(seed);
        String[] names = {"anna", "peter", "maria", "john"}, places = {"paris", "berlin", "rome", "tokyo"};
        String[] other = {"the", "went", "to", "with", "and", "saw", "today", "visited"};
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            List<String> words = new ArrayList<>(), tags = new ArrayList<>();
            for (int w = 0, len = 3 + r.nextInt(5); w < len; w++) {
                int kind = r.nextInt(3);
                String[] pool = kind == 0 ? names : kind == 1 ? places : other;
                words.add("\"" + pool[r.nextInt(pool.length)] + "\"");
                tags.add(kind == 0 ? "\"B-PER\"" : kind == 1 ? "\"B-LOC\"" : "\"O\"");
            }
            lines.add("{\"tokens\": " + words + ", \"ner_tags\": " + tags + "}");
        }
        return lines;
    }

    @Test
    void tokenClassificationLearnsWordLabelsAndNerRunsTheModel() throws IOException {
        Path nerTrain = Files.write(dir.resolve("ner-train.jsonl"), nerExamples(48, 3));
        Path nerEval = Files.write(dir.resolve("ner-eval.jsonl"), nerExamples(16, 4));
        Path out = dir.resolve("ner-model");
        Cli.Result r = Cli.run("", "train", "--model", base.toString(), "--task", "token-classification", "--train",
                nerTrain.toString(), "--eval", nerEval.toString(), "--output", out.toString(), "--epochs", "10",
                "--batch-size", "8", "--learning-rate", "1e-2", "--logging-steps", "6");
        assertEquals(0, r.code(), r.err());
        DistilBertConfig config = DistilBertConfig.read(out.resolve("config.json"));
        assertEquals(List.of("DistilBertForTokenClassification"), config.architectures());
        assertEquals(Map.of(0, "B-LOC", 1, "B-PER", 2, "O"), Map.copyOf(config.id2label()));
        List<JsonNode> evals = log(out).stream().filter(e -> e.has("eval_loss")).toList();
        assertTrue(evals.getLast().get("eval_accuracy").asDouble() >= 0.95, evals.toString());
        assertTrue(evals.getLast().get("eval_f1").asDouble() >= 0.9, evals.toString());
        assertTrue(evals.getLast().get("eval_tokens").asInt() > 16 * 3, "every word of the eval set is one labeled token");

        List<String> entities = Cli.ok(Cli.onCpu("ner", out, "{\"text\": \"anna visited rome\"}\n", "--aggregation", "simple"));
        JsonNode e = JSON.readTree(entities.getFirst());
        assertEquals("PER", e.get(0).get("entity_group").asText(), entities.toString());
        assertEquals("anna", e.get(0).get("word").asText());
        assertEquals("LOC", e.get(1).get("entity_group").asText());
        assertEquals("rome", e.get(1).get("word").asText());
    }

    @Test
    void tokenClassificationLinesAreChecked() throws IOException {
        Path bad = Files.write(dir.resolve("ner-bad.jsonl"), List.of("{\"tokens\": [\"anna\", \"went\"], \"ner_tags\": [\"B-PER\"]}"));
        Cli.Result r = Cli.run("", "train", "--model", base.toString(), "--task", "token-classification", "--train", bad.toString(),
                "--output", dir.resolve("nb").toString(), "--labels", "O,B-PER");
        assertEquals(1, r.code());
        assertTrue(r.err().contains(bad + ":1: 2 words but 1 labels"), r.err());
        Path unknown = Files.write(dir.resolve("ner-unknown.jsonl"), List.of("{\"tokens\": [\"anna\"], \"ner_tags\": [\"B-XYZ\"]}"));
        r = Cli.run("", "train", "--model", base.toString(), "--task", "token-classification", "--train", unknown.toString(),
                "--output", dir.resolve("nu").toString(), "--labels", "O,B-PER");
        assertTrue(r.err().contains(unknown + ":1: the label of word 0 (\"B-XYZ\") is not one of [O, B-PER]"), r.err());
        Cli.assertUsageError("train", "--task: expected sequence-classification, token-classification, question-answering, multiple-choice or masked-lm, got 'ner'", "--model",
                base.toString(), "--train", trainFile.toString(), "--output", dir.resolve("nt").toString(), "--task", "ner");
    }

    @Test
    void maskedLmAdaptsToTheTextAndFillMaskRunsTheModel() throws IOException {
        Path out = dir.resolve("mlm");
        Cli.Result r = train(out, "--task", "masked-lm", "--line-by-line", "--eval", evalFile.toString(), "--epochs", "4",
                "--batch-size", "8", "--learning-rate", "1e-2", "--logging-steps", "6");
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of("DistilBertForMaskedLM"), DistilBertConfig.read(out.resolve("config.json")).architectures());
        List<JsonNode> log = log(out);
        List<JsonNode> evals = log.stream().filter(e -> e.has("perplexity")).toList();
        assertEquals(4, evals.size());
        double first = evals.getFirst().get("perplexity").asDouble(), last = evals.getLast().get("perplexity").asDouble();
        // 30522 tokens: a model that knows nothing is near 30522; the text uses ~20 words, which it learns to expect
        assertTrue(first < 1.5 * 30522 && last < first / 5, evals.toString());
        assertEquals(Math.exp(evals.getLast().get("eval_loss").asDouble()), last, last * 1e-5);
        List<String> filled = Cli.ok(Cli.onCpu("fill-mask", out, "{\"text\": \"the movie was [MASK]\"}\n", "--top-k", "2"));
        assertEquals(2, JSON.readTree(filled.getFirst()).size());
    }

    /**
     * run_mlm.py without --line_by_line: every text tokenized whole with [CLS] and [SEP], 1000 lines at a
     * time concatenated and cut into blocks of --max-length, each 1000 lines' remainder dropped; the
     * [CLS] and [SEP] inside a block stay special. Too little text for one block is a clear error.
     */
    @Test
    void maskedLmGroupsTextsIntoBlocksAsRunMlm() throws IOException {
        distilbert.tokenizer.Tokenizer tok = distilbert.tokenizer.Tokenizer.fromPretrained(base);
        List<TrainingData.Line> rows = new ArrayList<>();
        List<Integer> all = new ArrayList<>(), allSpecial = new ArrayList<>();
        int firstChunk = 0;
        for (int i = 0; i < 1003; i++) {
            String text = "the movie was " + (i % 3 == 0 ? "good" : "awful and long");
            rows.add(new TrainingData.Line(i + 1, (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(
                    "{\"text\": \"" + text + "\"}")));
            var e = tok.encode(text);
            if (i < 1000) {
                for (int id : e.ids()) all.add(id);
                for (int sp : e.specialTokensMask()) allSpecial.add(sp);
                firstChunk += e.ids().length;
            }
        }
        int block = 16;
        List<TrainingData.Example> ex = TrainingData.groupedTexts(Path.of("mlm.jsonl"), rows, tok, block);
        // the first 1000 lines give floor(tokens / 16) blocks; the last 3 lines (~18 tokens) one more
        assertEquals(firstChunk / block + 1, ex.size());
        for (int b = 0; b < firstChunk / block; b++) {
            for (int j = 0; j < block; j++) {
                assertEquals((int) all.get(b * block + j), ex.get(b).ids()[j], "block " + b + " token " + j);
                assertEquals((int) allSpecial.get(b * block + j), ex.get(b).tokenLabels()[j], "block " + b + " special " + j);
            }
        }
        assertEquals(1001, ex.getLast().line(), "the last block starts at line 1001: the first chunk's remainder is dropped");
        assertEquals(tok.encode("the movie was awful and long").ids()[0], ex.getLast().ids()[0]);

        CliException few = org.junit.jupiter.api.Assertions.assertThrows(CliException.class,
                () -> TrainingData.groupedTexts(Path.of("few.jsonl"), rows.subList(0, 2), tok, 512));
        assertTrue(few.getMessage().startsWith("few.jsonl: its texts are ") && few.getMessage().contains(
                "fewer than one block of --max-length 512: give a smaller --max-length, or --line-by-line"), few.getMessage());

        // end to end: blocks of 16 tokens train, and --line-by-line is for masked LM only
        Path out = dir.resolve("mlm-grouped");
        Cli.Result r = train(out, "--task", "masked-lm", "--max-length", "16", "--max-steps", "2", "--batch-size", "4",
                "--logging-steps", "1");
        assertEquals(0, r.code(), r.err());
        assertEquals(2, log(out).size());
        Cli.assertUsageError("train", "--line-by-line is for --task masked-lm", "--model", base.toString(), "--train",
                trainFile.toString(), "--output", dir.resolve("x").toString(), "--line-by-line");
    }

    /** HF's collator: ~p of the non-special tokens chosen, 80% [MASK], 10% random, 10% kept; specials and padding untouched. */
    @Test
    void maskingDrawsAsHuggingFacesCollator() {
        int B = 200, L = 50, mask = 103, V = 30522;
        int[] ids = new int[B * L], attention = new int[B * L];
        List<int[]> special = new ArrayList<>();
        for (int b = 0; b < B; b++) {
            int len = 20 + b % 30;                       // rows of 20..49 tokens, padded to 50
            int[] sp = new int[len];
            for (int l = 0; l < len; l++) {
                ids[b * L + l] = l == 0 ? 101 : l == len - 1 ? 102 : 1000 + (b * 7 + l) % 500;
                attention[b * L + l] = 1;
            }
            sp[0] = 1;
            sp[len - 1] = 1;
            special.add(sp);
        }
        var masked = new TrainingData.Masking(mask, V, 0.15).mask(new TrainingData.Batch(ids, attention, L, special),
                new java.util.SplittableRandom(5));
        int[] in = masked.input().inputIds();
        long candidates = 0, chosen = 0, toMask = 0, kept = 0;
        for (int b = 0; b < B; b++) {
            int len = special.get(b).length;
            for (int l = 0; l < L; l++) {
                int i = b * L + l, label = masked.labels()[b][l];
                if (l == 0 || l >= len - 1) {
                    assertEquals(-100, label, "special or padding at " + b + "," + l);
                    assertEquals(ids[i], in[i]);
                    continue;
                }
                candidates++;
                if (label == -100) {
                    assertEquals(ids[i], in[i], "unchosen tokens stay");
                    continue;
                }
                chosen++;
                assertEquals(ids[i], label, "the label is the original token");
                if (in[i] == mask) toMask++;
                else if (in[i] == ids[i]) kept++;
            }
        }
        double share = (double) chosen / candidates, sigma = Math.sqrt(0.15 * 0.85 / candidates);
        assertEquals(0.15, share, 5 * sigma, "chosen share");
        assertEquals(0.8, (double) toMask / chosen, 0.05);
        assertTrue(kept > 0.05 * chosen && kept < 0.16 * chosen, "kept " + kept + " of " + chosen); // 10%, plus random hits on itself
    }

    @Test
    void theBestEvaluationsModelIsTheResult() throws IOException {
        String[] args = {"--eval", evalFile.toString(), "--epochs", "6", "--batch-size", "8", "--learning-rate", "2e-2",
                "--eval-steps", "4", "--best-metric", "eval_accuracy"};
        Path a = dir.resolve("best-a");
        Cli.Result r = train(a, args);
        assertEquals(0, r.code(), r.err());
        JsonNode results = JSON.readTree(a.resolve("train_results.json").toFile());
        List<JsonNode> evals = log(a).stream().filter(e -> e.has("eval_loss")).toList();
        assertEquals(9, evals.size(), "36 steps, an evaluation every 4");
        JsonNode best = evals.stream().max(java.util.Comparator.comparingDouble((JsonNode e) -> e.get("eval_accuracy").asDouble())
                .thenComparingDouble(e -> -e.get("step").asDouble())).orElseThrow();     // the first of the best
        assertEquals(best.get("step").asLong(), results.get("best_step").asLong(), evals.toString());
        assertEquals(best.get("eval_accuracy").asDouble(), results.get("best_metric").asDouble());
        assertFalse(Files.exists(a.resolve(TrainCommand.BEST_DIR)), "the best model moved into --output");
        // the same run saving a checkpoint at that step holds the same weights
        long k = results.get("best_step").asLong();
        Path b = dir.resolve("best-b");
        assertEquals(0, train(b, mergeArgs(args, "--save-steps", Long.toString(k), "--save-total-limit", "100")).code());
        assertArrayEquals(Files.readAllBytes(b.resolve("checkpoint-" + k).resolve("model.safetensors")),
                Files.readAllBytes(a.resolve("model.safetensors")));
        Cli.assertUsageError("train", "--best-metric eval_f1: sequence-classification reports eval_loss, eval_accuracy",
                "--model", base.toString(), "--train", trainFile.toString(), "--output", dir.resolve("bm").toString(), "--eval",
                evalFile.toString(), "--best-metric", "eval_f1");
        // early stopping: a learning rate of 0 never improves the first evaluation; patience 2 stops at the third
        Path c = dir.resolve("best-c");
        Cli.Result stopped = train(c, "--eval", evalFile.toString(), "--epochs", "6", "--batch-size", "8", "--learning-rate", "0",
                "--eval-steps", "4", "--best-metric", "eval_loss", "--early-stopping-patience", "2");
        assertEquals(0, stopped.code(), stopped.err());
        assertTrue(stopped.err().contains("eval_loss has not improved for 2 evaluations since step 4: stopping early"), stopped.err());
        JsonNode cResults = JSON.readTree(c.resolve("train_results.json").toFile());
        assertEquals(12, cResults.get("global_step").asInt());
        assertTrue(cResults.get("stopped_early").asBoolean());
        Cli.assertUsageError("train", "--early-stopping-patience needs --best-metric", "--model", base.toString(), "--train",
                trainFile.toString(), "--output", dir.resolve("bm").toString(), "--eval", evalFile.toString(),
                "--early-stopping-patience", "2");
        Cli.assertUsageError("train", "--best-metric needs --eval", "--model", base.toString(), "--train", trainFile.toString(),
                "--output", dir.resolve("bm").toString(), "--best-metric", "eval_loss");
    }

    /** SQuAD-style lines: "where does X live ?" over "A lives in CA . B lives in CB ." */
    static List<String> squadExamples(int n, int seed, int padSentences) {
        java.util.Random r = new java.util.Random(seed);
        String[] names = {"anna", "peter", "maria", "john", "lucas", "emma"}, cities = {"paris", "berlin", "rome", "tokyo", "madrid", "oslo"};
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int a = r.nextInt(6), b = (a + 1 + r.nextInt(5)) % 6, ca = r.nextInt(6), cb = (ca + 1 + r.nextInt(5)) % 6;
            String context = "the weather was fine . ".repeat(padSentences) + names[a] + " lives in " + cities[ca] + " . "
                    + names[b] + " lives in " + cities[cb] + " .";
            boolean first = r.nextBoolean();
            String person = first ? names[a] : names[b], city = first ? cities[ca] : cities[cb];
            int start = context.indexOf(person + " lives in ") + (person + " lives in ").length();
            lines.add("{\"question\": \"where does " + person + " live ?\", \"context\": \"" + context + "\", \"answers\": {\"text\": [\""
                    + city + "\"], \"answer_start\": [" + start + "]}}");
        }
        return lines;
    }

    /** Each window's labels point at the answer's tokens, or at [CLS] (0, 0) where the window does not hold it whole. */
    @Test
    void questionAnsweringWindowsAreLabelledAsRunQa() throws IOException {
        Path file = Files.write(dir.resolve("squad-windows.jsonl"), squadExamples(12, 5, 6));
        var tokenizer = distilbert.tokenizer.Tokenizer.fromPretrained(base);
        List<TrainingData.Example> windows = TrainingData.qaExamples(file, TrainingData.readJsonl(file), tokenizer, 24);
        assertTrue(windows.size() > 12 * 2, windows.size() + " windows: contexts of ~50 tokens in windows of 24");
        List<JsonNode> rows = new ArrayList<>();
        for (String l : Files.readAllLines(file)) rows.add(JSON.readTree(l));
        int holding = 0;
        for (TrainingData.Example w : windows) {
            assertTrue(w.ids().length <= 24);
            int s = w.tokenLabels()[0], e = w.tokenLabels()[1];
            String answer = rows.get((int) w.line() - 1).get("answers").get("text").get(0).asText();
            if (s == 0) {
                assertEquals(0, e, "both at [CLS]");
                String text = tokenizer.decode(w.ids(), true);
                assertFalse(text.contains("lives in " + answer + " ."), "a window holding the answer must point at it: " + text);
            } else {
                holding++;
                assertTrue(e >= s);
                assertEquals(answer, tokenizer.decode(java.util.Arrays.copyOfRange(w.ids(), s, e + 1), true));
            }
        }
        assertTrue(holding >= 12, "every question has a window that holds its answer: " + holding);
    }

    @Test
    void questionAnsweringTrainsAndTheQaCommandRunsTheModel() throws IOException {
        Path qaTrain = Files.write(dir.resolve("squad-train.jsonl"), squadExamples(48, 6, 0));
        Path qaEval = Files.write(dir.resolve("squad-eval.jsonl"), squadExamples(16, 7, 0));
        Path out = dir.resolve("qa-model");
        Cli.Result r = Cli.run("", "train", "--model", base.toString(), "--task", "question-answering", "--train", qaTrain.toString(),
                "--eval", qaEval.toString(), "--output", out.toString(), "--epochs", "8", "--batch-size", "8", "--learning-rate", "1e-2",
                "--logging-steps", "6");
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of("DistilBertForQuestionAnswering"), DistilBertConfig.read(out.resolve("config.json")).architectures());
        List<JsonNode> log = log(out);
        List<JsonNode> steps = log.stream().filter(e -> e.has("loss")).toList();
        List<JsonNode> evals = log.stream().filter(e -> e.has("exact_match")).toList();
        assertEquals(8, evals.size());
        // the start and end softmaxes over ~14 positions: ln 14 ≈ 2.6 at chance; one of the two cities: ln 2 ≈ 0.69
        assertTrue(steps.getFirst().get("loss").asDouble() > 2 && steps.getLast().get("loss").asDouble() < 1.2, steps.toString());
        assertTrue(evals.getLast().get("exact_match").asDouble() >= 40, "a city, at least: " + evals);
        List<String> answers = Cli.ok(Cli.onCpu("qa", out,
                "{\"question\": \"where does emma live ?\", \"context\": \"john lives in oslo . emma lives in madrid .\"}\n"));
        String answer = JSON.readTree(answers.getFirst()).get("answer").asText();
        assertTrue(answer.equals("oslo") || answer.equals("madrid"), answers.toString());

        Path bad = Files.write(dir.resolve("squad-bad.jsonl"), List.of(
                "{\"question\": \"q\", \"context\": \"anna lives in rome\", \"answers\": {\"text\": [\"rome\"], \"answer_start\": [3]}}"));
        r = Cli.run("", "train", "--model", base.toString(), "--task", "question-answering", "--train", bad.toString(), "--output",
                dir.resolve("qa-bad").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(bad + ":1: answer 0 ('rome') is not at code point 3 of the context"), r.err());
    }

    /** The SQuAD v1.1 script's normalisation and token F1. */
    @Test
    void squadScoresAsTheSquadScript() {
        assertEquals("cat sat", TrainingEval.Squad.normalize("The  Cat, sat!"));
        assertEquals("", TrainingEval.Squad.normalize("a an the"));
        assertEquals(0.8, TrainingEval.Squad.f1("the cat sat", "cat sat down"), 1e-12);
        assertEquals(1.0, TrainingEval.Squad.f1("", ""));
        assertEquals(0.0, TrainingEval.Squad.f1("paris", ""));
    }

    /** "which one is a city ?" with a city among names, in a random place: the label is the city's index. */
    static List<String> choiceExamples(int n, int seed) {
        java.util.Random r = new java.util.Random(seed);
        String[] names = {"anna", "peter", "maria", "john", "lucas", "emma"}, cities = {"paris", "berlin", "rome", "tokyo", "madrid", "oslo"};
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int at = r.nextInt(3);
            List<String> choices = new ArrayList<>();
            for (int c = 0; c < 3; c++) {
                choices.add("\"" + (c == at ? cities[r.nextInt(6)] : names[r.nextInt(6)]) + "\"");
            }
            lines.add("{\"prompt\": \"which one is a city ?\", \"choices\": " + choices + ", \"label\": " + at + "}");
        }
        return lines;
    }

    @Test
    void multipleChoiceLearnsAndTheCommandRunsTheModel() throws IOException {
        Path mcTrain = Files.write(dir.resolve("mc-train.jsonl"), choiceExamples(48, 8));
        Path mcEval = Files.write(dir.resolve("mc-eval.jsonl"), choiceExamples(16, 9));
        Path out = dir.resolve("mc-model");
        Cli.Result r = Cli.run("", "train", "--model", base.toString(), "--task", "multiple-choice", "--train", mcTrain.toString(),
                "--eval", mcEval.toString(), "--output", out.toString(), "--epochs", "10", "--batch-size", "8", "--learning-rate", "1e-2",
                "--logging-steps", "6");
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of("DistilBertForMultipleChoice"), DistilBertConfig.read(out.resolve("config.json")).architectures());
        List<JsonNode> evals = log(out).stream().filter(e -> e.has("eval_accuracy")).toList();
        assertEquals(10, evals.size());
        assertTrue(evals.getLast().get("eval_accuracy").asDouble() >= 0.9, evals.toString());
        assertTrue(evals.getLast().get("eval_loss").asDouble() < evals.getFirst().get("eval_loss").asDouble(), evals.toString());
        List<String> chosen = Cli.ok(Cli.onCpu("multiple-choice", out,
                "{\"prompt\": \"which one is a city ?\", \"choices\": [\"emma\", \"rome\", \"john\"]}\n"));
        assertEquals(1, JSON.readTree(chosen.getFirst()).get("choice").asInt(), chosen.toString());

        Path bad = Files.write(dir.resolve("mc-bad.jsonl"), List.of("{\"prompt\": \"p\", \"choices\": [\"a\", \"b\"], \"label\": 0}",
                "{\"prompt\": \"p\", \"choices\": [\"a\", \"b\", \"c\"], \"label\": 2}"));
        r = Cli.run("", "train", "--model", base.toString(), "--task", "multiple-choice", "--train", bad.toString(), "--output",
                dir.resolve("mc-bad").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(bad + ":2: 3 choices, the first line has 2"), r.err());
    }

    /** seqeval's chunking (its default IOB2 mode, as run_ner.py reports it) on hand-made sequences. */
    @Test
    void entityScoresChunkAsSeqeval() {
        assertEquals(java.util.Set.of("PER 0 1", "LOC 3 3"), TrainingEval.Entities.of(List.of("B-PER", "I-PER", "O", "B-LOC")));
        // I- after O starts a chunk; a type change ends one; B- right after a chunk starts another
        assertEquals(java.util.Set.of("PER 1 1", "LOC 2 2", "LOC 3 4"),
                TrainingEval.Entities.of(List.of("O", "I-PER", "I-LOC", "B-LOC", "I-LOC")));
        assertEquals(java.util.Set.of("MISC 0 1"), TrainingEval.Entities.of(List.of("MISC", "MISC")));
        var counts = new TrainingEval.Entities.Counts();
        counts.add(TrainingEval.Entities.of(List.of("B-PER", "I-PER", "O", "B-LOC")),     // gold: 2 chunks
                TrainingEval.Entities.of(List.of("B-PER", "O", "O", "B-LOC")));            // predicted: PER 0 0 (wrong end), LOC 3 3
        assertEquals(0.5, counts.precision());
        assertEquals(0.5, counts.recall());
        assertEquals(0.5, counts.f1());
    }

    private static String[] mergeArgs(String[] args, String... more) {
        String[] all = java.util.Arrays.copyOf(args, args.length + more.length);
        System.arraycopy(more, 0, all, args.length, more.length);
        return all;
    }
}
