package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.ToIntFunction;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Chunks on several jobs at once (one per GPU): written in input order, failures as on one GPU. */
final class ChunkFanoutTest {

    /** What reaches the output: each chunk's lines, in the order written. */
    private static final class Recorded implements JsonlLines {
        final List<Object> lines = Collections.synchronizedList(new ArrayList<>());

        @Override
        public <T> void write(List<T> items, JsonlOutput.ObjectWriter<T> object, ToIntFunction<T> bytesHint) {
            lines.addAll(items);
        }
    }

    /** A job that takes a random short time per chunk and counts how many chunks run on it at once. */
    private static final class Job {
        final String name;
        final AtomicInteger running = new AtomicInteger();
        final AtomicInteger chunks = new AtomicInteger();
        volatile int mostAtOnce;

        Job(String name) {
            this.name = name;
        }

        void run(int chunk, int rows, JsonlLines out, Random random) {
            int now = running.incrementAndGet();
            mostAtOnce = Math.max(mostAtOnce, now);
            try {
                Thread.sleep(random.nextInt(4));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            List<String> lines = IntStream.range(0, rows).mapToObj(r -> chunk + "." + r).toList();
            // a chunk may write more than once (a command's sub-batches): both land, in order
            out.write(lines.subList(0, rows / 2), (gen, x) -> { }, x -> 1);
            out.write(lines.subList(rows / 2, rows), (gen, x) -> { }, x -> 1);
            chunks.incrementAndGet();
            running.decrementAndGet();
        }
    }

    private static List<String> expected(int chunks, int rows) {
        List<String> all = new ArrayList<>();
        for (int c = 0; c < chunks; c++) for (int r = 0; r < rows; r++) all.add(c + "." + r);
        return all;
    }

    @Test
    void chunksRunOnEveryJobAndAreWrittenInInputOrder() {
        List<Job> jobs = List.of(new Job("gpu0"), new Job("gpu1"), new Job("gpu2"));
        Recorded out = new Recorded();
        Random seeds = new Random(7);
        Set<String> threads = ConcurrentHashMap.newKeySet();
        try (ChunkFanout<Job> fan = new ChunkFanout<>(jobs, out, "test-gpu")) {
            for (int c = 0; c < 60; c++) {
                int chunk = c;
                Random random = new Random(seeds.nextLong());
                fan.submit((job, lines) -> {
                    threads.add(Thread.currentThread().getName());
                    job.run(chunk, 5, lines, random);
                });
                // never more than 2 x jobs chunks between submission and writing
                assertTrue(out.lines.size() >= (c + 1 - 6) * 5, "chunk " + c + ": " + out.lines.size() + " lines written");
            }
            fan.finish();
        }
        assertEquals(expected(60, 5), out.lines);
        for (Job j : jobs) {
            assertTrue(j.chunks.get() > 0, j.name + " ran no chunk");
            assertEquals(1, j.mostAtOnce, j.name + ": one chunk at a time per job");
        }
        assertEquals(60, jobs.stream().mapToInt(j -> j.chunks.get()).sum());
        assertEquals(Set.of("test-gpu"), threads);
    }

    @Test
    void aFailingChunkIsThrownAfterTheChunksBeforeItAreWrittenAndNothingAfter() {
        List<Job> jobs = List.of(new Job("gpu0"), new Job("gpu1"));
        Recorded out = new Recorded();
        IllegalStateException oom = new IllegalStateException("GPU out of memory on chunk 7");
        ChunkFanout<Job> fan = new ChunkFanout<>(jobs, out, "test-gpu");
        RuntimeException thrown;
        try (fan) {
            thrown = assertThrows(RuntimeException.class, () -> {
                for (int c = 0; c < 40; c++) {
                    int chunk = c;
                    Random random = new Random(c);
                    fan.submit((job, lines) -> {
                        if (chunk == 7) throw oom;
                        job.run(chunk, 3, lines, random);
                    });
                }
                fan.finish();
            });
            fan.finish(); // after a failure: nothing more is written
        }
        assertSame(oom, thrown);
        assertEquals(expected(7, 3), out.lines, "the chunks before the failing one, all of them and nothing after");
        assertEquals(0, jobs.stream().mapToInt(j -> j.running.get()).sum(), "close waited for the chunks still running");
        assertThrows(IllegalStateException.class, () -> fan.submit((job, lines) -> { }));
    }

    @Test
    void oneJobIsTheOneGpuRunInOrder() {
        Job job = new Job("gpu0");
        Recorded out = new Recorded();
        try (ChunkFanout<Job> fan = new ChunkFanout<>(List.of(job), out, "test-gpu")) {
            for (int c = 0; c < 10; c++) {
                int chunk = c;
                fan.submit((j, lines) -> j.run(chunk, 2, lines, new Random(chunk)));
            }
            fan.finish();
        }
        assertEquals(expected(10, 2), out.lines);
        assertThrows(IllegalArgumentException.class, () -> new ChunkFanout<>(List.of(), out, "none"));
    }
}
