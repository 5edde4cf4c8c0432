package distilbert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.model.SemanticSearch;
import distilbert.model.SentenceEmbeddings;
import distilbert.model.SentenceEmbeddings.Similarity;
import distilbert.model.SentenceTransformerDirectory;
import distilbert.model.SparseEmbeddings;
import distilbert.weights.ModelDirectory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code distilbert search}: sentence-transformers' {@code util.semantic_search}. The corpus and the
 * queries are embedded by {@code embed} (documents as {@code encode_document}, queries as
 * {@code encode_query}: with the model's "document"/"passage"/"corpus" and "query" prompts) or read
 * from {@code .npy} files that {@code embed --format npy} wrote, then each query's best corpus rows
 * are written as one JSON line, in query order ({@link SemanticSearch}).
 */
@Command(name = "search", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, sortOptions = false,
        usageHelpWidth = 100,
        description = {
            "Semantic search, as sentence-transformers' util.semantic_search: the corpus rows most similar to each query.",
            "",
            "The corpus (--corpus, JSONL {\"text\": ...} lines) and the queries (--queries, the same; default stdin) are "
                    + "embedded with --model as `distilbert embed` embeds them (on the GPU when there is one), the corpus "
                    + "with the model's \"document\", \"passage\" or \"corpus\" prompt and the queries with its \"query\" "
                    + "prompt where it has them (encode_document, encode_query). Either can instead be an .npy file of "
                    + "embeddings (--corpus-embeddings, --query-embeddings; what `embed --format npy` writes), so that a "
                    + "corpus is embedded once and searched many times.",
            "",
            "Output: one line per query, in query order: {\"hits\": [{\"corpus_id\": 17, \"score\": 0.83, \"text\": ...}, "
                    + "...]}, best first (corpus_id: the corpus row, from 0; text: with --corpus only). Equal scores rank "
                    + "by smaller corpus_id.",
            "",
            "With --rerank DIR, a cross-encoder then reads each query with each of its hits, as `distilbert rerank` does "
                    + "(sentence-transformers' retrieve and rerank): the hits are ordered by its score (\"score\"), the "
                    + "similarity kept as \"search_score\", the best --rerank-top-k kept.",
            ""},
        footer = {"",
            "Examples:",
            "  distilbert search --model models/multi-qa-distilbert-cos-v1 --corpus docs.jsonl --queries questions.jsonl",
            "  distilbert embed --model DIR --format npy --input docs.jsonl --output docs.npy   # once",
            "  distilbert search --model DIR --corpus-embeddings docs.npy --queries q.jsonl --top-k 5",
            "  distilbert search --model DIR --corpus docs.jsonl --queries q.jsonl --top-k 100 --rerank CROSS-ENCODER --rerank-top-k 10",
            "",
            "Exit codes: 0 done, 1 failed (unusable model, unreadable input or .npy file, dimensions that differ), "
                    + "2 usage error."})
final class SearchCommand implements Callable<Integer> {

    @ParentCommand
    Main main;

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "DIR", description = "The model that embeds --corpus and --queries: a "
            + "sentence-transformers directory or any DistilBERT directory, as for `embed`. Its similarity_fn_name is "
            + "the default --score-function.")
    Path model;

    @Option(names = "--corpus", paramLabel = "FILE", description = "JSONL documents to search, embedded with --model.")
    Path corpus;

    @Option(names = "--corpus-embeddings", paramLabel = "FILE.npy", description = "The corpus as float32 (rows, dim) "
            + "embeddings instead (`embed --format npy`). With --corpus too, its lines are the rows' texts.")
    Path corpusEmbeddings;

    @Option(names = "--queries", paramLabel = "FILE", description = "JSONL queries, embedded with --model. Default (or -): "
            + "stdin, unless --query-embeddings is given.")
    Path queries;

    @Option(names = "--query-embeddings", paramLabel = "FILE.npy", description = "The queries as float32 (rows, dim) "
            + "embeddings instead.")
    Path queryEmbeddings;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "10", description = "Hits per query. Default: ${DEFAULT-VALUE}.")
    int topK;

    @Option(names = "--score-function", paramLabel = "F", description = "cosine, dot, euclidean (minus the L2 distance) "
            + "or manhattan (minus the L1 distance). Default: the model's similarity_fn_name, else cosine (as "
            + "util.semantic_search).")
    String scoreFunction;

    @Option(names = "--rerank", paramLabel = "DIR", description = "Rerank each query's hits with this cross-encoder, as "
            + "`distilbert rerank` does (retrieve and rerank): the hits' \"score\" becomes the cross-encoder's, \"search_score\" "
            + "keeps the similarity, best first. Needs --corpus (the hits' texts) and queries as text.")
    Path rerank;

    @Option(names = "--rerank-top-k", paramLabel = "K", description = "With --rerank: hits kept after reranking. Default: "
            + "all --top-k.")
    Integer rerankTopK;

    @Option(names = "--output", paramLabel = "FILE", description = "JSONL to write. Default (or -): stdout.")
    Path output;

    @Option(names = "--device", paramLabel = "DEVICE", description = "As for `embed`. Default: auto.")
    String device;

    @Option(names = "--precision", paramLabel = "PRECISION", description = "As for `embed`.")
    String precision;

    @Option(names = "--batch-tokens", paramLabel = "N", description = "As for `embed`.")
    Integer batchTokens;

    @Option(names = "--max-length", paramLabel = "N", description = "As for `embed`.")
    Integer maxLength;

    @Option(names = "--verbose", description = "Print the stack trace of an error.")
    boolean verbose;

    @Override
    public Integer call() throws IOException {
        if (topK < 1) throw usage("--top-k must be at least 1, got " + topK);
        if (corpus == null && corpusEmbeddings == null) throw usage("give --corpus FILE (JSONL) or --corpus-embeddings FILE.npy");
        if (queries != null && queryEmbeddings != null) throw usage("give --queries or --query-embeddings, not both");
        boolean embedsCorpus = corpusEmbeddings == null, embedsQueries = queryEmbeddings == null;
        if (rerank != null && corpus == null) throw usage("--rerank reads the hits' texts: give --corpus FILE");
        if (rerank != null && !embedsQueries) throw usage("--rerank reads the queries' texts: give --queries FILE, not --query-embeddings");
        if (rerankTopK != null && rerank == null) throw usage("--rerank-top-k goes with --rerank DIR");
        if (rerankTopK != null && rerankTopK < 1) throw usage("--rerank-top-k must be at least 1, got " + rerankTopK);
        if ((embedsCorpus || embedsQueries) && model == null) {
            throw usage("--model DIR is needed to embed " + (embedsCorpus ? "--corpus" : "the queries")
                    + " (or give " + (embedsCorpus ? "--corpus-embeddings" : "--query-embeddings") + ")");
        }
        boolean sparse = model != null && SparseEmbeddings.Directory.isSparseEncoder(model);
        if (sparse && (corpusEmbeddings != null || queryEmbeddings != null)) {
            throw usage("a sparse encoder's search embeds --corpus and the queries itself (.npy embeddings are dense ones)");
        }
        if (sparse && scoreFunction != null && !scoreFunction.equals("dot")) {
            throw usage("--score-function: a sparse encoder's vectors are compared by their dot product (dot), not "
                    + scoreFunction);
        }
        Similarity f;
        SentenceTransformerDirectory st = model == null || sparse ? null : EmbedCommand.sentenceTransformers(model);
        try {
            f = scoreFunction != null ? Similarity.named(scoreFunction)
                    : st != null && st.similarityFnName() != null ? Similarity.named(st.similarityFnName()) : Similarity.COSINE;
        } catch (IllegalArgumentException e) {
            throw usage("--score-function: " + e.getMessage());
        }
        Path tmp = Files.createTempDirectory("distilbert-search");
        try {
            Path queryFile = queries == null ? Path.of("-") : queries;
            if (rerank != null && queryFile.toString().equals("-")) {   // read twice: to embed, then to rerank with
                queryFile = tmp.resolve("queries.jsonl");
                Files.copy(main.io().in(), queryFile);
            }
            Path queryInput = queryFile;
            List<List<SemanticSearch.Hit>> hits;
            int corpusRows;
            if (sparse) {
                SparseEmbeddings.Directory dir = EmbedCommand.sparseEncoder(model);
                int V = ModelDirectory.readConfig(dir.transformer()).vocabSize();
                String documentPrompt = SentenceEmbeddings.documentPromptName(dir.prompts());
                List<List<SparseEmbeddings.Vector>> both = sharingTheModel(() -> List.of(
                        sparseVectors(corpus, documentPrompt, tmp.resolve("corpus.jsonl"), V),
                        sparseVectors(queryInput, dir.prompts().containsKey("query") ? "query" : null,
                                tmp.resolve("queries-sparse.jsonl"), V)));
                List<SparseEmbeddings.Vector> docs = both.get(0);
                hits = SparseEmbeddings.search(both.get(1), docs, topK);
                corpusRows = docs.size();
            } else {
                NpyInput[] both = sharingTheModel(() -> new NpyInput[] {
                    NpyInput.read(embedsCorpus ? embed(corpus, SentenceEmbeddings.documentPromptName(st.prompts()),
                            tmp.resolve("corpus.npy")) : corpusEmbeddings),
                    NpyInput.read(embedsQueries ? embed(queryInput,
                            st.prompts().containsKey("query") ? "query" : null, tmp.resolve("queries.npy")) : queryEmbeddings)});
                NpyInput corpusVectors = both[0], queryVectors = both[1];
                if (corpusVectors.dim() != queryVectors.dim() && queryVectors.rows() > 0 && corpusVectors.rows() > 0) {
                    throw new CliException("the corpus embeddings have " + corpusVectors.dim() + " values ("
                            + corpusVectors.file() + ") but the queries' have " + queryVectors.dim() + " (" + queryVectors.file() + ")");
                }
                hits = SemanticSearch.search(queryVectors.values(), queryVectors.rows(),
                        corpusVectors.values(), corpusVectors.rows(), queryVectors.rows() > 0 ? queryVectors.dim() : corpusVectors.dim(),
                        topK, f);
                corpusRows = corpusVectors.rows();
            }
            Map<Integer, String> texts = corpus == null ? Map.of() : texts(hits, corpusRows);
            List<List<Ranked>> ranked = rerank == null ? hits.stream().map(list -> list.stream()
                    .map(h -> new Ranked(h.corpusId(), h.score(), Float.NaN)).toList()).toList()
                    : reranked(hits, texts, queryInput, tmp);
            try (JsonlOutput out = JsonlOutput.open(output, main.io().out())) {
                out.write(ranked, (gen, list) -> {
                    gen.writeStartObject();
                    gen.writeArrayFieldStart("hits");
                    for (Ranked h : list) {
                        gen.writeStartObject();
                        gen.writeNumberField("corpus_id", h.corpusId());
                        gen.writeNumberField("score", h.score());
                        if (rerank != null) gen.writeNumberField("search_score", h.searchScore());
                        if (corpus != null) gen.writeStringField("text", texts.get(h.corpusId()));
                        gen.writeEndObject();
                    }
                    gen.writeEndArray();
                    gen.writeEndObject();
                }, list -> 64 * list.size() + 16);
            }
        } finally {
            try (var files = Files.list(tmp)) {
                for (Path p : files.toList()) Files.deleteIfExists(p);
            }
            Files.deleteIfExists(tmp);
        }
        return Main.OK;
    }

    /** Runs {@code distilbert embed} on {@code input} into the .npy file {@code npy}; its error ends the search. */
    private Path embed(Path input, String promptName, Path npy) {
        List<String> args = new ArrayList<>(List.of("embed", "--model", model.toString(), "--input", input.toString(),
                "--format", "npy", "--output", npy.toString()));
        if (promptName != null) args.addAll(List.of("--prompt-name", promptName));
        if (maxLength != null) args.addAll(List.of("--max-length", maxLength.toString()));
        inner(args);
        return npy;
    }

    /**
     * Runs {@code op} (the corpus's and the queries' embed runs) sharing one loaded model: the first
     * run loads it, the second reuses it (as do the runs of a scope around this one).
     */
    private static <T> T sharingTheModel(ScopedValue.CallableOp<T, IOException> op) throws IOException {
        try (SharedModels own = SharedModels.CURRENT.isBound() ? null : new SharedModels()) {
            return ScopedValue.where(SharedModels.CURRENT, own != null ? own : SharedModels.CURRENT.get()).call(op);
        }
    }

    /**
     * Runs {@code distilbert embed} of a sparse encoder on {@code input} into the JSONL file {@code out},
     * and reads its vectors back (of {@code V} dimensions).
     */
    private List<SparseEmbeddings.Vector> sparseVectors(Path input, String promptName, Path out, int V) throws IOException {
        List<String> args = new ArrayList<>(List.of("embed", "--model", model.toString(), "--input", input.toString(),
                "--output", out.toString()));
        if (promptName != null) args.addAll(List.of("--prompt-name", promptName));
        if (maxLength != null) args.addAll(List.of("--max-length", maxLength.toString()));
        inner(args);
        ObjectMapper json = new ObjectMapper();
        List<SparseEmbeddings.Vector> vectors = new ArrayList<>();
        try (var lines = Files.lines(out)) {
            for (String line : (Iterable<String>) lines::iterator) {
                JsonNode o = json.readTree(line);
                int[] indices = new int[o.get("indices").size()];
                float[] values = new float[indices.length];
                for (int k = 0; k < indices.length; k++) {
                    indices[k] = o.get("indices").get(k).asInt();
                    values[k] = o.get("values").get(k).floatValue();
                }
                vectors.add(new SparseEmbeddings.Vector(indices, values, V));
            }
        }
        return vectors;
    }

    /** Runs an inner command ({@code embed}, {@code rerank}) with the run options; its error ends the search. */
    private void inner(List<String> args) {
        if (device != null) args.addAll(List.of("--device", device));
        if (precision != null) args.addAll(List.of("--precision", precision));
        if (batchTokens != null) args.addAll(List.of("--batch-tokens", batchTokens.toString()));
        if (verbose) args.add("--verbose");
        Main.Io io = main.io();
        int code = Main.run(args.toArray(String[]::new), io.in(), io.out(), io.err(), io.errIsTerminal());
        if (code != Main.OK) throw new Embedding(code);
    }

    /** A hit as written: its corpus row, its score, and with --rerank the similarity it was found by. */
    private record Ranked(int corpusId, float score, float searchScore) {}

    /**
     * Each query's hits reranked by the --rerank cross-encoder: an inner {@code distilbert rerank} run
     * over {"query": its text, "documents": its hits' texts} lines, its rankings mapped back to corpus rows.
     */
    private List<List<Ranked>> reranked(List<List<SemanticSearch.Hit>> hits, Map<Integer, String> texts, Path queryFile,
                                        Path tmp) throws IOException {
        List<String> queryTexts = new ArrayList<>(hits.size());
        try (JsonlInput in = JsonlInput.open(queryFile, main.io().in())) {
            for (List<JsonlInput.Row> batch; !(batch = in.readBatch(4096)).isEmpty(); ) {
                for (JsonlInput.Row r : batch) queryTexts.add(r.text());
            }
        }
        Path lines = tmp.resolve("rerank.jsonl"), ranked = tmp.resolve("reranked.jsonl");
        ObjectMapper json = new ObjectMapper();
        try (var w = Files.newBufferedWriter(lines)) {
            for (int q = 0; q < hits.size(); q++) {
                var line = json.createObjectNode().put("query", queryTexts.get(q));
                var docs = line.putArray("documents");
                for (SemanticSearch.Hit h : hits.get(q)) docs.add(texts.get(h.corpusId()));
                w.write(line.toString());
                w.write('\n');
            }
        }
        List<String> args = new ArrayList<>(List.of("rerank", "--model", rerank.toString(), "--input", lines.toString(),
                "--output", ranked.toString(), "--no-text"));
        if (rerankTopK != null) args.addAll(List.of("--top-k", rerankTopK.toString()));
        inner(args);
        List<List<Ranked>> out = new ArrayList<>(hits.size());
        List<String> results = Files.readAllLines(ranked);
        for (int q = 0; q < hits.size(); q++) {
            List<Ranked> list = new ArrayList<>();
            for (JsonNode h : json.readTree(results.get(q)).get("hits")) {
                SemanticSearch.Hit found = hits.get(q).get(h.get("corpus_id").asInt());
                list.add(new Ranked(found.corpusId(), h.get("score").floatValue(), found.score()));
            }
            out.add(list);
        }
        return out;
    }

    /** The texts of the corpus rows that are hits, read from --corpus in one pass. */
    private Map<Integer, String> texts(List<List<SemanticSearch.Hit>> hits, int rows) throws IOException {
        TreeSet<Integer> wanted = new TreeSet<>();
        hits.forEach(list -> list.forEach(h -> wanted.add(h.corpusId())));
        Map<Integer, String> out = new HashMap<>();
        try (JsonlInput in = JsonlInput.open(corpus, main.io().in())) {
            int row = 0;
            while (!wanted.isEmpty() && row <= wanted.last()) {
                List<JsonlInput.Row> batch = in.readBatch(4096);
                if (batch.isEmpty()) break;
                for (JsonlInput.Row r : batch) {
                    if (wanted.contains(row)) out.put(row, r.text());
                    row++;
                }
            }
            if (!wanted.isEmpty() && row <= wanted.last()) {
                throw new CliException(corpus + ": " + row + " rows, but the corpus embeddings have " + rows);
            }
        }
        return out;
    }

    /** An inner {@code embed} or {@code rerank} run that failed: it has said why on stderr; the search exits with its code. */
    static final class Embedding extends RuntimeException {
        final int code;

        Embedding(int code) {
            super(null, null, false, false);
            this.code = code;
        }
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }
}
