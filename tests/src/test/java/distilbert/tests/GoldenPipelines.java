package distilbert.tests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;

/**
 * The HF pipeline cases of tests/golden/make_golden.py: index.json's "pipelines" entries, each a
 * directory (model, tokenizer, expected.json) with its "task".
 */
final class GoldenPipelines {
    private GoldenPipelines() {
    }

    /**
     * The tests {@code testsOfCase} makes of each case directory of {@code task}; while there are
     * none, one test that reports itself skipped, saying why (an assumption in a test factory
     * itself would not be reported).
     */
    static Stream<DynamicTest> cases(String task, Function<Path, Stream<DynamicTest>> testsOfCase) throws Exception {
        URL index = GoldenPipelines.class.getResource("/golden/index.json");
        if (index == null) {
            return skipped(task, "the HF golden files are not generated yet: run `python3 tests/golden/make_golden.py` where"
                    + " PyTorch and transformers are installed (the GPU machine), then commit tests/src/test/resources/golden");
        }
        Path root = Path.of(index.toURI()).getParent();
        List<Path> dirs = new ArrayList<>();
        for (JsonNode c : new ObjectMapper().readTree(index).path("pipelines")) {
            if (c.path("task").asText().equals(task)) {
                dirs.add(root.resolve(c.get("case").asText()));
            }
        }
        if (dirs.isEmpty()) {
            return skipped(task, "index.json has no " + task + " pipeline cases (generated before make_golden.py wrote them,"
                    + " or they were skipped: see its \"skipped\")");
        }
        return dirs.stream().flatMap(testsOfCase);
    }

    private static Stream<DynamicTest> skipped(String task, String why) {
        return Stream.of(DynamicTest.dynamicTest(task + " golden files", () -> Assumptions.abort(why)));
    }
}
