package distilbert.cli;

import static distilbert.cli.Cli.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The commands' CUDA path on the stand-in driver and cuBLAS (kernels-cu/src/test/fake-cuda): no
 * kernel runs there, so the numbers are not checked (the GPU suite does that on a GPU), but every
 * step up to the kernels does run: {@code --device cuda} and {@code auto} taking the GPU, each
 * precision, loading the weights onto the device, batching, the launches, the copies back, the JSON.
 * Runs only in cli/pom.xml's fake-gpu execution.
 */
@Tag("fakegpu")
class CliOnFakeGpuTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;

    @BeforeAll
    static void onTheStandIns() {
        Assumptions.assumeTrue(Boolean.getBoolean("distilbert.fakeGpu"),
                "runs in cli/pom.xml's fake-gpu execution, on the stand-in driver (mvn test runs it)");
    }

    private static List<String> run(String command, Path model, String stdin, String... args) {
        List<String> all = new java.util.ArrayList<>(List.of(command, "--model", model.toString()));
        all.addAll(List.of(args));
        Cli.Result r = Cli.run(stdin, all.toArray(String[]::new));
        assertFalse(r.err().contains("CPU"), "ran on the GPU, no fallback notice: " + r.err());
        return ok(r);
    }

    @Test
    void infoSeesTheStandInDevice() {
        Cli.Result r = Cli.run("", "info", "--device");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("GPU: usable"), r.out());
        assertTrue(r.out().contains("distilbert-cuda fake GPU"), r.out());
    }

    @Test
    void embedOnEveryPrecisionAndOnAuto() throws IOException {
        Path model = TinyModels.widened(dir.resolve("base"), TinyModels.config(), Head.BASE);
        String rows = Cli.rows("the whale was white", "Call me Ishmael.", "a", "x y z");
        for (String precision : List.of("fp32", "tf32", "bf16", "fp16")) {
            List<String> lines = run("embed", model, rows, "--device", "cuda", "--precision", precision);
            assertEquals(4, lines.size(), precision);
            assertEquals(TinyModels.C, JSON.readTree(lines.getFirst()).get("embedding").size(), precision);
        }
        // auto takes the (stand-in) GPU, so it says nothing about the CPU
        assertEquals(4, run("embed", model, rows).size());
        assertEquals(4, run("embed", model, rows, "--pooling", "none", "--device", "cuda").size());
    }

    /**
     * A GPU too full for the model: --device cuda fails with the out-of-memory message (what, how much,
     * how much is free, what to do), not an internal error; auto runs on the CPU, saying why once.
     */
    @Test
    void aFullGpuIsAClearErrorOnCudaAndTheCpuOnAuto() throws IOException {
        Path model = TinyModels.widened(dir.resolve("full"), TinyModels.config(), Head.BASE);
        Path memory = Path.of(System.getenv("FAKE_CUDA_MEMORY_FILE"));
        java.nio.file.Files.writeString(memory, "20000000"); // 19 MiB: not the 32 MiB cuBLAS workspace
        try {
            String rows = Cli.rows("the whale was white", "a");
            Cli.Result cuda = Cli.run(rows, "embed", "--model", model.toString(), "--device", "cuda");
            assertEquals(1, cuda.code(), cuda.err());
            assertTrue(cuda.err().startsWith("distilbert embed: GPU out of memory: the cuBLAS workspace needs 32.0 MiB"),
                    cuda.err());
            assertTrue(cuda.err().contains("free of 19.1 MiB. Free other models on this GPU, or run on the CPU"), cuda.err());
            Cli.Result auto = Cli.run(rows, "embed", "--model", model.toString());
            assertEquals(0, auto.code(), auto.err());
            assertEquals(2, auto.lines().size());
        } finally {
            java.nio.file.Files.deleteIfExists(memory);
        }
    }

    @Test
    void everyPipelineCommand() throws IOException {
        String texts = Cli.rows("I loved the films and the music.", "The ending was awfully boring, but the cast was fine.");
        Path classifier = TinyModels.classifier(dir.resolve("classifier"), TinyModels.config());
        List<String> scored = run("score", classifier, texts, "--device", "cuda", "--top-k", "all", "--logits");
        assertEquals(2, scored.size());
        assertTrue(JSON.readTree(scored.getFirst()).has("logits"), scored.getFirst());

        Path ner = TinyModels.tokenClassifier(dir.resolve("ner"), TinyModels.config());
        assertEquals(2, run("ner", ner, texts, "--device", "cuda", "--aggregation", "none").size());

        Path mlm = TinyModels.maskedLm(dir.resolve("mlm"), TinyModels.config());
        // with targets: the probabilities come from the logits (top k on the device gives ids no kernel wrote here)
        List<String> filled = run("fill-mask", mlm, Cli.rows("Paris is the [MASK] of France."), "--device", "cuda",
                "--targets", "capital,city");
        assertEquals(1, filled.size());
        assertEquals(2, JSON.readTree(filled.getFirst()).size(), filled.getFirst());

        Path qa = TinyModels.widened(dir.resolve("qa"), TinyModels.config(), Head.QUESTION_ANSWERING);
        JsonNode q = JSON.createObjectNode().put("question", "Who wrote it?").put("context", "Moby-Dick was written by Herman Melville.");
        assertEquals(1, run("qa", qa, q + "\n", "--device", "cuda").size());

        Path mc = TinyModels.widened(dir.resolve("mc"), TinyModels.config(), Head.MULTIPLE_CHOICE);
        String question = "{\"prompt\": \"The chef put the pizza\", \"choices\": [\"in the oven.\", \"on the moon.\", \"x\"]}\n";
        List<String> chosen = run("multiple-choice", mc, question + question, "--device", "cuda", "--precision", "fp16");
        assertEquals(2, chosen.size());
        assertEquals(3, JSON.readTree(chosen.getFirst()).get("scores").size());
    }
}
