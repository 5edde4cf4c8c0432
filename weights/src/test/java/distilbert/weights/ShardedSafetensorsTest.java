package distilbert.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ShardedSafetensorsTest {
    @TempDir
    Path dir;

    static NamedTensor t(String name, int floats) {
        float[] v = new float[floats];
        for (int i = 0; i < floats; i++) v[i] = name.hashCode() % 7 + i;
        return NamedTensor.ofFloats(name, new long[] {floats}, v);
    }

    static List<String> names(List<NamedTensor> shard) {
        return shard.stream().map(NamedTensor::name).toList();
    }

    @Test
    void splitsAsHuggingfaceHubDoes() {
        // 40-byte shards: a (16) + b (16) fit; c (16) tips over → new shard; big (48) > max → alone; d joins c's shard
        List<List<NamedTensor>> s = ShardedSafetensors.split(List.of(t("a", 4), t("b", 4), t("c", 4), t("big", 12), t("d", 4)), 40);
        assertEquals(List.of(List.of("a", "b"), List.of("big"), List.of("c", "d")),
                List.of(names(s.get(0)), names(s.get(1)), names(s.get(2))));
        assertEquals(1, ShardedSafetensors.split(List.of(), 10).size());
        assertEquals(1, ShardedSafetensors.split(List.of(t("a", 4), t("b", 4)), 1000).size());
    }

    @Test
    void shardedRoundTrip() throws IOException {
        List<NamedTensor> in = new ArrayList<>();
        for (int i = 0; i < 7; i++) in.add(t("layer." + i + ".weight", 10 + i));
        List<Path> written = ShardedSafetensors.write(dir, in, Map.of("format", "pt"), 120);
        assertEquals(List.of("model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                        "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors", "model.safetensors.index.json"),
                written.stream().map(p -> p.getFileName().toString()).toList());
        String index = Files.readString(dir.resolve("model.safetensors.index.json"));
        long total = in.stream().mapToLong(NamedTensor::byteSize).sum();
        assertTrue(index.startsWith("{\n  \"metadata\": {\n    \"total_size\": " + total + "\n  },\n  \"weight_map\": {\n"
                + "    \"layer.0.weight\": \"model-00001-of-00004.safetensors\",\n"), index);
        try (ShardedSafetensors s = ShardedSafetensors.open(dir.resolve("model.safetensors.index.json"))) {
            assertEquals(7, s.names().size());
            assertEquals(4, s.shards().size());
            assertEquals(((Number) s.indexMetadata().get("total_size")).longValue(), total);
            for (NamedTensor t : in) {
                assertArrayEquals(t.toFloats(), s.tensor(t.name()).toFloats());
                assertEquals(s.weightMap().get(t.name()), s.fileOf(t.name()));
            }
            assertEquals("model.safetensors.index.json: no tensor 'x' in any shard",
                    assertThrows(CheckpointException.class, () -> s.tensor("x")).getMessage());
            for (SafetensorsFile f : s.shards()) assertEquals(Map.of("format", "pt"), f.metadata());
        }
        // one shard: a plain model.safetensors, no index
        Path one = dir.resolve("one");
        assertEquals(List.of(one.resolve("model.safetensors")), ShardedSafetensors.write(one, in, Map.of(), 1 << 20));
    }

    @Test
    void indexErrors() throws IOException {
        ShardedSafetensors.write(dir, List.of(t("a", 4), t("b", 4), t("c", 4)), Map.of(), 20);
        Path index = dir.resolve("model.safetensors.index.json");
        Files.writeString(index, "{\"weight_map\": {\"a\": \"model-00001-of-00003.safetensors\", \"z\": \"model-00001-of-00003.safetensors\"}}");
        assertEquals("model.safetensors.index.json: weight_map puts 'z' in model-00001-of-00003.safetensors, which has no such tensor",
                error(index));
        Files.writeString(index, "{\"weight_map\": {\"a\": \"model-00009-of-00009.safetensors\"}}");
        assertTrue(error(index).startsWith("model.safetensors.index.json: shard 'model-00009-of-00009.safetensors' is listed in weight_map but missing from "));
        Files.writeString(index, "{\"weight_map\": {\"a\": \"../../etc/passwd\"}}");
        assertEquals("model.safetensors.index.json: weight_map['a'] = '../../etc/passwd' is not a plain file name in the model directory", error(index));
        Files.writeString(index, "{\"metadata\": {}}");
        assertEquals("model.safetensors.index.json: needs a \"weight_map\" object {tensor name: shard file}", error(index));
        Files.writeString(index, "{\"weight_map\": {\"a\": 3}}");
        assertEquals("model.safetensors.index.json: weight_map['a'] must be a file name, got 3", error(index));
        Files.writeString(index, "not json");
        assertTrue(error(index).startsWith("model.safetensors.index.json: not valid JSON: "));
        // the same tensor in two shards
        Files.copy(dir.resolve("model-00001-of-00003.safetensors"), dir.resolve("model-00002-of-00003.safetensors"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.writeString(index, "{\"weight_map\": {\"a\": \"model-00001-of-00003.safetensors\", \"b\": \"model-00002-of-00003.safetensors\"}}");
        assertEquals("model.safetensors.index.json: tensor 'a' is in two shards, model-00001-of-00003.safetensors and model-00002-of-00003.safetensors",
                error(index));
    }

    private static String error(Path index) {
        return assertThrows(CheckpointException.class, () -> ShardedSafetensors.open(index).close()).getMessage();
    }

    @Test
    void parseSize() {
        assertEquals(5_000_000_000L, ShardedSafetensors.parseSize("5GB"));
        assertEquals(500L << 20, ShardedSafetensors.parseSize("500MiB"));
        assertEquals(1234, ShardedSafetensors.parseSize("1234"));
        assertEquals(1_500_000, ShardedSafetensors.parseSize("1.5mb"));
        assertThrows(IllegalArgumentException.class, () -> ShardedSafetensors.parseSize("lots"));
    }
}
