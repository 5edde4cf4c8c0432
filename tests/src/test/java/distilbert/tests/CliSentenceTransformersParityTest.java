package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distilbert embed --model <sentence-transformers directory>} on the golden directories
 * ({@link SentenceTransformersGolden}): every run of {@code encode} there (default prompt,
 * {@code --prompt-name}, {@code --prompt}, {@code --truncate-dim}, {@code --normalize}) as JSON lines, and the first as {@code --format npy},
 * within {@link GoldenParityTest}'s element-wise bound of sentence-transformers' embeddings.
 */
class CliSentenceTransformersParityTest {

    @TempDir
    static Path tmp;

    @TestFactory
    Stream<DynamicTest> embedMatchesSentenceTransformersEncode() throws Exception {
        return SentenceTransformersGolden.cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            List<String> mismatches = new ArrayList<>();
            int k = 0;
            for (JsonNode run : c.expected().get("runs")) {
                List<String> texts = new ArrayList<>();
                run.get("texts").forEach(t -> texts.add(t.asText()));
                List<String> args = new ArrayList<>(List.of("embed", "--model", c.dir().toString(), "--device", "cpu",
                        "--batch-tokens", "16"));
                String what = c.name() + " run " + k;
                if (run.hasNonNull("prompt_name")) args.addAll(List.of("--prompt-name", run.get("prompt_name").asText()));
                if (run.hasNonNull("prompt")) args.addAll(List.of("--prompt", run.get("prompt").asText()));
                if (run.hasNonNull("truncate_dim")) args.addAll(List.of("--truncate-dim", run.get("truncate_dim").asText()));
                if (run.path("normalize_embeddings").asBoolean(false)) args.add("--normalize");
                List<JsonNode> lines = CliEmbedParityTest.lines(ConvertedMiniLm.cli(CliEmbedParityTest.rows(texts),
                        args.toArray(String[]::new)));
                assertEquals(texts.size(), lines.size(), what + ": lines");
                for (int i = 0; i < texts.size(); i++) {
                    GoldenParityTest.compare(what + " line " + (i + 1), CliEmbedParityTest.floats(run.get("embeddings").get(i)),
                            CliEmbedParityTest.floats(lines.get(i).get("embedding")), mismatches);
                }
                if (k++ == 0) {
                    Path npy = tmp.resolve(c.name() + ".npy");
                    args.addAll(List.of("--format", "npy", "--output", npy.toString()));
                    ConvertedMiniLm.Run r = ConvertedMiniLm.cli(CliEmbedParityTest.rows(texts), args.toArray(String[]::new));
                    assertEquals(0, r.code(), r.err());
                    int d = c.expected().get("dimension").asInt();
                    float[] all = readNpy(npy, texts.size(), d);
                    for (int i = 0; i < texts.size(); i++) {
                        GoldenParityTest.compare(what + " npy row " + i, CliEmbedParityTest.floats(run.get("embeddings").get(i)),
                                java.util.Arrays.copyOfRange(all, i * d, (i + 1) * d), mismatches);
                    }
                }
            }
            assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
        }));
    }

    /** A float32 (rows, dim) .npy file as NumPy 1.0 defines it: magic, version, header length, header dict, data. */
    private static float[] readNpy(Path npy, int rows, int dim) throws java.io.IOException {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(Files.readAllBytes(npy)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        assertEquals((byte) 0x93, b.get(0), "magic");
        int headerLength = b.getShort(8) & 0xffff;
        String header = new String(b.array(), 10, headerLength, java.nio.charset.StandardCharsets.US_ASCII);
        assertTrue(header.contains("'descr': '<f4'") && header.contains("'shape': (" + rows + ", " + dim + ")"), header);
        float[] v = new float[rows * dim];
        b.position(10 + headerLength);
        b.asFloatBuffer().get(v);
        return v;
    }

    @TestFactory
    Stream<DynamicTest> unknownPromptNamesAreNamed() throws Exception {
        SentenceTransformersGolden.Case c = SentenceTransformersGolden.cases().stream()
                .filter(x -> x.name().equals("st_prompts")).findFirst().orElseThrow();
        return Stream.of(DynamicTest.dynamicTest("st_prompts --prompt-name passage", () -> {
            ConvertedMiniLm.Run r = ConvertedMiniLm.cli(CliEmbedParityTest.rows(List.of("x")), "embed", "--model",
                    c.dir().toString(), "--device", "cpu", "--prompt-name", "passage");
            assertEquals(1, r.code());
            assertEquals("distilbert embed: " + c.dir() + ": no prompt named 'passage'; its prompts are document, query\n", r.err());
            assertTrue(Files.isDirectory(c.dir()));
        }));
    }
}
