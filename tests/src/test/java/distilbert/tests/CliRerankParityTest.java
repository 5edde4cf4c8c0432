package distilbert.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * {@code distilbert rerank} against sentence-transformers' {@code CrossEncoder.rank} on every golden
 * directory of one label ({@link CrossEncoderGolden}): each rank run (top_k, prompt_name) as a line
 * {"query", "documents"}, the same corpus ids in the same order (ties within {@link GoldenParityTest}'s
 * bound unchecked, as {@link CliSearchParityTest}), each score within that bound, and the texts; then
 * the first run's line three times among lines without documents, in one run (the pairs of all lines
 * batched together, each line's ranking its own); and a model of three labels refused.
 */
class CliRerankParityTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static String line(JsonNode run) {
        ObjectNode o = JSON.createObjectNode();
        o.put("query", run.get("query").asText());
        o.set("documents", run.get("documents"));
        return o + "\n";
    }

    @TestFactory
    Stream<DynamicTest> rerankMatchesCrossEncoderRank() throws Exception {
        return CrossEncoderGolden.cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            String model = c.dir().toString();
            if (c.expected().get("num_labels").asInt() != 1) {
                ConvertedMiniLm.Run r = ConvertedMiniLm.cli("{\"query\": \"q\", \"documents\": [\"d\"]}\n", "rerank", "--model", model,
                        "--device", "cpu");
                assertEquals(1, r.code(), r.err());
                assertTrue(r.err().contains("rerank needs a cross-encoder of one label"), r.err());
                return;
            }
            List<String> mismatches = new ArrayList<>();
            int index = 0;
            for (JsonNode run : c.expected().get("rank")) {
                List<String> args = new ArrayList<>(List.of("rerank", "--model", model, "--device", "cpu"));
                if (run.hasNonNull("top_k")) args.addAll(List.of("--top-k", run.get("top_k").asText()));
                if (run.hasNonNull("prompt_name")) args.addAll(List.of("--prompt-name", run.get("prompt_name").asText()));
                ArrayNode want = JSON.createArrayNode().add(run.get("ranking"));
                mismatches.addAll(CliSearchParityTest.compare(CrossEncoderGolden.describe(c, "rank", index++, run), want,
                        run.get("documents"), CliEmbedParityTest.lines(ConvertedMiniLm.cli(line(run), args.toArray(String[]::new))),
                        true));
            }
            JsonNode first = c.expected().get("rank").get(0);
            String empty = "{\"query\": \"nothing\", \"documents\": []}\n";
            List<JsonNode> lines = CliEmbedParityTest.lines(ConvertedMiniLm.cli(
                    empty + line(first) + line(first) + empty + line(first), "rerank", "--model", model, "--device", "cpu",
                    "--batch-tokens", "40"));
            assertEquals(5, lines.size());
            ArrayNode want = JSON.createArrayNode().add(first.get("ranking")).add(first.get("ranking")).add(first.get("ranking"));
            mismatches.addAll(CliSearchParityTest.compare(c.name() + " three lines", want, first.get("documents"),
                    List.of(lines.get(1), lines.get(2), lines.get(4)), true));
            assertEquals("{\"hits\":[]}", lines.get(0).toString(), "a line without documents has no hits");
            assertEquals(lines.get(0), lines.get(3));
            assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
        }));
    }
}
