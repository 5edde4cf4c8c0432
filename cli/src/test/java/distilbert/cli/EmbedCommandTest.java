package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code distilbert embed} on a small random model with bert-base-uncased's tokenizer: formats, pooling, order, errors. */
class EmbedCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final int C = TinyModels.C;

    @TempDir
    static Path dir;

    static Path model;
    static Tokenizer tokenizer;

    @BeforeAll
    static void writeModel() throws IOException {
        model = TinyModels.withTokenizer(dir.resolve("tiny"));
        tokenizer = Tokenizer.fromPretrained(model);
    }

    static Cli.Result embed(String stdin, String... args) {
        return Cli.onCpu("embed", model, stdin, args);
    }

    static String rows(String... texts) {
        return Cli.rows(texts);
    }

    static float[] vector(JsonNode array) {
        float[] v = new float[array.size()];
        for (int i = 0; i < v.length; i++) v[i] = array.get(i).floatValue();
        return v;
    }

    /** The embedding of each line. */
    static List<float[]> embeddings(Cli.Result r) throws IOException {
        assertEquals(0, r.code(), r.err());
        List<float[]> out = new ArrayList<>();
        for (String line : r.lines()) {
            JsonNode n = JSON.readTree(line);
            assertEquals(List.of("embedding"), iterable(n.fieldNames()), line);
            out.add(vector(n.get("embedding")));
        }
        return out;
    }

    /** The token rows of each line (--pooling none). */
    static List<float[][]> tokenStates(Cli.Result r) throws IOException {
        assertEquals(0, r.code(), r.err());
        List<float[][]> out = new ArrayList<>();
        for (String line : r.lines()) {
            JsonNode n = JSON.readTree(line);
            assertEquals(List.of("last_hidden_state"), iterable(n.fieldNames()), line);
            JsonNode rows = n.get("last_hidden_state");
            float[][] h = new float[rows.size()][];
            for (int t = 0; t < h.length; t++) h[t] = vector(rows.get(t));
            out.add(h);
        }
        return out;
    }

    static List<String> iterable(java.util.Iterator<String> it) {
        List<String> l = new ArrayList<>();
        it.forEachRemaining(l::add);
        return l;
    }

    static void assertClose(float[] want, float[] got, double rel, String what) {
        assertEquals(want.length, got.length, what + ": length");
        for (int i = 0; i < want.length; i++) {
            double tol = 1e-6 + rel * Math.abs(want[i]);
            assertTrue(Math.abs(want[i] - got[i]) <= tol, what + "[" + i + "]: expected " + want[i] + ", got " + got[i]);
        }
    }

    static final String[] TEXTS = {"Hello world!", "A man is eating food.", "", "Ünïcödé and emoji 🙂 go through the tokenizer too.",
            "The quick brown fox jumps over the lazy dog, and then it jumps back again, twice."};

    @Test
    void meanPoolingWritesOneVectorOfDimPerLineInInputOrder() throws IOException {
        List<float[]> e = embeddings(embed(rows(TEXTS)));
        assertEquals(TEXTS.length, e.size());
        for (float[] v : e) assertEquals(C, v.length);
        List<float[][]> tokens = tokenStates(embed(rows(TEXTS), "--pooling", "none"));
        for (int i = 0; i < TEXTS.length; i++) {
            float[][] h = tokens.get(i);
            assertEquals(tokenizer.encode(TEXTS[i]).length(), h.length, "one row per token, [CLS] and [SEP] included: " + TEXTS[i]);
            double[] mean = new double[C];
            for (float[] row : h) {
                assertEquals(C, row.length);
                for (int c = 0; c < C; c++) mean[c] += row[c] / (double) h.length;
            }
            float[] want = new float[C];
            for (int c = 0; c < C; c++) want[c] = (float) mean[c];
            assertClose(want, e.get(i), 1e-5, "mean of row " + i);
        }
    }

    @Test
    void clsIsTokenZeroAndNormalizeGivesUnitVectorsInTheSameDirection() throws IOException {
        List<float[]> cls = embeddings(embed(rows(TEXTS), "--pooling", "cls"));
        List<float[][]> tokens = tokenStates(embed(rows(TEXTS), "--pooling", "none"));
        List<float[]> mean = embeddings(embed(rows(TEXTS)));
        List<float[]> normalized = embeddings(embed(rows(TEXTS), "--normalize"));
        List<float[]> clsNormalized = embeddings(embed(rows(TEXTS), "--pooling", "cls", "--normalize"));
        for (int i = 0; i < TEXTS.length; i++) {
            assertArrayEquals(tokens.get(i)[0], cls.get(i), "cls of row " + i + " is its first token");
            for (var pair : List.of(List.of(mean.get(i), normalized.get(i)), List.of(cls.get(i), clsNormalized.get(i)))) {
                float[] raw = pair.get(0), unit = pair.get(1);
                double norm = 0;
                for (float x : raw) norm += (double) x * x;
                norm = Math.sqrt(norm);
                float[] want = new float[C];
                for (int c = 0; c < C; c++) want[c] = (float) (raw[c] / norm);
                assertClose(want, unit, 1e-6, "normalized row " + i);
            }
        }
    }

    @Test
    void aTextPairIsEncodedAsAPair() throws IOException {
        String in = "{\"text\": \"Who wrote it?\", \"text_pair\": \"Melville wrote Moby-Dick.\"}\n{\"text\": \"Who wrote it?\", \"text_pair\": null}\n";
        List<float[][]> tokens = tokenStates(embed(in, "--pooling", "none"));
        assertEquals(tokenizer.encode("Who wrote it?", "Melville wrote Moby-Dick.").length(), tokens.get(0).length);
        assertEquals(tokenizer.encode("Who wrote it?").length(), tokens.get(1).length);
    }

    @Test
    void batchingByTokensAfterSortingReturnsInputOrder() throws IOException {
        String[] texts = Cli.randomTexts("the quick brown fox jumps over a lazy dog while people watch and wonder why", 40);
        List<float[][]> alone = tokenStates(embed(rows(texts), "--pooling", "none", "--batch-tokens", "1"));
        for (String batchTokens : List.of("7", "64", "100000")) {
            List<float[][]> batched = tokenStates(embed(rows(texts), "--pooling", "none", "--batch-tokens", batchTokens));
            assertEquals(texts.length, batched.size());
            for (int i = 0; i < texts.length; i++) {
                assertEquals(tokenizer.encode(texts[i]).length(), batched.get(i).length, "line " + (i + 1) + " belongs to input line " + (i + 1));
                for (int t = 0; t < alone.get(i).length; t++) {
                    assertClose(alone.get(i)[t], batched.get(i)[t], 1e-4, "--batch-tokens " + batchTokens + ", line " + (i + 1) + ", token " + t);
                }
            }
        }
    }

    @Test
    void longTextsAreTruncatedToTheModelsLengthAndStderrSaysHowMany() throws IOException {
        String longText = "word ".repeat(200);
        Cli.Result r = embed(rows("short", longText, longText), "--pooling", "none");
        List<float[][]> tokens = tokenStates(r);
        assertEquals(TinyModels.P, tokens.get(1).length, "truncated to max_position_embeddings, the smaller limit");
        assertEquals("distilbert embed: 2 rows were longer than 64 tokens and truncated to 64 (--max-length)\n", r.err());
        r = embed(rows("short", longText), "--pooling", "none", "--max-length", "10");
        assertEquals(10, tokenStates(r).get(1).length);
        assertTrue(r.err().contains("1 row was longer than 10 tokens"), r.err());
        assertEquals("", embed(rows("short")).err(), "nothing to say when nothing was cut");
    }

    @Test
    void sentenceTransformersMaxSeqLengthIsTheDefaultWhenPresent() throws IOException {
        Path st = dir.resolve("st");
        Files.createDirectories(st);
        try (var files = Files.list(model)) {
            for (Path f : files.toList()) Files.copy(f, st.resolve(f.getFileName()));
        }
        Files.writeString(st.resolve("sentence_bert_config.json"), "{\"max_seq_length\": 12, \"do_lower_case\": false}");
        Cli.Result r = Cli.run(rows("word ".repeat(50)), "embed", "--model", st.toString(), "--device", "cpu", "--pooling", "none");
        assertEquals(12, tokenStates(r).getFirst().length);
        Files.writeString(st.resolve("sentence_bert_config.json"), "{\"max_seq_length\": \"long\"}");
        r = Cli.run(rows("x"), "embed", "--model", st.toString(), "--device", "cpu");
        assertEquals(1, r.code());
        assertEquals("distilbert embed: " + st.resolve("sentence_bert_config.json") + ": max_seq_length must be an integer of at least 2, "
                + "got \"long\"\n", r.err());
    }

    /** Every number is float32 in its shortest form: what Float.toString writes, not a double's 17 digits. */
    @Test
    void floatsAreWrittenAsShortestFloat32() {
        Cli.Result r = embed(rows(TEXTS), "--pooling", "none");
        assertEquals(0, r.code(), r.err());
        Matcher m = Pattern.compile("-?\\d[0-9.Ee+-]*").matcher(r.out());
        int numbers = 0;
        while (m.find()) {
            String s = m.group();
            assertEquals(Float.toString(Float.parseFloat(s)), s, "number " + numbers);
            numbers++;
        }
        int tokens = 0;
        for (String t : TEXTS) tokens += tokenizer.encode(t).length();
        assertEquals(tokens * C, numbers);
    }

    @Test
    void aBadLineStopsWithItsLineNumberAfterTheLinesBeforeItAreWritten() {
        Cli.Result r = embed(rows("one", "two") + "{\"text\": 3}\n" + rows("four"));
        assertEquals(1, r.code());
        assertEquals(2, r.lines().size(), "the rows before the bad line are written");
        assertEquals("distilbert embed: stdin line 3: \"text\" must be a string, found a number\n", r.err());
        r = embed(rows("one") + "not json\n");
        assertEquals(1, r.code());
        assertEquals(1, r.lines().size());
        assertTrue(r.err().startsWith("distilbert embed: stdin line 2: not valid JSON"), r.err());
        r = embed("{\"text\": \"a\", \"text_pair\": \"b\"}\n", "--max-length", "2");
        assertEquals(1, r.code());
        assertEquals("distilbert embed: stdin line 1: max_length 2 leaves no room: 3 special tokens are added to each pair\n", r.err());
    }

    @Test
    void aBadLineManyChunksInStopsAfterEveryChunkBeforeItIsWritten() {
        // --batch-tokens 4: chunks of 128 tokens, so the bad line is read ahead while earlier chunks run and are written.
        String good = rows(Cli.randomTexts("the quick brown fox jumps over a lazy dog", 200));
        Cli.Result all = embed(good, "--batch-tokens", "4");
        assertEquals(0, all.code(), all.err());
        Cli.Result r = embed(good + "{\"text\": 3}\n" + rows("after"), "--batch-tokens", "4");
        assertEquals(1, r.code());
        assertEquals(all.out(), r.out(), "the 200 rows before the bad line are written, as without it");
        assertEquals("distilbert embed: stdin line 201: \"text\" must be a string, found a number\n", r.err());
    }

    @Test
    void aProgressLineOnlyOnATerminal() {
        Cli.assertProgressOnlyOnATerminal("embed", rows(TEXTS), TEXTS.length, "--model", model.toString(), "--device", "cpu");
    }

    @Test
    void inputAndOutputFilesAndEmptyInput() throws IOException {
        Cli.assertFilesAndEmptyInput("embed", EmbedCommandTest::embed, dir, rows(TEXTS));
    }

    @Test
    void anUnusableModelDirectoryIsAOneLineError() throws IOException {
        Path missing = dir.resolve("no-such-model");
        Cli.Result r = Cli.run(rows("x"), "embed", "--model", missing.toString());
        assertEquals(1, r.code());
        assertEquals("distilbert embed: " + missing + ": no such directory\n", r.err());

        Path empty = Files.createDirectories(dir.resolve("empty"));
        r = Cli.run(rows("x"), "embed", "--model", empty.toString());
        assertEquals(1, r.code());
        assertEquals("distilbert embed: " + empty + ": no config.json (not a HuggingFace model directory)\n", r.err());

        Path file = Files.writeString(dir.resolve("a-file"), "x");
        r = Cli.run(rows("x"), "embed", "--model", file.toString());
        assertEquals(1, r.code());
        assertEquals("distilbert embed: " + file + ": not a directory (--model takes a model directory)\n", r.err());

        Path noTokenizer = TinyModels.save(dir.resolve("no-tokenizer"), TinyModels.config(), distilbert.weights.Head.BASE);
        r = Cli.run(rows("x"), "embed", "--model", noTokenizer.toString());
        assertEquals(1, r.code());
        assertEquals("distilbert embed: " + noTokenizer + ": not a tokenizer directory: it has neither tokenizer.json nor vocab.txt\n", r.err());

        Path corrupt = dir.resolve("corrupt");
        Files.createDirectories(corrupt);
        Files.copy(model.resolve("config.json"), corrupt.resolve("config.json"));
        Cli.bertBaseUncased(corrupt);
        Files.write(corrupt.resolve("model.safetensors"), new byte[] {1, 2, 3});
        r = Cli.run(rows("x"), "embed", "--model", corrupt.toString(), "--device", "cpu");
        assertEquals(1, r.code());
        assertEquals("distilbert embed: " + corrupt + ": model.safetensors: file is 3 bytes, too short for the 8-byte header length of "
                + "a safetensors file\n", r.err());

        Path small = TinyModels.save(dir.resolve("small-vocab"), TinyModels.config().toBuilder().vocabSize(100).build(),
                distilbert.weights.Head.BASE);
        Cli.bertBaseUncased(small);
        r = Cli.run(rows("x"), "embed", "--model", small.toString());
        assertEquals(1, r.code());
        assertEquals("distilbert embed: " + small + ": the tokenizer has 30522 tokens but config.json has vocab_size 100\n", r.err());
    }

    @Test
    void deviceCudaFailsClearlyWhereItCannotRun() {
        Cli.assertCudaRefusedWithoutGpu("embed", "--model", model.toString());
        // every GPU, and a list of them: the same one-line error, naming what was asked for
        for (String devices : new String[] {"cuda:all", "cuda:0,1"}) {
            Cli.Result r = Cli.run(rows("x"), "embed", "--model", model.toString(), "--device", devices);
            assertEquals(1, r.code(), r.err());
            assertTrue(r.err().startsWith("distilbert embed: --device " + (devices.equals("cuda:all") ? devices : "cuda:0")
                    + ": no usable GPU ("), r.err());
            assertEquals(1, r.err().lines().count(), r.err());
            assertEquals("", r.out());
        }
    }

    private static void assertUsageError(String message, String... args) {
        Cli.assertUsageError("embed", message, args);
    }

    @Test
    void usageErrors() throws IOException {
        Cli.assertRunOptionsUsageErrors("embed", model, dir, true);
        String m = "--model=" + model;
        assertUsageError("--normalize needs a pooling other than none", m, "--pooling", "none", "--normalize");
        assertUsageError("--truncate-dim needs a pooling other than none", m, "--pooling", "none", "--truncate-dim", "4");
        assertUsageError("--truncate-dim must be positive (or 0: none), got -2", m, "--truncate-dim", "-2");
        assertUsageError("--quantize: quantization 'int4' is not one of [int8, uint8, binary, ubinary]", m, "--quantize", "int4");
        assertUsageError("--quantize needs a pooling other than none", m, "--pooling", "none", "--quantize", "binary");
        assertUsageError("--quantize uint8 needs the buckets' ranges: --calibration FILE.npy (embeddings of a sample, e.g. this "
                + "command's --format npy output) or --ranges FILE.npy (2, dim); sentence-transformers takes them from all the "
                + "embeddings at once, which a stream does not have", m, "--quantize", "uint8");
        assertUsageError("--quantize binary takes no ranges: --calibration and --ranges are for int8 and uint8", m,
                "--quantize", "binary", "--ranges", "r.npy");
        assertUsageError("--calibration and --ranges are for --quantize int8 or uint8", m, "--calibration", "c.npy");
        assertUsageError("give --calibration or --ranges, not both", m, "--quantize", "int8", "--calibration", "c.npy",
                "--ranges", "r.npy");
        assertUsageError("--pooling: pooling mode 'median' is not one of [cls, max, mean, mean_sqrt_len_tokens, weightedmean, "
                + "lasttoken], or none", m, "--pooling", "mean,median");
        assertUsageError("give --prompt-name or --prompt, not both", m, "--prompt-name", "query", "--prompt", "q: ");
    }

    @Test
    void helpDocumentsTheFormatsAndDefaults() {
        String words = Cli.helpWords("embed", "--model", "--pooling", "--normalize", "--input", "--output", "--batch-tokens",
                "--max-length", "--device", "--verbose");
        assertTrue(words.contains("{\"embedding\": [D floats]}"), words);
        assertTrue(words.contains("Default: 8192."), words);
        assertTrue(words.contains("Default: the directory's Pooling module, else mean."), words);
        assertTrue(words.contains("modules.json"), words);
        assertTrue(words.contains("sentence_bert_config.json"), words);
    }
}
