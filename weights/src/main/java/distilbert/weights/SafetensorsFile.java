package distilbert.weights;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file, memory-mapped: tensors are zero-copy {@link MemorySegment} views into the
 * mapping, valid until {@link #close()}.
 *
 * <p>Format: 8 bytes little-endian u64 N, N bytes of UTF-8 JSON header
 * {@code {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}},
 * then the data section; offsets are relative to it. Everything the reference implementation
 * checks is checked on open, with an error naming the file and the tensor: the header length
 * (≤ 100,000,000 bytes and inside the file), UTF-8, JSON object starting with '{', entry field
 * types, known dtype, {@code numel × size == e − b}, and data_offsets that, sorted, cover the data
 * section contiguously from 0 to its end (no gaps, no overlaps, no trailing bytes).
 */
public final class SafetensorsFile implements TensorSource {
    /** The reference implementation's limit (MAX_HEADER_SIZE). */
    public static final long MAX_HEADER_SIZE = 100_000_000L;

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final Path path;
    private final String fileName;
    private final Arena arena;
    private final MemorySegment data; // the data section
    private final Map<String, TensorInfo> tensors; // in data-offset order
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Arena arena, MemorySegment data, Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.path = path;
        this.fileName = displayName(path);
        this.arena = arena;
        this.data = data;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps and validates {@code path}. */
    public static SafetensorsFile open(Path path) throws IOException {
        String file = displayName(path);
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size == 0) throw new CheckpointException(file + ": file is empty (0 bytes), not a safetensors file");
            if (size < 8) {
                throw new CheckpointException(file + ": file is " + size + " bytes, too short for the 8-byte header length of a safetensors file");
            }
            MemorySegment whole = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long n = whole.get(NamedTensor.I64, 0);
            Header h = parseHeader(file, whole, n, size);
            SafetensorsFile f = new SafetensorsFile(path, arena, whole.asSlice(8 + n), h.tensors, h.metadata);
            arena = null; // owned by f now
            return f;
        } catch (NoSuchFileException e) {
            throw new CheckpointException(path + ": no such file", e);
        } finally {
            if (arena != null) arena.close();
        }
    }

    private record Header(Map<String, TensorInfo> tensors, Map<String, String> metadata) {}

    /** Validates the header of a file of {@code fileSize} bytes whose first 8 bytes say {@code n}. */
    private static Header parseHeader(String file, MemorySegment whole, long n, long fileSize) {
        if (Long.compareUnsigned(n, MAX_HEADER_SIZE) > 0) {
            throw new CheckpointException(file + ": header length " + Long.toUnsignedString(n) + " exceeds the safetensors limit of "
                    + MAX_HEADER_SIZE + " bytes (corrupt, or not a safetensors file)");
        }
        if (n > fileSize - 8) {
            throw new CheckpointException(file + ": header length " + n + " runs past the end of the file (" + fileSize
                    + " bytes): truncated, or not a safetensors file");
        }
        if (n < 2) {
            throw new CheckpointException(file + ": header length " + n + " is too short for a JSON object");
        }
        byte[] headerBytes = whole.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(headerBytes)).toString();
        } catch (CharacterCodingException e) {
            throw new CheckpointException(file + ": header is not valid UTF-8 (corrupt, or not a safetensors file)", e);
        }
        if (text.charAt(0) != '{') {
            throw new CheckpointException(file + ": header does not start with '{' (corrupt, or not a safetensors file)");
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JacksonException e) {
            throw new CheckpointException(file + ": header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (!(root instanceof ObjectNode obj)) {
            throw new CheckpointException(file + ": header is not a JSON object");
        }

        long dataSize = fileSize - 8 - n;
        Map<String, String> metadata = Map.of();
        List<TensorInfo> infos = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = obj.fields(); it.hasNext(); ) {
            var e = it.next();
            if (e.getKey().equals("__metadata__")) {
                metadata = parseMetadata(file, e.getValue());
            } else {
                infos.add(parseEntry(file, e.getKey(), e.getValue(), dataSize));
            }
        }

        // Sorted by offsets, the ranges must tile [0, dataSize) exactly.
        infos.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long expect = 0;
        TensorInfo prev = null;
        for (TensorInfo t : infos) {
            if (t.begin() < expect) {
                throw new CheckpointException(file + ": tensor '" + t.name() + "' data_offsets [" + t.begin() + ", " + t.end()
                        + "] overlap tensor '" + prev.name() + "' [" + prev.begin() + ", " + prev.end() + "]");
            }
            if (t.begin() > expect) {
                throw new CheckpointException(file + ": tensor '" + t.name() + "' starts at byte " + t.begin() + " of the data section but "
                        + (prev == null ? "no tensor starts at 0" : "the previous tensor '" + prev.name() + "' ends at " + expect)
                        + ": the data_offsets must cover the data section contiguously from 0");
            }
            expect = t.end();
            prev = t;
        }
        if (expect != dataSize) {
            throw new CheckpointException(file + ": the tensors cover " + expect + " bytes but the data section has " + dataSize
                    + " (trailing bytes after the last tensor)");
        }
        Map<String, TensorInfo> byName = new LinkedHashMap<>();
        for (TensorInfo t : infos) byName.put(t.name(), t);
        return new Header(Collections.unmodifiableMap(byName), metadata);
    }

    private static Map<String, String> parseMetadata(String file, JsonNode node) {
        if (node.isNull()) return Map.of();
        if (!node.isObject()) throw new CheckpointException(file + ": __metadata__ must be an object of strings, got " + node.getNodeType());
        Map<String, String> m = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            var e = it.next();
            if (!e.getValue().isTextual()) {
                throw new CheckpointException(file + ": __metadata__ value for '" + e.getKey() + "' must be a string, got " + e.getValue());
            }
            m.put(e.getKey(), e.getValue().textValue());
        }
        return Collections.unmodifiableMap(m);
    }

    private static TensorInfo parseEntry(String file, String name, JsonNode node, long dataSize) {
        String where = file + ": tensor '" + name + "'";
        if (!node.isObject()) throw new CheckpointException(where + ": header entry must be an object with dtype, shape and data_offsets");
        JsonNode dt = node.get("dtype"), sh = node.get("shape"), off = node.get("data_offsets");
        if (dt == null) throw new CheckpointException(where + ": header entry has no dtype");
        if (sh == null) throw new CheckpointException(where + ": header entry has no shape");
        if (off == null) throw new CheckpointException(where + ": header entry has no data_offsets");
        if (!dt.isTextual()) throw new CheckpointException(where + ": dtype must be a string, got " + dt);
        DType dtype = DType.fromSafetensors(dt.textValue()).orElseThrow(() -> new CheckpointException(
                where + ": unknown or unsupported dtype '" + dt.textValue() + "' (supported: " + DType.choices() + ")"));
        if (!sh.isArray()) throw new CheckpointException(where + ": shape must be a list of non-negative integers, got " + sh);
        long[] shape = new long[sh.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = nonNegative(sh.get(i), where + ": shape must be a list of non-negative integers, got " + sh);
        }
        if (!off.isArray() || off.size() != 2) {
            throw new CheckpointException(where + ": data_offsets must be [begin, end], got " + off);
        }
        String offMsg = where + ": data_offsets must be two non-negative integers, got " + off;
        long begin = nonNegative(off.get(0), offMsg), end = nonNegative(off.get(1), offMsg);
        if (end < begin) throw new CheckpointException(where + ": data_offsets [" + begin + ", " + end + "] end before they begin");
        if (end > dataSize) {
            throw new CheckpointException(where + ": data_offsets [" + begin + ", " + end + "] run past the end of the data section ("
                    + dataSize + " bytes): truncated file or corrupt header");
        }
        long numel = NamedTensor.numel(shape);
        long nbytes = numel < 0 ? -1 : (numel > Long.MAX_VALUE / dtype.size() ? -1 : numel * dtype.size());
        if (nbytes < 0) throw new CheckpointException(where + ": shape " + java.util.Arrays.toString(shape) + " overflows");
        if (nbytes != end - begin) {
            throw new CheckpointException(where + ": " + dtype + " " + java.util.Arrays.toString(shape) + " needs " + nbytes
                    + " bytes but data_offsets [" + begin + ", " + end + "] hold " + (end - begin));
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static long nonNegative(JsonNode n, String message) {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong() || n.longValue() < 0) throw new CheckpointException(message);
        return n.longValue();
    }

    static String displayName(Path p) {
        Path f = p.getFileName();
        return f == null ? p.toString() : f.toString();
    }

    // ---------------------------------------------------------------------------------------------

    public Path path() {
        return path;
    }

    /** The {@code __metadata__} map (empty when absent). HF writes {"format": "pt"}. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Header entries in data-offset order. */
    public List<TensorInfo> infos() {
        return List.copyOf(tensors.values());
    }

    @Override
    public List<String> names() {
        return List.copyOf(tensors.keySet());
    }

    @Override
    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) throw new CheckpointException(fileName + ": no tensor '" + name + "'");
        return t;
    }

    /** Zero-copy, read-only view of a tensor's bytes (little-endian; aligned to the element size when the writer followed the reference). */
    public MemorySegment segment(String name) {
        TensorInfo t = info(name);
        return data.asSlice(t.begin(), t.byteSize());
    }

    @Override
    public NamedTensor tensor(String name) {
        TensorInfo t = info(name);
        return new NamedTensor(name, t.dtype(), t.shape(), data.asSlice(t.begin(), t.byteSize()));
    }

    /** float32 copy of a floating-point tensor (F16, BF16, F64, FP8 converted). */
    public float[] readFloats(String name) {
        return tensor(name).toFloats();
    }

    /** int64 copy of an integer or BOOL tensor. */
    public long[] readLongs(String name) {
        return tensor(name).toLongs();
    }

    @Override
    public String fileOf(String name) {
        return fileName;
    }

    @Override
    public String description() {
        return fileName;
    }

    /** Unmaps the file; views handed out become inaccessible. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }
}
