package example;

import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.SentenceEmbeddings;
import distilbert.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * Semantic search with a sentence-transformers model (all-MiniLM-L6-v2, converted by {@code distilbert
 * convert}): the documents are embedded once, each query is embedded and compared with all of them by
 * cosine similarity (a dot product: the embeddings are normalised), and the best matches are printed.
 * The whole program is the library's public API: {@link DistilBert#load}, {@link SentenceEmbeddings}.
 *
 * <pre>
 * examples/semantic-search.sh build/models/all-MiniLM-L6-v2 "Where do penguins live?" [--device cuda:0] [--documents FILE]
 * </pre>
 */
public final class SemanticSearch {

    /** The documents searched when no --documents file is given. */
    public static final List<String> DOCUMENTS = List.of(
            "Penguins live almost exclusively in the Southern Hemisphere, most of them around Antarctica.",
            "The Great Wall of China is thousands of kilometres long.",
            "A GPU runs thousands of threads at once, which suits matrix products.",
            "Bread is made from flour, water, salt and yeast.",
            "The Pacific is the largest and deepest of the Earth's oceans.",
            "Football is the most popular sport in the world.",
            "Mount Everest is the highest mountain above sea level.",
            "Java programs run on the Java Virtual Machine.");

    /** A document and its similarity to the query. */
    public record Match(String document, float score) {}

    private final SentenceEmbeddings embeddings;
    private final List<String> documents;
    private final List<float[]> documentVectors;

    /** Embeds {@code documents} with {@code model}'s encoder (mean pooling, normalised, as all-MiniLM-L6-v2). */
    public SemanticSearch(DistilBert model, Tokenizer tokenizer, List<String> documents) {
        this.embeddings = new SentenceEmbeddings(model, tokenizer).withNormalize(true);
        this.documents = List.copyOf(documents);
        this.documentVectors = embeddings.embed(this.documents);
    }

    /** The {@code k} documents most similar to {@code query}, best first. */
    public List<Match> search(String query, int k) {
        float[] q = embeddings.embed(List.of(query)).getFirst();
        List<Match> matches = new ArrayList<>();
        for (int i = 0; i < documents.size(); i++) matches.add(new Match(documents.get(i), dot(q, documentVectors.get(i))));
        matches.sort(Comparator.comparingDouble(Match::score).reversed());
        return matches.subList(0, Math.min(k, matches.size()));
    }

    private static float dot(float[] a, float[] b) {
        float s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    public static void main(String[] args) throws IOException {
        System.exit(run(args, System.out, System.err));
    }

    /** {@link #main} without the exit: 0 done, 2 usage error. */
    public static int run(String[] args, PrintStream out, PrintStream err) throws IOException {
        Device device = Device.AUTO;
        Path documentsFile = null;
        List<String> positional = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--device") && i + 1 < args.length) {
                device = Device.parse(args[++i]);
            } else if (args[i].equals("--documents") && i + 1 < args.length) {
                documentsFile = Path.of(args[++i]);
            } else {
                positional.add(args[i]);
            }
        }
        if (positional.size() < 2) {
            err.println("usage: SemanticSearch MODEL_DIR QUERY... [--device auto|cpu|cuda|cuda:N] [--documents FILE]");
            return 2;
        }
        Path dir = Path.of(positional.getFirst());
        List<String> documents = documentsFile == null ? DOCUMENTS
                : Files.readAllLines(documentsFile).stream().filter(l -> !l.isBlank()).toList();
        try (DistilBert model = DistilBert.load(dir, device)) {
            SemanticSearch search = new SemanticSearch(model, Tokenizer.fromPretrained(dir), documents);
            out.println(documents.size() + " documents, on " + model.ops().describe());
            for (String query : positional.subList(1, positional.size())) {
                out.println();
                out.println(query);
                for (Match m : search.search(query, 3)) {
                    out.println(String.format(Locale.ROOT, "  %.3f  %s", m.score(), m.document()));
                }
            }
        }
        return 0;
    }
}
