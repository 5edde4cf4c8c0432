package distilbert.tests;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import distilbert.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * all-MiniLM-L6-v2 (ONNX, from the test classpath) converted once per test JVM by {@code distilbert
 * convert} into a DistilBERT model directory, and ONNX Runtime on the original file as the oracle.
 * The directory is deleted when the JVM exits.
 */
final class ConvertedMiniLm {
    static final int DIM = 384;

    private ConvertedMiniLm() {}

    record Run(int code, String out, String err) {}

    /** Runs the command line in-process with {@code stdin}. */
    static Run cli(String stdin, String... args) {
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        int code = Main.run(args, new java.io.ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** The folder holding model.onnx and the converted directory "converted". */
    static Path root() {
        return Holder.ROOT;
    }

    static Path onnx() {
        return root().resolve("model.onnx");
    }

    static Path directory() {
        return root().resolve("converted");
    }

    private static final class Holder {
        static final Path ROOT = convert();

        private static Path convert() {
            try {
                Path root = Files.createTempDirectory("minilm-");
                Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(root)));
                Path onnx = copyResource("/all-minilm-l6-v2.onnx", root.resolve("model.onnx"));
                Path tokenizer = copyResource("/all-minilm-l6-v2-tokenizer.json", root.resolve("tokenizer.json"));
                Run r = cli("", "convert", "--from", "onnx", "--input", onnx.toString(), "--tokenizer", tokenizer.toString(),
                        "--output", root.resolve("converted").toString());
                if (r.code() != 0) throw new IllegalStateException("distilbert convert failed: " + r.err());
                return root;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static Path copyResource(String name, Path to) throws IOException {
        try (InputStream in = ConvertedMiniLm.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException(name + " is not on the test classpath");
            Files.copy(in, to);
        }
        return to;
    }

    private static void deleteTree(Path root) {
        try (var paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            // a temporary folder left behind is no failure
        }
    }

    /** ONNX Runtime on the original BERT: last_hidden_state [len, 384] of each sequence, run alone, token_type_ids 0. */
    static List<float[][]> onnxLastHiddenStates(List<int[]> sequences) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession session = env.createSession(onnx().toString(), new OrtSession.SessionOptions())) {
            return sequences.stream().map(ids -> {
                long[] in = Arrays.stream(ids).asLongStream().toArray();
                long[] ones = new long[ids.length], zeros = new long[ids.length];
                Arrays.fill(ones, 1);
                try (OnnxTensor a = OnnxTensor.createTensor(env, new long[][] {in});
                     OnnxTensor m = OnnxTensor.createTensor(env, new long[][] {ones});
                     OnnxTensor t = OnnxTensor.createTensor(env, new long[][] {zeros});
                     OrtSession.Result r = session.run(Map.of("input_ids", a, "attention_mask", m, "token_type_ids", t))) {
                    return ((float[][][]) r.get("last_hidden_state").orElseThrow().getValue())[0];
                } catch (OrtException e) {
                    throw new IllegalStateException(e);
                }
            }).toList();
        }
    }

    /** sentence-transformers' recipe for all-MiniLM-L6-v2, in double: mean over the tokens, then L2 normalization. */
    static double[] meanPooledNormalized(float[][] hidden) {
        double[] v = new double[hidden[0].length];
        for (float[] row : hidden) for (int c = 0; c < v.length; c++) v[c] += row[c];
        double norm = 0;
        for (int c = 0; c < v.length; c++) {
            v[c] /= hidden.length;
            norm += v[c] * v[c];
        }
        norm = Math.sqrt(norm);
        for (int c = 0; c < v.length; c++) v[c] /= norm;
        return v;
    }
}
