package distilbert.spark;

import distilbert.model.CrossEncoder;
import distilbert.model.QuestionAnswering;
import distilbert.model.TextClassification;
import distilbert.model.TokenClassification;
import distilbert.model.ZeroShotClassification;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * The column each task appends, and the Spark values of the library's results. Field names are HF
 * pipelines' output keys; offsets are code points, as HF's (and Spark SQL's {@code substring}). Arrays
 * are given to Spark as Java arrays (its row encoder takes arrays and Scala sequences, not Java lists).
 */
final class Outputs {
    private Outputs() {
    }

    static final DataType FLOATS = DataTypes.createArrayType(DataTypes.FloatType, false);

    static final StructType CLASSIFICATION = struct(
            field("label", DataTypes.StringType), field("score", DataTypes.FloatType), field("scores", FLOATS));

    static final StructType ENTITY_GROUP = struct(
            field("entity_group", DataTypes.StringType), field("score", DataTypes.FloatType), field("word", DataTypes.StringType),
            field("start", DataTypes.IntegerType), field("end", DataTypes.IntegerType));

    static final StructType ENTITY_TOKEN = struct(
            field("entity", DataTypes.StringType), field("score", DataTypes.FloatType), field("index", DataTypes.IntegerType),
            field("word", DataTypes.StringType), field("start", DataTypes.IntegerType), field("end", DataTypes.IntegerType));

    static final StructType ANSWER = struct(
            field("score", DataTypes.DoubleType), field("start", DataTypes.IntegerType), field("end", DataTypes.IntegerType),
            field("answer", DataTypes.StringType));

    static final StructType ZERO_SHOT = struct(
            field("labels", DataTypes.createArrayType(DataTypes.StringType, false)), field("scores", FLOATS));

    static final StructType PREDICTION = struct(
            field("score", DataTypes.FloatType), field("token", DataTypes.IntegerType), field("token_str", DataTypes.StringType),
            field("sequence", DataTypes.StringType));

    static final StructType CHOICE = struct(
            field("choice", DataTypes.IntegerType), field("score", DataTypes.FloatType), field("scores", FLOATS));

    static final StructType HIT = struct(
            field("corpus_id", DataTypes.IntegerType), field("score", DataTypes.FloatType), field("text", DataTypes.StringType));

    static final StructType HIT_WITHOUT_TEXT = struct(field("corpus_id", DataTypes.IntegerType), field("score", DataTypes.FloatType));

    private static StructField field(String name, DataType type) {
        return DataTypes.createStructField(name, type, false);
    }

    private static StructType struct(StructField... fields) {
        return DataTypes.createStructType(fields);
    }

    static DataType type(SparkPipeline p) {
        return switch (p.task) {
            case EMBED -> FLOATS;
            case TEXT_CLASSIFICATION -> CLASSIFICATION;
            case TOKEN_CLASSIFICATION -> DataTypes.createArrayType(
                    p.aggregation == TokenClassification.Aggregation.NONE ? ENTITY_TOKEN : ENTITY_GROUP, false);
            case QUESTION_ANSWERING -> ANSWER;
            case ZERO_SHOT_CLASSIFICATION -> ZERO_SHOT;
            case FILL_MASK -> DataTypes.createArrayType(DataTypes.createArrayType(PREDICTION, false), false);
            case MULTIPLE_CHOICE -> CHOICE;
            case RERANK -> DataTypes.createArrayType(p.documentTexts ? HIT : HIT_WITHOUT_TEXT, false);
        };
    }

    /** {@code label}, {@code score}: the best label (HF's default answer); {@code scores}: every label's, in id order. */
    static Row classification(TextClassification.Result r) {
        TextClassification.LabelScore best = r.best();
        return RowFactory.create(best.label(), best.score(), r.scores().clone());
    }

    static Row[] entities(List<TokenClassification.Entity> entities, boolean groups) {
        Row[] out = new Row[entities.size()];
        for (int i = 0; i < out.length; i++) {
            TokenClassification.Entity e = entities.get(i);
            out[i] = (groups
                    ? RowFactory.create(e.label(), e.score(), e.word(), e.start(), e.end())
                    : RowFactory.create(e.label(), e.score(), e.index(), e.word(), e.start(), e.end()));
        }
        return out;
    }

    static Row answer(QuestionAnswering.Answer a) {
        return RowFactory.create(a.score(), a.start(), a.end(), a.answer());
    }

    /** One list of predictions per mask, in the masks' order, each highest score first (HF's lists). */
    static Row[][] fillMask(distilbert.model.FillMask.Result r) {
        Row[][] out = new Row[r.predictions().size()][];
        for (int m = 0; m < out.length; m++) {
            List<distilbert.model.FillMask.Prediction> ps = r.predictions().get(m);
            out[m] = new Row[ps.size()];
            for (int k = 0; k < ps.size(); k++) {
                var p = ps.get(k);
                out[m][k] = RowFactory.create(p.score(), p.token(), p.tokenStr(), p.sequence());
            }
        }
        return out;
    }

    /** The best choice's index and score (the softmax over the row's choices), and every choice's score. */
    static Row choice(distilbert.model.MultipleChoice.Result r) {
        var best = r.best();
        return RowFactory.create(best.index(), best.score(), r.scores().clone());
    }

    /** sentence-transformers' rank: {@code corpus_id} (the document's index in the row), {@code score}, {@code text}; best first. */
    static Row[] hits(List<CrossEncoder.Hit> hits, boolean texts) {
        Row[] out = new Row[hits.size()];
        for (int i = 0; i < out.length; i++) {
            CrossEncoder.Hit h = hits.get(i);
            out[i] = texts ? RowFactory.create(h.corpusId(), h.score(), h.text()) : RowFactory.create(h.corpusId(), h.score());
        }
        return out;
    }

    /** HF's {@code labels} and {@code scores}: best first. */
    static Row zeroShot(ZeroShotClassification.Result r) {
        return RowFactory.create(r.labels().toArray(String[]::new), r.rankedScores());
    }
}
