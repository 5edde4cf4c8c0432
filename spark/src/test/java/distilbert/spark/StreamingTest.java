package distilbert.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.TextClassification;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.Head;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.streaming.StreamingQuery;
import org.apache.spark.sql.streaming.Trigger;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Structured Streaming: files of rows landing in a folder, classified as they come (the transform is
 * stateless, so a streaming Dataset takes it as a batch one does), the results in a memory sink,
 * equal to the library's.
 */
class StreamingTest {

    @Test
    void filesLandingInAFolderAreClassifiedAsTheyCome(@TempDir Path dir) throws Exception {
        Path model = TinyModels.save(dir.resolve("sst"), Head.SEQUENCE_CLASSIFICATION, List.of("NEGATIVE", "POSITIVE"));
        Path inbox = Files.createDirectories(dir.resolve("inbox"));
        List<String> texts = TestSpark.corpus();
        ObjectMapper json = new ObjectMapper();
        for (int f = 0; f < 3; f++) {   // three files, as three arrivals
            StringBuilder lines = new StringBuilder();
            for (int i = f; i < texts.size(); i += 3) {
                lines.append(json.createObjectNode().put("id", i).put("text", texts.get(i))).append('\n');
            }
            Files.writeString(inbox.resolve("part-" + f + ".jsonl"), lines);
        }
        SparkSession spark = TestSpark.session();
        StructType schema = new StructType().add("id", DataTypes.LongType).add("text", DataTypes.StringType);
        var stream = spark.readStream().schema(schema).option("maxFilesPerTrigger", 1).json(inbox.toString());
        StreamingQuery q = SparkPipeline.textClassification(model.toString()).withDevice("cpu").transform(stream)
                .writeStream().format("memory").queryName("scored").option("checkpointLocation", dir.resolve("checkpoint").toString())
                .trigger(Trigger.AvailableNow()).start();
        q.awaitTermination();
        List<Row> rows = new ArrayList<>(spark.sql("SELECT id, classification FROM scored ORDER BY id").collectAsList());
        assertEquals(texts.size(), rows.size());
        try (DistilBert db = DistilBert.load(model, Device.CPU)) {
            List<TextClassification.Result> want = new TextClassification(db, Tokenizer.fromPretrained(model)).classify(texts);
            for (int i = 0; i < texts.size(); i++) {
                Row c = rows.get(i).getStruct(1);
                assertEquals(i, rows.get(i).getLong(0));
                assertEquals(want.get(i).best().label(), c.getString(0), "row " + i);
                List<Float> s = c.getList(2);
                assertArrayEquals(want.get(i).scores(), new float[] {s.get(0), s.get(1)}, 0f, "row " + i);
            }
        }
    }
}
