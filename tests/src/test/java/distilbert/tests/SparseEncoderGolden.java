package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import distilbert.model.DistilBert;
import distilbert.model.LengthBatches;
import distilbert.model.SparseEmbeddings;
import distilbert.tokenizer.Encoding;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The sparse-encoder golden files (tests/golden/make_sparse_encoder_golden.py): SPLADE directories
 * saved by {@code SparseEncoder.save}, and what {@code encode} answered, per run (texts; a
 * prompt_name or prompt; max_active_dims), as dense vectors, with the input_ids it tokenized.
 */
final class SparseEncoderGolden {

    private SparseEncoderGolden() {
    }

    static List<SentenceTransformersGolden.Case> cases() throws Exception {
        return SentenceTransformersGolden.cases("golden-sparse");
    }

    /**
     * Every run through {@link SparseEmbeddings#fromPretrained} on {@code db}: the same input_ids,
     * the dense vectors checked by {@code compare} (max_active_dims: no more active dimensions than
     * asked), and decode's top three tokens. The mismatches as lines.
     */
    static List<String> check(SentenceTransformersGolden.Case c, DistilBert db, SentenceTransformersGolden.Comparison compare) {
        return check(c, db, compare, true);
    }

    /**
     * {@link #check(SentenceTransformersGolden.Case, DistilBert, SentenceTransformersGolden.Comparison)},
     * decode's tokens checked only with {@code decodeOrder} (a reduced precision may swap two near
     * weights), and max_active_dims runs left out without it (which weights are kept depends on the
     * order of near ones too).
     */
    static List<String> check(SentenceTransformersGolden.Case c, DistilBert db, SentenceTransformersGolden.Comparison compare,
                              boolean decodeOrder) {
        SparseEmbeddings base = SparseEmbeddings.fromPretrained(db, c.dir());
        assertEquals(c.expected().get("dimension").asInt(), base.dimension(), c.name() + ": dimension");
        List<String> mismatches = new ArrayList<>();
        for (JsonNode run : c.expected().get("runs")) {
            SparseEmbeddings se = base;
            String what = c.name();
            if (run.hasNonNull("prompt_name")) {
                se = se.withPromptName(run.get("prompt_name").asText());
                what += " prompt_name=" + run.get("prompt_name").asText();
            } else if (run.hasNonNull("prompt")) {
                se = se.withPrompt(run.get("prompt").asText());
                what += " prompt='" + run.get("prompt").asText() + "'";
            }
            if (run.hasNonNull("max_active_dims")) {
                if (!decodeOrder) continue;
                se = se.withMaxActiveDims(run.get("max_active_dims").asInt());
                what += " max_active_dims=" + run.get("max_active_dims").asInt();
            }
            List<String> texts = new ArrayList<>();
            run.get("texts").forEach(t -> texts.add(t.asText()));
            List<Encoding> encodings = se.encode(texts);
            for (int i = 0; i < texts.size(); i++) {
                int[] want = CrossEncoderGolden.ints(run.get("input_ids").get(i));
                if (!Arrays.equals(want, encodings.get(i).ids())) {
                    mismatches.add(what + " text " + i + ": input_ids " + Arrays.toString(encodings.get(i).ids())
                            + ", sentence-transformers " + Arrays.toString(want));
                }
            }
            List<SparseEmbeddings.Vector> got = se.withBatchTokens(16).embedEncodings(encodings, LengthBatches.Listener.NONE);
            for (int i = 0; i < texts.size(); i++) {
                JsonNode row = run.get("embeddings").get(i);
                float[] want = new float[row.size()];
                for (int k = 0; k < want.length; k++) want[k] = (float) row.get(k).asDouble();
                compare.check(what + " text " + i, want, got.get(i).dense(), mismatches);
                if (run.hasNonNull("max_active_dims") && got.get(i).indices().length > run.get("max_active_dims").asInt()) {
                    mismatches.add(what + " text " + i + ": " + got.get(i).indices().length + " active dims");
                }
            }
        }
        List<SparseEmbeddings.TokenWeight> top = base.decode(base.embed(texts(c).getFirst()), 3);
        JsonNode want = c.expected().get("decode");
        for (int k = 0; decodeOrder && k < 3; k++) {
            if (!want.get(k).get(0).asText().equals(top.get(k).token())) {
                mismatches.add(c.name() + " decode " + k + ": " + top.get(k) + ", sentence-transformers " + want.get(k));
            }
        }
        return mismatches;
    }

    private static List<String> texts(SentenceTransformersGolden.Case c) {
        List<String> texts = new ArrayList<>();
        c.expected().get("runs").get(0).get("texts").forEach(t -> texts.add(t.asText()));
        return texts;
    }
}
