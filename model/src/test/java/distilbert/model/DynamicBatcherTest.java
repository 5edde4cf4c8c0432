package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.cuda.GpuOutOfMemoryException;
import distilbert.cuda.GpuOutOfMemoryExceptions;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link DynamicBatcher}: batches made deterministic by holding the worker inside its first batch
 * (a gate) while the next requests queue, so that the sizes and contents of every batch are known;
 * the results, failures, out-of-memory splits, rejections, cancellation and closing; many threads
 * at once; and a real model, whose results through the batcher equal its own.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DynamicBatcherTest {

    /** A batch function that records its batches and can be held inside a batch. */
    static final class Recorder implements DynamicBatcher.BatchFunction<Integer, Integer> {
        final List<List<Integer>> batches = Collections.synchronizedList(new ArrayList<>());
        final List<String> threads = Collections.synchronizedList(new ArrayList<>());
        final CountDownLatch entered = new CountDownLatch(1), release;

        Recorder(boolean gated) {
            release = new CountDownLatch(gated ? 1 : 0);
        }

        @Override
        public List<Integer> apply(List<Integer> inputs) throws Exception {
            batches.add(List.copyOf(inputs));
            threads.add(Thread.currentThread().getName());
            entered.countDown();
            release.await();
            return inputs.stream().map(x -> x * 2).toList();
        }
    }

    private static List<Integer> sizes(Recorder r) {
        return r.batches.stream().map(List::size).toList();
    }

    @Test
    void queuedRequestsRunInFullBatchesInOrder() throws Exception {
        Recorder f = new Recorder(true);
        List<CompletableFuture<Integer>> futures = new ArrayList<>();
        try (DynamicBatcher<Integer, Integer> b = DynamicBatcher.<Integer, Integer>builder().worker(f).maxBatchSize(10)
                .maxWait(Duration.ZERO).build()) {
            futures.add(b.submit(0));
            assertTrue(f.entered.await(10, TimeUnit.SECONDS));
            for (int i = 1; i <= 95; i++) futures.add(b.submit(i));
            assertEquals(95, b.stats().queued());
            f.release.countDown();
            for (int i = 0; i <= 95; i++) assertEquals(2 * i, futures.get(i).get(10, TimeUnit.SECONDS));
        }
        assertEquals(List.of(1, 10, 10, 10, 10, 10, 10, 10, 10, 10, 5), sizes(f));
        List<Integer> all = new ArrayList<>();
        f.batches.forEach(all::addAll);
        for (int i = 0; i <= 95; i++) assertEquals(i, all.get(i), "requests run in the order they came");
    }

    @Test
    void aBatchStopsAtItsWeightAndAHeavyRequestRunsAlone() throws Exception {
        Recorder f = new Recorder(true);
        try (DynamicBatcher<Integer, Integer> b = DynamicBatcher.<Integer, Integer>builder().worker(f).maxBatchSize(100)
                .maxBatchWeight(10, x -> x).maxWait(Duration.ZERO).build()) {
            CompletableFuture<Integer> first = b.submit(1);
            assertTrue(f.entered.await(10, TimeUnit.SECONDS));
            List<CompletableFuture<Integer>> rest = b.submitAll(List.of(4, 4, 4, 50, 3, 3, 0, 3, 1));
            f.release.countDown();
            assertEquals(2, first.join());
            assertEquals(List.of(8, 8, 8, 100, 6, 6, 0, 6, 2), rest.stream().map(CompletableFuture::join).toList());
        }
        assertEquals(List.of(List.of(1), List.of(4, 4), List.of(4), List.of(50), List.of(3, 3, 0, 3, 1)), f.batches);
    }

    @Test
    void aLoneRequestWaitsForCompanyAtMostMaxWait() throws Exception {
        Recorder f = new Recorder(false);
        try (DynamicBatcher<Integer, Integer> b = DynamicBatcher.<Integer, Integer>builder().worker(f).maxBatchSize(8)
                .maxWait(Duration.ofSeconds(2)).build()) {
            CompletableFuture<Integer> a = b.submit(1);
            Thread.sleep(100);
            CompletableFuture<Integer> c = b.submit(2);
            assertEquals(List.of(2, 4), List.of(a.get(10, TimeUnit.SECONDS), c.get(10, TimeUnit.SECONDS)));
            assertEquals(List.of(List.of(1, 2)), f.batches, "the second came within the first's wait");
            long start = System.nanoTime();
            assertEquals(6, b.submit(3).get(10, TimeUnit.SECONDS));
            long ms = (System.nanoTime() - start) / 1_000_000;
            assertTrue(ms >= 1900, "a lone request waits out max wait for company: " + ms + " ms");
        }
        try (DynamicBatcher<Integer, Integer> b = DynamicBatcher.<Integer, Integer>builder().worker(new Recorder(false))
                .maxBatchSize(8).build()) {
            // no wait by default: a lone request runs at once
            long start = System.nanoTime();
            assertEquals(8, b.submit(4).get(10, TimeUnit.SECONDS));
            assertTrue((System.nanoTime() - start) / 1_000_000 < 5_000);
        }
    }

    @Test
    void aFailedBatchFailsItsRequestsOnlyAndTheWorkerGoesOn() throws Exception {
        IllegalArgumentException boom = new IllegalArgumentException("bad input 13");
        DynamicBatcher.BatchFunction<Integer, Integer> f = xs -> {
            if (xs.contains(13)) throw boom;
            return xs.stream().map(x -> -x).toList();
        };
        DynamicBatcher.BatchFunction<Integer, Integer> shortOne = xs -> xs.subList(0, xs.size() - 1);
        try (DynamicBatcher<Integer, Integer> b = DynamicBatcher.<Integer, Integer>builder().worker(f).maxBatchSize(1).build();
             DynamicBatcher<Integer, Integer> s = DynamicBatcher.<Integer, Integer>builder().worker(shortOne).build()) {
            CompletableFuture<Integer> ok1 = b.submit(1), bad = b.submit(13), ok2 = b.submit(2);
            assertEquals(-1, ok1.join());
            CompletionException e = assertThrows(CompletionException.class, bad::join);
            assertSame(boom, e.getCause());
            assertEquals(-2, ok2.join());
            DynamicBatcher.Stats st = b.stats();
            assertEquals(3, st.requests());
            assertEquals(1, st.failed());
            IllegalStateException wrong = (IllegalStateException) assertThrows(CompletionException.class, () -> s.submit(5).join())
                    .getCause();
            assertEquals("the batch function returned 0 outputs for 1 inputs", wrong.getMessage());
        }
        DynamicBatcher.Weigher<Integer> negative = x -> -1;
        try (DynamicBatcher<Integer, Integer> b = DynamicBatcher.<Integer, Integer>builder().worker(f).maxBatchWeight(5, negative)
                .build()) {
            assertTrue(assertThrows(CompletionException.class, () -> b.submit(1).join()).getCause().getMessage()
                    .contains("weights are at least 0"));
        }
    }

    @Test
    void aBatchThatRunsTheGpuOutOfMemoryIsSplitUntilItFits() throws Exception {
        List<Integer> tried = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch entered = new CountDownLatch(1), release = new CountDownLatch(1);
        DynamicBatcher.BatchFunction<Integer, Integer> f = xs -> {
            entered.countDown();
            release.await();
            tried.add(xs.size());
            if (xs.size() > 2 || xs.contains(99)) throw GpuOutOfMemoryExceptions.of("activations of " + xs.size(), 1 << 20);
            return xs.stream().map(x -> x + 100).toList();
        };
        try (DynamicBatcher<Integer, Integer> b = DynamicBatcher.<Integer, Integer>builder().worker(f).maxBatchSize(8)
                .maxWait(Duration.ZERO).build()) {
            CompletableFuture<Integer> first = b.submit(0);
            assertTrue(entered.await(10, TimeUnit.SECONDS));
            List<CompletableFuture<Integer>> eight = b.submitAll(List.of(1, 2, 3, 4, 5, 6, 7, 8));
            CompletableFuture<Integer> tooBig = b.submit(99);
            release.countDown();
            assertEquals(100, first.join());
            assertEquals(List.of(101, 102, 103, 104, 105, 106, 107, 108), eight.stream().map(CompletableFuture::join).toList());
            GpuOutOfMemoryException e = (GpuOutOfMemoryException) assertThrows(CompletionException.class, tooBig::join).getCause();
            assertEquals("activations of 1", e.reason());
            assertEquals(3, b.stats().splits(), "8 into 4 + 4, each 4 into 2 + 2");
        }
        // [0]; [1..8]: 8, then 4 → 2, 2 and 4 → 2, 2; [99] alone
        assertEquals(List.of(1, 8, 4, 2, 2, 4, 2, 2, 1), tried);
    }

    @Test
    void fullOrClosedIsARejectionAndCloseRunsWhatIsQueued() throws Exception {
        Recorder f = new Recorder(true);
        DynamicBatcher<Integer, Integer> b = DynamicBatcher.<Integer, Integer>builder().worker(f).maxBatchSize(2).maxQueued(3)
                .maxWait(Duration.ZERO).build();
        CompletableFuture<Integer> first = b.submit(0);
        assertTrue(f.entered.await(10, TimeUnit.SECONDS));
        List<CompletableFuture<Integer>> queued = b.submitAll(List.of(1, 2, 3));
        RejectedExecutionException full = (RejectedExecutionException) assertThrows(CompletionException.class,
                () -> b.submit(4).join()).getCause();
        assertEquals("the batcher's queue is full: 3 requests are waiting (maxQueued)", full.getMessage());
        Thread closer = new Thread(b::close);
        closer.start();
        // once closing, new requests are refused, while what was queued waits for the worker
        String why;
        do {
            why = b.submit(6).handle((x, e) -> e == null ? "ran" : e.getMessage()).join();
        } while (why.startsWith("the batcher's queue is full"));
        assertEquals("the batcher is closed", why);
        assertFalse(queued.getFirst().isDone());
        assertTrue(closer.isAlive(), "close waits for the queued requests");
        f.release.countDown();
        closer.join(10_000);
        assertFalse(closer.isAlive());
        assertEquals(0, first.join());
        assertEquals(List.of(2, 4, 6), queued.stream().map(CompletableFuture::join).toList());
        RejectedExecutionException closed = (RejectedExecutionException) assertThrows(CompletionException.class,
                () -> b.submit(7).join()).getCause();
        assertEquals("the batcher is closed", closed.getMessage());
        assertEquals(4, b.stats().requests());
    }

    @Test
    void aCancelledRequestIsDropped() throws Exception {
        Recorder f = new Recorder(true);
        try (DynamicBatcher<Integer, Integer> b = DynamicBatcher.<Integer, Integer>builder().worker(f).maxBatchSize(10)
                .maxWait(Duration.ZERO).build()) {
            b.submit(0);
            assertTrue(f.entered.await(10, TimeUnit.SECONDS));
            CompletableFuture<Integer> gone = b.submit(1), kept = b.submit(2);
            assertTrue(gone.cancel(false));
            f.release.countDown();
            assertEquals(4, kept.join());
        }
        assertEquals(List.of(List.of(0), List.of(2)), f.batches);
    }

    @Test
    void eachWorkerIsAThreadOfItsOwn() throws Exception {
        Recorder one = new Recorder(true), two = new Recorder(true);
        try (DynamicBatcher<Integer, Integer> b = DynamicBatcher.<Integer, Integer>builder().workers(List.of(one, two))
                .maxBatchSize(4).maxWait(Duration.ZERO).name("test-gpu").build()) {
            CompletableFuture<Integer> a = b.submit(1);
            // whichever worker took it is held; the next request goes to the other
            while (one.entered.getCount() + two.entered.getCount() == 2) Thread.onSpinWait();
            CompletableFuture<Integer> c = b.submit(2);
            assertTrue(one.entered.await(10, TimeUnit.SECONDS) && two.entered.await(10, TimeUnit.SECONDS));
            one.release.countDown();
            two.release.countDown();
            assertEquals(List.of(2, 4), List.of(a.join(), c.join()));
        }
        assertEquals(1, one.batches.size());
        assertEquals(1, two.batches.size());
        assertNotEquals(one.threads.getFirst(), two.threads.getFirst());
        assertTrue(one.threads.getFirst().startsWith("test-gpu-") && two.threads.getFirst().startsWith("test-gpu-"));
    }

    @Test
    void manyThreadsGetTheirOwnResults() throws Exception {
        DynamicBatcher.BatchFunction<Integer, Integer> f = xs -> {
            Thread.sleep(1);
            return xs.stream().map(x -> x * 3).toList();
        };
        ExecutorService callers = Executors.newFixedThreadPool(8);
        try (DynamicBatcher<Integer, Integer> b = DynamicBatcher.<Integer, Integer>builder().worker(f).worker(f).maxBatchSize(32)
                .build()) {
            List<java.util.concurrent.Future<Boolean>> done = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int from = t * 500;
                done.add(callers.submit(() -> {
                    for (int i = from; i < from + 500; i++) {
                        if (b.submit(i).join() != 3 * i) return false;
                    }
                    return true;
                }));
            }
            for (var d : done) assertTrue(d.get(60, TimeUnit.SECONDS));
            DynamicBatcher.Stats st = b.stats();
            assertEquals(4000, st.requests());
            assertEquals(0, st.failed());
            assertTrue(st.batches() <= 4000 && st.meanBatchSize() >= 1, st.toString());
        } finally {
            callers.shutdownNow();
        }
    }

    @Test
    void settingsAreChecked() {
        assertThrows(IllegalStateException.class, () -> DynamicBatcher.builder().build());
        assertThrows(IllegalArgumentException.class, () -> DynamicBatcher.builder().maxBatchSize(0));
        assertThrows(IllegalArgumentException.class, () -> DynamicBatcher.<String, String>builder().maxBatchWeight(0, String::length));
        assertThrows(IllegalArgumentException.class, () -> DynamicBatcher.builder().maxWait(Duration.ofMillis(-1)));
        assertThrows(IllegalArgumentException.class, () -> DynamicBatcher.builder().maxQueued(0));
    }

    @Test
    void aPipelinesListMethodIsABatchFunction(@TempDir Path dir) throws IOException {
        Tokenizer tok = TinyTokenizer.create(dir);
        try (DistilBert db = TestModels.model(TestModels.config(), Head.SEQUENCE_CLASSIFICATION, 62)) {
            TextClassification classifier = new TextClassification(db, tok);
            // as model/README.md writes it
            try (DynamicBatcher<String, TextClassification.Result> b = DynamicBatcher.<String, TextClassification.Result>builder()
                    .worker(classifier::classify).maxBatchSize(4).build()) {
                List<String> texts = List.of("the cat sat", "a dog ran away from the big house", "it was good");
                List<CompletableFuture<TextClassification.Result>> got = b.submitAll(texts);
                for (int i = 0; i < texts.size(); i++) {
                    assertEquals(classifier.classify(texts.get(i)), got.get(i).join(), "text " + i);
                }
            }
        }
    }

    @Test
    void embeddingsThroughTheBatcherAreTheModelsOwn(@TempDir Path dir) throws IOException {
        Tokenizer tok = TinyTokenizer.create(dir);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            texts.add(String.join(" ", TinyTokenizer.WORDS.subList(i % 20, i % 20 + 1 + i % 17)));
        }
        try (DistilBert db = TestModels.model(TestModels.config(), Head.BASE, 61)) {
            SentenceEmbeddings st = new SentenceEmbeddings(db, tok).withNormalize(true);
            List<float[]> want = st.embed(texts);
            ExecutorService callers = Executors.newFixedThreadPool(6);
            try (DynamicBatcher<String, float[]> b = DynamicBatcher.<String, float[]>builder().worker(st::embed)
                    .maxBatchSize(16).maxBatchWeight(200, String::length).build()) {
                List<java.util.concurrent.Future<float[]>> got = new ArrayList<>();
                for (String t : texts) got.add(callers.submit(() -> b.submit(t).join()));
                for (int i = 0; i < texts.size(); i++) {
                    // the CPU backend's results do not depend on the batching, bit for bit
                    assertArrayEquals(want.get(i), got.get(i).get(30, TimeUnit.SECONDS), "text " + i);
                }
            } catch (Exception e) {
                throw new AssertionError(e);
            } finally {
                callers.shutdownNow();
            }
        }
    }
}
