package distilbert.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.classification.LogisticRegression;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Spark ML stage: in a Pipeline before an MLlib estimator, saved and loaded, its Params and their errors. */
class DistilBertTransformerTest {

    @TempDir
    static Path dir;
    static Path base, classifier, reranker;
    static Dataset<Row> train;

    @BeforeAll
    static void data() throws IOException {
        base = TinyModels.save(dir.resolve("base"), Head.BASE, List.of());
        classifier = TinyModels.save(dir.resolve("sst"), Head.SEQUENCE_CLASSIFICATION, List.of("NEGATIVE", "POSITIVE"));
        reranker = TinyModels.save(dir.resolve("ce"), Head.SEQUENCE_CLASSIFICATION, List.of("LABEL_0"));
        List<String> texts = TestSpark.corpus();
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            rows.add(RowFactory.create(texts.get(i), (double) (texts.get(i).length() % 2)));
        }
        train = TestSpark.frame(rows, new StructType().add("text", DataTypes.StringType).add("label", DataTypes.DoubleType), 2);
    }

    static DistilBertTransformer embedder() {
        return new DistilBertTransformer().setTask("embed").setModel(base.toString()).setOutputCol("features")
                .setNormalize(true).setOutputVector(true).setDevice("cpu");
    }

    @Test
    void embeddingsAsVectorsFeedAnMllibEstimatorAndThePipelineSavesAndLoads() throws IOException {
        PipelineModel fitted = new Pipeline().setStages(new PipelineStage[] {embedder(),
                new LogisticRegression().setMaxIter(20)}).fit(train);
        Dataset<Row> scored = fitted.transform(train);
        assertEquals(SQLDataTypes.VectorType(), scored.schema().apply("features").dataType());
        List<Row> rows = scored.select("features", "prediction").collectAsList();
        // the features are SparkPipeline's embeddings, as vectors
        List<Row> plain = SparkPipeline.embeddings(base.toString()).withNormalize(true).withDevice("cpu").transform(train)
                .select("embedding").collectAsList();
        for (int i = 0; i < rows.size(); i++) {
            List<Float> want = plain.get(i).getList(0);
            double[] w = want.stream().mapToDouble(Float::doubleValue).toArray();
            assertArrayEquals(w, ((Vector) rows.get(i).get(0)).toArray(), 0d, "row " + i);
        }
        // saved with its stages' Params, loaded, the same predictions
        String path = dir.resolve("pipeline").toString();
        fitted.write().overwrite().save(path);
        PipelineModel loaded = PipelineModel.load(path);
        DistilBertTransformer stage = (DistilBertTransformer) loaded.stages()[0];
        assertEquals(base.toString(), stage.getOrDefault(stage.model()));
        assertEquals(true, stage.getOrDefault(stage.outputVector()));
        List<Row> again = loaded.transform(train).select("prediction").collectAsList();
        for (int i = 0; i < rows.size(); i++) {
            assertEquals(rows.get(i).getDouble(1), again.get(i).getDouble(0), "row " + i);
        }
    }

    @Test
    void theStageAloneSavesLoadsAndCopiesItsParams() throws IOException {
        DistilBertTransformer t = new DistilBertTransformer().setTask("text-classification").setModel(classifier.toString())
                .setOutputCol("c").setErrorCol("why").setMaxLength(32).setDevice("cpu");
        String path = dir.resolve("stage").toString();
        t.write().overwrite().save(path);
        DistilBertTransformer back = DistilBertTransformer.load(path);
        assertEquals(t.uid(), back.uid());
        assertEquals(32, back.getOrDefault(back.maxLength()));
        assertEquals("why", back.getOrDefault(back.errorCol()));
        assertEquals(List.of("text", "label", "c", "why"), List.of(back.transform(train).columns()));
        DistilBertTransformer copy = t.copy(new org.apache.spark.ml.param.ParamMap().put(t.maxLength().w(16)));
        assertEquals(16, copy.getOrDefault(copy.maxLength()));
        assertEquals(32, t.getOrDefault(t.maxLength()));
        assertTrue(t.explainParams().contains("model: the HF DistilBERT directory"), t.explainParams());
    }

    @Test
    void aRerankStageSavesLoadsAndRanksAsSparkPipeline() throws IOException {
        List<String> texts = TestSpark.corpus();
        List<Row> in = new ArrayList<>();
        for (int i = 0; i + 4 < texts.size(); i += 5) {
            in.add(RowFactory.create(texts.get(i), SparkPipelineTest.seq(texts.subList(i + 1, i + 2 + i % 4))));
        }
        Dataset<Row> df = TestSpark.frame(in, new StructType().add("q", DataTypes.StringType)
                .add("docs", DataTypes.createArrayType(DataTypes.StringType)), 2);
        DistilBertTransformer t = new DistilBertTransformer().setTask("rerank").setModel(reranker.toString()).setInputCol("q")
                .setDocumentsCol("docs").setTopK(2).setActivation("identity").setPrompt("q: ").setDocumentTexts(false)
                .setDevice("cpu");
        String path = dir.resolve("rerank-stage").toString();
        t.write().overwrite().save(path);
        DistilBertTransformer back = DistilBertTransformer.load(path);
        assertEquals("docs", back.getOrDefault(back.documentsCol()));
        assertEquals("identity", back.getOrDefault(back.activation()));
        assertEquals(2, back.getOrDefault(back.topK()));
        assertEquals(false, back.getOrDefault(back.documentTexts()));
        List<Row> got = back.transform(df).collectAsList();
        List<Row> want = SparkPipeline.rerank(reranker.toString()).withInputCol("q").withDocumentsCol("docs").withTopK(2)
                .withActivation("identity").withPrompt("q: ").withDocumentTexts(false).withDevice("cpu").transform(df)
                .collectAsList();
        assertEquals(in.size(), got.size());
        for (int i = 0; i < in.size(); i++) {
            List<Row> hits = got.get(i).getList(2);
            assertEquals(Math.min(2, in.get(i).<String>getList(1).size()), hits.size(), "row " + i);
            assertEquals(2, hits.getFirst().length(), "no texts");
            assertEquals(want.get(i).getList(2), hits, "row " + i);
        }
        assertEquals(Outputs.HIT_WITHOUT_TEXT, ((org.apache.spark.sql.types.ArrayType) back.transformSchema(df.schema())
                .apply("hits").dataType()).elementType());
    }

    @Test
    void badParamsAreNamed() {
        DistilBertTransformer noModel = new DistilBertTransformer("d1").setTask("embed");
        var e = assertThrows(IllegalArgumentException.class, () -> noModel.transform(train));
        assertEquals("d1: Param 'model' is not set", e.getMessage());
        var vector = new DistilBertTransformer("d2").setTask("text-classification").setModel(classifier.toString())
                .setOutputVector(true);
        e = assertThrows(IllegalArgumentException.class, () -> vector.transform(train));
        assertEquals("d2: Param 'outputVector' is for embed, not text-classification", e.getMessage());
        var pooling = new DistilBertTransformer("d3").setTask("embed").setModel(base.toString()).setPooling("mean,median");
        e = assertThrows(IllegalArgumentException.class, () -> pooling.transform(train));
        assertEquals("d3: Param 'pooling': pooling mode 'median' is not one of [cls, max, mean, mean_sqrt_len_tokens, "
                + "weightedmean, lasttoken]", e.getMessage());
        var activation = new DistilBertTransformer("d4").setTask("rerank").setModel(reranker.toString()).setActivation("softplus");
        e = assertThrows(IllegalArgumentException.class, () -> activation.transform(train));
        assertTrue(e.getMessage().startsWith("d4: Param 'activation': activation 'softplus' is not supported; supported: "
                + "[torch.nn.modules.linear.Identity"), e.getMessage());
        var texts = new DistilBertTransformer("d5").setTask("embed").setModel(base.toString()).setDocumentTexts(false);
        e = assertThrows(IllegalArgumentException.class, () -> texts.transform(train));
        assertEquals("document texts is an option of rerank, not of embed", e.getMessage());
    }
}
