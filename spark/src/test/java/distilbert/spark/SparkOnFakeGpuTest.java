package distilbert.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.Precision;
import distilbert.model.SentenceEmbeddings;
import distilbert.model.TextClassification;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The pipelines in Spark on a GPU: the stand-in driver and cuBLAS with two sm_90 devices, the kernels
 * run by the kernel emulator (the surefire execution fake-gpu sets them up). The model runs on the
 * second GPU, as a task Spark gave GPU 1 would, and agrees with the CPU within DESIGN.md's float32
 * bound (relative L2 ≤ 1e-5 per row).
 */
@Tag("fakegpu")
class SparkOnFakeGpuTest {

    @TempDir
    static Path dir;
    static Path base, classifier;
    static List<String> texts;

    @BeforeAll
    static void models() throws IOException {
        Assumptions.assumeTrue(Boolean.getBoolean("distilbert.fakeGpu"), "runs in the fake-gpu execution (stand-in driver)");
        base = TinyModels.save(dir.resolve("base"), Head.BASE, List.of());
        classifier = TinyModels.save(dir.resolve("sst"), Head.SEQUENCE_CLASSIFICATION, List.of("NEGATIVE", "POSITIVE"));
        texts = TestSpark.corpus();
    }

    static double relL2(float[] want, float[] got) {
        assertEquals(want.length, got.length);
        double d = 0, n = 0;
        for (int i = 0; i < want.length; i++) {
            d += (double) (got[i] - want[i]) * (got[i] - want[i]);
            n += (double) want[i] * want[i];
        }
        return Math.sqrt(d / Math.max(n, 1e-30));
    }

    @Test
    void embeddingsOnTheSecondGpuAgreeWithTheCpu() throws IOException {
        List<Row> rows = SparkPipeline.embeddings(base.toString()).withDevice("cuda:1").withPrecision("fp32")
                .transform(TestSpark.texts(texts, 3)).collectAsList();
        assertTrue(ExecutorModels.keys().contains(new ExecutorModels.Key(base, Device.cuda(1), Precision.FP32, false)),
                "loaded: " + ExecutorModels.keys());
        List<float[]> want;
        try (DistilBert db = DistilBert.load(base, Device.CPU)) {
            want = new SentenceEmbeddings(db, Tokenizer.fromPretrained(base)).embed(texts);
        }
        for (int i = 0; i < texts.size(); i++) {
            List<Float> v = rows.get(i).getList(3);
            float[] got = new float[v.size()];
            for (int k = 0; k < got.length; k++) got[k] = v.get(k);
            assertTrue(relL2(want.get(i), got) <= 1e-5, "row " + i + ": " + relL2(want.get(i), got));
        }
    }

    @Test
    void classificationOnTheGpuAgreesWithTheCpu() throws IOException {
        List<Row> rows = SparkPipeline.textClassification(classifier.toString()).withDevice("cuda:1").withPrecision("fp32")
                .transform(TestSpark.texts(texts, 2)).collectAsList();
        try (DistilBert db = DistilBert.load(classifier, Device.CPU)) {
            List<TextClassification.Result> want = new TextClassification(db, Tokenizer.fromPretrained(classifier)).classify(texts);
            for (int i = 0; i < texts.size(); i++) {
                List<Float> s = rows.get(i).getStruct(3).getList(2);
                float[] got = {s.get(0), s.get(1)};
                assertTrue(relL2(want.get(i).scores(), got) <= 1e-5, "row " + i + ": " + relL2(want.get(i).scores(), got));
                assertEquals(want.get(i).best().label(), rows.get(i).getStruct(3).getString(0), "row " + i);
            }
        }
    }
}
