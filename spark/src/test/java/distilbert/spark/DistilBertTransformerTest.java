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
    static Path base, classifier;
    static Dataset<Row> train;

    @BeforeAll
    static void data() throws IOException {
        base = TinyModels.save(dir.resolve("base"), Head.BASE, List.of());
        classifier = TinyModels.save(dir.resolve("sst"), Head.SEQUENCE_CLASSIFICATION, List.of("NEGATIVE", "POSITIVE"));
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
    }
}
