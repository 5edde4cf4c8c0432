package distilbert.bench;

import distilbert.model.SemanticSearch;
import distilbert.model.SentenceEmbeddings.Similarity;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * {@link SemanticSearch} (what {@code distilbert search} runs once the embeddings are there): Q
 * queries against N corpus rows of D floats, top 10 by cosine. The embeddings are read from the
 * .npy files that {@code bench/peer/search_peer.py} writes and times sentence-transformers'
 * {@code util.semantic_search} on ({@code -p dir=...}); one operation is one whole search. Setup
 * checks the hits against the peer's (the same corpus ids, where the peer's scores are apart by
 * more than 1e-6) and stops otherwise.
 *
 * <p>Run: {@code bench/run-search-bench.sh} (or {@code ./dev bench SearchBenchmark -p dir=DIR}).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules=jdk.incubator.vector"})
@Warmup(iterations = 3, time = 5)
@Measurement(iterations = 5, time = 5)
@State(Scope.Benchmark)
public class SearchBenchmark {

    /** Where search_peer.py wrote queries.npy, corpus.npy and hits.npy (int64 [Q, 10]). */
    @Param("")
    public String dir;

    private float[] queries, corpus;
    private int Q, N, D;

    @Setup
    public void load() throws IOException {
        if (dir.isEmpty()) throw new IllegalStateException("give -p dir=DIR (bench/peer/search_peer.py writes it)");
        Path d = Path.of(dir);
        int[] qs = new int[2], cs = new int[2];
        queries = readF32(d.resolve("queries.npy"), qs);
        corpus = readF32(d.resolve("corpus.npy"), cs);
        Q = qs[0];
        N = cs[0];
        D = qs[1];
        List<List<SemanticSearch.Hit>> hits = SemanticSearch.search(queries, Q, corpus, N, D, 10, Similarity.COSINE);
        ByteBuffer peer = data(d.resolve("hits.npy"));
        ByteBuffer peerScores = data(d.resolve("scores.npy"));
        int checked = 0;
        for (int q = 0; q < Q; q++) {
            for (int k = 0; k < 10; k++) {
                long want = peer.getLong((q * 10 + k) * 8);
                float score = peerScores.getFloat((q * 10 + k) * 4);
                boolean apart = (k == 0 || peerScores.getFloat((q * 10 + k - 1) * 4) - score > 1e-6)
                        && (k == 9 || score - peerScores.getFloat((q * 10 + k + 1) * 4) > 1e-6);
                if (apart && hits.get(q).get(k).corpusId() != want) {
                    throw new IllegalStateException("query " + q + " hit " + k + ": corpus_id " + hits.get(q).get(k).corpusId()
                            + ", util.semantic_search " + want);
                }
                if (Math.abs(hits.get(q).get(k).score() - score) > 1e-5) {
                    throw new IllegalStateException("query " + q + " hit " + k + ": score " + hits.get(q).get(k).score()
                            + ", util.semantic_search " + score);
                }
                checked++;
            }
        }
        System.out.println("same hits as util.semantic_search: " + checked + " checked, Q " + Q + ", N " + N + ", D " + D);
    }

    @Benchmark
    public List<List<SemanticSearch.Hit>> search() {
        return SemanticSearch.search(queries, Q, corpus, N, D, 10, Similarity.COSINE);
    }

    /** The data of a .npy file (version 1.0, as numpy.save writes small headers), little-endian. */
    private static ByteBuffer data(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        int header = b.getShort(8) & 0xffff;
        return b.position(10 + header).slice().order(ByteOrder.LITTLE_ENDIAN);
    }

    private static float[] readF32(Path file, int[] shape) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        int header = b.getShort(8) & 0xffff;
        String dict = new String(b.array(), 10, header, java.nio.charset.StandardCharsets.US_ASCII);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\((\\d+), (\\d+)\\)").matcher(dict);
        if (!m.find() || !dict.contains("<f4")) throw new IOException(file + ": not float32 (rows, dim): " + dict);
        shape[0] = Integer.parseInt(m.group(1));
        shape[1] = Integer.parseInt(m.group(2));
        float[] v = new float[shape[0] * shape[1]];
        b.position(10 + header).slice().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
        return v;
    }
}
