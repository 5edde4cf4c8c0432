package distilbert.cli;

import distilbert.model.Precision;
import distilbert.model.Replicas;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Models that the runs of one command share: {@code search} embeds its corpus and its queries with
 * two {@code embed} runs, and within {@link #CURRENT} the second finds the model the first loaded
 * (the same directory, devices and precision) instead of loading it again. Closing closes them.
 */
final class SharedModels implements AutoCloseable {
    /** Bound while the runs that share these models run; unbound, each run loads and closes its own. */
    static final ScopedValue<SharedModels> CURRENT = ScopedValue.newInstance();

    private record Key(Path dir, RunOptions.Devices devices, Precision precision) {}

    private final Map<Key, Replicas> loaded = new LinkedHashMap<>();

    /** The model of {@code dir} on {@code devices}, loaded on the first call for these three. */
    Replicas get(Path dir, RunOptions.Devices devices, Precision precision) throws IOException {
        Key key = new Key(dir.toAbsolutePath().normalize(), devices, precision);
        Replicas models = loaded.get(key);
        if (models == null) {
            models = ModelRun.loadModels(dir, devices, precision);
            loaded.put(key, models);
        }
        return models;
    }

    /** How many distinct models are loaded. */
    int size() {
        return loaded.size();
    }

    @Override
    public void close() {
        RuntimeException failure = null;
        for (Replicas models : loaded.values()) {
            try {
                models.close();
            } catch (RuntimeException e) {
                if (failure == null) failure = e;
                else failure.addSuppressed(e);
            }
        }
        loaded.clear();
        if (failure != null) throw failure;
    }
}
