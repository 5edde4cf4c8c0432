package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distilbert embed --quantize} against sentence-transformers' {@code quantize_embeddings} on
 * every golden directory ({@link SentenceTransformersGolden}, "quantize"): the first run's texts
 * embedded and quantized by the command, int8 and uint8 calibrated on sentence-transformers' own
 * embeddings of them (an .npy file, as quantize_embeddings took its ranges from them), against the
 * bytes quantize_embeddings gave. Our embeddings differ from sentence-transformers' in the last bits
 * (GoldenParityTest's bound), so a value on a bucket's edge may fall one bucket over, and a value
 * within that bound of 0 may take the other bit: those are the only differences allowed. (The
 * library's quantization of the same floats is checked byte for byte in SentenceTransformersGoldenParityTest.)
 */
class CliQuantizeParityTest {

    @TempDir
    static Path tmp;

    /** A float32 (rows, dim) .npy file, version 1.0, as numpy.save writes one. */
    static Path npy(Path file, List<float[]> rows) throws IOException {
        int dim = rows.getFirst().length;
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + rows.size() + ", " + dim + "), }";
        StringBuilder padded = new StringBuilder(dict);
        while ((10 + padded.length() + 1) % 64 != 0) padded.append(' ');
        padded.append('\n');
        ByteBuffer b = ByteBuffer.allocate(10 + padded.length() + rows.size() * dim * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) padded.length()).put(padded.toString().getBytes(StandardCharsets.US_ASCII));
        for (float[] r : rows) for (float x : r) b.putFloat(x);
        return Files.write(file, b.array());
    }

    @TestFactory
    Stream<DynamicTest> embedQuantizeMatchesQuantizeEmbeddings() throws Exception {
        return SentenceTransformersGolden.cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            JsonNode run = c.expected().get("runs").get(0);
            List<String> texts = new ArrayList<>();
            run.get("texts").forEach(t -> texts.add(t.asText()));
            List<float[]> theirs = new ArrayList<>();
            for (JsonNode row : run.get("embeddings")) {
                float[] v = new float[row.size()];
                for (int k = 0; k < v.length; k++) v[k] = (float) row.get(k).asDouble();
                theirs.add(v);
            }
            Path calibration = npy(tmp.resolve(c.name() + "-calibration.npy"), theirs);
            List<String> mismatches = new ArrayList<>();
            for (String kind : List.of("int8", "uint8", "binary", "ubinary")) {
                List<String> args = new ArrayList<>(List.of("embed", "--model", c.dir().toString(), "--device", "cpu",
                        "--quantize", kind));
                if (kind.endsWith("int8")) args.addAll(List.of("--calibration", calibration.toString()));
                List<JsonNode> lines = CliEmbedParityTest.lines(ConvertedMiniLm.cli(CliEmbedParityTest.rows(texts),
                        args.toArray(String[]::new)));
                assertEquals(texts.size(), lines.size());
                JsonNode want = c.expected().get("quantize").get(kind);
                for (int i = 0; i < texts.size(); i++) {
                    JsonNode got = lines.get(i).get("embedding");
                    assertEquals(want.get(i).size(), got.size(), c.name() + " " + kind + " row " + i + ": width");
                    for (int k = 0; k < got.size(); k++) {
                        int g = got.get(k).asInt(), w = want.get(i).get(k).asInt();
                        if (g == w) continue;
                        boolean allowed = kind.endsWith("int8") ? Math.abs(g - w) == 1 : nearZero(theirs.get(i), k);
                        if (!allowed) mismatches.add(c.name() + " " + kind + " row " + i + " [" + k + "]: " + g + ", sentence-transformers " + w);
                    }
                }
            }
            assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
        }));
    }

    /** Whether byte k of a binary vector holds a value within GoldenParityTest's bound of 0. */
    private static boolean nearZero(float[] v, int k) {
        for (int i = 8 * k; i < Math.min(v.length, 8 * k + 8); i++) {
            if (Math.abs(v[i]) <= GoldenParityTest.ATOL) return true;
        }
        return false;
    }
}
