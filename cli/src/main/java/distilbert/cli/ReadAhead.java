package distilbert.cli;

import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * Items made one ahead on a thread of their own: while the caller works on one (runs a chunk of
 * rows through the model), the next is being made (read and tokenized), so the device does not
 * wait for the host between chunks. Items come in the order they were made; an exception thrown
 * making one is thrown by the {@link #next} that would have returned it, after every item before it.
 */
final class ReadAhead<T> implements AutoCloseable {
    /** How long {@link #close} waits for an item being made (blocked on a pipe, say) before leaving it. */
    private static final long CLOSE_WAIT_MS = 1000;

    private final ExecutorService thread;
    private final Callable<T> make;
    private final Predicate<T> last;
    private Future<T> next;

    /**
     * Starts making the first item.
     *
     * @param name the thread's name
     * @param make makes one item; called on the thread, one call at a time, never after an item
     *             {@code last} accepts or a call that threw
     * @param last whether an item is the last one (the end of the input, or a bad line)
     */
    ReadAhead(String name, Callable<T> make, Predicate<T> last) {
        this.make = make;
        this.last = last;
        this.thread = Executors.newSingleThreadExecutor(daemon(name));
        this.next = thread.submit(make);
    }

    /**
     * Threads named {@code name} that never keep the JVM up (one blocked on stdin, one running a chunk
     * when a command fails): the command's threads, here and in {@link JsonlOutput}, {@link ChunkFanout}
     * and {@link BenchCommand}.
     */
    static ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    /**
     * The next item (waiting for it if it is not made yet); unless it is the last, the one after
     * it starts being made now.
     *
     * @throws IllegalStateException after the last item, or after a call that threw
     */
    T next() {
        if (next == null) throw new IllegalStateException("no item after the last one");
        Future<T> current = next;
        next = null;
        T item = await(current, "interrupted while reading ahead");
        if (!last.test(item)) next = thread.submit(make);
        return item;
    }

    /**
     * The result of {@code task}, waiting for it; what the task threw is thrown here as it was (a
     * checked exception wrapped in an IllegalStateException). Interrupted, the task is cancelled and
     * a CliException says {@code interrupted}.
     */
    static <R> R await(Future<R> task, String interrupted) {
        try {
            return task.get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException r) throw r;
            if (cause instanceof Error err) throw err;
            throw new IllegalStateException(cause);
        } catch (InterruptedException e) {
            task.cancel(true);
            Thread.currentThread().interrupt();
            throw new CliException(interrupted, e);
        }
    }

    /** Stops making items: the one being made is interrupted and, after a short wait, left to its daemon thread. */
    @Override
    public void close() {
        thread.shutdownNow();
        try {
            thread.awaitTermination(CLOSE_WAIT_MS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
