package distilbert.weights;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes safetensors files exactly as the reference implementation ({@code safetensors::serialize})
 * lays them out: tensors sorted by descending dtype alignment, then by name (bytewise), packed
 * back to back from offset 0; header is compact JSON ({@code __metadata__} first, then tensors in
 * data order, each {@code {"dtype","shape","data_offsets"}}) padded with spaces to a multiple of 8
 * bytes, so every tensor starts aligned to its element size. Files are written atomically.
 */
public final class SafetensorsWriter {
    private SafetensorsWriter() {}

    /** Writes {@code tensors} (any order; the file order is the reference's) with {@code metadata} (may be empty or null). */
    public static void write(Path path, List<NamedTensor> tensors, Map<String, String> metadata) throws IOException {
        List<NamedTensor> ordered = order(tensors);
        byte[] header = header(ordered, metadata);
        AtomicFiles.write(path, temp -> {
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).flip();
                writeFully(ch, len);
                writeFully(ch, ByteBuffer.wrap(header));
                for (NamedTensor t : ordered) writeSegment(ch, t.data());
                ch.force(true);
            }
        });
    }

    /** The whole file as bytes (for small files and tests). */
    public static byte[] serialize(List<NamedTensor> tensors, Map<String, String> metadata) {
        List<NamedTensor> ordered = order(tensors);
        byte[] header = header(ordered, metadata);
        long total = 8L + header.length + ordered.stream().mapToLong(NamedTensor::byteSize).sum();
        if (total > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("too large to serialize to one array; use write()");
        ByteBuffer b = ByteBuffer.allocate((int) total).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header);
        for (NamedTensor t : ordered) b.put(t.data().asByteBuffer());
        return b.array();
    }

    /** The reference's order: descending dtype (= alignment), then name compared as UTF-8 bytes. */
    static List<NamedTensor> order(List<NamedTensor> tensors) {
        Set<String> seen = new HashSet<>();
        for (NamedTensor t : tensors) {
            if (t.name().equals("__metadata__")) throw new IllegalArgumentException("'__metadata__' is reserved and cannot name a tensor");
            if (!seen.add(t.name())) throw new IllegalArgumentException("tensor '" + t.name() + "' given twice");
        }
        List<NamedTensor> sorted = new ArrayList<>(tensors);
        sorted.sort(Comparator.comparing(NamedTensor::dtype, Comparator.reverseOrder())
                .thenComparing((a, b) -> Arrays.compareUnsigned(utf8(a.name()), utf8(b.name()))));
        return sorted;
    }

    static byte[] header(List<NamedTensor> ordered, Map<String, String> metadata) {
        StringBuilder json = new StringBuilder("{");
        boolean first = true;
        if (metadata != null && !metadata.isEmpty()) {
            json.append("\"__metadata__\":{");
            boolean f = true;
            for (var e : new LinkedHashMap<>(metadata).entrySet()) {
                if (!f) json.append(',');
                f = false;
                string(json, e.getKey());
                json.append(':');
                string(json, e.getValue());
            }
            json.append('}');
            first = false;
        }
        long offset = 0;
        for (NamedTensor t : ordered) {
            if (!first) json.append(',');
            first = false;
            string(json, t.name());
            json.append(":{\"dtype\":\"").append(t.dtype().safetensorsName()).append("\",\"shape\":[");
            long[] shape = t.shape();
            for (int i = 0; i < shape.length; i++) json.append(i == 0 ? "" : ",").append(shape[i]);
            long end = offset + t.byteSize();
            json.append("],\"data_offsets\":[").append(offset).append(',').append(end).append("]}");
            offset = end;
        }
        json.append('}');
        byte[] raw = json.toString().getBytes(StandardCharsets.UTF_8);
        int padded = raw.length + (8 - raw.length % 8) % 8;
        byte[] out = Arrays.copyOf(raw, padded);
        Arrays.fill(out, raw.length, padded, (byte) ' ');
        return out;
    }

    /** serde_json's escaping: quote, backslash and control characters; everything else raw UTF-8. */
    private static void string(StringBuilder out, String s) {
        PyJson.string(out, s, false);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static void writeSegment(FileChannel ch, MemorySegment seg) throws IOException {
        long chunk = 1L << 30;
        for (long off = 0; off < seg.byteSize(); off += chunk) {
            writeFully(ch, seg.asSlice(off, Math.min(chunk, seg.byteSize() - off)).asByteBuffer());
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }
}
