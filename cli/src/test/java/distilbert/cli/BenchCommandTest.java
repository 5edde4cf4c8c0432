package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.model.ModelFlops;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.ModelDirectory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** distilbert bench on the CPU: its cases, its numbers' arithmetic, its report, its usage errors. */
final class BenchCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;

    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = TinyModels.withTokenizer(dir.resolve("tiny"));
    }

    private static List<JsonNode> cases(Cli.Result r) throws IOException {
        assertEquals(0, r.code(), r.err());
        List<JsonNode> out = new ArrayList<>();
        for (String line : r.lines()) out.add(JSON.readTree(line));
        return out;
    }

    @Test
    void everyCaseOfTheGridAndTheInputRowsWithConsistentRates() throws IOException {
        String[] texts = {"the whale was white", "Call me Ishmael.", "a", "It was the best of times, it was the worst of times."};
        Path input = Files.writeString(dir.resolve("rows.jsonl"), Cli.rows(texts));
        List<JsonNode> cases = cases(Cli.run("", "bench", "--model", model.toString(), "--device", "cpu", "--batch", "1,3",
                "--length", "8,16", "--seconds", "0.05", "--warmup", "1", "--input", input.toString(), "--batch-tokens", "12",
                "--peak-tflops", "0.5", "--json"));
        assertEquals(5, cases.size(), cases.toString());
        int[][] grid = {{1, 8}, {3, 8}, {1, 16}, {3, 16}};
        var config = ModelDirectory.readConfig(model);
        for (int i = 0; i < cases.size(); i++) {
            JsonNode c = cases.get(i);
            double median = c.get("median_ms").asDouble();
            assertTrue(c.get("backend").asText().startsWith("cpu"), c.toString());
            assertTrue(c.get("calls").asInt() >= BenchCommand.MIN_CALLS, c.toString());
            assertTrue(c.get("warmup_calls").asInt() >= 1, c.toString());
            assertTrue(median > 0 && c.get("p10_ms").asDouble() <= median && median <= c.get("p90_ms").asDouble()
                    && c.get("min_ms").asDouble() <= c.get("p10_ms").asDouble(), c.toString());
            int rows = c.get("rows").asInt();
            long tokens = c.get("real_tokens").asLong();
            int[] lengths;
            if (i < grid.length) {
                assertEquals("fixed", c.get("case").asText());
                assertEquals(grid[i][0], rows);
                assertEquals(grid[i][1], c.get("length").asInt());
                assertEquals((long) grid[i][0] * grid[i][1], tokens);
                assertEquals(1, c.get("batches").asInt());
                lengths = new int[rows];
                java.util.Arrays.fill(lengths, grid[i][1]);
            } else {
                // the input rows, tokenized as embed does: [CLS] ... [SEP]
                assertEquals("input", c.get("case").asText());
                Tokenizer tok = Tokenizer.fromPretrained(model);
                EncodeOptions cut = new EncodeOptions(true, Truncation.longestFirst(64), null);
                lengths = java.util.Arrays.stream(texts).mapToInt(t -> tok.encode(t, null, cut).length()).toArray();
                assertEquals(texts.length, rows);
                assertEquals(java.util.Arrays.stream(lengths).sum(), tokens);
                assertEquals(java.util.Arrays.stream(lengths).max().orElseThrow(), c.get("length").asInt());
                assertTrue(c.get("batches").asInt() >= 2, "12 tokens a batch: several batches, " + c);
            }
            double s = median / 1e3;
            assertEquals(rows / s, c.get("rows_per_s").asDouble(), 1e-9 * rows / s);
            assertEquals(tokens / s, c.get("tokens_per_s").asDouble(), 1e-9 * tokens / s);
            double tflops = ModelFlops.encoder(config, lengths) / s / 1e12;
            assertEquals(tflops, c.get("tflops").asDouble(), 1e-9 * tflops);
            assertEquals(tflops / 0.5, c.get("mfu").asDouble(), 1e-9 * tflops);
        }
    }

    @Test
    void aCrossEncoderDirectoryIsTimedWithItsMaxSeqLength() throws IOException {
        Path ce = TinyModels.classifier(dir.resolve("ce"), TinyModels.config().toBuilder().numLabels(1).build());
        Files.writeString(ce.resolve("modules.json"), "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", "
                + "\"type\": \"sentence_transformers.base.modules.transformer.Transformer\"}]");
        Files.writeString(ce.resolve("sentence_bert_config.json"), "{\"max_seq_length\": 6}");
        Files.writeString(ce.resolve("config_sentence_transformers.json"), "{\"model_type\": \"CrossEncoder\"}");
        Path input = Files.writeString(dir.resolve("pairs.jsonl"), "{\"text\": \"who wrote moby dick\", \"text_pair\": "
                + "\"herman melville wrote it in 1851\"}\n");
        List<JsonNode> cases = cases(Cli.run("", "bench", "--model", ce.toString(), "--device", "cpu", "--batch", "1",
                "--length", "8", "--seconds", "0.05", "--warmup", "1", "--input", input.toString(), "--json"));
        JsonNode rows = cases.getLast();
        assertEquals("input", rows.get("case").asText());
        assertEquals(6, rows.get("real_tokens").asInt(), "the pair cut to the directory's max_seq_length");
    }

    @Test
    void theFlopsAreTheMatrixProductsOfTheRealTokens() {
        var config = TinyModels.config(); // 2 layers, dim 16, FFN 32
        // per layer and row of n tokens: 2n(4·16² + 2·16·32) + 4n²·16
        long one = 2 * (2 * 10 * (4 * 256 + 2 * 16 * 32) + 4 * 100 * 16);
        assertEquals(one, ModelFlops.encoder(config, new int[] {10}));
        assertEquals(one + 2 * (2 * 3 * (4 * 256 + 2 * 16 * 32) + 4 * 9 * 16), ModelFlops.encoder(config, new int[] {10, 3}));
        assertEquals(0, ModelFlops.encoder(config, new int[0]));
        // the classifier: pre_classifier (dim x dim) and classifier (dim x num_labels 2) per row
        assertEquals(5 * (2 * 16 * 16 + 2 * 16 * 2), ModelFlops.sequenceClassifier(config, 5));
    }

    @Test
    void theTableAndTheOutputFile() throws IOException {
        Path out = dir.resolve("report.txt");
        Cli.Result r = Cli.run("", "bench", "--model", model.toString(), "--device", "cpu", "--batch", "2", "--length", "8",
                "--seconds", "0.02", "--output", out.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.out());
        List<String> lines = Files.readAllLines(out, StandardCharsets.UTF_8);
        assertTrue(lines.get(0).startsWith("distilbert bench: " + model + " (2 layers, dim 16, 2 heads, FFN 32) on cpu"), lines.get(0));
        assertTrue(lines.get(1).contains("the encoder forward with mean pooling"), lines.get(1));
        assertTrue(lines.get(3).startsWith("case") && lines.get(3).contains("median ms") && lines.get(3).contains("MFU"), lines.get(3));
        assertTrue(lines.get(4).matches("fixed +2 +8 +1 .* -"), lines.get(4));
        assertEquals(5, lines.size(), String.join("\n", lines));
    }

    @Test
    void progressOnlyOnATerminal() {
        String[] args = {"bench", "--model", model.toString(), "--device", "cpu", "--batch", "2", "--length", "8", "--seconds", "0.02"};
        Cli.Result terminal = Cli.run(new byte[0], true, args), pipe = Cli.run("", args);
        assertEquals(0, terminal.code(), terminal.err());
        assertTrue(terminal.err().startsWith("\rbench: ") && terminal.err().contains(" tokens/s") && terminal.err().endsWith("\n"),
                terminal.err());
        assertEquals(0, pipe.code(), pipe.err());
        assertEquals("", pipe.err(), "quiet in a pipe");
    }

    @Test
    void usageErrors() {
        String m = "--model=" + model;
        Cli.assertUsageError("bench", "Missing required option: '--model=DIR'");
        Cli.assertUsageError("bench", "--batch sizes must be at least 1, got [1, 0]", m, "--batch", "1,0");
        Cli.assertUsageError("bench", "--length must be at least 2 ([CLS] and [SEP]), got [1]", m, "--length", "1");
        Cli.assertUsageError("bench", "--length 65 is more than the model takes: " + model + "/config.json has max_position_embeddings 64",
                m, "--length", "65");
        Cli.assertUsageError("bench", "--seconds must be more than 0 and at most 3600, got 0.0", m, "--seconds", "0");
        Cli.assertUsageError("bench", "--max-rows must be at least 1, got 0", m, "--max-rows", "0");
        Cli.assertUsageError("bench", "--peak-tflops must be more than 0, got -1.0", m, "--peak-tflops", "-1");
        Cli.assertCudaRefusedWithoutGpu("bench", "--model", model.toString(), "--length", "8", "--seconds", "0.01");
        Cli.Result missing = Cli.run("", "bench", "--model", dir.resolve("none").toString());
        assertEquals(1, missing.code());
        assertEquals("distilbert bench: " + dir.resolve("none") + ": no such directory", missing.err().strip());
    }
}
