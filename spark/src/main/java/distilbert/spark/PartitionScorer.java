package distilbert.spark;

import distilbert.model.CrossEncoder;
import distilbert.model.DistilBert;
import distilbert.model.FillMask;
import distilbert.model.LengthBatches;
import distilbert.model.MultipleChoice;
import distilbert.model.QuestionAnswering;
import distilbert.model.SentenceEmbeddings;
import distilbert.model.SentenceTransformerDirectory;
import distilbert.model.TextClassification;
import distilbert.model.TokenClassification;
import distilbert.model.ZeroShotClassification;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.TokenizerException;
import distilbert.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/**
 * One partition through a pipeline, lazily: rows are read {@link SparkPipeline#withChunkRows chunk}
 * by chunk, the chunk's texts tokenized by the task's thread, then run on the executor's shared model
 * (taking its lock) in batches of similar length, and the chunk's rows given back in their order with
 * the result appended (and, with an error column, why a refused row was). An empty partition loads no
 * model. A row the pipeline refuses ({@link IllegalArgumentException}, {@link TokenizerException})
 * fails the task naming the partition and the chunk's rows, unless an error column takes it; any other
 * failure (a GPU out of memory, a CUDA error) fails the task as it is.
 */
final class PartitionScorer implements MapPartitionsFunction<Row, Row> {
    private static final long serialVersionUID = 1L;

    private final SparkPipeline pipeline;
    private final int[] columns;
    private final SparkPipeline.Counters counters;

    PartitionScorer(SparkPipeline pipeline, int[] columns, SparkPipeline.Counters counters) {
        this.pipeline = pipeline;
        this.columns = columns.clone();
        this.counters = counters;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> rows) {
        if (!rows.hasNext()) {
            return Collections.emptyIterator();
        }
        ExecutorModels.Loaded loaded = ExecutorModels.get(new ExecutorModels.Key(Path.of(pipeline.model),
                pipeline.deviceFor(TaskDevices.taskGpus()), pipeline.precision, pipeline.task == SparkPipeline.Task.RERANK));
        Scorer scorer = scorer(pipeline, loaded);
        TaskContext task = TaskContext.get();
        String where = task == null ? "" : " (partition " + task.partitionId() + ")";
        return new Iterator<>() {
            private List<Row> chunk = List.of();
            private int next;
            private long read;

            @Override
            public boolean hasNext() {
                if (next < chunk.size()) {
                    return true;
                }
                if (!rows.hasNext()) {
                    return false;
                }
                List<Row> in = new ArrayList<>(Math.min(pipeline.chunkRows, 1024));
                while (in.size() < pipeline.chunkRows && rows.hasNext()) {
                    in.add(rows.next());
                }
                Scored scored;
                try {
                    scored = score(scorer, loaded, in);
                } catch (IllegalArgumentException | TokenizerException e) {
                    throw new IllegalArgumentException(pipeline.task.cliName() + where + ", rows " + read + " to "
                            + (read + in.size() - 1) + " of the partition: " + e.getMessage(), e);
                }
                read += in.size();
                List<Row> out = new ArrayList<>(in.size());
                for (int i = 0; i < in.size(); i++) {
                    Row r = in.get(i);
                    Object[] values = new Object[r.length() + (pipeline.errorCol == null ? 1 : 2)];
                    for (int c = 0; c < r.length(); c++) {
                        values[c] = r.get(c);
                    }
                    values[r.length()] = scored.results().get(i);
                    if (pipeline.errorCol != null) {
                        values[r.length() + 1] = scored.errors().get(i);
                    }
                    out.add(RowFactory.create(values));
                }
                chunk = out;
                next = 0;
                return true;
            }

            @Override
            public Row next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return chunk.get(next++);
            }
        };
    }

    /** A chunk's results in its order (null where an input is null or the row was refused), and why each refused row was. */
    record Scored(List<Object> results, List<String> errors) {
    }

    /** The chunk's results in its order; null where an input column is null. */
    private Scored score(Scorer scorer, ExecutorModels.Loaded loaded, List<Row> in) {
        List<Integer> present = new ArrayList<>(in.size());
        List<String> first = new ArrayList<>(in.size());
        List<Object> second = new ArrayList<>(in.size());
        boolean bothRequired = pipeline.task == SparkPipeline.Task.QUESTION_ANSWERING || pipeline.secondColIsList();
        for (int i = 0; i < in.size(); i++) {
            Row r = in.get(i);
            String a = r.getString(columns[0]);
            Object b = columns.length < 2 || r.isNullAt(columns[1]) ? null
                    : pipeline.secondColIsList() ? r.getList(columns[1]) : r.getString(columns[1]);
            if (a == null || (bothRequired && b == null)) {
                continue;
            }
            present.add(i);
            first.add(a);
            second.add(b);
        }
        Object[] out = new Object[in.size()];
        String[] errors = new String[in.size()];
        if (!present.isEmpty()) {
            try {
                List<Object> values = run(scorer, loaded, first, second);
                for (int j = 0; j < present.size(); j++) {
                    out[present.get(j)] = values.get(j);
                }
            } catch (IllegalArgumentException | TokenizerException refused) {
                if (pipeline.errorCol == null) {
                    throw refused;
                }
                // which rows: each alone (a chunk with a refused row is rare; its other rows are run again)
                for (int j = 0; j < present.size(); j++) {
                    int i = present.get(j);
                    try {
                        out[i] = run(scorer, loaded, List.of(first.get(j)), Arrays.asList(second.get(j))).getFirst();
                    } catch (IllegalArgumentException | TokenizerException e) {
                        errors[i] = ONE_ROW.matcher(String.valueOf(e.getMessage())).replaceFirst("");
                    }
                }
            }
        }
        counters.rows().add(in.size());
        return new Scored(Arrays.asList(out), Arrays.asList(errors));
    }

    /** The pipeline's "row 0: " (or "row 0 has ") before a message about the only row it was given. */
    private static final java.util.regex.Pattern ONE_ROW = java.util.regex.Pattern.compile("^row 0(: | has )");

    /** Tokenizes on this thread, then runs on the executor's model (taking its turn), counting tokens and time. */
    private List<Object> run(Scorer scorer, ExecutorModels.Loaded loaded, List<String> first, List<Object> second) {
        Scorer.Prepared prepared = scorer.prepare(first, second);
        long[] tokens = {0};
        LengthBatches.Listener listener = (rows, t) -> tokens[0] += t;
        List<Object> values;
        long start;
        loaded.lock().lock();
        try {
            start = System.nanoTime();     // the model's time, not the wait for it
            values = prepared.run(listener);
        } finally {
            loaded.lock().unlock();
        }
        counters.modelMillis().add((System.nanoTime() - start) / 1_000_000);
        counters.tokens().add(tokens[0]);
        return values;
    }

    /** The strings of a pair or context column (each a String or null). */
    private static List<String> strings(List<Object> values) {
        List<String> out = new ArrayList<>(values.size());
        for (Object v : values) {
            out.add((String) v);
        }
        return out;
    }

    /** Row {@code i}'s question: its prompt and choices, refusing an empty list or a null choice. */
    private static MultipleChoice.Question question(int i, String prompt, List<?> choices) {
        List<String> cs = new ArrayList<>(choices.size());
        for (int c = 0; c < choices.size(); c++) {
            if (choices.get(c) == null) {
                throw new IllegalArgumentException("row " + i + ": choice " + c + " is null");
            }
            cs.add((String) choices.get(c));
        }
        if (cs.isEmpty()) {
            throw new IllegalArgumentException("row " + i + ": no choices");
        }
        return new MultipleChoice.Question(prompt, cs);
    }

    /** Row {@code i}'s documents, refusing a null one (an empty list is a query of no hits). */
    private static List<String> documents(int i, List<?> documents) {
        List<String> ds = new ArrayList<>(documents.size());
        for (int d = 0; d < documents.size(); d++) {
            if (documents.get(d) == null) {
                throw new IllegalArgumentException("row " + i + ": document " + d + " is null");
            }
            ds.add((String) documents.get(d));
        }
        return ds;
    }

    /** A task's pipeline: tokenize a chunk, then run it. */
    interface Scorer {
        /** {@code seconds}: the pair, context, choices or documents of each text (null where there is none). */
        Prepared prepare(List<String> texts, List<Object> seconds);

        interface Prepared {
            List<Object> run(LengthBatches.Listener listener);
        }
    }

    static Scorer scorer(SparkPipeline p, ExecutorModels.Loaded loaded) {
        DistilBert model = loaded.model();
        Tokenizer tok = loaded.tokenizer();
        return switch (p.task) {
            case EMBED -> {
                SentenceTransformerDirectory st = loaded.sentenceTransformer() != null ? loaded.sentenceTransformer()
                        : SentenceTransformerDirectory.read(Path.of(p.model));     // a CrossEncoder's directory: its error
                SentenceEmbeddings s = p.sentenceEmbeddings(model, st);
                Tokenizer prompted = s.tokenizer();     // lowercasing first where do_lower_case asks
                yield (texts, seconds) -> {
                    List<String> firsts = texts.stream().map(t -> t == null ? null : s.prompted(t)).toList();
                    List<Encoding> enc = prompted.encodeBatch(firsts, strings(seconds), s.encodeOptions());
                    return listener -> new ArrayList<>(s.embedEncodings(enc, listener));
                };
            }
            case TEXT_CLASSIFICATION -> {
                TextClassification tc = new TextClassification(model, tok);
                if (p.maxLength > 0) tc = tc.withMaxLength(p.maxLength);
                if (p.batchTokens > 0) tc = tc.withBatchTokens(p.batchTokens);
                TextClassification c = tc;
                yield (texts, seconds) -> {
                    List<Encoding> enc = c.encode(texts, strings(seconds));
                    return listener -> c.classifyEncodings(enc, listener).stream().map(r -> (Object) Outputs.classification(r)).toList();
                };
            }
            case TOKEN_CLASSIFICATION -> {
                TokenClassification tc = new TokenClassification(model, tok).withAggregation(p.aggregation);
                if (p.maxLength > 0) tc = tc.withMaxLength(p.maxLength);
                if (p.batchTokens > 0) tc = tc.withBatchTokens(p.batchTokens);
                TokenClassification c = tc;
                boolean groups = p.aggregation != TokenClassification.Aggregation.NONE;
                yield (texts, seconds) -> {
                    List<Encoding> enc = c.encode(texts);
                    return listener -> c.classifyEncodings(enc, listener).stream().map(es -> (Object) Outputs.entities(es, groups)).toList();
                };
            }
            case QUESTION_ANSWERING -> {
                QuestionAnswering qa = new QuestionAnswering(model, tok);
                if (p.maxLength > 0) qa = qa.withMaxSeqLen(p.maxLength);
                if (p.batchTokens > 0) qa = qa.withBatchTokens(p.batchTokens);
                QuestionAnswering q = qa;
                yield (questions, seconds) -> {
                    List<String> contexts = strings(seconds);
                    List<Encoding> enc = q.encode(questions, contexts);
                    return listener -> q.answerEncodings(enc, contexts, listener).stream()
                            .map(as -> as.isEmpty() ? null : (Object) Outputs.answer(as.getFirst())).toList();
                };
            }
            case ZERO_SHOT_CLASSIFICATION -> {
                ZeroShotClassification zs = new ZeroShotClassification(model, tok).withMultiLabel(p.multiLabel);
                if (p.hypothesisTemplate != null) zs = zs.withHypothesisTemplate(p.hypothesisTemplate);
                if (p.maxLength > 0) zs = zs.withMaxLength(p.maxLength);
                if (p.batchTokens > 0) zs = zs.withBatchTokens(p.batchTokens);
                ZeroShotClassification z = zs;
                yield (texts, seconds) -> {
                    List<ZeroShotClassification.Query> queries = texts.stream()
                            .map(t -> new ZeroShotClassification.Query(t, p.candidateLabels)).toList();
                    List<Encoding> enc = z.encode(queries);
                    return listener -> z.classifyEncodings(queries, enc, listener).stream().map(r -> (Object) Outputs.zeroShot(r)).toList();
                };
            }
            case FILL_MASK -> {
                FillMask fm = new FillMask(model, tok).withTopK(p.topK);
                if (p.targets != null) fm = fm.withTargets(p.targets);
                if (p.maxLength > 0) fm = fm.withMaxLength(p.maxLength);
                if (p.batchTokens > 0) fm = fm.withBatchTokens(p.batchTokens);
                FillMask f = fm;
                yield (texts, seconds) -> {
                    List<Encoding> enc = f.encode(texts);
                    return listener -> f.fillEncodings(enc, listener).stream().map(r -> (Object) Outputs.fillMask(r)).toList();
                };
            }
            case MULTIPLE_CHOICE -> {
                MultipleChoice mc = new MultipleChoice(model, tok);
                if (p.maxLength > 0) mc = mc.withMaxLength(p.maxLength);
                if (p.batchTokens > 0) mc = mc.withBatchTokens(p.batchTokens);
                MultipleChoice m = mc;
                yield (prompts, seconds) -> {
                    List<MultipleChoice.Question> questions = new ArrayList<>(prompts.size());
                    for (int i = 0; i < prompts.size(); i++) {
                        questions.add(question(i, prompts.get(i), (List<?>) seconds.get(i)));
                    }
                    List<Encoding> enc = m.encode(questions);
                    int[] numChoices = MultipleChoice.numChoices(questions);
                    return listener -> m.chooseEncodings(enc, numChoices, listener).stream()
                            .map(r -> (Object) Outputs.choice(r)).toList();
                };
            }
            case RERANK -> {
                CrossEncoder ce = p.crossEncoder(model, loaded.crossEncoder());
                yield (queries, seconds) -> {
                    // each row's (query, document) pairs, one after another: the rows' pairs run together, batched by length
                    List<List<String>> documents = new ArrayList<>(queries.size());
                    List<String> firsts = new ArrayList<>(), docs = new ArrayList<>();
                    for (int i = 0; i < queries.size(); i++) {
                        List<String> ds = documents(i, (List<?>) seconds.get(i));
                        documents.add(ds);
                        firsts.addAll(Collections.nCopies(ds.size(), queries.get(i)));
                        docs.addAll(ds);
                    }
                    List<Encoding> pairs = ce.encode(firsts, docs);
                    int[] numDocuments = documents.stream().mapToInt(List::size).toArray();
                    List<List<String>> texts = p.documentTexts ? documents : null;
                    return listener -> ce.rankEncodings(pairs, numDocuments, texts, p.topK, listener).stream()
                            .map(hits -> (Object) Outputs.hits(hits, p.documentTexts)).toList();
                };
            }
        };
    }
}
