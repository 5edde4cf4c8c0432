package distilbert.spark;

import distilbert.model.DistilBert;
import distilbert.model.LengthBatches;
import distilbert.model.QuestionAnswering;
import distilbert.model.SentenceEmbeddings;
import distilbert.model.TextClassification;
import distilbert.model.TokenClassification;
import distilbert.model.ZeroShotClassification;
import distilbert.tokenizer.Encoding;
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
 * the result appended. An empty partition loads no model.
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
        ExecutorModels.Loaded loaded = ExecutorModels.get(new ExecutorModels.Key(
                Path.of(pipeline.model), pipeline.deviceFor(TaskDevices.taskGpus()), pipeline.precision));
        Scorer scorer = scorer(pipeline, loaded.model(), loaded.tokenizer());
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
                List<Object> results;
                try {
                    results = score(scorer, loaded, in);
                } catch (RuntimeException e) {
                    throw new IllegalArgumentException(pipeline.task.cliName() + where + ", rows " + read + " to "
                            + (read + in.size() - 1) + " of the partition: " + e.getMessage(), e);
                }
                read += in.size();
                List<Row> out = new ArrayList<>(in.size());
                for (int i = 0; i < in.size(); i++) {
                    Row r = in.get(i);
                    Object[] values = new Object[r.length() + 1];
                    for (int c = 0; c < r.length(); c++) {
                        values[c] = r.get(c);
                    }
                    values[r.length()] = results.get(i);
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

    /** The chunk's results in its order; null where an input column is null. */
    private List<Object> score(Scorer scorer, ExecutorModels.Loaded loaded, List<Row> in) {
        List<Integer> present = new ArrayList<>(in.size());
        List<String> first = new ArrayList<>(in.size()), second = new ArrayList<>(in.size());
        for (int i = 0; i < in.size(); i++) {
            Row r = in.get(i);
            String a = r.getString(columns[0]);
            String b = columns.length > 1 ? r.getString(columns[1]) : null;
            boolean required = columns.length > 1 && pipeline.task == SparkPipeline.Task.QUESTION_ANSWERING;
            if (a == null || (required && b == null)) {
                continue;
            }
            present.add(i);
            first.add(a);
            second.add(b);
        }
        Object[] out = new Object[in.size()];
        if (!present.isEmpty()) {
            Scorer.Prepared prepared = scorer.prepare(first, second);       // tokenizing: the task's own thread
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
            for (int j = 0; j < present.size(); j++) {
                out[present.get(j)] = values.get(j);
            }
        }
        counters.rows().add(in.size());
        return Arrays.asList(out);
    }

    /** A task's pipeline: tokenize a chunk, then run it. */
    interface Scorer {
        Prepared prepare(List<String> texts, List<String> seconds);

        interface Prepared {
            List<Object> run(LengthBatches.Listener listener);
        }
    }

    static Scorer scorer(SparkPipeline p, DistilBert model, Tokenizer tok) {
        return switch (p.task) {
            case EMBED -> {
                SentenceEmbeddings st = new SentenceEmbeddings(model, tok).withPooling(p.pooling).withNormalize(p.normalize);
                if (p.maxLength > 0) st = st.withMaxLength(p.maxLength);
                if (p.batchTokens > 0) st = st.withBatchTokens(p.batchTokens);
                SentenceEmbeddings s = st;
                yield (texts, seconds) -> {
                    List<Encoding> enc = tok.encodeBatch(texts, seconds, s.encodeOptions());
                    return listener -> new ArrayList<>(s.embedEncodings(enc, listener));
                };
            }
            case TEXT_CLASSIFICATION -> {
                TextClassification tc = new TextClassification(model, tok);
                if (p.maxLength > 0) tc = tc.withMaxLength(p.maxLength);
                if (p.batchTokens > 0) tc = tc.withBatchTokens(p.batchTokens);
                TextClassification c = tc;
                yield (texts, seconds) -> {
                    List<Encoding> enc = c.encode(texts, seconds);
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
                yield (questions, contexts) -> {
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
        };
    }
}
