package distilbert.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.model.CrossEncoder;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.SentenceEmbeddings;
import distilbert.model.TextClassification;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.Head;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The spark-submit job in this JVM's local Spark: JSON lines and text in, Parquet and JSON out, its errors and exit codes. */
class ScoreJobTest {

    @TempDir
    static Path dir;
    static Path base, classifier, reranker, jsonl, txt;
    static List<String> texts;

    @BeforeAll
    static void data() throws IOException {
        base = TinyModels.save(dir.resolve("base"), Head.BASE, List.of());
        classifier = TinyModels.save(dir.resolve("sst"), Head.SEQUENCE_CLASSIFICATION, List.of("NEGATIVE", "POSITIVE"));
        reranker = TinyModels.save(dir.resolve("ce"), Head.SEQUENCE_CLASSIFICATION, List.of("LABEL_0"));
        texts = TestSpark.corpus();
        ObjectMapper json = new ObjectMapper();
        StringBuilder lines = new StringBuilder();
        for (int i = 0; i < texts.size(); i++) {
            lines.append(json.createObjectNode().put("id", i).put("text", texts.get(i))).append('\n');
        }
        jsonl = Files.writeString(dir.resolve("rows.jsonl"), lines);
        txt = Files.writeString(dir.resolve("rows.txt"), String.join("\n", texts.subList(0, 10)) + "\n");
        TestSpark.session();
    }

    record Run(int code, String err) {
    }

    static Run run(String... args) {
        PrintStream saved = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            return new Run(ScoreJob.run(args), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(saved);
        }
    }

    @Test
    void classifiesJsonLinesIntoParquet() throws IOException {
        Path out = dir.resolve("scored.parquet");
        Run r = run("--task", "text-classification", "--model", classifier.toString(), "--input", jsonl.toString(), "--output",
                out.toString(), "--device", "cpu", "--partitions", "3");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("distilbert-spark: text-classification: " + texts.size() + " rows, "), r.err());
        List<Row> rows = new ArrayList<>(TestSpark.session().read().parquet(out.toString()).collectAsList());
        rows.sort((a, b) -> Long.compare(a.getLong(a.fieldIndex("id")), b.getLong(b.fieldIndex("id"))));
        assertEquals(texts.size(), rows.size());
        try (DistilBert db = DistilBert.load(classifier, Device.CPU)) {
            List<TextClassification.Result> want = new TextClassification(db, Tokenizer.fromPretrained(classifier)).classify(texts);
            for (int i = 0; i < texts.size(); i++) {
                Row c = rows.get(i).getStruct(rows.get(i).fieldIndex("classification"));
                assertEquals(want.get(i).best().label(), c.getString(0));
                assertEquals(want.get(i).best().score(), c.getFloat(1), 0f);
            }
        }
        // the output exists now: refused without --overwrite, replaced with it
        Run again = run("--task", "text-classification", "--model", classifier.toString(), "--input", jsonl.toString(),
                "--output", out.toString(), "--device", "cpu");
        assertEquals(1, again.code());
        assertTrue(again.err().contains("already exists"), again.err());
        assertEquals(0, run("--task", "text-classification", "--model", classifier.toString(), "--input", jsonl.toString(),
                "--output", out.toString(), "--device", "cpu", "--overwrite").code());
    }

    @Test
    void embedsTextLinesIntoJson() throws IOException {
        Path out = dir.resolve("emb.json");
        Run r = run("--task", "embed", "--model", base.toString(), "--input", txt.toString(), "--output", out.toString(),
                "--output-format", "json", "--normalize", "--device", "cpu", "--output-column", "v");
        assertEquals(0, r.code(), r.err());
        List<Row> rows = TestSpark.session().read().json(out.toString()).collectAsList();
        assertEquals(10, rows.size());
        try (DistilBert db = DistilBert.load(base, Device.CPU)) {
            SentenceEmbeddings st = new SentenceEmbeddings(db, Tokenizer.fromPretrained(base)).withNormalize(true);
            for (Row row : rows) {
                float[] want = st.embed(row.getString(row.fieldIndex("text")));
                List<Double> got = row.getList(row.fieldIndex("v"));
                float[] g = new float[got.size()];
                for (int i = 0; i < g.length; i++) g[i] = got.get(i).floatValue();
                assertArrayEquals(want, g, 0f, row.getString(row.fieldIndex("text")));  // JSON keeps a float's shortest repr
            }
        }
    }

    @Test
    void reranksJsonLinesAsDistilbertRerankReadsThem() throws IOException {
        // distilbert rerank's input: {"query", "documents"}; an empty list, and a line without documents
        ObjectMapper json = new ObjectMapper();
        StringBuilder lines = new StringBuilder();
        List<List<String>> documents = new ArrayList<>();
        for (int i = 0; i + 4 < texts.size(); i += 4) {
            List<String> ds = texts.subList(i + 1, Math.min(texts.size(), i + 2 + i % 5));
            documents.add(ds);
            var row = json.createObjectNode().put("id", documents.size() - 1).put("query", texts.get(i));
            ds.forEach(row.putArray("documents")::add);
            lines.append(row).append('\n');
        }
        int n = documents.size();
        lines.append("{\"id\": ").append(n).append(", \"query\": \"nothing\", \"documents\": []}\n");
        lines.append("{\"id\": ").append(n + 1).append(", \"query\": \"no documents key\"}\n");
        Path in = Files.writeString(dir.resolve("candidates.jsonl"), lines);
        Path out = dir.resolve("ranked.json");
        Run r = run("--task", "rerank", "--model", reranker.toString(), "--input", in.toString(), "--output", out.toString(),
                "--output-format", "json", "--top-k", "3", "--prompt", "q: ", "--device", "cpu", "--partitions", "2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("distilbert-spark: rerank: " + (n + 2) + " rows, "), r.err());
        List<Row> rows = new ArrayList<>(TestSpark.session().read().json(out.toString()).collectAsList());
        rows.sort((a, b) -> Long.compare(a.getLong(a.fieldIndex("id")), b.getLong(b.fieldIndex("id"))));
        assertEquals(n + 2, rows.size());
        try (DistilBert db = DistilBert.load(reranker, Device.CPU)) {
            CrossEncoder ce = CrossEncoder.fromPretrained(db, reranker).withPrompt("q: ");
            for (int i = 0; i < n; i++) {
                List<CrossEncoder.Hit> want = ce.rank(texts.get(4 * i), documents.get(i), 3);
                List<Row> got = rows.get(i).getList(rows.get(i).fieldIndex("hits"));
                assertEquals(want.size(), got.size(), "line " + i);
                for (int k = 0; k < want.size(); k++) {
                    Row g = got.get(k);
                    assertEquals(want.get(k).corpusId(), g.getLong(g.fieldIndex("corpus_id")), "line " + i);
                    // JSON keeps a float's shortest repr
                    assertEquals(want.get(k).score(), (float) g.getDouble(g.fieldIndex("score")), 0f, "line " + i);
                    assertEquals(want.get(k).text(), g.getString(g.fieldIndex("text")), "line " + i);
                }
            }
        }
        assertEquals(List.of(), rows.get(n).getList(rows.get(n).fieldIndex("hits")));
        assertNull(rows.get(n + 1).get(rows.get(n + 1).fieldIndex("hits")));
    }

    @Test
    void badCommandLinesExitWithTwoAndSayWhy() {
        Run r = run("--task", "summarization", "--model", "m", "--input", "i", "--output", "o");
        assertEquals(2, r.code());
        assertEquals("distilbert-spark: unknown task 'summarization': expected one of [embed, text-classification, "
                + "token-classification, question-answering, zero-shot-classification, fill-mask, multiple-choice, rerank]",
                r.err().strip());
        r = run("--task", "zero-shot-classification", "--model", "m", "--input", "i", "--output", "o");
        assertEquals(2, r.code());
        assertEquals("distilbert-spark: zero-shot-classification needs --candidate-labels", r.err().strip());
        r = run("--task", "embed", "--model", "m", "--input", "i", "--output", "o", "--input-format", "xml");
        assertEquals(2, r.code());
        assertEquals("distilbert-spark: unknown input format 'xml': expected json, parquet, csv, orc or text", r.err().strip());
        r = run("--task", "embed", "--model", "m", "--input", "i", "--output", "o", "--spark-log-level", "loud");
        assertEquals(2, r.code());
        assertEquals("distilbert-spark: unknown log level 'loud': expected one of [OFF, FATAL, ERROR, WARN, INFO, DEBUG, TRACE, "
                + "ALL]", r.err().strip());
        r = run("--task", "embed", "--model", "m", "--input", "i", "--output", "o", "--no-text");
        assertEquals(2, r.code());
        assertEquals("distilbert-spark: document texts is an option of rerank, not of embed", r.err().strip());
        r = run("--task", "rerank", "--model", "m", "--input", "i", "--output", "o", "--activation", "softplus");
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("distilbert-spark: activation 'softplus' is not supported; supported: "), r.err());
                r = run("--task", "embed", "--input", "i", "--output", "o");
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("Missing required option: '--model=DIR'"), r.err());
    }

    @Test
    void aMissingColumnFailsTheJobNamingIt() {
        Run r = run("--task", "embed", "--model", base.toString(), "--input", jsonl.toString(), "--output",
                dir.resolve("never").toString(), "--text-column", "body");
        assertEquals(1, r.code());
        assertEquals("distilbert-spark: embed: no column 'body' in the input; its columns are [id, text]", r.err().strip());
        assertTrue(Files.notExists(dir.resolve("never")));
    }

    @Test
    void formatsFollowTheExtension() {
        assertEquals("json", ScoreJob.formatOf("a/rows.jsonl", null));
        assertEquals("json", ScoreJob.formatOf("a/rows.json.gz", null));
        assertEquals("csv", ScoreJob.formatOf("rows.CSV", null));
        assertEquals("text", ScoreJob.formatOf("rows.txt", null));
        assertEquals("parquet", ScoreJob.formatOf("s3a://bucket/table", null));
        assertEquals("orc", ScoreJob.formatOf("rows.parquet", "ORC"));
    }
}
