package distilbert.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Tokenizer throughput over the parity corpus (2,403 records of real text in many scripts, 629
 * with a text pair) with bert-base-uncased's tokenizer.json. One operation is one pass over the
 * whole corpus; the score is passes per second, and the aux counters {@code tokens} and
 * {@code chars} turn it into tokens/s (ids produced, [CLS]/[SEP] included) and UTF-16 chars/s.
 *
 * <p>Two workloads, because HuggingFace's node binding batches single sequences only:
 * {@code records} encodes each record as HF's {@code encode(text, text_pair)} does;
 * {@code sequences} encodes every text and every text_pair as a sequence of its own, the input
 * the peer's {@code encodeBatch} takes (bench/peer/tokenizers/bench.js).
 *
 * <ul>
 *   <li>{@code singleThread}: {@code encode} of each input, one after the other, on one thread;</li>
 *   <li>{@code allThreads}: one {@code encodeBatch} of the whole corpus, on every core.</li>
 * </ul>
 *
 * Run: {@code ./dev bench TokenizerBenchmark} (JMH options as usual, e.g. {@code -p workload=sequences -wi 1}).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@State(Scope.Benchmark)
public class TokenizerBenchmark {
    /** The tokenizer.json inside langchain4j's all-MiniLM-L6-v2 jar (bert-base-uncased's vocabulary and settings). */
    static final String BUNDLED_TOKENIZER = "classpath:/all-minilm-l6-v2-tokenizer.json";
    static final String DEFAULT_CORPUS = "tokenizer/src/test/resources/parity/corpus.jsonl.gz";

    /** {@code records}: (text, text_pair) as HF encodes a record; {@code sequences}: texts and pairs each alone. */
    @Param({"records", "sequences"})
    public String workload;

    /** A JSONL(.gz) file of {"text", "text_pair"?} records; a relative path is looked up from the working directory upwards. */
    @Param(DEFAULT_CORPUS)
    public String corpus;

    /** A tokenizer.json, vocab.txt or model directory, or the bundled bert-base-uncased tokenizer.json. */
    @Param(BUNDLED_TOKENIZER)
    public String tokenizer;

    private Tokenizer tok;
    private List<String> texts;
    private List<String> pairs; // null: no pairs (the sequences workload)
    private long charsPerPass;

    /** Per-thread totals, reported by JMH as rates: tokens/s and chars/s. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Counters {
        public long tokens;
        public long chars;

        @Setup(Level.Iteration)
        public void reset() {
            tokens = 0;
            chars = 0;
        }
    }

    @Setup(Level.Trial)
    public void load() throws IOException {
        tok = loadTokenizer(tokenizer);
        Path file = resolve(corpus);
        List<String[]> records = readCorpus(file);
        texts = new ArrayList<>();
        List<String> p = new ArrayList<>();
        for (String[] r : records) {
            switch (workload) {
                case "records" -> {
                    texts.add(r[0]);
                    p.add(r[1]);
                }
                case "sequences" -> {
                    texts.add(r[0]);
                    if (r[1] != null) texts.add(r[1]);
                }
                default -> throw new IllegalArgumentException("workload must be records or sequences, not '" + workload + "'");
            }
        }
        pairs = workload.equals("records") ? p : null;
        charsPerPass = 0;
        for (int i = 0; i < texts.size(); i++) {
            charsPerPass += texts.get(i).length() + (pairs == null || pairs.get(i) == null ? 0 : pairs.get(i).length());
        }
        long single = encodeOneByOne(), batch = encodeAll();
        if (single != batch) throw new IllegalStateException("encode gave " + single + " tokens but encodeBatch " + batch);
        // The peer prints the same line; the run script checks that the two agree.
        System.out.printf("corpus %s: workload %s, %d inputs, %d tokens, %d chars per pass%n",
                file, workload, texts.size(), single, charsPerPass);
    }

    @Benchmark
    public long singleThread(Counters c) {
        long n = encodeOneByOne();
        c.tokens += n;
        c.chars += charsPerPass;
        return n;
    }

    @Benchmark
    public long allThreads(Counters c) {
        long n = encodeAll();
        c.tokens += n;
        c.chars += charsPerPass;
        return n;
    }

    private long encodeOneByOne() {
        long n = 0;
        for (int i = 0; i < texts.size(); i++) {
            n += tok.encode(texts.get(i), pairs == null ? null : pairs.get(i), EncodeOptions.DEFAULT).length();
        }
        return n;
    }

    private long encodeAll() {
        long n = 0;
        for (Encoding e : tok.encodeBatch(texts, pairs, EncodeOptions.DEFAULT)) n += e.length();
        return n;
    }

    // ---- inputs --------------------------------------------------------------------------------

    static Tokenizer loadTokenizer(String where) throws IOException {
        if (!where.startsWith("classpath:")) return Tokenizer.fromPretrained(resolve(where));
        String resource = where.substring("classpath:".length());
        try (InputStream in = TokenizerBenchmark.class.getResourceAsStream(resource)) {
            if (in == null) throw new IllegalArgumentException("no class path resource " + resource);
            Path tmp = Files.createTempFile("bench-tokenizer", ".json");
            try {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                return Tokenizer.fromPretrained(tmp);
            } finally {
                Files.deleteIfExists(tmp);
            }
        }
    }

    /** An absolute path as it is; a relative one from the working directory or the nearest parent that has it. */
    static Path resolve(String path) {
        Path p = Path.of(path);
        if (p.isAbsolute()) return p;
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.exists(dir.resolve(p))) return dir.resolve(p);
        }
        throw new IllegalArgumentException(path + ": not found in " + Path.of("").toAbsolutePath() + " or any parent");
    }

    /** {text, text_pair or null} per JSONL line. */
    static List<String[]> readCorpus(Path file) {
        ObjectMapper json = new ObjectMapper();
        List<String[]> out = new ArrayList<>();
        try (InputStream raw = Files.newInputStream(file);
             InputStream in = file.toString().endsWith(".gz") ? new GZIPInputStream(raw) : raw;
             BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            int lineNo = 0;
            for (String line; (line = r.readLine()) != null; ) {
                lineNo++;
                if (line.isBlank()) continue;
                JsonNode rec = json.readTree(line);
                JsonNode text = rec.get("text"), pair = rec.get("text_pair");
                if (text == null || !text.isTextual()) throw new IllegalArgumentException(file + ":" + lineNo + ": no \"text\" string");
                out.add(new String[] {text.asText(), pair == null || pair.isNull() ? null : pair.asText()});
            }
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        }
        if (out.isEmpty()) throw new IllegalArgumentException(file + ": no records");
        return out;
    }
}
