package distilbert.model;

import distilbert.cuda.GpuOutOfMemoryException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Requests from many threads, run together in batches: what makes a GPU pay for online work, where
 * each caller has one text but the device is fast only on many. A web service's request threads
 * call {@link #submit}; one worker thread per {@link BatchFunction} (one per model copy: one per GPU,
 * or two on one GPU so that one's host work overlaps the other's kernels) takes the waiting
 * requests, up to {@link Builder#maxBatchSize} of them and {@link Builder#maxBatchWeight} of their
 * weight (tokens, say), runs them in one call, and completes each request's future with its own
 * result. A worker waits at most {@link Builder#maxWait} after a batch's first request for more to
 * come (none by default); when requests keep coming, batches fill with the requests that came
 * while the worker was busy, without waiting.
 *
 * <pre>{@code
 * try (DistilBert db = DistilBert.load(dir, Device.CUDA);
 *      DynamicBatcher<String, float[]> embedder = DynamicBatcher.<String, float[]>builder()
 *              .worker(new SentenceEmbeddings(db, Tokenizer.fromPretrained(dir))::embed)
 *              .maxBatchSize(256).maxWait(Duration.ofMillis(5)).build()) {
 *     float[] v = embedder.submit("a request's text").join();        // from any number of threads
 * }
 * }</pre>
 *
 * <p>Guarantees: each request's future is completed exactly once, with the output at its place in
 * the batch's result, or with the batch's exception (a function returning the wrong number of
 * outputs fails its batch with an {@link IllegalStateException} saying so). A batch that runs the
 * GPU out of memory ({@link GpuOutOfMemoryException}) is split in halves and run again, down to
 * single requests, so that only a request too large on its own fails. A request cancelled before its
 * batch runs is dropped. The queue is bounded ({@link Builder#maxQueued}): past it, {@link #submit}
 * returns a future failed with {@link RejectedExecutionException}, so that an overloaded service
 * sheds load at once instead of piling up latency. {@link #close} stops taking requests, lets the
 * workers run every request already queued, and waits for them.
 *
 * @param <I> a request (a text)
 * @param <O> its result
 */
public final class DynamicBatcher<I, O> implements AutoCloseable {

    /** Runs one batch: outputs in the order of the inputs, as many. */
    @FunctionalInterface
    public interface BatchFunction<I, O> {
        List<O> apply(List<I> inputs) throws Exception;
    }

    /** A request's weight toward {@link Builder#maxBatchWeight} (its tokens or characters; at least 0). */
    @FunctionalInterface
    public interface Weigher<I> {
        long weigh(I input);
    }

    /**
     * What the batcher has done so far.
     *
     * @param requests  requests completed (with a result or an exception)
     * @param failed    of those, completed with an exception (rejected ones not counted)
     * @param rejected  requests refused because the queue was full or the batcher closed
     * @param batches   calls of the batch functions (a split batch counts each part)
     * @param splits    batches split after running the GPU out of memory
     * @param queued    requests waiting now
     */
    public record Stats(long requests, long failed, long rejected, long batches, long splits, int queued) {
        /** Requests per batch call on average; 0 before the first. */
        public double meanBatchSize() {
            return batches == 0 ? 0 : (double) requests / batches;
        }
    }

    /** Settings; {@link #build()} starts the workers. */
    public static final class Builder<I, O> {
        private final List<BatchFunction<I, O>> workers = new ArrayList<>();
        private int maxBatchSize = 64;
        private long maxBatchWeight = Long.MAX_VALUE;
        private Weigher<I> weigher = x -> 0;
        private Duration maxWait = Duration.ZERO;
        private int maxQueued = 65_536;
        private String name = "distilbert-batcher";

        private Builder() {
        }

        /** Adds a worker: a thread of its own running batches through {@code f} (one per model copy). */
        public Builder<I, O> worker(BatchFunction<I, O> f) {
            workers.add(Objects.requireNonNull(f, "worker"));
            return this;
        }

        /** Adds one worker per function (a model on each GPU, say). */
        public Builder<I, O> workers(List<? extends BatchFunction<I, O>> fs) {
            fs.forEach(this::worker);
            return this;
        }

        /** The most requests in one batch (default 64). */
        public Builder<I, O> maxBatchSize(int n) {
            if (n < 1) throw new IllegalArgumentException("max batch size must be at least 1, got " + n);
            maxBatchSize = n;
            return this;
        }

        /**
         * The most total weight in one batch, each request weighed by {@code weigher} (default: no
         * limit). A request heavier than the limit runs alone.
         */
        public Builder<I, O> maxBatchWeight(long max, Weigher<I> weigher) {
            if (max < 1) throw new IllegalArgumentException("max batch weight must be at least 1, got " + max);
            maxBatchWeight = max;
            this.weigher = Objects.requireNonNull(weigher, "weigher");
            return this;
        }

        /**
         * How long a batch's first request may wait for others. Default zero: a worker takes what is
         * waiting when it is free, so a lone request runs at once and, under load, batches fill with
         * the requests that came while the worker was busy. A wait trades a lone request's latency
         * for larger batches at moderate load.
         */
        public Builder<I, O> maxWait(Duration d) {
            if (d.isNegative()) throw new IllegalArgumentException("max wait must not be negative, got " + d);
            maxWait = d;
            return this;
        }

        /** The most requests waiting; past it {@link #submit} rejects (default 65,536). */
        public Builder<I, O> maxQueued(int n) {
            if (n < 1) throw new IllegalArgumentException("max queued must be at least 1, got " + n);
            maxQueued = n;
            return this;
        }

        /** The workers' thread names: NAME-0, NAME-1, ... (default distilbert-batcher). */
        public Builder<I, O> name(String name) {
            this.name = Objects.requireNonNull(name, "name");
            return this;
        }

        /**
         * Starts the workers.
         *
         * @throws IllegalStateException when no worker was added
         */
        public DynamicBatcher<I, O> build() {
            if (workers.isEmpty()) throw new IllegalStateException("a batcher needs at least one worker");
            return new DynamicBatcher<>(this);
        }
    }

    /** A waiting request. */
    private record Request<I, O>(I input, long weight, long submittedNanos, CompletableFuture<O> future) {
    }

    public static <I, O> Builder<I, O> builder() {
        return new Builder<>();
    }

    private final int maxBatchSize;
    private final long maxBatchWeight;
    private final Weigher<I> weigher;
    private final long maxWaitNanos;
    private final int maxQueued;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition arrived = lock.newCondition();
    private final ArrayDeque<Request<I, O>> queue = new ArrayDeque<>();
    private final List<Thread> threads = new ArrayList<>();
    private final AtomicLong requests = new AtomicLong(), failed = new AtomicLong(), rejected = new AtomicLong(),
            batches = new AtomicLong(), splits = new AtomicLong();
    private boolean closed;

    private DynamicBatcher(Builder<I, O> b) {
        this.maxBatchSize = b.maxBatchSize;
        this.maxBatchWeight = b.maxBatchWeight;
        this.weigher = b.weigher;
        this.maxWaitNanos = b.maxWait.toNanos();
        this.maxQueued = b.maxQueued;
        for (int i = 0; i < b.workers.size(); i++) {
            BatchFunction<I, O> f = b.workers.get(i);
            Thread t = new Thread(() -> work(f), b.name + "-" + i);
            t.setDaemon(true);
            threads.add(t);
        }
        threads.forEach(Thread::start);
    }

    /**
     * Queues one request; its future completes when its batch has run. Never blocks: a full queue
     * or a closed batcher gives a future failed with {@link RejectedExecutionException}, and a
     * weigher that throws, a future failed with its exception.
     */
    public CompletableFuture<O> submit(I input) {
        CompletableFuture<O> future = new CompletableFuture<>();
        long weight;
        try {
            weight = weigher.weigh(input);
            if (weight < 0) throw new IllegalArgumentException("the weigher gave " + weight + " for a request; weights are at least 0");
        } catch (RuntimeException e) {
            future.completeExceptionally(e);
            return future;
        }
        lock.lock();
        try {
            if (closed) {
                rejected.incrementAndGet();
                future.completeExceptionally(new RejectedExecutionException("the batcher is closed"));
            } else if (queue.size() >= maxQueued) {
                rejected.incrementAndGet();
                future.completeExceptionally(new RejectedExecutionException("the batcher's queue is full: " + queue.size()
                        + " requests are waiting (maxQueued)"));
            } else {
                queue.addLast(new Request<>(input, weight, System.nanoTime(), future));
                arrived.signal();
            }
        } finally {
            lock.unlock();
        }
        return future;
    }

    /** {@link #submit} for each input, in order. */
    public List<CompletableFuture<O>> submitAll(List<? extends I> inputs) {
        List<CompletableFuture<O>> out = new ArrayList<>(inputs.size());
        for (I x : inputs) out.add(submit(x));
        return out;
    }

    public Stats stats() {
        int waiting;
        lock.lock();
        try {
            waiting = queue.size();
        } finally {
            lock.unlock();
        }
        return new Stats(requests.get(), failed.get(), rejected.get(), batches.get(), splits.get(), waiting);
    }

    /** Stops taking requests, lets the workers run every request already queued, and waits for them. */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            arrived.signalAll();
        } finally {
            lock.unlock();
        }
        boolean interrupted = false;
        for (Thread t : threads) {
            while (t.isAlive()) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    private void work(BatchFunction<I, O> f) {
        while (true) {
            List<Request<I, O>> batch;
            try {
                batch = take();
            } catch (InterruptedException e) {
                return;
            }
            if (batch == null) return;
            run(f, batch);
        }
    }

    /** The next batch, waiting for its first request and then up to the max wait for more; null once closed and empty. */
    private List<Request<I, O>> take() throws InterruptedException {
        lock.lock();
        try {
            List<Request<I, O>> batch = new ArrayList<>();
            long weight = 0, deadline = 0;
            while (batch.size() < maxBatchSize) {
                Request<I, O> next = queue.peekFirst();
                if (next == null) {
                    if (batch.isEmpty()) {
                        if (closed) return null;
                        arrived.await();
                        continue;
                    }
                    long left = deadline - System.nanoTime();
                    if (left <= 0 || closed) break;
                    arrived.awaitNanos(left);
                    continue;
                }
                if (next.future().isCancelled()) {
                    queue.pollFirst();
                    continue;
                }
                if (!batch.isEmpty() && weight + next.weight() > maxBatchWeight) break;
                queue.pollFirst();
                if (batch.isEmpty()) deadline = next.submittedNanos() + maxWaitNanos;
                batch.add(next);
                weight += next.weight();
            }
            if (!queue.isEmpty()) arrived.signal(); // another worker can start the next batch now
            return batch;
        } finally {
            lock.unlock();
        }
    }

    /** Runs a batch and completes its futures; a batch that runs the GPU out of memory is split in halves. */
    private void run(BatchFunction<I, O> f, List<Request<I, O>> batch) {
        List<I> inputs = new ArrayList<>(batch.size());
        for (Request<I, O> r : batch) inputs.add(r.input());
        batches.incrementAndGet();
        List<O> outputs;
        try {
            outputs = f.apply(inputs);
            if (outputs == null || outputs.size() != inputs.size()) {
                throw new IllegalStateException("the batch function returned " + (outputs == null ? "null" : outputs.size()
                        + " outputs") + " for " + inputs.size() + " inputs");
            }
        } catch (GpuOutOfMemoryException e) {
            if (batch.size() > 1) {
                splits.incrementAndGet();
                int half = batch.size() / 2;
                run(f, batch.subList(0, half));
                run(f, batch.subList(half, batch.size()));
                return;
            }
            fail(batch, e);
            return;
        } catch (Exception | Error e) {
            fail(batch, e);
            return;
        }
        for (int i = 0; i < batch.size(); i++) {
            requests.incrementAndGet();
            batch.get(i).future().complete(outputs.get(i));
        }
    }

    private void fail(List<Request<I, O>> batch, Throwable e) {
        for (Request<I, O> r : batch) {
            requests.incrementAndGet();
            failed.incrementAndGet();
            r.future().completeExceptionally(e);
        }
    }
}
