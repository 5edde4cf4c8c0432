package distilbert.cli;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import distilbert.cli.JsonlInput.Row;
import distilbert.cuda.GpuOutOfMemoryException;
import distilbert.model.DynamicBatcher;
import distilbert.tokenizer.Encoding;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.ToIntFunction;

/**
 * A model command as an HTTP service ({@code --serve}): each POST's body is JSONL in the command's
 * input format, the response the command's output lines for it, one per input line, in order. The
 * requests of many clients are run together in batches ({@link DynamicBatcher}, one worker per
 * model copy: per GPU with {@code --device cuda:0,1}), so that a GPU sees large batches even when
 * each client sends one line.
 *
 * <p>Endpoints: {@code POST /} (or {@code POST /<command>}), {@code GET /health} (a JSON object:
 * the command, model, backends, the batcher's counts and the latency of the last requests) and
 * {@code GET /metrics} (the same counts in Prometheus' text format). Status codes: 200; 400 for a body the
 * command would refuse as input (the error names the line, as the command's does for a file); 404,
 * 405; 413 for a body over {@link #MAX_BODY_BYTES}; 503 with {@code Retry-After} when the queue is
 * full; 500 when the model fails (a GPU error, out of memory for one request alone). Errors are
 * {@code {"error": "..."}}. A response for rows that were truncated says how many in the header
 * {@code X-Distilbert-Truncated}.
 */
final class JsonlServer {
    /** The largest request body taken. */
    static final int MAX_BODY_BYTES = 32 << 20;
    /** Requests waiting past this are answered 503. */
    static final int MAX_QUEUED = 4096;

    private static final JsonFactory JSON = new JsonFactory();

    /** Where to listen: {@code PORT} (on the loopback interface) or {@code HOST:PORT}; port 0 picks a free one. */
    record Address(String host, int port) {
        /**
         * Parses --serve's value.
         *
         * @throws IllegalArgumentException naming the text
         */
        static Address parse(String text) {
            String t = text.trim();
            int colon = t.lastIndexOf(':');
            String host = colon < 0 ? "127.0.0.1" : t.substring(0, colon);
            String port = colon < 0 ? t : t.substring(colon + 1);
            if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
            try {
                int p = Integer.parseInt(port);
                if (p >= 0 && p <= 65535 && !host.isEmpty()) return new Address(host, p);
            } catch (NumberFormatException e) {
                // said below
            }
            throw new IllegalArgumentException("expected [HOST:]PORT (a port from 0 to 65535, 0 for any free one), got '" + text + "'");
        }
    }

    /** Reads and tokenizes a request body as the command reads its input: rows, their encodings, or the error. */
    @FunctionalInterface
    interface Parser {
        ModelRun.Chunk parse(byte[] body, ModelRun.RowsJob job);
    }

    /** A request's rows and their encodings, in the order of its lines. */
    private record Request(List<Row> rows, List<Encoding> encodings) {
        long tokens() {
            long t = 0;
            for (Encoding e : encodings) t += e.length();
            return t;
        }
    }

    /** A job's lines, kept as bytes (each with its newline). */
    private static final class Lines implements JsonlLines {
        final List<byte[]> lines = new ArrayList<>();

        @Override
        public <T> void write(List<T> items, JsonlOutput.ObjectWriter<T> object, ToIntFunction<T> bytesHint) {
            for (T item : items) lines.add(JsonlOutput.line(item, object, bytesHint.applyAsInt(item)));
        }
    }

    /** The time to answer the last {@link #WINDOW} requests that reached the model, for /health and /metrics. */
    static final class Latencies {
        static final int WINDOW = 4096;
        private final double[] seconds = new double[WINDOW];
        private long count;
        private double sum;

        synchronized void add(double s) {
            seconds[(int) (count % WINDOW)] = s;
            count++;
            sum += s;
        }

        /** The q-quantiles (0 ≤ q ≤ 1) of the window, in seconds; NaN before the first request. */
        synchronized double[] quantiles(double... qs) {
            int n = (int) Math.min(count, WINDOW);
            double[] sorted = Arrays.copyOf(seconds, n);
            Arrays.sort(sorted);
            double[] out = new double[qs.length];
            for (int i = 0; i < qs.length; i++) {
                out[i] = n == 0 ? Double.NaN : sorted[Math.min(n - 1, (int) Math.floor(qs[i] * n))];
            }
            return out;
        }

        synchronized long count() {
            return count;
        }

        synchronized double sum() {
            return sum;
        }
    }

    private final Latencies latencies = new Latencies();
    private final String command;
    private final String description;
    private final List<ModelRun.RowsJob> jobs;
    private final Parser parser;
    private final boolean countTruncated;
    private final DynamicBatcher<Request, List<byte[]>> batcher;

    /**
     * @param command     the command's name (also a path it answers on)
     * @param description the model and devices, for /health (a JSON object's fields, written by the caller)
     * @param jobs        one job per model copy
     * @param maxWait     how long a request waits for others to share its batch
     * @param batchTokens the most tokens of one batch of requests (the job batches them by --batch-tokens)
     * @param progress    told of the rows run (a line on a terminal, nothing in a pipe)
     */
    JsonlServer(String command, String description, List<ModelRun.RowsJob> jobs, Parser parser, boolean countTruncated,
                Duration maxWait, long batchTokens, Progress progress) {
        this.command = command;
        this.description = description;
        this.jobs = List.copyOf(jobs);
        this.parser = parser;
        this.countTruncated = countTruncated;
        DynamicBatcher.Builder<Request, List<byte[]>> b = DynamicBatcher.<Request, List<byte[]>>builder()
                .maxBatchSize(ModelRun.CHUNK_ROWS).maxBatchWeight(Math.max(1, batchTokens), Request::tokens)
                .maxWait(maxWait).maxQueued(MAX_QUEUED).name("distilbert-" + command + "-batch");
        for (ModelRun.RowsJob job : jobs) b.worker(requests -> run(job, requests, progress));
        this.batcher = b.build();
    }

    /** One batch of requests through one job: their rows as one chunk, the lines split back by request. */
    private static List<List<byte[]>> run(ModelRun.RowsJob job, List<Request> requests, Progress progress) {
        List<Row> rows = new ArrayList<>();
        List<Encoding> encodings = new ArrayList<>();
        for (Request r : requests) {
            rows.addAll(r.rows());
            encodings.addAll(r.encodings());
        }
        Lines out = new Lines();
        job.run(rows, encodings, out, progress);
        if (out.lines.size() != rows.size()) {
            throw new IllegalStateException("the command wrote " + out.lines.size() + " lines for " + rows.size() + " rows");
        }
        List<List<byte[]>> split = new ArrayList<>(requests.size());
        int at = 0;
        for (Request r : requests) {
            split.add(out.lines.subList(at, at + r.rows().size()));
            at += r.rows().size();
        }
        return split;
    }

    /**
     * Listens on {@code address} until {@code stop} is counted down or the thread is interrupted,
     * then stops taking connections, answers the requests already taken and returns.
     *
     * @param started told the address it listens on, once it does
     */
    void serve(Address address, CountDownLatch stop, Consumer<InetSocketAddress> started) throws IOException {
        HttpServer server;
        try {
            server = HttpServer.create(new InetSocketAddress(address.host(), address.port()), 128);
        } catch (IOException e) {
            batcher.close();
            throw new CliException("--serve " + address.host() + ":" + address.port() + ": cannot listen there: " + Main.describe(e), e);
        }
        ExecutorService handlers = Executors.newVirtualThreadPerTaskExecutor();
        server.setExecutor(handlers);
        server.createContext("/", this::handle);
        server.start();
        try {
            started.accept(server.getAddress());
            stop.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            server.stop(1);          // no new connections; a second for the exchanges under way
            batcher.close();         // run what is queued
            handlers.shutdown();
            try {
                handlers.awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The batcher's counts. */
    DynamicBatcher.Stats stats() {
        return batcher.stats();
    }

    private void handle(HttpExchange x) {
        try {
            answer(x);
        } catch (IOException | UncheckedIOException e) {
            // the client went away: nothing to answer
        } catch (RuntimeException e) {
            // a failure outside the model (tokenizing, say): answered, not a dropped connection
            try {
                error(x, 500, e.getClass().getSimpleName() + ": " + e.getMessage());
            } catch (IOException | RuntimeException ignored) {
                // the response had begun: the connection closes
            }
        } finally {
            x.close();
        }
    }

    private void answer(HttpExchange x) throws IOException {
        String path = x.getRequestURI().getPath();
        String method = x.getRequestMethod();
        if (path.equals("/health") || path.equals("/metrics")) {
            if (!method.equals("GET") && !method.equals("HEAD")) {
                x.getResponseHeaders().set("Allow", "GET, HEAD");
                error(x, 405, "GET " + path);
                return;
            }
            if (path.equals("/health")) respond(x, 200, "application/json", health());
            else respond(x, 200, "text/plain; version=0.0.4; charset=utf-8", metrics());
            return;
        }
        if (!path.equals("/") && !path.equals("/" + command)) {
            error(x, 404, "no such path: " + path + "; POST JSONL to / (or /" + command + "), GET /health or /metrics");
            return;
        }
        if (!method.equals("POST")) {
            x.getResponseHeaders().set("Allow", "POST");
            error(x, 405, method + " " + path + ": POST JSONL lines, one " + command + " result line comes back for each");
            return;
        }
        long start = System.nanoTime();
        byte[] body = readBody(x.getRequestBody());
        if (body == null) {
            error(x, 413, "the request body is larger than " + (MAX_BODY_BYTES >> 20) + " MiB; send fewer lines per request");
            return;
        }
        ModelRun.Chunk chunk = parser.parse(body, jobs.getFirst());
        if (chunk.error() != null) {
            error(x, 400, chunk.error().getMessage());
            return;
        }
        if (chunk.rows().isEmpty()) {
            respond(x, 200, "application/x-ndjson; charset=utf-8", new byte[0]);
            return;
        }
        List<byte[]> lines;
        try {
            lines = batcher.submit(new Request(chunk.rows(), chunk.encodings())).get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RejectedExecutionException) {
                x.getResponseHeaders().set("Retry-After", "1");
                error(x, 503, "busy: " + cause.getMessage());
            } else if (cause instanceof GpuOutOfMemoryException oom) {
                error(x, 500, "GPU out of memory for this request alone: " + oom.getMessage());
            } else if (cause instanceof CliException || cause instanceof IllegalArgumentException) {
                error(x, 400, cause.getMessage());
            } else {
                error(x, 500, cause.getClass().getSimpleName() + ": " + cause.getMessage());
            }
            return;
        } catch (InterruptedException | CancellationException e) {
            error(x, 503, "the server is stopping");
            return;
        }
        if (countTruncated) {
            long truncated = chunk.encodings().stream().filter(en -> !en.overflowing().isEmpty()).count();
            if (truncated > 0) x.getResponseHeaders().set("X-Distilbert-Truncated", Long.toString(truncated));
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] l : lines) out.write(l);
        respond(x, 200, "application/x-ndjson; charset=utf-8", out.toByteArray());
        latencies.add((System.nanoTime() - start) / 1e9);
    }

    /** The body, or null when it is larger than {@link #MAX_BODY_BYTES}. */
    private static byte[] readBody(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[64 << 10];
        int n;
        while ((n = in.read(buf)) > 0) {
            if (out.size() + n > MAX_BODY_BYTES) return null;
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    private byte[] health() throws IOException {
        DynamicBatcher.Stats s = batcher.stats();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(out, JsonEncoding.UTF8)) {
            g.writeStartObject();
            g.writeStringField("status", "ok");
            g.writeStringField("command", command);
            g.writeRaw("," + description);
            g.writeNumberField("requests", s.requests());
            g.writeNumberField("failed", s.failed());
            g.writeNumberField("rejected", s.rejected());
            g.writeNumberField("batches", s.batches());
            g.writeNumberField("out_of_memory_splits", s.splits());
            g.writeNumberField("mean_batch_requests", s.meanBatchSize());
            g.writeNumberField("queued", s.queued());
            double[] q = latencies.quantiles(0.5, 0.9, 0.99);
            g.writeObjectFieldStart("latency_ms");     // of the last answered requests (up to 4,096)
            String[] names = {"p50", "p90", "p99"};
            for (int i = 0; i < names.length; i++) {
                if (Double.isNaN(q[i])) g.writeNullField(names[i]);       // no request answered yet
                else g.writeNumberField(names[i], q[i] * 1000);
            }
            g.writeEndObject();
            g.writeEndObject();
        }
        out.write('\n');
        return out.toByteArray();
    }

    /** The counts in Prometheus' text format, with the latency of the last answered requests as a summary. */
    private byte[] metrics() {
        DynamicBatcher.Stats s = batcher.stats();
        StringBuilder m = new StringBuilder();
        String labels = "{command=\"" + command + "\"}";
        counter(m, "distilbert_requests_total", "Requests that reached the model, answered or failed.", labels, s.requests());
        counter(m, "distilbert_requests_failed_total", "Requests the model failed.", labels, s.failed());
        counter(m, "distilbert_requests_rejected_total", "Requests turned away (queue full or stopping).", labels, s.rejected());
        counter(m, "distilbert_batches_total", "Batches of requests run through the model.", labels, s.batches());
        counter(m, "distilbert_out_of_memory_splits_total", "Batches split in halves after running the GPU out of memory.",
                labels, s.splits());
        m.append("# HELP distilbert_queued_requests Requests waiting for a batch.\n# TYPE distilbert_queued_requests gauge\n")
                .append("distilbert_queued_requests").append(labels).append(' ').append(s.queued()).append('\n');
        double[] q = latencies.quantiles(0.5, 0.9, 0.99);
        m.append("# HELP distilbert_request_seconds Time to answer a request (quantiles over the last 4096).\n")
                .append("# TYPE distilbert_request_seconds summary\n");
        String[] names = {"0.5", "0.9", "0.99"};
        for (int i = 0; i < names.length; i++) {
            m.append("distilbert_request_seconds{command=\"").append(command).append("\",quantile=\"").append(names[i]).append("\"} ")
                    .append(Double.isNaN(q[i]) ? "NaN" : Double.toString(q[i])).append('\n');
        }
        m.append("distilbert_request_seconds_sum").append(labels).append(' ').append(latencies.sum()).append('\n');
        m.append("distilbert_request_seconds_count").append(labels).append(' ').append(latencies.count()).append('\n');
        return m.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static void counter(StringBuilder m, String name, String help, String labels, long value) {
        m.append("# HELP ").append(name).append(' ').append(help).append('\n')
                .append("# TYPE ").append(name).append(" counter\n")
                .append(name).append(labels).append(' ').append(value).append('\n');
    }

    private static void error(HttpExchange x, int status, String message) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(out, JsonEncoding.UTF8)) {
            g.writeStartObject();
            g.writeStringField("error", message);
            g.writeEndObject();
        }
        out.write('\n');
        respond(x, status, "application/json", out.toByteArray());
    }

    private static void respond(HttpExchange x, int status, String type, byte[] body) throws IOException {
        x.getResponseHeaders().set("Content-Type", type);
        boolean head = x.getRequestMethod().equals("HEAD");
        x.sendResponseHeaders(status, head || body.length == 0 ? -1 : body.length);
        if (!head && body.length > 0) {
            try (OutputStream o = x.getResponseBody()) {
                o.write(body);
            }
        }
    }
}
