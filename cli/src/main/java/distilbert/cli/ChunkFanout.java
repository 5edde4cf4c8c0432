package distilbert.cli;

import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Chunks of rows run on several jobs at once, one per GPU ({@code --device cuda:0,1}), and written
 * in input order: each chunk runs on whichever job is free, on a thread of its own, its lines kept
 * ({@link JsonlLines.Deferred}) until every chunk before it is written. The caller submits chunks in
 * input order from one thread; at most {@code 2 × jobs} are in flight, so memory stays bounded and
 * each GPU has its next chunk waiting.
 *
 * <p>Failures keep the promise of the one-GPU run: the first chunk that fails (a GPU out of memory,
 * say) is thrown by {@link #submit} or {@link #finish} after every chunk before it is written, and
 * nothing after it is; {@link #close} waits for the chunks still running, so the models outlive
 * every use of them.
 *
 * @param <J> a job: what runs a chunk on one GPU's model
 */
final class ChunkFanout<J> implements AutoCloseable {

    /** A chunk's work on one job, writing its lines to {@code out}. */
    @FunctionalInterface
    interface Work<J> {
        void run(J job, JsonlLines out);
    }

    private record Pending(Future<?> future, JsonlLines.Deferred lines) {}

    private final BlockingQueue<J> idle;
    private final ExecutorService threads;
    private final JsonlLines out;
    private final int maxInFlight;
    private final ArrayDeque<Pending> inFlight = new ArrayDeque<>();
    private boolean failed;

    /**
     * @param jobs one per GPU, each used by one thread at a time
     * @param out where the chunks' lines go, in submission order
     * @param name the threads' name
     */
    ChunkFanout(List<J> jobs, JsonlLines out, String name) {
        if (jobs.isEmpty()) throw new IllegalArgumentException("no job to run chunks on");
        this.idle = new ArrayBlockingQueue<>(jobs.size(), false, jobs);
        this.out = out;
        this.maxInFlight = 2 * jobs.size();
        this.threads = Executors.newFixedThreadPool(jobs.size(), ReadAhead.daemon(name));
    }

    /**
     * Starts {@code work} on the next free job, first writing every chunk before it that has
     * finished, and waiting for the oldest when {@code 2 × jobs} are in flight.
     *
     * @throws RuntimeException the first failure of a chunk before it, once the chunks before that are written
     */
    void submit(Work<J> work) {
        if (failed) throw new IllegalStateException("a chunk failed: no more chunks");
        while (inFlight.size() >= maxInFlight || (!inFlight.isEmpty() && inFlight.peekFirst().future().isDone())) {
            writeOldest();
        }
        JsonlLines.Deferred lines = new JsonlLines.Deferred();
        Future<?> future = threads.submit(() -> {
            J job = idle.take();
            try {
                work.run(job, lines);
            } finally {
                idle.add(job);
            }
            return null;
        });
        inFlight.addLast(new Pending(future, lines));
    }

    /**
     * Waits for every chunk submitted and writes each, in order; throws the first failure after the
     * chunks before it. After a failure it writes nothing more.
     */
    void finish() {
        while (!failed && !inFlight.isEmpty()) writeOldest();
    }

    private void writeOldest() {
        Pending oldest = inFlight.removeFirst();
        try {
            ReadAhead.await(oldest.future(), "interrupted while running chunks on several GPUs");
        } catch (RuntimeException e) {
            failed = true;
            throw e;
        }
        oldest.lines().writeTo(out);
    }

    /** Waits for the chunks still running (their lines are dropped), then stops the threads. */
    @Override
    public void close() {
        boolean interrupted = false;
        for (Pending p : inFlight) {
            while (true) {
                try {
                    p.future().get();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // the models must outlive the chunks: wait on, then say so
                } catch (ExecutionException | java.util.concurrent.CancellationException e) {
                    break;
                }
            }
        }
        inFlight.clear();
        threads.shutdown();
        if (interrupted) Thread.currentThread().interrupt();
    }
}
