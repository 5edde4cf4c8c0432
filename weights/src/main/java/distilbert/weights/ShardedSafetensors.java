package distilbert.weights;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A sharded safetensors checkpoint: {@code model.safetensors.index.json}
 * ({@code {"metadata": {"total_size": N}, "weight_map": {name: "model-00001-of-00002.safetensors"}}})
 * and the shard files beside it, read as one {@link TensorSource}. Writing splits a state dict the
 * way {@code huggingface_hub.split_torch_state_dict_into_shards} does.
 */
public final class ShardedSafetensors implements TensorSource {
    public static final String INDEX_FILE = "model.safetensors.index.json";
    public static final String SINGLE_FILE = "model.safetensors";
    /** HF's default max_shard_size, "5GB". */
    public static final long DEFAULT_MAX_SHARD_BYTES = 5_000_000_000L;
    private static final Pattern SHARD_NAME = Pattern.compile("model-\\d{5}-of-\\d{5}\\.safetensors");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String indexName;
    private final Map<String, Object> metadata;
    private final Map<String, String> weightMap;
    private final List<SafetensorsFile> shards;
    private final Map<String, SafetensorsFile> byTensor; // every tensor of every shard

    private ShardedSafetensors(String indexName, Map<String, Object> metadata, Map<String, String> weightMap,
                               List<SafetensorsFile> shards, Map<String, SafetensorsFile> byTensor) {
        this.indexName = indexName;
        this.metadata = metadata;
        this.weightMap = weightMap;
        this.shards = shards;
        this.byTensor = byTensor;
    }

    /** Reads the index, opens every shard it names, and checks each listed tensor is in its shard. */
    public static ShardedSafetensors open(Path indexJson) throws IOException {
        String name = SafetensorsFile.displayName(indexJson);
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(indexJson));
        } catch (NoSuchFileException e) {
            throw new CheckpointException(indexJson + ": no such file", e);
        } catch (JacksonException e) {
            throw new CheckpointException(name + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (!(root instanceof ObjectNode obj)) throw new CheckpointException(name + ": must hold a JSON object");
        JsonNode wm = obj.get("weight_map");
        if (wm == null || !wm.isObject()) {
            throw new CheckpointException(name + ": needs a \"weight_map\" object {tensor name: shard file}");
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = wm.fields(); it.hasNext(); ) {
            var e = it.next();
            if (!e.getValue().isTextual()) {
                throw new CheckpointException(name + ": weight_map['" + e.getKey() + "'] must be a file name, got " + e.getValue());
            }
            String shard = e.getValue().textValue();
            if (shard.isEmpty() || shard.contains("/") || shard.contains("\\") || shard.equals(".") || shard.equals("..")) {
                throw new CheckpointException(name + ": weight_map['" + e.getKey() + "'] = '" + shard
                        + "' is not a plain file name in the model directory");
            }
            weightMap.put(e.getKey(), shard);
        }
        Map<String, Object> metadata = new LinkedHashMap<>();
        JsonNode md = obj.get("metadata");
        if (md != null && !md.isNull()) {
            if (!md.isObject()) throw new CheckpointException(name + ": \"metadata\" must be an object");
            for (Iterator<Map.Entry<String, JsonNode>> it = md.fields(); it.hasNext(); ) {
                var e = it.next();
                metadata.put(e.getKey(), JSON.convertValue(e.getValue(), Object.class));
            }
        }

        Path dir = indexJson.toAbsolutePath().getParent();
        List<SafetensorsFile> shards = new ArrayList<>();
        Map<String, SafetensorsFile> byFile = new LinkedHashMap<>();
        Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
        try {
            for (String file : new TreeSet<>(weightMap.values())) {
                Path p = dir.resolve(file);
                if (!Files.exists(p)) {
                    throw new CheckpointException(name + ": shard '" + file + "' is listed in weight_map but missing from " + dir);
                }
                SafetensorsFile f = SafetensorsFile.open(p);
                shards.add(f);
                byFile.put(file, f);
                for (String t : f.names()) {
                    SafetensorsFile other = byTensor.putIfAbsent(t, f);
                    if (other != null) {
                        throw new CheckpointException(name + ": tensor '" + t + "' is in two shards, " + other.description()
                                + " and " + f.description());
                    }
                }
            }
            for (var e : weightMap.entrySet()) {
                if (!byFile.get(e.getValue()).contains(e.getKey())) {
                    throw new CheckpointException(name + ": weight_map puts '" + e.getKey() + "' in " + e.getValue()
                            + ", which has no such tensor");
                }
            }
        } catch (RuntimeException | IOException e) {
            shards.forEach(SafetensorsFile::close);
            throw e;
        }
        return new ShardedSafetensors(name, Collections.unmodifiableMap(metadata), Collections.unmodifiableMap(weightMap),
                List.copyOf(shards), Collections.unmodifiableMap(byTensor));
    }

    public Map<String, String> weightMap() {
        return weightMap;
    }

    /** The index's "metadata" (HF: total_size). */
    public Map<String, Object> indexMetadata() {
        return metadata;
    }

    public List<SafetensorsFile> shards() {
        return shards;
    }

    @Override
    public List<String> names() {
        return List.copyOf(byTensor.keySet());
    }

    @Override
    public boolean contains(String name) {
        return byTensor.containsKey(name);
    }

    @Override
    public NamedTensor tensor(String name) {
        SafetensorsFile f = byTensor.get(name);
        if (f == null) throw new CheckpointException(indexName + ": no tensor '" + name + "' in any shard");
        return f.tensor(name);
    }

    @Override
    public String fileOf(String name) {
        SafetensorsFile f = byTensor.get(name);
        return f == null ? indexName : f.description();
    }

    @Override
    public String description() {
        return indexName;
    }

    @Override
    public void close() {
        shards.forEach(SafetensorsFile::close);
    }

    // ---------------------------------------------------------------------------------------------
    // writing

    /**
     * Writes {@code tensors} into {@code dir} as HF does: one {@code model.safetensors} when they fit
     * in one shard, else {@code model-0000i-of-0000n.safetensors} plus {@code model.safetensors.index.json}.
     * Shards are filled in the given (state-dict) order; a tensor that would tip a shard over
     * {@code maxShardBytes} starts the next one; a tensor larger than the limit gets a shard of its own.
     *
     * @return the files written, index last
     */
    public static List<Path> write(Path dir, List<NamedTensor> tensors, Map<String, String> metadata, long maxShardBytes)
            throws IOException {
        if (maxShardBytes <= 0) throw new IllegalArgumentException("maxShardBytes must be positive, got " + maxShardBytes);
        List<List<NamedTensor>> shards = split(tensors, maxShardBytes);
        Files.createDirectories(dir);
        List<Path> written = new ArrayList<>();
        if (shards.size() == 1) {
            Path p = dir.resolve(SINGLE_FILE);
            SafetensorsWriter.write(p, shards.get(0), metadata);
            written.add(p);
            return written;
        }
        Map<String, String> weightMap = new TreeMap<>();
        long totalSize = 0;
        for (int i = 0; i < shards.size(); i++) {
            String file = String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", i + 1, shards.size());
            Path p = dir.resolve(file);
            SafetensorsWriter.write(p, shards.get(i), metadata);
            written.add(p);
            for (NamedTensor t : shards.get(i)) {
                weightMap.put(t.name(), file);
                totalSize += t.byteSize();
            }
        }
        Map<String, Object> index = new LinkedHashMap<>();
        index.put("metadata", Map.of("total_size", totalSize));
        index.put("weight_map", weightMap);
        Path ip = dir.resolve(INDEX_FILE);
        AtomicFiles.writeString(ip, PyJson.dumps(index) + "\n");
        written.add(ip);
        return written;
    }

    /** huggingface_hub's greedy split, in the given order. Never returns an empty list (no tensors → one empty shard). */
    static List<List<NamedTensor>> split(List<NamedTensor> tensors, long maxShardBytes) {
        List<List<NamedTensor>> shards = new ArrayList<>();
        List<NamedTensor> current = new ArrayList<>();
        long currentSize = 0;
        for (NamedTensor t : tensors) {
            long size = t.byteSize();
            if (size > maxShardBytes) {
                shards.add(List.of(t));
                continue;
            }
            if (currentSize + size > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                currentSize = 0;
            }
            current.add(t);
            currentSize += size;
        }
        if (!current.isEmpty() || shards.isEmpty()) shards.add(current);
        shards.removeIf(List::isEmpty);
        if (shards.isEmpty()) shards.add(List.of());
        return shards;
    }

    /** True for file names this writer produces for shards, so stale ones can be cleaned up. */
    static boolean isShardFileName(String name) {
        return SHARD_NAME.matcher(name).matches();
    }

    private static final Pattern SIZE = Pattern.compile("(?i)\\s*(\\d+(?:\\.\\d+)?)\\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?\\s*");

    /** huggingface_hub's parse_size_to_int: "5GB" = 5·10⁹, "500MiB" = 500·2²⁰, a bare number is bytes. */
    public static long parseSize(String size) {
        Matcher m = SIZE.matcher(size);
        if (!m.matches()) throw new IllegalArgumentException("'" + size + "' is not a size like 5GB, 500MB or 100MiB");
        double v = Double.parseDouble(m.group(1));
        String unit = m.group(2) == null ? "b" : m.group(2).toLowerCase(Locale.ROOT);
        double mult = switch (unit) {
            case "b" -> 1;
            case "kb" -> 1e3;
            case "mb" -> 1e6;
            case "gb" -> 1e9;
            case "tb" -> 1e12;
            case "kib" -> 1L << 10;
            case "mib" -> 1L << 20;
            case "gib" -> 1L << 30;
            default -> 1L << 40;
        };
        return (long) (v * mult);
    }
}
