package distilbert.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/**
 * One model directory loaded on several devices: a copy per GPU (or two copies on one GPU, whose
 * work overlaps), to be driven at once, for example by a {@link DynamicBatcher} with one worker per
 * copy. Closing closes every copy.
 *
 * <pre>{@code
 * Tokenizer tok = Tokenizer.fromPretrained(dir);
 * try (Replicas models = Replicas.load(dir, Device.gpus(), Precision.BF16);          // every usable GPU
 *      DynamicBatcher<String, float[]> embedder = DynamicBatcher.<String, float[]>builder()
 *              .workers(models.map(db -> new SentenceEmbeddings(db, tok)::embed))
 *              .maxBatchSize(256).build()) {
 *     embedder.submit("a text").join();
 * }
 * }</pre>
 *
 * <p>Each copy is an ordinary {@link DistilBert}, usable from any thread; the copies share nothing
 * (each has its own weights on its device, its own stream and memory).
 */
public final class Replicas implements AutoCloseable {

    /** Loads one copy: {@link DistilBert#load(Path, Device, Precision)}, or a caller's own loading (with its own errors). */
    @FunctionalInterface
    public interface Loader {
        DistilBert load(Device device) throws IOException;
    }

    private final List<DistilBert> models;

    private Replicas(List<DistilBert> models) {
        this.models = List.copyOf(models);
    }

    /**
     * {@code dir} loaded on each of {@code devices}, in order (a device named twice gets two copies).
     *
     * @param precision null: each backend's default
     * @throws IllegalArgumentException when no device is given
     * @throws IOException              as {@link DistilBert#load}; the copies loaded before the failure are closed
     */
    public static Replicas load(Path dir, List<Device> devices, Precision precision) throws IOException {
        Objects.requireNonNull(dir, "dir");
        return load(devices, d -> DistilBert.load(dir, d, precision));
    }

    /**
     * A copy made by {@code loader} for each of {@code devices}, in order; when one fails, the copies
     * made before it are closed and its exception is thrown (with theirs suppressed, if closing fails).
     *
     * @throws IllegalArgumentException when no device is given
     */
    public static Replicas load(List<Device> devices, Loader loader) throws IOException {
        if (devices.isEmpty()) {
            throw new IllegalArgumentException("no device to load the model on");
        }
        List<DistilBert> loaded = new ArrayList<>(devices.size());
        try {
            for (Device d : devices) {
                loaded.add(Objects.requireNonNull(loader.load(d), "the loader gave no model for " + d));
            }
        } catch (IOException | RuntimeException | Error e) {
            for (DistilBert db : loaded) {
                try {
                    db.close();
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
        return new Replicas(loaded);
    }

    /** The copies, in the order of the devices. */
    public List<DistilBert> models() {
        return models;
    }

    public int size() {
        return models.size();
    }

    /** {@code f} of each copy, in order: a pipeline per copy, a batch function per copy. */
    public <T> List<T> map(Function<? super DistilBert, ? extends T> f) {
        List<T> out = new ArrayList<>(models.size());
        for (DistilBert db : models) {
            out.add(f.apply(db));
        }
        return out;
    }

    /** Closes every copy; the first failure is thrown after all were tried, with the others suppressed. */
    @Override
    public void close() {
        RuntimeException failure = null;
        for (DistilBert db : models) {
            try {
                db.close();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
