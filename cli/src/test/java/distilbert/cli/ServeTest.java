package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.weights.Head;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --serve}: a model command answering HTTP requests. Each response must be the command's own
 * output for the request's lines (the same command run on them as a file), also when many clients
 * send at once and their requests share batches; bad lines, paths and methods get the right status
 * and an error naming the line; /health counts; stopping answers what was taken and says so.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ServeTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;

    static Path classifier, nli;

    @BeforeAll
    static void writeModels() throws IOException {
        classifier = TinyModels.classifier(dir.resolve("classifier"), TinyModels.config());
        nli = TinyModels.classifier(dir.resolve("nli"), ZeroShotCommandTest.nli(TinyModels.config(), "contradiction", "neutral",
                "entailment"));
    }

    /** A command serving on a free port, in a thread of its own; closing interrupts it and waits for its exit code. */
    static final class Server implements AutoCloseable {
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final Thread thread;
        final int[] code = {-1};
        final int port;

        Server(String... args) throws InterruptedException {
            this(false, args);
        }

        /** @param terminal whether stderr is to look like a terminal (a progress line) */
        Server(boolean terminal, String... args) throws InterruptedException {
            PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
            PrintStream o = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
            thread = new Thread(() -> code[0] = Main.run(args, new ByteArrayInputStream(new byte[0]), o, e, terminal));
            thread.start();
            Pattern serving = Pattern.compile("serving .* on http://127\\.0\\.0\\.1:(\\d+)/");
            Matcher m;
            while (!(m = serving.matcher(err())).find()) {
                if (!thread.isAlive()) throw new AssertionError("the server stopped: " + err());
                Thread.sleep(20);
            }
            port = Integer.parseInt(m.group(1));
        }

        String err() {
            return err.toString(StandardCharsets.UTF_8);
        }

        /** Stops it as Ctrl-C would (here by interrupting its thread); its exit code. */
        int stop() throws InterruptedException {
            thread.interrupt();
            thread.join(30_000);
            assertTrue(!thread.isAlive(), "the server stops");
            return code[0];
        }

        @Override
        public void close() throws InterruptedException {
            if (thread.isAlive()) stop();
        }
    }

    record Response(int status, String body, Map<String, List<String>> headers) {
        List<String> lines() {
            return body.lines().toList();
        }
    }

    static Response http(int port, String method, String path, String body) throws IOException {
        HttpURLConnection c = (HttpURLConnection) URI.create("http://127.0.0.1:" + port + path).toURL().openConnection();
        c.setRequestMethod(method);
        if (body != null) {
            c.setDoOutput(true);
            try (OutputStream o = c.getOutputStream()) {
                o.write(body.getBytes(StandardCharsets.UTF_8));
            }
        }
        int status = c.getResponseCode();
        InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
        String text = in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
        return new Response(status, text, c.getHeaderFields());
    }

    @Test
    void manyClientsGetTheCommandsOwnLines() throws Exception {
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            texts.add("text " + i + " " + "the whale and the sea ".repeat(1 + i % 9));
        }
        String all = Cli.rows(texts.toArray(String[]::new));
        List<String> want = Cli.ok(Cli.onCpu("score", classifier, all, "--top-k", "all"));
        ExecutorService clients = Executors.newFixedThreadPool(8);
        try (Server s = new Server("score", "--model", classifier.toString(), "--device", "cpu", "--top-k", "all",
                "--serve", "0", "--max-wait", "20")) {
            List<Future<Boolean>> done = new ArrayList<>();
            AtomicInteger requests = new AtomicInteger();
            for (int i = 0; i < texts.size(); ) {
                int from = i, n = 1 + i % 3;
                int to = Math.min(texts.size(), from + n);
                i = to;
                requests.incrementAndGet();
                done.add(clients.submit(() -> {
                    Response r = http(s.port, "POST", "/", Cli.rows(texts.subList(from, to).toArray(String[]::new)));
                    assertEquals(200, r.status(), r.body());
                    assertEquals(want.subList(from, to), r.lines(), "lines " + from + " to " + to);
                    return true;
                }));
            }
            for (Future<Boolean> d : done) assertTrue(d.get(60, TimeUnit.SECONDS));
            JsonNode health = JSON.readTree(http(s.port, "GET", "/health", null).body());
            assertEquals("ok", health.get("status").asText());
            assertEquals("score", health.get("command").asText());
            assertEquals(classifier.toString(), health.get("model").asText());
            assertTrue(health.get("backends").get(0).asText().startsWith("cpu"), health.toString());
            assertEquals(requests.get(), health.get("requests").asInt());
            assertEquals(0, health.get("failed").asInt());
            assertTrue(health.get("batches").asInt() >= 1 && health.get("batches").asInt() <= requests.get(), health.toString());
            assertEquals(0, s.stop());
            assertTrue(s.err().contains("distilbert score: stopped after " + requests.get() + " requests in "), s.err());
        } finally {
            clients.shutdownNow();
        }
    }

    @Test
    void requestsOfManyClientsShareABatchAndEachGetsItsOwnLines() throws Exception {
        List<String> texts = List.of("one", "two words", "three words here", "four words are here", "five", "six six",
                "seven is a longer text", "eight");
        List<String> want = Cli.ok(Cli.onCpu("score", classifier, Cli.rows(texts.toArray(String[]::new)), "--logits"));
        ExecutorService clients = Executors.newFixedThreadPool(texts.size());
        java.util.concurrent.CyclicBarrier together = new java.util.concurrent.CyclicBarrier(texts.size());
        // a batch's first request waits up to 3 s for others: the eight, sent at once, share one or two
        try (Server s = new Server("score", "--model", classifier.toString(), "--device", "cpu", "--logits", "--serve", "0",
                "--max-wait", "3000")) {
            List<Future<Response>> got = new ArrayList<>();
            for (String t : texts) {
                got.add(clients.submit(() -> {
                    together.await();
                    return http(s.port, "POST", "/", Cli.rows(t));
                }));
            }
            for (int i = 0; i < texts.size(); i++) {
                Response r = got.get(i).get(60, TimeUnit.SECONDS);
                assertEquals(200, r.status(), r.body());
                assertEquals(List.of(want.get(i)), r.lines(), "client " + i);
            }
            JsonNode health = JSON.readTree(http(s.port, "GET", "/health", null).body());
            assertEquals(8, health.get("requests").asInt());
            assertTrue(health.get("batches").asInt() < 8 && health.get("mean_batch_requests").asDouble() > 1, health.toString());
        } finally {
            clients.shutdownNow();
        }
    }

    /**
     * Every other model command: two requests sent at once share a batch (the first waits up to 2 s for
     * company), and each is answered with the command's own line for it: question answering's windows
     * and ner's stride windows are split back to their requests too.
     */
    @Test
    void everyCommandServesItsOwnLines() throws Exception {
        record Case(String command, Path model, List<String> lines, String[] args) {}
        Path mlm = TinyModels.maskedLm(dir.resolve("mlm"), TinyModels.config());
        Path ner = TinyModels.tokenClassifier(dir.resolve("ner"), TinyModels.config());
        Path qa = TinyModels.widened(dir.resolve("qa"), TinyModels.config(), Head.QUESTION_ANSWERING);
        Path mc = TinyModels.widened(dir.resolve("mc"), TinyModels.config(), Head.MULTIPLE_CHOICE);
        String longContext = "Moby-Dick was written by Herman Melville. " + "The whale swam on and on. ".repeat(30);
        List<Case> cases = List.of(
                new Case("fill-mask", mlm, List.of("{\"text\": \"Paris is the [MASK] of France.\"}",
                        "{\"text\": \"The [MASK] sat on the [MASK].\"}"), new String[] {"--top-k", "3"}),
                new Case("ner", ner, List.of("{\"text\": \"My name is Wolfgang and I live in Berlin\"}",
                        "{\"text\": \"" + "Ishmael sailed from Nantucket. ".repeat(12) + "\"}"), new String[] {"--stride", "16", "--aggregation", "simple"}),
                new Case("qa", qa, List.of(JSON.createObjectNode().put("question", "Who wrote it?").put("context", longContext).toString(),
                        JSON.createObjectNode().put("question", "What swam?").put("context", "The whale swam.").toString()),
                        new String[] {"--top-k", "2", "--max-seq-len", "48", "--doc-stride", "16"}),
                new Case("multiple-choice", mc, List.of("{\"prompt\": \"The chef put the pizza\", \"choices\": [\"in the oven.\", \"x\"]}",
                        "{\"prompt\": \"It rained\", \"choices\": [\"a\", \"b\", \"c\"]}"), new String[] {"--logits"}));
        ExecutorService clients = Executors.newFixedThreadPool(2);
        try {
            for (Case c : cases) {
                List<String> want = Cli.ok(Cli.onCpu(c.command(), c.model(), String.join("\n", c.lines()) + "\n", c.args()));
                List<String> args = new ArrayList<>(List.of(c.command(), "--model", c.model().toString(), "--device", "cpu",
                        "--serve", "0", "--max-wait", "2000"));
                args.addAll(List.of(c.args()));
                try (Server s = new Server(args.toArray(String[]::new))) {
                    Future<Response> first = clients.submit(() -> http(s.port, "POST", "/", c.lines().get(0) + "\n"));
                    Future<Response> second = clients.submit(() -> http(s.port, "POST", "/", c.lines().get(1) + "\n"));
                    assertEquals(List.of(want.get(0)), first.get(60, TimeUnit.SECONDS).lines(), c.command() + " request 1");
                    assertEquals(List.of(want.get(1)), second.get(60, TimeUnit.SECONDS).lines(), c.command() + " request 2");
                    JsonNode health = JSON.readTree(http(s.port, "GET", "/health", null).body());
                    assertEquals(1, health.get("batches").asInt(), c.command() + ": the two requests shared a batch: " + health);
                    assertEquals(0, s.stop(), s.err());
                }
            }
        } finally {
            clients.shutdownNow();
        }
    }

    @Test
    void badRequestsGetAStatusAndAnErrorNamingTheLine() throws Exception {
        try (Server s = new Server("zero-shot", "--model", nli.toString(), "--device", "cpu", "--labels", "sports, music",
                "--serve", "127.0.0.1:0")) {
            String good = "{\"text\": \"the match went on\"}\n";
            Response ok = http(s.port, "POST", "/zero-shot", good + "{\"text\": \"a song\", \"candidate_labels\": [\"x\", \"y\"]}\n");
            assertEquals(200, ok.status(), ok.body());
            assertEquals(Cli.ok(Cli.onCpu("zero-shot", nli, good + "{\"text\": \"a song\", \"candidate_labels\": [\"x\", \"y\"]}\n",
                    "--labels", "sports, music")), ok.lines());
            assertEquals("application/x-ndjson; charset=utf-8", ok.headers().get("Content-type").getFirst());
            Response bad = http(s.port, "POST", "/", good + "{\"candidate_labels\": [\"a\"]}\n");
            assertEquals(400, bad.status());
            assertEquals("request line 2: missing \"text\"", JSON.readTree(bad.body()).get("error").asText());
            Response notJson = http(s.port, "POST", "/", "{oops\n");
            assertEquals(400, notJson.status());
            assertTrue(JSON.readTree(notJson.body()).get("error").asText().startsWith("request line 1: not valid JSON"), notJson.body());
            Response empty = http(s.port, "POST", "/", "");
            assertEquals(200, empty.status());
            assertEquals("", empty.body());
            Response elsewhere = http(s.port, "POST", "/score", good);
            assertEquals(404, elsewhere.status());
            assertTrue(elsewhere.body().contains("POST JSONL to / (or /zero-shot), GET /health or /metrics"), elsewhere.body());
            Response get = http(s.port, "GET", "/", null);
            assertEquals(405, get.status());
            assertEquals("POST", get.headers().get("Allow").getFirst());
            Response postHealth = http(s.port, "POST", "/health", good);
            assertEquals(405, postHealth.status());
            JsonNode health = JSON.readTree(http(s.port, "GET", "/health", null).body());
            assertEquals(1, health.get("requests").asInt(), "bad requests never reach the model");
            double p50 = health.get("latency_ms").get("p50").asDouble();
            assertTrue(p50 > 0 && p50 == health.get("latency_ms").get("p99").asDouble(), "one request timed: " + health);
            Response metrics = http(s.port, "GET", "/metrics", null);
            assertEquals(200, metrics.status());
            assertTrue(metrics.headers().get("Content-type").getFirst().startsWith("text/plain; version=0.0.4"), metrics.headers().toString());
            List<String> m = metrics.lines();
            assertTrue(m.contains("distilbert_requests_total{command=\"zero-shot\"} 1"), metrics.body());
            assertTrue(m.contains("distilbert_requests_failed_total{command=\"zero-shot\"} 0"), metrics.body());
            assertTrue(m.contains("distilbert_batches_total{command=\"zero-shot\"} 1"), metrics.body());
            assertTrue(m.contains("distilbert_out_of_memory_splits_total{command=\"zero-shot\"} 0"), metrics.body());
            assertEquals(0, health.get("out_of_memory_splits").asInt(), health.toString());
            assertTrue(m.contains("distilbert_queued_requests{command=\"zero-shot\"} 0"), metrics.body());
            assertTrue(m.contains("# TYPE distilbert_request_seconds summary"), metrics.body());
            assertTrue(m.contains("distilbert_request_seconds_count{command=\"zero-shot\"} 1"), metrics.body());
            assertTrue(m.stream().anyMatch(l -> l.startsWith("distilbert_request_seconds{command=\"zero-shot\",quantile=\"0.99\"} 0.")),
                    metrics.body());
            assertEquals(0, s.stop());
        }
    }

    @Test
    void aProgressLineOnATerminalOnly() throws Exception {
        String rows = Cli.rows("one", "two words", "three words here");
        try (Server s = new Server(true, "score", "--model", classifier.toString(), "--device", "cpu", "--serve", "0")) {
            assertEquals(200, http(s.port, "POST", "/", rows).status());
            assertEquals(0, s.stop());
            String err = s.err();
            // the final line: "score --serve: 3 rows, ... rows/s, ... tokens/s, 0:01", then the stop line
            assertTrue(err.matches("(?s).*\\rscore --serve: 3 rows, [0-9.k]+ rows/s, [0-9.k]+ tokens/s, \\d+:\\d\\d *\\n"
                    + "distilbert score: stopped after 1 request in 1 batch.*"), err);
        }
        try (Server s = new Server(false, "score", "--model", classifier.toString(), "--device", "cpu", "--serve", "0")) {
            assertEquals(200, http(s.port, "POST", "/", rows).status());
            assertEquals(0, s.stop());
            assertFalse(s.err().contains("\r") || s.err().contains("rows/s"), s.err());
        }
    }

    @Test
    void beforeAnyRequestTheLatencyIsNull() throws Exception {
        try (Server s = new Server("score", "--model", classifier.toString(), "--device", "cpu", "--serve", "0")) {
            JsonNode health = JSON.readTree(http(s.port, "GET", "/health", null).body());
            assertTrue(health.get("latency_ms").get("p50").isNull(), health.toString());
            assertTrue(http(s.port, "GET", "/metrics", null).lines().contains(
                    "distilbert_request_seconds{command=\"score\",quantile=\"0.5\"} NaN"));
        }
    }

    @Test
    void truncatedRowsAreCountedInAHeader() throws Exception {
        Path base = TinyModels.widened(dir.resolve("base"), TinyModels.config(), Head.BASE);
        try (Server s = new Server("embed", "--model", base.toString(), "--device", "cpu", "--max-length", "8", "--serve", "0")) {
            String rows = Cli.rows("short", "a much longer text that the max length will cut", "also far too long for eight tokens");
            Response r = http(s.port, "POST", "/", rows);
            assertEquals(200, r.status(), r.body());
            assertEquals(Cli.ok(Cli.onCpu("embed", base, rows, "--max-length", "8")), r.lines());
            assertEquals("2", r.headers().get("X-distilbert-truncated").getFirst());
            Response one = http(s.port, "POST", "/", Cli.rows("short"));
            assertEquals(null, one.headers().get("X-distilbert-truncated"));
        }
    }

    @Test
    void usageErrors() {
        record Bad(String[] args, String error) {}
        for (Bad b : List.of(
                new Bad(new String[] {"--serve", "http://x"}, "--serve: expected [HOST:]PORT"),
                new Bad(new String[] {"--serve", "70000"}, "--serve: expected [HOST:]PORT"),
                new Bad(new String[] {"--serve", "0", "--input", "x.jsonl"}, "--serve reads requests, not --input"),
                new Bad(new String[] {"--serve", "0", "--output", "x.jsonl"}, "--serve answers requests, not to --output"),
                new Bad(new String[] {"--serve", "0", "--max-wait", "-1"}, "--max-wait must be from 0 to 60000 ms, got -1.0"))) {
            Cli.Result r = Cli.onCpu("score", classifier, "", b.args());
            assertEquals(2, r.code(), String.join(" ", b.args()));
            assertTrue(r.err().contains(b.error()), r.err());
        }
        Cli.Result npy = Cli.onCpu("embed", classifier, "", "--serve", "0", "--format", "npy");
        assertEquals(2, npy.code());
        assertTrue(npy.err().contains("--serve answers with JSONL lines; --format npy writes a file"), npy.err());
    }

    @Test
    void anAddressInUseIsAClearError() throws Exception {
        try (Server s = new Server("score", "--model", classifier.toString(), "--device", "cpu", "--serve", "0")) {
            Cli.Result r = Cli.onCpu("score", classifier, "", "--serve", "127.0.0.1:" + s.port);
            assertEquals(1, r.code());
            assertTrue(r.err().startsWith("distilbert score: --serve 127.0.0.1:" + s.port + ": cannot listen there: "), r.err());
        }
    }

    @Test
    void helpDocumentsServing() {
        String words = Cli.helpWords("score", "--serve", "--max-wait");
        assertTrue(words.contains("GET /health"), words);
    }
}
