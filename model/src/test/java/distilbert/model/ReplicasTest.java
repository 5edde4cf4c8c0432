package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.tokenizer.Tokenizer;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Replicas} on the CPU: a copy per device, in order, each its own model; a failure closes
 * what was loaded before it; close closes all; a batcher with a worker per copy (as the class's
 * documentation writes it). The copies on two GPUs are {@code FakeGpuPlumbingTest}'s.
 */
class ReplicasTest {

    @Test
    void aCopyPerDeviceEachItsOwnAndCloseClosesAll(@TempDir Path dir) throws IOException {
        distilbert.weights.ModelDirectory.save(dir, TestModels.checkpoint(TestModels.config(), Head.BASE, 71));
        Replicas models = Replicas.load(dir, List.of(Device.CPU, Device.CPU), null);
        assertEquals(2, models.size());
        assertNotSame(models.models().get(0), models.models().get(1));
        assertNotSame(models.models().get(0).ops(), models.models().get(1).ops());
        assertEquals(List.of("cpu", "cpu"), models.map(db -> db.ops() instanceof CpuOps ? "cpu" : "other"));
        models.close();
        for (DistilBert db : models.models()) assertTrue(((CpuOps) db.ops()).closed());
        assertThrows(IllegalArgumentException.class, () -> Replicas.load(dir, List.of(), null));
    }

    @Test
    void aFailureClosesTheCopiesLoadedBeforeIt() {
        List<DistilBert> made = new ArrayList<>();
        IOException boom = new IOException("device 3 is gone");
        IOException thrown = assertThrows(IOException.class, () -> Replicas.load(List.of(Device.CPU, Device.CPU, Device.cuda(3)), d -> {
            if (d.isCuda()) throw boom;
            DistilBert db = TestModels.model(TestModels.config(), Head.BASE, 72);
            made.add(db);
            return db;
        }));
        assertSame(boom, thrown);
        assertEquals(2, made.size());
        for (DistilBert db : made) assertTrue(((CpuOps) db.ops()).closed(), "closed after the failure");
    }

    @Test
    void aBatcherWithAWorkerPerCopy(@TempDir Path dir) throws IOException {
        Tokenizer tok = TinyTokenizer.create(dir);
        List<String> texts = List.of("the cat sat on the mat", "a dog", "the big red house and the small blue tree");
        try (DistilBert alone = TestModels.model(TestModels.config(), Head.BASE, 73);
             Replicas models = Replicas.load(List.of(Device.CPU, Device.CPU), d -> TestModels.model(TestModels.config(), Head.BASE, 73));
             DynamicBatcher<String, float[]> embedder = DynamicBatcher.<String, float[]>builder()
                     .workers(models.map(db -> new SentenceEmbeddings(db, tok)::embed))
                     .maxBatchSize(2).build()) {
            List<float[]> want = new SentenceEmbeddings(alone, tok).embed(texts);
            var got = embedder.submitAll(texts);
            for (int i = 0; i < texts.size(); i++) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(want.get(i), got.get(i).join(), "text " + i);
            }
            assertFalse(((CpuOps) models.models().getFirst().ops()).closed());
        }
    }
}
