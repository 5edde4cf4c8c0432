package distilbert.model;

import distilbert.model.SentenceEmbeddings.Similarity;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.PriorityQueue;
import java.util.stream.IntStream;

/**
 * sentence-transformers' {@code util.semantic_search}: for each query embedding, the {@code topK}
 * corpus embeddings that score highest under a {@link Similarity} (cosine by default), best first.
 *
 * <pre>{@code
 * List<float[]> corpus = st.forDocuments().embed(passages), queries = st.forQueries().embed(questions);
 * List<List<SemanticSearch.Hit>> hits = SemanticSearch.search(queries, corpus, 10, st.similarity());
 * }</pre>
 *
 * <p>Cosine and dot scores are matrix products of query and corpus chunks, float32 with float32
 * accumulation on the CPU backend's vectorised kernel (as torch's {@code mm} computes them; cosine
 * first divides each vector by max(‖v‖, 1e-12), as {@code cos_sim} does); euclidean and manhattan
 * distances are summed in double. The corpus is scanned in chunks, so memory beyond the
 * embeddings is bounded. Equal scores rank by smaller corpus id; a NaN score ranks first, as
 * {@code torch.topk} ranks it.
 */
public final class SemanticSearch {

    /** One result: the corpus row and its score. */
    public record Hit(int corpusId, float score) {
    }

    static final int QUERY_CHUNK = 256;
    static final int CORPUS_CHUNK = 32768;

    private SemanticSearch() {
    }

    /** {@link #search(float[], int, float[], int, int, int, Similarity)} over lists of vectors of one length. */
    public static List<List<Hit>> search(List<float[]> queries, List<float[]> corpus, int topK, Similarity f) {
        int D = queries.isEmpty() ? (corpus.isEmpty() ? 0 : corpus.getFirst().length) : queries.getFirst().length;
        return search(flatten(queries, D, "query"), queries.size(), flatten(corpus, D, "corpus"), corpus.size(), D, topK, f);
    }

    /**
     * The {@code topK} best corpus rows for each query, best first.
     *
     * @param queries [Q, D] row-major
     * @param corpus  [N, D] row-major
     * @param topK    at least 1; fewer hits when the corpus is smaller
     * @return Q lists of min(topK, N) hits
     */
    public static List<List<Hit>> search(float[] queries, int Q, float[] corpus, int N, int D, int topK, Similarity f) {
        if (topK < 1) throw new IllegalArgumentException("top k must be at least 1, got " + topK);
        if ((long) Q * D != queries.length || (long) N * D != corpus.length) {
            throw new IllegalArgumentException("semantic search: " + queries.length + " query values for " + Q + " rows and "
                    + corpus.length + " corpus values for " + N + " rows of " + D);
        }
        List<PriorityQueue<Hit>> best = new ArrayList<>(Q);
        for (int i = 0; i < Q; i++) best.add(new PriorityQueue<>(topK + 1, SemanticSearch::worseFirst));
        float[] qs = queries.clone();
        if (f == Similarity.COSINE) normalizeRows(qs, D);
        try (CpuOps ops = f == Similarity.COSINE || f == Similarity.DOT ? CpuOps.create() : null) {
            // corpus chunks outside (each normalised and copied once), query chunks inside
            for (int n0 = 0; n0 < N; n0 += CORPUS_CHUNK) {
                int nn = Math.min(CORPUS_CHUNK, N - n0);
                float[] chunk = Arrays.copyOfRange(corpus, n0 * D, (n0 + nn) * D);
                if (f == Similarity.COSINE) normalizeRows(chunk, D);
                try (Ops.Scope scope = ops == null ? null : ops.scope()) {
                    Buffer corpusBuffer = ops == null ? null : ops.bufferOf(chunk);
                    for (int q0 = 0; q0 < Q; q0 += QUERY_CHUNK) {
                        int qn = Math.min(QUERY_CHUNK, Q - q0);
                        float[] scores = scores(ops, f, corpusBuffer, chunk, nn, qs, q0, qn, D);   // [nn, qn]
                        offer(scores, nn, qn, n0, best.subList(q0, q0 + qn), topK);
                    }
                }
            }
        }
        List<List<Hit>> out = new ArrayList<>(Q);
        for (PriorityQueue<Hit> heap : best) {
            List<Hit> hits = new ArrayList<>(heap);
            hits.sort((x, y) -> worseFirst(y, x));
            out.add(List.copyOf(hits));
        }
        return out;
    }

    /**
     * Each query's scores of a corpus chunk into its heap. The scores are [nn, qn] (a corpus row's
     * scores side by side); each thread takes a range of queries and reads its part of every row.
     */
    private static void offer(float[] scores, int nn, int qn, int n0, List<PriorityQueue<Hit>> heaps, int topK) {
        int parts = Math.min(qn, Runtime.getRuntime().availableProcessors() * 4);
        IntStream.range(0, parts).parallel().forEach(t -> {
            int i0 = t * qn / parts, i1 = (t + 1) * qn / parts;
            float[] floor = new float[i1 - i0];      // the worst kept score, once a heap is full
            boolean[] full = new boolean[i1 - i0];
            for (int j = 0; j < nn; j++) {
                int row = j * qn;
                for (int i = i0; i < i1; i++) {
                    float score = scores[row + i];
                    if (full[i - i0] && score < floor[i - i0]) continue;                 // the common case: not a hit
                    PriorityQueue<Hit> heap = heaps.get(i);
                    if (heap.size() < topK) {
                        heap.add(new Hit(n0 + j, score));
                    } else if (compare(heap.peek().score(), heap.peek().corpusId(), score, n0 + j) < 0) {
                        heap.poll();
                        heap.add(new Hit(n0 + j, score));
                    } else {
                        continue;
                    }
                    full[i - i0] = heap.size() == topK;
                    Hit worst = heap.peek();
                    floor[i - i0] = Float.isNaN(worst.score()) ? Float.POSITIVE_INFINITY : worst.score();
                }
            }
        });
    }

    /** The order of a min-heap of the best hits: negative when {@code a} ranks after {@code b}. */
    private static int worseFirst(Hit a, Hit b) {
        return compare(a.score(), a.corpusId(), b.score(), b.corpusId());
    }

    /** Negative when (score a, id a) ranks after (score b, id b). */
    private static int compare(float a, int idA, float b, int idB) {
        boolean an = Float.isNaN(a), bn = Float.isNaN(b);
        if (an != bn) return an ? 1 : -1;                                           // NaN ranks first
        int c = an ? 0 : Float.compare(a, b);
        return c != 0 ? c : Integer.compare(idB, idA);                              // equal: the smaller id ranks first
    }

    /** The scores of the corpus chunk's nn rows against queries [q0, q0 + qn): [nn, qn]. */
    private static float[] scores(CpuOps ops, Similarity f, Buffer corpusBuffer, float[] chunk, int nn, float[] qs, int q0,
                                  int qn, int D) {
        if (ops != null) {
            // the corpus rows as the matrix product's rows and the queries as its (small, packed once) weight
            Buffer out = ops.allocateUninitialized((long) nn * qn);
            ops.matmulForward(out, corpusBuffer, ops.bufferOf(Arrays.copyOfRange(qs, q0 * D, (q0 + qn) * D)), null, nn, D, qn);
            return ops.download(out);
        }
        float[] out = new float[nn * qn];
        IntStream.range(0, nn).parallel().forEach(j -> {
            for (int i = 0; i < qn; i++) {
                double s = 0;
                for (int d = 0; d < D; d++) {
                    double x = (double) qs[(q0 + i) * D + d] - chunk[j * D + d];
                    s += f == Similarity.EUCLIDEAN ? x * x : Math.abs(x);
                }
                out[j * qn + i] = (float) (f == Similarity.EUCLIDEAN ? -Math.sqrt(s) : -s);
            }
        });
        return out;
    }

    /** Each row divided by max(‖row‖, 1e-12), in place: torch's F.normalize, what cos_sim does first. */
    static void normalizeRows(float[] rows, int D) {
        IntStream.range(0, D == 0 ? 0 : rows.length / D).parallel().forEach(r -> {
            double sq = 0;
            for (int d = 0; d < D; d++) sq += (double) rows[r * D + d] * rows[r * D + d];
            double norm = Math.max(Math.sqrt(sq), 1e-12);
            for (int d = 0; d < D; d++) rows[r * D + d] = (float) (rows[r * D + d] / norm);
        });
    }

    private static float[] flatten(List<float[]> rows, int D, String what) {
        float[] out = new float[Math.multiplyExact(rows.size(), D)];
        for (int i = 0; i < rows.size(); i++) {
            if (rows.get(i).length != D) {
                throw new IllegalArgumentException("semantic search: " + what + " " + i + " has " + rows.get(i).length
                        + " values; expected " + D);
            }
            System.arraycopy(rows.get(i), 0, out, i * D, D);
        }
        return out;
    }
}
