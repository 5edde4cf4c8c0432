package distilbert.spark;

import distilbert.model.Device;
import distilbert.model.DistilBert;
import distilbert.model.SentenceTransformerDirectory;
import distilbert.model.Precision;
import distilbert.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The models of one executor JVM: each (directory, device, precision) loaded once, by the first task
 * that needs it, and shared by the executor's tasks for the JVM's life ("one model per executor GPU",
 * DESIGN.md). A model runs one batch at a time: its tasks tokenize in parallel and take turns on it
 * ({@link Loaded#lock}, fair, so that no task starves). Closed when the JVM exits.
 */
final class ExecutorModels {
    private ExecutorModels() {
    }

    record Key(Path dir, Device device, Precision precision) {
        Key {
            dir = dir.toAbsolutePath().normalize();
        }
    }

    /**
     * A loaded model, its tokenizer, the lock its batches take, and the directory's
     * sentence-transformers modules (a plain directory's: mean pooling), read once.
     */
    record Loaded(DistilBert model, Tokenizer tokenizer, ReentrantLock lock, SentenceTransformerDirectory sentenceTransformer) {
    }

    private static final Map<Key, Loaded> MODELS = new ConcurrentHashMap<>();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(ExecutorModels::closeAll, "distilbert-models-close"));
    }

    /**
     * The model of {@code key}, loaded now if no task of this JVM loaded it before.
     *
     * @throws UncheckedIOException naming the directory when it cannot be read (a failed load is not
     *                              remembered: the next task tries again)
     */
    static Loaded get(Key key) {
        return MODELS.computeIfAbsent(key, k -> {
            try {
                SentenceTransformerDirectory st = SentenceTransformerDirectory.read(k.dir());
                DistilBert model = DistilBert.load(st.transformer(), k.device(), k.precision());
                try {
                    return new Loaded(model, Tokenizer.fromPretrained(st.transformer()), new ReentrantLock(true), st);
                } catch (RuntimeException e) {
                    model.close();
                    throw e;
                }
            } catch (IOException e) {
                throw new UncheckedIOException("loading the model " + k.dir() + " on " + k.device(), e);
            }
        });
    }

    /** The models this JVM holds. */
    static java.util.Set<Key> keys() {
        return java.util.Set.copyOf(MODELS.keySet());
    }

    /** Closes every model (their GPU memory is freed) and forgets them. */
    static synchronized void closeAll() {
        List<Loaded> all = new ArrayList<>(MODELS.values());
        MODELS.clear();
        for (Loaded l : all) {
            l.lock().lock();
            try {
                l.model().close();
            } finally {
                l.lock().unlock();
            }
        }
    }
}
