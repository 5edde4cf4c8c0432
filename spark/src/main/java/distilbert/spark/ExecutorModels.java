package distilbert.spark;

import distilbert.model.CrossEncoder;
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

    /**
     * @param crossEncoder the directory read as rerank reads it ({@link CrossEncoder.Directory}), else as
     *                     the other tasks read it; a directory used both ways is loaded twice
     */
    record Key(Path dir, Device device, Precision precision, boolean crossEncoder) {
        Key {
            dir = dir.toAbsolutePath().normalize();
        }
    }

    /**
     * A loaded model, its tokenizer, the lock its batches take, and what its directory says beside the
     * model, read once: for a cross-encoder key, {@code crossEncoder}; else {@code sentenceTransformer},
     * the sentence-transformers modules (a plain directory's: mean pooling; null for a directory
     * config_sentence_transformers.json calls a CrossEncoder, which the other tasks read as a plain one).
     */
    record Loaded(DistilBert model, Tokenizer tokenizer, ReentrantLock lock, SentenceTransformerDirectory sentenceTransformer,
                  CrossEncoder.Directory crossEncoder) {
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
                CrossEncoder.Directory ce = k.crossEncoder() ? CrossEncoder.Directory.read(k.dir()) : null;
                SentenceTransformerDirectory st = k.crossEncoder() || CrossEncoder.Directory.isCrossEncoder(k.dir()) ? null
                        : SentenceTransformerDirectory.read(k.dir());
                Path transformer = ce != null ? ce.transformer() : st != null ? st.transformer() : k.dir();
                DistilBert model = DistilBert.load(transformer, k.device(), k.precision());
                try {
                    return new Loaded(model, Tokenizer.fromPretrained(transformer), new ReentrantLock(true), st, ce);
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
