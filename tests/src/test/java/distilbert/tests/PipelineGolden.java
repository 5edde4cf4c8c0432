package distilbert.tests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;

/**
 * The HF pipeline cases of tests/golden/make_golden.py: index.json's "pipelines", each with its
 * "task", a model directory and its expected.json. Until they are generated, a task's tests are one
 * that reports itself skipped, saying how to generate them.
 */
final class PipelineGolden {
    private PipelineGolden() {
    }

    /** One case: its name, its model directory and what HF's pipeline gave (expected.json). */
    record Case(String name, Path dir, JsonNode expected) {
    }

    /** Makes the dynamic tests of one case. */
    @FunctionalInterface
    interface Tests {
        List<DynamicTest> of(Case c) throws IOException;
    }

    /** The tests {@code tests} makes for each case of {@code task}, or one aborted test saying why there are none. */
    static Stream<DynamicTest> forTask(String task, Tests tests) throws IOException, URISyntaxException {
        URL index = PipelineGolden.class.getResource("/golden/index.json");
        JsonNode pipelines = index == null ? null : new ObjectMapper().readTree(index).get("pipelines");
        List<DynamicTest> out = new ArrayList<>();
        if (pipelines != null) {
            Path root = Path.of(index.toURI()).getParent();
            for (JsonNode c : pipelines) {
                if (c.path("task").asText().equals(task)) {
                    Path dir = root.resolve(c.get("case").asText());
                    out.addAll(tests.of(new Case(c.get("case").asText(), dir,
                            new ObjectMapper().readTree(dir.resolve("expected.json").toFile()))));
                }
            }
        }
        if (out.isEmpty()) {
            return Stream.of(DynamicTest.dynamicTest(task + " golden files", () -> Assumptions.abort(index == null
                    ? "the HF golden files are not generated yet: run `python3 tests/golden/make_golden.py` where PyTorch"
                            + " and transformers are installed (the GPU machine), then commit tests/src/test/resources/golden"
                    : "index.json has no " + task + " case (generated before make_golden.py wrote one, or it was"
                            + " skipped: see its \"skipped\")")));
        }
        return out.stream();
    }
}
