package distilbert.spark;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/** One local Spark (2 worker threads, loopback only, no UI) for the test JVM. */
final class TestSpark {
    private TestSpark() {
    }

    static synchronized SparkSession session() {
        return SparkSession.builder().master("local[2]").appName("distilbert-spark-tests")
                .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.sql.shuffle.partitions", "2").getOrCreate();
    }

    static final StructType TEXTS = new StructType().add("id", DataTypes.LongType, false).add("text", DataTypes.StringType)
            .add("note", DataTypes.StringType);

    /** Rows (id, text, note "n<id>") in {@code partitions} partitions, in order. */
    static Dataset<Row> texts(List<String> texts, int partitions) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            rows.add(RowFactory.create((long) i, texts.get(i), "n" + i));
        }
        return frame(rows, TEXTS, partitions);
    }

    static Dataset<Row> frame(List<Row> rows, StructType schema, int partitions) {
        SparkSession spark = session();
        var rdd = JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(rows, partitions);
        return spark.createDataFrame(rdd, schema);
    }

    /** Texts of many lengths: short, long (past the tiny models' 64 positions), accents, CJK, emoji, empty. */
    static List<String> corpus() {
        List<String> t = new ArrayList<>();
        String[] words = {"the", "cat", "sat", "on", "a", "mat", "Wolfgang", "lives", "in", "Berlin", "café", "naïve", "東京",
                "über", "running", "unbelievable", "🙂", "42", "x-ray", "don't"};
        java.util.Random r = new java.util.Random(5);
        for (int i = 0; i < 37; i++) {
            int n = 1 + r.nextInt(i % 7 == 0 ? 90 : 14);
            StringBuilder s = new StringBuilder();
            for (int w = 0; w < n; w++) {
                if (w > 0) s.append(' ');
                s.append(words[r.nextInt(words.length)]);
            }
            if (r.nextBoolean()) s.append('.');
            t.add(s.toString());
        }
        t.add("");
        return t;
    }
}
