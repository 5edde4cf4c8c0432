package distilbert.cli;

import static distilbert.cli.Cli.ok;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import distilbert.model.CrossEncoder;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.SentenceEmbeddings.Dense.Activation;
import distilbert.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distilbert rerank} on a small random one-label DistilBertForSequenceClassification with
 * bert-base-uncased's tokenizer: every line against the library's {@link CrossEncoder#rank} on the
 * same directory, the format, --top-k, --no-text, --activation, --prompt, --max-length, the
 * directory's activation, order and batching across lines, errors.
 */
class RerankCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;

    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = TinyModels.classifier(dir.resolve("ce"), TinyModels.config().toBuilder().numLabels(1).build());
    }

    record Line(String query, List<String> documents) {}

    static final List<Line> LINES = List.of(
            new Line("who wrote moby dick?", List.of("Herman Melville wrote it.", "Paris is in France.", "a whale", "",
                    "Moby-Dick is a novel by Herman Melville, first published in 1851. " .repeat(8))),
            new Line("", List.of("only one document")),
            new Line("Ünïcödé \uD83D\uDC33 query", List.of("x", "y", "x")),
            new Line("long " + "query words ".repeat(40), List.of("short", "and a long document " + "with many words ".repeat(10))));

    static String rows(List<Line> lines) {
        StringBuilder s = new StringBuilder();
        for (Line l : lines) {
            ObjectNode o = JSON.createObjectNode().put("query", l.query());
            ArrayNode docs = o.putArray("documents");
            l.documents().forEach(docs::add);
            s.append(o).append('\n');
        }
        return s.toString();
    }

    static Cli.Result rerank(Path m, String stdin, String... args) {
        return Cli.onCpu("rerank", m, stdin, args);
    }

    /** The library's ranking of each line, with {@code configure} applied to the cross-encoder of the directory. */
    static List<List<CrossEncoder.Hit>> expected(Path m, java.util.function.UnaryOperator<CrossEncoder> configure, int topK)
            throws IOException {
        try (DistilBert db = DistilBert.load(m, Device.CPU)) {
            CrossEncoder ce = configure.apply(CrossEncoder.fromPretrained(db, m));
            List<List<CrossEncoder.Hit>> out = new ArrayList<>();
            for (Line l : LINES) out.add(ce.rank(l.query(), l.documents(), topK));
            return out;
        }
    }

    static void assertLines(List<List<CrossEncoder.Hit>> want, List<String> got, boolean text) throws IOException {
        assertEquals(want.size(), got.size());
        for (int i = 0; i < want.size(); i++) {
            JsonNode hits = JSON.readTree(got.get(i)).get("hits");
            assertEquals(want.get(i).size(), hits.size(), "line " + i);
            for (int k = 0; k < hits.size(); k++) {
                CrossEncoder.Hit h = want.get(i).get(k);
                assertEquals(h.corpusId(), hits.get(k).get("corpus_id").asInt(), "line " + i + " hit " + k);
                assertEquals(h.score(), hits.get(k).get("score").floatValue(), "line " + i + " hit " + k + ": the float32 bit for bit");
                if (text) assertEquals(h.text(), hits.get(k).get("text").asText());
                else assertTrue(!hits.get(k).has("text"), "--no-text");
            }
        }
    }

    @Test
    void eachLineIsTheLibrarysRankingInInputOrder() throws IOException {
        List<List<CrossEncoder.Hit>> want = expected(model, ce -> ce, Integer.MAX_VALUE);
        List<String> got = ok(rerank(model, rows(LINES)));
        assertLines(want, got, true);
        assertEquals("{\"hits\":[{\"corpus_id\":0,\"score\":" + want.get(1).getFirst().score() + ",\"text\":\"only one document\"}]}",
                got.get(1));
        assertEquals(got, ok(rerank(model, rows(LINES), "--batch-tokens", "16")), "batching does not change a line");
        float x0 = want.get(2).stream().filter(h -> h.corpusId() == 0).findFirst().orElseThrow().score();
        float x2 = want.get(2).stream().filter(h -> h.corpusId() == 2).findFirst().orElseThrow().score();
        assertEquals(x0, x2, "the same pair, the same score");
        int at0 = -1, at2 = -1;
        for (int k = 0; k < 3; k++) {
            if (want.get(2).get(k).corpusId() == 0) at0 = k;
            if (want.get(2).get(k).corpusId() == 2) at2 = k;
        }
        assertTrue(at0 < at2, "equal scores in document order");
    }

    @Test
    void sigmoidOfTheLogitsByDefaultAndTheActivationAsked() throws IOException {
        List<String> sigmoid = ok(rerank(model, rows(LINES))), identity = ok(rerank(model, rows(LINES), "--activation", "identity"));
        List<String> score = ok(Cli.onCpu("score", model, "{\"text\": \"who wrote moby dick?\", \"text_pair\": \"a whale\"}\n",
                "--function", "none"));
        float logit = JSON.readTree(score.getFirst()).get("score").floatValue();
        JsonNode hit = null;
        for (JsonNode h : JSON.readTree(identity.getFirst()).get("hits")) if (h.get("corpus_id").asInt() == 2) hit = h;
        assertEquals(logit, hit.get("score").floatValue(), "identity: the logit `score --function none` gives");
        for (JsonNode h : JSON.readTree(sigmoid.getFirst()).get("hits")) {
            if (h.get("corpus_id").asInt() == 2) {
                assertEquals((float) (1 / (1 + Math.exp(-(double) logit))), h.get("score").floatValue(), "sigmoid of the logit");
            }
        }
        assertLines(expected(model, ce -> ce.withActivation(Activation.TANH), Integer.MAX_VALUE),
                ok(rerank(model, rows(LINES), "--activation", "torch.nn.modules.activation.Tanh")), true);
    }

    @Test
    void theDirectorysActivationPromptAndMaxSeqLength() throws IOException {
        Path st = Files.createDirectories(dir.resolve("st"));
        for (Path f : List.of(Path.of("config.json"), Path.of("model.safetensors"), Path.of("tokenizer.json"))) {
            Files.copy(model.resolve(f), st.resolve(f));
        }
        Files.writeString(st.resolve("modules.json"), "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", "
                + "\"type\": \"sentence_transformers.base.modules.transformer.Transformer\"}]");
        Files.writeString(st.resolve("sentence_bert_config.json"), "{\"max_seq_length\": 20, \"do_lower_case\": false}");
        Files.writeString(st.resolve("config_sentence_transformers.json"), "{\"model_type\": \"CrossEncoder\", "
                + "\"activation_fn\": \"torch.nn.modules.linear.Identity\", \"prompts\": {\"q\": \"question: \"}, "
                + "\"default_prompt_name\": \"q\"}");
        try (DistilBert db = DistilBert.load(st, Device.CPU)) {
            CrossEncoder ce = CrossEncoder.fromPretrained(db, st);
            assertEquals(Activation.IDENTITY, ce.activation());
            assertEquals(20, ce.maxLength());
            assertEquals("question: ", ce.prompt());
        }
        assertLines(expected(st, ce -> ce, 2), ok(rerank(st, rows(LINES), "--top-k", "2", "--no-text")), false);
        assertLines(expected(st, ce -> ce.withPrompt(null).withMaxLength(30), Integer.MAX_VALUE),
                ok(rerank(st, rows(LINES), "--prompt", "", "--max-length", "30")), true);
        List<List<CrossEncoder.Hit>> prompted = expected(model, ce -> ce.withPrompt("question: ").withMaxLength(20)
                .withActivation(Activation.IDENTITY), Integer.MAX_VALUE);
        assertLines(prompted, ok(rerank(st, rows(LINES))), true);
        Cli.Result noPrompt = rerank(st, rows(LINES), "--prompt-name", "doc");
        assertEquals(1, noPrompt.code());
        assertTrue(noPrompt.err().contains("no prompt named 'doc'; its prompts are q"), noPrompt.err());
    }

    @Test
    void refusals() throws IOException {
        Cli.assertUsageError("rerank", "--top-k must be at least 1, got 0", "--model", model.toString(), "--top-k", "0");
        Cli.assertUsageError("rerank", "give --prompt-name or --prompt, not both", "--model", model.toString(),
                "--prompt-name", "a", "--prompt", "b");
        Cli.assertUsageError("rerank", "--activation 'softsign' is not supported; supported: [torch.nn.modules.linear.Identity, "
                        + "torch.nn.modules.activation.Tanh, torch.nn.modules.activation.ReLU, torch.nn.modules.activation.GELU, "
                        + "torch.nn.modules.activation.Sigmoid, torch.nn.modules.activation.SiLU]",
                "--model", model.toString(), "--activation", "softsign");
        Path three = TinyModels.classifier(dir.resolve("three"), TinyModels.config().toBuilder().numLabels(3).build());
        Cli.Result r = rerank(three, rows(LINES));
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("distilbert rerank: " + three + ": rerank needs a cross-encoder of one label"), r.err());
        Path base = TinyModels.withTokenizer(dir.resolve("base"));
        Cli.Result b = rerank(base, rows(LINES));
        assertEquals(1, b.code());
        assertTrue(b.err().contains("rerank needs a DistilBertForSequenceClassification model"), b.err());
        Cli.Result bad = rerank(model, rows(LINES.subList(0, 1)) + "{\"query\": \"q\", \"documents\": \"not a list\"}\n");
        assertEquals(1, bad.code());
        assertEquals(1, bad.out().lines().count(), "the line before the bad one is written");
        assertTrue(bad.err().contains("line 2"), bad.err());
        Cli.assertCudaRefusedWithoutGpu("rerank", "--model", model.toString());
    }

    @Test
    void progressOnlyOnATerminal() {
        List<Line> lines = List.of(LINES.get(1), LINES.get(2), new Line("q", List.of()), new Line("a query", List.of("d")));
        Cli.assertProgressOnlyOnATerminal("rerank", rows(lines), 4, "--model", model.toString(), "--device", "cpu");
    }

    @Test
    void theTokenizerOfTheDirectoryIsUsed() throws IOException {
        Tokenizer t = Tokenizer.fromPretrained(model);
        try (DistilBert db = DistilBert.load(model, Device.CPU)) {
            CrossEncoder ce = CrossEncoder.fromPretrained(db, model);
            assertArrayEquals(t.encode("who wrote it?", "Melville", ce.encodeOptions()).ids(),
                    ce.encode(List.of("who wrote it?"), List.of("Melville")).getFirst().ids());
        }
    }
}
