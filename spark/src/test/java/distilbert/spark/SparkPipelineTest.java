package distilbert.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.model.CrossEncoder;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.QuestionAnswering;
import distilbert.model.SentenceEmbeddings;
import distilbert.model.TextClassification;
import distilbert.model.TokenClassification;
import distilbert.model.ZeroShotClassification;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every pipeline over a Spark Dataset against the same pipeline called directly, on the CPU: the
 * same values bit for bit (the CPU backend computes each row's values in an order that does not
 * depend on the rows batched with it, so batching by partition and chunk changes nothing), every
 * other column kept, the rows' order kept, null texts giving null.
 */
class SparkPipelineTest {

    @TempDir
    static Path dir;
    static Path base, classifier, tagger, reader, nli, mlm, chooser, reranker;
    static List<String> texts;

    @BeforeAll
    static void models() throws IOException {
        base = TinyModels.save(dir.resolve("base"), Head.BASE, List.of());
        classifier = TinyModels.save(dir.resolve("sst"), Head.SEQUENCE_CLASSIFICATION, List.of("NEGATIVE", "POSITIVE"));
        tagger = TinyModels.save(dir.resolve("ner"), Head.TOKEN_CLASSIFICATION, List.of("O", "B-PER", "I-PER", "B-LOC", "I-LOC"));
        reader = TinyModels.save(dir.resolve("qa"), Head.QUESTION_ANSWERING, List.of());
        nli = TinyModels.save(dir.resolve("nli"), Head.SEQUENCE_CLASSIFICATION, List.of("entailment", "neutral", "contradiction"));
        mlm = TinyModels.save(dir.resolve("mlm"), Head.MASKED_LM, List.of());
        chooser = TinyModels.save(dir.resolve("mc"), Head.MULTIPLE_CHOICE, List.of());
        reranker = TinyModels.save(dir.resolve("ce"), Head.SEQUENCE_CLASSIFICATION, List.of("LABEL_0"));
        texts = new ArrayList<>(TestSpark.corpus());
        texts.add(3, null);
    }

    /** The texts that are not null, in order. */
    static List<String> present() {
        return texts.stream().filter(t -> t != null).toList();
    }

    /** Collects, checks id, text and note are kept in order, and gives the appended column's values. */
    static List<Row> collect(Dataset<Row> scored, String col) {
        List<Row> rows = scored.collectAsList();
        assertEquals(texts.size(), rows.size());
        List<String> names = Arrays.asList(scored.columns());
        assertEquals(List.of("id", "text", "note", col), names);
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            assertEquals(i, r.getLong(0));
            assertEquals(texts.get(i), r.getString(1));
            assertEquals("n" + i, r.getString(2));
            if (texts.get(i) == null) assertNull(r.get(3), "row " + i);
        }
        return rows;
    }

    static float[] floats(List<Float> v) {
        float[] out = new float[v.size()];
        for (int i = 0; i < out.length; i++) out[i] = v.get(i);
        return out;
    }

    @Test
    void embeddingsAreTheLibrarysInInputOrder() throws IOException {
        Dataset<Row> scored = SparkPipeline.embeddings(base.toString()).withNormalize(true).withDevice("cpu").withChunkRows(7)
                .transform(TestSpark.texts(texts, 3));
        assertEquals(DataTypes.createArrayType(DataTypes.FloatType, false), scored.schema().apply("embedding").dataType());
        List<Row> rows = collect(scored, "embedding");
        List<float[]> expected;
        try (DistilBert db = DistilBert.load(base, Device.CPU)) {
            expected = new SentenceEmbeddings(db, Tokenizer.fromPretrained(base)).withNormalize(true).embed(present());
        }
        int j = 0;
        for (int i = 0; i < rows.size(); i++) {
            if (texts.get(i) == null) continue;
            float[] got = floats(rows.get(i).getList(3));
            assertEquals(16, got.length);
            assertArrayEquals(expected.get(j++), got, 0f, "row " + i);
        }
        // rows differ: the model is not a constant
        assertTrue(!Arrays.equals(floats(rows.get(0).getList(3)), floats(rows.get(1).getList(3))));
    }

    @Test
    void clsPoolingAndMaxLength() throws IOException {
        List<Row> rows = collect(SparkPipeline.embeddings(base.toString()).withPooling(SentenceEmbeddings.Pooling.CLS)
                .withMaxLength(8).withOutputCol("v").withDevice("cpu").transform(TestSpark.texts(texts, 2)), "v");
        List<float[]> expected;
        try (DistilBert db = DistilBert.load(base, Device.CPU)) {
            expected = new SentenceEmbeddings(db, Tokenizer.fromPretrained(base)).withPooling(SentenceEmbeddings.Pooling.CLS)
                    .withMaxLength(8).embed(present());
        }
        int j = 0;
        for (int i = 0; i < rows.size(); i++) {
            if (texts.get(i) != null) assertArrayEquals(expected.get(j++), floats(rows.get(i).getList(3)), 0f, "row " + i);
        }
    }

    @Test
    void truncateDimKeepsTheFirstValuesThenNormalizes() throws IOException {
        List<Row> rows = collect(SparkPipeline.embeddings(base.toString()).withTruncateDim(5).withNormalize(true)
                .withOutputCol("v").withDevice("cpu").transform(TestSpark.texts(texts, 2)), "v");
        List<float[]> expected;
        try (DistilBert db = DistilBert.load(base, Device.CPU)) {
            expected = new SentenceEmbeddings(db, Tokenizer.fromPretrained(base)).withTruncateDim(5).withNormalize(true)
                    .embed(present());
        }
        int j = 0;
        for (int i = 0; i < rows.size(); i++) {
            if (texts.get(i) == null) continue;
            float[] got = floats(rows.get(i).getList(3));
            assertEquals(5, got.length);
            assertArrayEquals(expected.get(j++), got, 0f, "row " + i);
        }
        assertThrows(IllegalArgumentException.class, () -> SparkPipeline.embeddings(base.toString()).withTruncateDim(-1));
        assertThrows(IllegalArgumentException.class, () -> SparkPipeline.textClassification(base.toString()).withTruncateDim(4));
    }

    /** A sentence-transformers directory around the base model: 0_Transformer, mean and max, Normalize, prompts left out. */
    static Path sentenceTransformer() throws IOException {
        Path st = dir.resolve("st");
        if (Files.isDirectory(st)) return st;
        Path transformer = Files.createDirectories(st.resolve("0_Transformer"));
        try (var files = Files.list(base)) {
            for (Path f : files.toList()) Files.copy(f, transformer.resolve(f.getFileName()));
        }
        Files.writeString(st.resolve("modules.json"), "[{\"idx\": 0, \"path\": \"0_Transformer\", \"type\": "
                + "\"sentence_transformers.models.Transformer\"}, {\"idx\": 1, \"path\": \"1_Pooling\", \"type\": "
                + "\"sentence_transformers.models.Pooling\"}, {\"idx\": 2, \"path\": \"2_Normalize\", \"type\": "
                + "\"sentence_transformers.models.Normalize\"}]");
        Files.createDirectories(st.resolve("1_Pooling"));
        Files.writeString(st.resolve("1_Pooling/config.json"), "{\"pooling_mode\": [\"mean\", \"max\"], \"include_prompt\": false}");
        Files.writeString(st.resolve("config_sentence_transformers.json"),
                "{\"prompts\": {\"query\": \"the query: \"}, \"default_prompt_name\": \"query\"}");
        return st;
    }

    @Test
    void aSentenceTransformersDirectoryEmbedsAsItsModulesSay() throws IOException {
        Path st = sentenceTransformer();
        List<Row> rows = collect(SparkPipeline.embeddings(st.toString()).withDevice("cpu").withChunkRows(4)
                .transform(TestSpark.texts(texts, 2)), "embedding");
        List<Row> none = collect(SparkPipeline.embeddings(st.toString()).withPrompt("").withDevice("cpu")
                .transform(TestSpark.texts(texts, 2)), "embedding");
        List<float[]> expected, expectedNone;
        try (DistilBert db = DistilBert.load(st.resolve("0_Transformer"), Device.CPU)) {
            SentenceEmbeddings library = SentenceEmbeddings.fromPretrained(db, st);
            assertEquals("the query: ", library.prompt());
            expected = library.embed(present());
            expectedNone = library.withPrompt(null).embed(present());
        }
        int j = 0;
        for (int i = 0; i < rows.size(); i++) {
            if (texts.get(i) == null) continue;
            float[] got = floats(rows.get(i).getList(3));
            assertEquals(32, got.length, "mean and max of dim 16");
            assertArrayEquals(expected.get(j), got, 0f, "row " + i);
            assertArrayEquals(expectedNone.get(j++), floats(none.get(i).getList(3)), 0f, "row " + i + " without the prompt");
        }
        assertTrue(!Arrays.equals(floats(rows.get(0).getList(3)), floats(none.get(0).getList(3))), "the prompt counts");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SparkPipeline.embeddings(st.toString()).withPromptName("passage").transform(TestSpark.texts(texts, 1)));
        assertEquals("embed: " + st + " has no prompt named 'passage'; its prompts are query", e.getMessage());
    }

    @Test
    void textClassificationIsTheLibrarys() throws IOException {
        Dataset<Row> scored = SparkPipeline.textClassification(classifier.toString()).withDevice("cpu").withChunkRows(5)
                .transform(TestSpark.texts(texts, 3));
        assertEquals(Outputs.CLASSIFICATION, scored.schema().apply("classification").dataType());
        List<Row> rows = collect(scored, "classification");
        List<TextClassification.Result> expected;
        try (DistilBert db = DistilBert.load(classifier, Device.CPU)) {
            expected = new TextClassification(db, Tokenizer.fromPretrained(classifier)).classify(present());
        }
        int j = 0;
        java.util.Set<Float> distinct = new java.util.HashSet<>();
        for (int i = 0; i < rows.size(); i++) {
            if (texts.get(i) == null) continue;
            TextClassification.Result want = expected.get(j++);
            Row got = rows.get(i).getStruct(3);
            assertEquals(want.best().label(), got.getString(0), "row " + i);
            assertEquals(want.best().score(), got.getFloat(1), 0f, "row " + i);
            assertArrayEquals(want.scores(), floats(got.getList(2)), 0f, "row " + i);
            distinct.add(got.getFloat(1));
        }
        assertTrue(distinct.size() > j / 2, "the scores differ from row to row: " + distinct.size() + " values in " + j + " rows");
    }

    @Test
    void textPairsAreClassifiedAsPairs() throws IOException {
        StructType schema = new StructType().add("a", DataTypes.StringType).add("b", DataTypes.StringType);
        List<Row> in = List.of(RowFactory.create("a cat sat", "on the mat"), RowFactory.create("Berlin", "Wolfgang lives there"),
                RowFactory.create("only a first text", null));
        List<Row> rows = SparkPipeline.textClassification(classifier.toString()).withInputCol("a").withPairCol("b")
                .withOutputCol("c").withDevice("cpu").transform(TestSpark.frame(in, schema, 2)).collectAsList();
        try (DistilBert db = DistilBert.load(classifier, Device.CPU)) {
            TextClassification tc = new TextClassification(db, Tokenizer.fromPretrained(classifier));
            for (int i = 0; i < in.size(); i++) {
                TextClassification.Result want = tc.classify(in.get(i).getString(0), in.get(i).getString(1));
                assertArrayEquals(want.scores(), floats(rows.get(i).getStruct(2).getList(2)), 0f, "row " + i);
            }
        }
    }

    @Test
    void entitiesAreTheLibrarys() throws IOException {
        for (TokenClassification.Aggregation a : List.of(TokenClassification.Aggregation.SIMPLE, TokenClassification.Aggregation.NONE)) {
            Dataset<Row> scored = SparkPipeline.tokenClassification(tagger.toString()).withAggregation(a).withDevice("cpu")
                    .transform(TestSpark.texts(texts, 3));
            List<Row> rows = collect(scored, "entities");
            List<List<TokenClassification.Entity>> expected;
            try (DistilBert db = DistilBert.load(tagger, Device.CPU)) {
                expected = new TokenClassification(db, Tokenizer.fromPretrained(tagger)).withAggregation(a).classify(present());
            }
            int j = 0, found = 0;
            for (int i = 0; i < rows.size(); i++) {
                if (texts.get(i) == null) continue;
                List<TokenClassification.Entity> want = expected.get(j++);
                List<Row> got = rows.get(i).getList(3);
                assertEquals(want.size(), got.size(), "row " + i);
                for (int k = 0; k < want.size(); k++) {
                    TokenClassification.Entity e = want.get(k);
                    Row g = got.get(k);
                    boolean group = a != TokenClassification.Aggregation.NONE;
                    assertEquals(e.label(), g.getAs(group ? "entity_group" : "entity"));
                    assertEquals(e.score(), (float) g.getAs("score"), 0f);
                    assertEquals(e.word(), g.getAs("word"));
                    assertEquals(e.start(), (int) g.getAs("start"));
                    assertEquals(e.end(), (int) g.getAs("end"));
                    if (!group) assertEquals(e.index(), (int) g.getAs("index"));
                    found++;
                }
            }
            assertTrue(found > 10, a + ": entities found " + found);
        }
    }

    @Test
    void answersAreTheLibrarys() throws IOException {
        StructType schema = new StructType().add("question", DataTypes.StringType).add("context", DataTypes.StringType);
        List<String> contexts = present().stream().filter(t -> !t.isEmpty()).toList();
        List<Row> in = new ArrayList<>();
        for (int i = 0; i < contexts.size(); i++) in.add(RowFactory.create(i % 2 == 0 ? "where does he live?" : "who sat?", contexts.get(i)));
        in.add(RowFactory.create(null, "a context without a question"));
        List<Row> rows = SparkPipeline.questionAnswering(reader.toString()).withDevice("cpu")
                .transform(TestSpark.frame(in, schema, 3)).collectAsList();
        try (DistilBert db = DistilBert.load(reader, Device.CPU)) {
            QuestionAnswering qa = new QuestionAnswering(db, Tokenizer.fromPretrained(reader));
            List<List<QuestionAnswering.Answer>> want = qa.answer(in.stream().limit(contexts.size()).map(r -> r.getString(0)).toList(),
                    contexts);
            for (int i = 0; i < contexts.size(); i++) {
                QuestionAnswering.Answer a = want.get(i).getFirst();
                Row g = rows.get(i).getStruct(2);
                assertEquals(a.score(), g.getDouble(0), 0d, "row " + i);
                assertEquals(a.start(), g.getInt(1));
                assertEquals(a.end(), g.getInt(2));
                assertEquals(a.answer(), g.getString(3));
                assertEquals(contexts.get(i).substring(contexts.get(i).offsetByCodePoints(0, a.start()),
                        contexts.get(i).offsetByCodePoints(0, a.end())), g.getString(3));
            }
        }
        assertNull(rows.getLast().get(2));
    }

    @Test
    void zeroShotIsTheLibrarys() throws IOException {
        List<String> labels = List.of("sports", "politics", "cooking");
        List<Row> rows = collect(SparkPipeline.zeroShotClassification(nli.toString(), labels).withMultiLabel(true)
                .withHypothesisTemplate("It is about {}.").withDevice("cpu").transform(TestSpark.texts(texts, 2)), "zero_shot");
        List<ZeroShotClassification.Result> expected;
        try (DistilBert db = DistilBert.load(nli, Device.CPU)) {
            ZeroShotClassification zs = new ZeroShotClassification(db, Tokenizer.fromPretrained(nli)).withMultiLabel(true)
                    .withHypothesisTemplate("It is about {}.");
            expected = zs.classify(present().stream().map(t -> new ZeroShotClassification.Query(t, labels)).toList());
        }
        int j = 0;
        for (int i = 0; i < rows.size(); i++) {
            if (texts.get(i) == null) continue;
            ZeroShotClassification.Result want = expected.get(j++);
            Row g = rows.get(i).getStruct(3);
            assertEquals(want.labels(), g.getList(0), "row " + i);
            assertArrayEquals(want.rankedScores(), floats(g.getList(1)), 0f, "row " + i);
        }
    }

    @Test
    void fillMaskIsTheLibrarysAListPerMask() throws IOException {
        List<String> masked = new ArrayList<>();
        for (String t : present()) {
            String[] w = (t.isEmpty() ? "a" : t).split(" ");
            w[w.length / 2] = "[MASK]";
            if (w.length > 3) w[0] = "[MASK]";                 // two masks in the longer rows
            masked.add(String.join(" ", w));
        }
        masked.add("no mask in this one");
        List<Row> rows = SparkPipeline.fillMask(mlm.toString()).withTopK(3).withErrorCol("why").withDevice("cpu")
                .transform(TestSpark.texts(masked, 3)).collectAsList();
        List<distilbert.model.FillMask.Result> want;
        try (DistilBert db = DistilBert.load(mlm, Device.CPU)) {
            want = new distilbert.model.FillMask(db, Tokenizer.fromPretrained(mlm)).withTopK(3)
                    .fill(masked.subList(0, masked.size() - 1));
        }
        int twoMasks = 0;
        for (int i = 0; i < want.size(); i++) {
            List<List<Row>> got = rows.get(i).getList(3).stream().map(m -> ((scala.collection.Seq<?>) m)).map(seq -> {
                List<Row> l = new ArrayList<>();
                seq.foreach(x -> l.add((Row) x));
                return l;
            }).toList();
            var w = want.get(i).predictions();
            assertEquals(w.size(), got.size(), "row " + i + " masks");
            if (w.size() == 2) twoMasks++;
            for (int m = 0; m < w.size(); m++) {
                assertEquals(3, got.get(m).size());
                for (int k = 0; k < 3; k++) {
                    var p = w.get(m).get(k);
                    Row g = got.get(m).get(k);
                    assertEquals(p.score(), g.getFloat(0), 0f, "row " + i);
                    assertEquals(p.token(), g.getInt(1));
                    assertEquals(p.tokenStr(), g.getString(2));
                    assertEquals(p.sequence(), g.getString(3));
                }
            }
            assertNull(rows.get(i).get(4));
        }
        assertTrue(twoMasks > 5, "rows with two masks: " + twoMasks);
        assertNull(rows.getLast().get(3));
        assertEquals("no mask token ([MASK]) in the text", rows.getLast().getString(4));
    }

    @Test
    void multipleChoiceIsTheLibrarys() throws IOException {
        StructType schema = new StructType().add("prompt", DataTypes.StringType)
                .add("choices", DataTypes.createArrayType(DataTypes.StringType));
        List<String> p = present();
        List<Row> in = new ArrayList<>();
        for (int i = 0; i + 3 < p.size(); i += 3) {
            in.add(RowFactory.create(p.get(i), scala.jdk.javaapi.CollectionConverters.asScala(
                    p.subList(i + 1, i + 2 + i % 3)).toSeq()));
        }
        int questions = in.size();
        in.add(RowFactory.create("a prompt without choices", null));
        in.add(RowFactory.create("a prompt with an empty list", scala.jdk.javaapi.CollectionConverters.asScala(List.<String>of()).toSeq()));
        List<Row> rows = SparkPipeline.multipleChoice(chooser.toString()).withErrorCol("why").withDevice("cpu")
                .transform(TestSpark.frame(in, schema, 2)).collectAsList();
        try (DistilBert db = DistilBert.load(chooser, Device.CPU)) {
            var mc = new distilbert.model.MultipleChoice(db, Tokenizer.fromPretrained(chooser));
            for (int i = 0; i < questions; i++) {
                List<String> choices = rows.get(i).getList(1);
                var want = mc.choose(rows.get(i).getString(0), choices);
                Row g = rows.get(i).getStruct(2);
                assertEquals(want.best().index(), g.getInt(0), "row " + i);
                assertEquals(want.best().score(), g.getFloat(1), 0f, "row " + i);
                assertArrayEquals(want.scores(), floats(g.getList(2)), 0f, "row " + i);
                assertEquals(choices.size(), want.scores().length);
            }
        }
        assertNull(rows.get(questions).get(2));
        assertNull(rows.get(questions).get(3));
        assertNull(rows.get(questions + 1).get(2));
        assertEquals("no choices", rows.get(questions + 1).getString(3));
        var e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.multipleChoice(chooser.toString())
                .withChoicesCol("prompt").transform(TestSpark.frame(in, schema, 1)));
        assertEquals("multiple-choice: column 'prompt' is string, not array<string>", e.getMessage());
    }

    static final StructType QUERIES = new StructType().add("id", DataTypes.LongType, false).add("query", DataTypes.StringType)
            .add("documents", DataTypes.createArrayType(DataTypes.StringType));

    static scala.collection.immutable.Seq<String> seq(List<String> l) {
        return scala.jdk.javaapi.CollectionConverters.asScala(l).toSeq();
    }

    /**
     * (id, query, documents) rows from the corpus: lists of 1 to 6 documents (long ones cut to the
     * model's 64 positions among them), a list holding one document twice, a row repeated, an empty
     * list, null documents and a null query.
     */
    static List<Row> queries() {
        List<String> p = present();
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i + 7 < p.size(); i += 4) {
            List<String> documents = new ArrayList<>(p.subList(i + 1, i + 2 + (i / 4) % 6));
            rows.add(RowFactory.create((long) rows.size(), p.get(i), seq(documents)));
        }
        rows.add(RowFactory.create((long) rows.size(), "the cat", seq(List.of("the cat sat on a mat", "Berlin", "the cat sat on a mat"))));
        rows.add(RowFactory.create((long) rows.size(), rows.get(2).getString(1), rows.get(2).get(2)));
        rows.add(RowFactory.create((long) rows.size(), "no documents", seq(List.of())));
        rows.add(RowFactory.create((long) rows.size(), "null documents", null));
        rows.add(RowFactory.create((long) rows.size(), null, seq(List.of("a document without a query"))));
        return rows;
    }

    /** The hits of a row as the library ranks them: corpus ids, scores to the bit, and texts (or none). */
    static void assertHits(List<CrossEncoder.Hit> want, List<Row> got, boolean texts, String where) {
        assertEquals(want.size(), got.size(), where + " hits");
        for (int k = 0; k < want.size(); k++) {
            CrossEncoder.Hit h = want.get(k);
            Row g = got.get(k);
            assertEquals(texts ? 3 : 2, g.length(), where);
            assertEquals(h.corpusId(), g.getInt(0), where + " hit " + k);
            assertEquals(Float.floatToRawIntBits(h.score()), Float.floatToRawIntBits(g.getFloat(1)), where + " hit " + k
                    + ": " + h.score() + " vs " + g.getFloat(1));
            if (texts) assertEquals(h.text(), g.getString(2), where + " hit " + k);
        }
    }

    @Test
    void rerankIsTheLibrarysRankOfEachRow() throws IOException {
        List<Row> in = queries();
        Dataset<Row> scored = SparkPipeline.rerank(reranker.toString()).withDevice("cpu").withChunkRows(3)
                .transform(TestSpark.frame(in, QUERIES, 2));
        assertEquals(DataTypes.createArrayType(Outputs.HIT, false), scored.schema().apply("hits").dataType());
        assertEquals(List.of("id", "query", "documents", "hits"), Arrays.asList(scored.columns()));
        List<Row> rows = scored.collectAsList();
        assertEquals(in.size(), rows.size());
        int n = in.size();
        java.util.Set<Float> distinct = new java.util.HashSet<>();
        try (DistilBert db = DistilBert.load(reranker, Device.CPU)) {
            CrossEncoder ce = CrossEncoder.fromPretrained(db, reranker);
            for (int i = 0; i < n - 2; i++) {
                Row r = rows.get(i);
                assertEquals(i, r.getLong(0));
                assertEquals(in.get(i).getString(1), r.getString(1));
                List<String> documents = r.getList(2);
                List<CrossEncoder.Hit> want = ce.rank(r.getString(1), documents, Integer.MAX_VALUE);
                List<Row> got = r.getList(3);
                assertHits(want, got, true, "row " + i);
                assertEquals(documents.size(), got.size(), "row " + i + ": every document");
                got.forEach(h -> distinct.add(h.getFloat(1)));
            }
        }
        assertTrue(distinct.size() > 20, "the scores differ: " + distinct.size() + " values");
        // one document twice: the same score, in document order; a row repeated: the same hits
        List<Row> twice = rows.get(n - 5).getList(3);
        int first = -1, second = -1;
        for (int k = 0; k < 3; k++) {
            if (twice.get(k).getInt(0) == 0) first = k;
            if (twice.get(k).getInt(0) == 2) second = k;
        }
        assertEquals(twice.get(first).getFloat(1), twice.get(second).getFloat(1));
        assertEquals(first + 1, second, "equal scores next to each other, in document order");
        assertEquals(rows.get(2).getList(3), rows.get(n - 4).getList(3));
        assertEquals(List.of(), rows.get(n - 3).getList(3), "no documents, no hits");
        assertNull(rows.get(n - 2).get(3), "null documents");
        assertNull(rows.get(n - 1).get(3), "null query");
    }

    @Test
    void rerankTopKPromptActivationAndNoTexts() throws IOException {
        List<Row> in = queries();
        Dataset<Row> scored = SparkPipeline.rerank(reranker.toString()).withTopK(2).withPrompt("q: ").withActivation("identity")
                .withDocumentTexts(false).withInputCol("query").withDocumentsCol("documents").withOutputCol("top")
                .withDevice("cpu").transform(TestSpark.frame(in, QUERIES, 3));
        assertEquals(DataTypes.createArrayType(Outputs.HIT_WITHOUT_TEXT, false), scored.schema().apply("top").dataType());
        List<Row> rows = scored.collectAsList();
        int n = in.size(), prompted = 0, logits = 0;
        try (DistilBert db = DistilBert.load(reranker, Device.CPU)) {
            CrossEncoder ce = CrossEncoder.fromPretrained(db, reranker);
            CrossEncoder identity = ce.withActivation(SentenceEmbeddings.Dense.Activation.IDENTITY);
            for (int i = 0; i < n - 2; i++) {
                String query = in.get(i).getString(1);
                List<String> documents = rows.get(i).getList(2);
                List<CrossEncoder.Hit> want = identity.withPrompt("q: ").rank(query, documents, 2);
                assertHits(want, rows.get(i).getList(3), false, "row " + i);
                assertEquals(Math.min(2, documents.size()), want.size(), "row " + i);
                if (documents.isEmpty()) continue;
                // what the options change: the prompt (against the same activation without it), the activation (against sigmoid)
                if (want.getFirst().score() != identity.rank(query, documents, 1).getFirst().score()) prompted++;
                if (want.getFirst().score() != ce.withPrompt("q: ").rank(query, documents, 1).getFirst().score()) logits++;
            }
        }
        assertTrue(prompted > n / 2, "the prompt counts: " + prompted + " rows of " + n);
        assertTrue(logits > n / 2, "the activation counts: " + logits + " rows of " + n);
        assertEquals(List.of(), rows.get(n - 3).getList(3));
        assertNull(rows.get(n - 2).get(3));
    }

    @Test
    void aCrossEncoderDirectorysPromptAndActivationApply() throws IOException {
        Path six = dir.resolve("ce6");
        Files.createDirectories(six);
        try (var files = Files.list(reranker)) {
            for (Path f : files.toList()) Files.copy(f, six.resolve(f.getFileName()));
        }
        // as sentence-transformers 6 saves a CrossEncoder: its activation and prompts beside HF's files
        Files.writeString(six.resolve("config_sentence_transformers.json"), "{\"model_type\": \"CrossEncoder\", "
                + "\"activation_fn\": \"torch.nn.modules.activation.Tanh\", \"prompts\": {\"query\": \"query: \", "
                + "\"short\": \"q \"}, \"default_prompt_name\": \"query\"}");
        List<Row> in = queries();
        List<Row> byDefault = SparkPipeline.rerank(six.toString()).withDevice("cpu").transform(TestSpark.frame(in, QUERIES, 2))
                .collectAsList();
        List<Row> named = SparkPipeline.rerank(six.toString()).withPromptName("short").withActivation("sigmoid").withDevice("cpu")
                .transform(TestSpark.frame(in, QUERIES, 2)).collectAsList();
        List<Row> none = SparkPipeline.rerank(six.toString()).withPrompt("").withDevice("cpu")
                .transform(TestSpark.frame(in, QUERIES, 1)).collectAsList();
        try (DistilBert db = DistilBert.load(six, Device.CPU)) {
            CrossEncoder ce = CrossEncoder.fromPretrained(db, six);
            assertEquals("query: ", ce.prompt());
            assertEquals(SentenceEmbeddings.Dense.Activation.TANH, ce.activation());
            for (int i = 0; i < in.size() - 2; i++) {
                String query = in.get(i).getString(1);
                List<String> documents = byDefault.get(i).getList(2);
                assertHits(ce.rank(query, documents, Integer.MAX_VALUE), byDefault.get(i).getList(3), true, "row " + i);
                assertHits(ce.withPromptName("short").withActivation(SentenceEmbeddings.Dense.Activation.SIGMOID)
                        .rank(query, documents, Integer.MAX_VALUE), named.get(i).getList(3), true, "row " + i + ", prompt short");
                assertHits(ce.withPrompt(null).rank(query, documents, Integer.MAX_VALUE), none.get(i).getList(3), true,
                        "row " + i + ", no prompt");
            }
        }
        var e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.rerank(six.toString()).withPromptName("passage")
                .transform(TestSpark.frame(in, QUERIES, 1)));
        assertEquals("rerank: " + six + " has no prompt named 'passage'; its prompts are query, short", e.getMessage());
        // the other tasks read such a directory as the HF directory it also is
        List<Row> classified = SparkPipeline.textClassification(six.toString()).withDevice("cpu")
                .transform(TestSpark.texts(texts, 2)).collectAsList();
        try (DistilBert db = DistilBert.load(six, Device.CPU)) {
            List<TextClassification.Result> want = new TextClassification(db, Tokenizer.fromPretrained(six)).classify(present());
            int j = 0;
            for (int i = 0; i < texts.size(); i++) {
                if (texts.get(i) == null) continue;
                assertArrayEquals(want.get(j++).scores(), floats(classified.get(i).getStruct(3).getList(2)), 0f, "row " + i);
            }
        }
    }

    @Test
    void rerankRefusesAModelOfSeveralLabelsAndDocumentsThatAreNoList() throws IOException {
        Dataset<Row> df = TestSpark.frame(queries(), QUERIES, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.rerank(nli.toString()).transform(df));
        assertEquals("rerank needs a cross-encoder of one label (a relevance score), but " + nli.resolve("config.json")
                + " has num_labels 3 (entailment, neutral, contradiction); text-classification with a pair column (withPairCol) "
                + "gives every label's score", e.getMessage());
        // unchecked on the driver, the executors' ranking refuses it
        Exception failed = assertThrows(Exception.class,
                () -> SparkPipeline.rerank(nli.toString()).withDriverCheck(false).withDevice("cpu").transform(df).collectAsList());
        assertEquals("ranking needs a model of one label (a relevance score), but this one has 3 (entailment, neutral, "
                + "contradiction)", ScoreJob.reason(failed));
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.rerank(base.toString()).transform(df));
        assertEquals("rerank needs a DistilBertForSequenceClassification directory; " + base + " holds a DistilBertModel",
                e.getMessage());
        Path st = sentenceTransformer();
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.rerank(st.toString()).transform(df));
        assertEquals("rerank: " + st.resolve("modules.json") + ": a cross-encoder is one Transformer module, but module 1 is "
                + "sentence_transformers.models.Pooling (a sentence embedding model: embed or search with it)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.rerank(reranker.toString()).withDocumentsCol("query")
                .transform(df));
        assertEquals("rerank: column 'query' is string, not array<string>", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.rerank(reranker.toString()).withInputCol("documents")
                .withDocumentsCol("documents").transform(df));
        assertEquals("rerank: column 'documents' is array<string>, not string", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.rerank(reranker.toString()).withInputCol("text")
                .transform(df));
        assertEquals("rerank: no column 'text' in the input; its columns are [id, query, documents]", e.getMessage());
    }

    @Test
    void aNullDocumentIsARefusedRow() throws IOException {
        List<Row> in = List.of(RowFactory.create(0L, "the cat", seq(List.of("a mat", "Berlin"))),
                RowFactory.create(1L, "the cat", seq(Arrays.asList("a mat", null))));
        List<Row> rows = SparkPipeline.rerank(reranker.toString()).withErrorCol("why").withDevice("cpu")
                .transform(TestSpark.frame(in, QUERIES, 1)).collectAsList();
        try (DistilBert db = DistilBert.load(reranker, Device.CPU)) {
            assertHits(CrossEncoder.fromPretrained(db, reranker).rank("the cat", List.of("a mat", "Berlin"), 5),
                    rows.get(0).getList(3), true, "row 0");
        }
        assertNull(rows.get(0).get(4));
        assertNull(rows.get(1).get(3));
        assertEquals("document 1 is null", rows.get(1).getString(4));
        Exception e = assertThrows(Exception.class, () -> SparkPipeline.rerank(reranker.toString()).withDevice("cpu")
                .transform(TestSpark.frame(in, QUERIES, 1)).collectAsList());
        assertEquals("rerank (partition 0), rows 0 to 1 of the partition: row 1: document 1 is null", ScoreJob.reason(e));
    }

    @Test
    void badColumnsAndModelsAreNamedBeforeAnyTaskRuns() {
        Dataset<Row> df = TestSpark.texts(List.of("a"), 1);
        var e = assertThrows(IllegalArgumentException.class,
                () -> SparkPipeline.embeddings(base.toString()).withInputCol("body").transform(df));
        assertEquals("embed: no column 'body' in the input; its columns are [id, text, note]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.embeddings(base.toString()).withInputCol("id").transform(df));
        assertEquals("embed: column 'id' is bigint, not string", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.embeddings(base.toString()).withOutputCol("note").transform(df));
        assertEquals("embed: the input already has a column 'note'; name another with withOutputCol", e.getMessage());
        String missing = dir.resolve("nowhere").toString();
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.embeddings(missing).transform(df));
        assertEquals("embed: model directory '" + missing + "' does not exist (on the driver; every executor needs it at the "
                + "same path; withDriverCheck(false) where only the executors have it)", e.getMessage());
        // unchecked on the driver, the tasks fail saying what they could not read
        Exception failed = assertThrows(Exception.class,
                () -> SparkPipeline.embeddings(missing).withDriverCheck(false).withDevice("cpu").transform(df).collectAsList());
        assertTrue(ScoreJob.reason(failed).contains(missing), ScoreJob.reason(failed));
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.textClassification(base.toString()).transform(df));
        assertEquals("text-classification needs a DistilBertForSequenceClassification directory; " + base + " holds a DistilBertModel",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.embeddings(base.toString()).withMaxLength(65).transform(df));
        assertEquals("embed: max length 65 is more than the model's max_position_embeddings = 64", e.getMessage());
    }

    @Test
    void optionsOfAnotherTaskAndUnknownDevicesAreRefused() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> SparkPipeline.embeddings("m").withAggregation(TokenClassification.Aggregation.NONE));
        assertEquals("aggregation is an option of token-classification, not of embed", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.embeddings("m").withDevice("gpu0"));
        assertEquals("unknown device 'gpu0': expected cpu, cuda, cuda:N (a GPU number, 0 for the first) or auto, or task (the GPU "
                + "Spark assigns the task)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.zeroShotClassification("m", List.of()));
        assertEquals("zero-shot classification needs at least one candidate label", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.Task.parse("summarization"));
        assertEquals("unknown task 'summarization': expected one of [embed, text-classification, token-classification, "
                + "question-answering, zero-shot-classification, fill-mask, multiple-choice, rerank]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.embeddings("m").withTopK(3));
        assertEquals("top k is an option of fill-mask and rerank, not of embed", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.fillMask("m").withPrompt("q: "));
        assertEquals("prompt is an option of embed and rerank, not of fill-mask", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.multipleChoice("m").withDocumentsCol("docs"));
        assertEquals("a documents column is an option of rerank, not of multiple-choice", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.rerank("m").withChoicesCol("docs"));
        assertEquals("a choices column is an option of multiple-choice, not of rerank", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.rerank("m").withTopK(0));
        assertEquals("top k must be at least 1, got 0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.rerank("m").withActivation("softplus"));
        assertEquals("activation 'softplus' is not supported; supported: [torch.nn.modules.linear.Identity, "
                + "torch.nn.modules.activation.Tanh, torch.nn.modules.activation.ReLU, torch.nn.modules.activation.GELU, "
                + "torch.nn.modules.activation.Sigmoid, torch.nn.modules.activation.SiLU]", e.getMessage());
        assertEquals(SparkPipeline.Task.RERANK, SparkPipeline.Task.parse("Rerank"));
        assertEquals(List.of("query", "documents"), SparkPipeline.rerank("m").inputCols());
        assertEquals("hits", SparkPipeline.rerank("m").outputCol());
        assertEquals(SparkPipeline.Task.TOKEN_CLASSIFICATION, SparkPipeline.Task.parse("NER"));
    }

    @Test
    void theTasksGpuIsTheDevice() {
        assertEquals(Device.cuda(1), TaskDevices.resolve("auto", List.of("1")));
        assertEquals(Device.cuda(0), TaskDevices.resolve("task", List.of("0", "1")));
        assertEquals(Device.AUTO, TaskDevices.resolve("auto", List.of()));
        assertEquals(Device.CPU, TaskDevices.resolve("cpu", List.of("1")));
        assertEquals(Device.cuda(2), TaskDevices.resolve("cuda:2", List.of()));
        var s = assertThrows(IllegalStateException.class, () -> TaskDevices.resolve("task", List.of()));
        assertTrue(s.getMessage().startsWith("device 'task': Spark assigned this task no GPU; set spark.executor.resource.gpu.amount"),
                s.getMessage());
        var e = assertThrows(IllegalArgumentException.class, () -> TaskDevices.resolve("auto", List.of("GPU-5f3a")));
        assertTrue(e.getMessage().startsWith("Spark assigned the GPU address 'GPU-5f3a', which is not a CUDA device number"));
    }

    @Test
    void withAnErrorColumnARefusedRowSaysWhyAndTheOthersAreScored() throws IOException {
        StructType schema = new StructType().add("question", DataTypes.StringType).add("context", DataTypes.StringType);
        List<Row> in = List.of(RowFactory.create("who sat?", "the cat sat on a mat"), RowFactory.create("", "Berlin"),
                RowFactory.create("where?", "Wolfgang lives in Berlin"), RowFactory.create("who?", ""),
                RowFactory.create(null, "no question"));
        Dataset<Row> scored = SparkPipeline.questionAnswering(reader.toString()).withErrorCol("why").withDevice("cpu")
                .transform(TestSpark.frame(in, schema, 1));
        assertEquals(List.of("question", "context", "answer", "why"), Arrays.asList(scored.columns()));
        List<Row> rows = scored.collectAsList();
        try (DistilBert db = DistilBert.load(reader, Device.CPU)) {
            QuestionAnswering qa = new QuestionAnswering(db, Tokenizer.fromPretrained(reader));
            for (int i : new int[] {0, 2}) {
                QuestionAnswering.Answer a = qa.answer(in.get(i).getString(0), in.get(i).getString(1)).getFirst();
                assertEquals(a.score(), rows.get(i).getStruct(2).getDouble(0), 0d, "row " + i);
                assertEquals(a.answer(), rows.get(i).getStruct(2).getString(3), "row " + i);
                assertNull(rows.get(i).get(3));
            }
        }
        assertNull(rows.get(1).get(2));
        assertEquals("the question is empty", rows.get(1).getString(3));
        assertNull(rows.get(3).get(2));
        assertEquals("the context is empty", rows.get(3).getString(3));
        assertNull(rows.get(4).get(2));
        assertNull(rows.get(4).get(3));     // a null input is not an error
        var e = assertThrows(IllegalArgumentException.class, () -> SparkPipeline.questionAnswering(reader.toString())
                .withErrorCol("context").transform(TestSpark.frame(in, schema, 1)));
        assertEquals("question-answering: the input already has a column 'context'; name another with withErrorCol", e.getMessage());
    }

    @Test
    void aRowThePipelineRefusesFailsTheJobNamingItsPartitionAndRows() {
        StructType schema = new StructType().add("question", DataTypes.StringType).add("context", DataTypes.StringType);
        Dataset<Row> in = TestSpark.frame(List.of(RowFactory.create("who?", "Wolfgang"), RowFactory.create("", "Berlin")), schema, 1);
        Exception e = assertThrows(Exception.class,
                () -> SparkPipeline.questionAnswering(reader.toString()).withDevice("cpu").transform(in).collectAsList());
        assertEquals("question-answering (partition 0), rows 0 to 1 of the partition: row 1: the question is empty",
                ScoreJob.reason(e));
    }
}
