package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import distilbert.model.Device;
import distilbert.model.Replicas;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** search's two embed runs share one loaded model: the same directory, devices and precision load once. */
final class SharedModelsTest {

    @TempDir
    Path dir;

    @Test
    void theSameModelLoadsOnceAndAnotherLoadsBesideIt() throws IOException {
        Path a = TinyModels.withTokenizer(dir.resolve("a")), b = TinyModels.withTokenizer(dir.resolve("b"));
        RunOptions.Devices cpu = RunOptions.Devices.of(Device.CPU);
        try (SharedModels shared = new SharedModels()) {
            Replicas first = shared.get(a, cpu, null);
            assertSame(first, shared.get(dir.resolve("x/../a"), cpu, null), "the same directory, written another way");
            assertEquals(1, shared.size());
            assertNotSame(first, shared.get(b, cpu, null));
            assertEquals(2, shared.size());
        }
    }

    @Test
    void searchEmbedsCorpusAndQueriesWithOneLoad() throws IOException {
        Path model = TinyModels.withTokenizer(dir.resolve("m"));
        Path corpus = Files.writeString(dir.resolve("corpus.jsonl"), Cli.rows("the whale", "a white whale", "times"));
        try (SharedModels shared = new SharedModels()) {
            Cli.Result r = ScopedValue.where(SharedModels.CURRENT, shared).call(() -> Cli.run(Cli.rows("whale", "times"),
                    "search", "--model", model.toString(), "--corpus", corpus.toString(), "--top-k", "2"));
            assertEquals(0, r.code(), r.err());
            assertEquals(2, r.lines().size(), r.out());
            assertEquals(1, shared.size(), "both embed runs used the one model of the scope");
        }
    }
}
