package distilbert.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SafetensorsTest {
    @TempDir
    Path dir;

    /** A file: u64 header length, header (unpadded), data. */
    static byte[] file(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(h.length).put(h).put(data).array();
    }

    Path write(byte[] bytes) throws IOException {
        Path p = dir.resolve("model.safetensors");
        Files.write(p, bytes);
        return p;
    }

    String error(byte[] bytes) throws IOException {
        Path p = write(bytes);
        return assertThrows(CheckpointException.class, () -> SafetensorsFile.open(p).close()).getMessage();
    }

    @Test
    void matchesTheReferenceSerializationByteForByte() {
        // safetensors' own test: serialize({"attn.0": F32 [1, 2, 3] = 0..5}) — a 64-byte header, no padding
        NamedTensor t = NamedTensor.ofFloats("attn.0", new long[] {1, 2, 3}, new float[] {0, 1, 2, 3, 4, 5});
        byte[] data = new byte[24];
        ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(new float[] {0, 1, 2, 3, 4, 5});
        assertArrayEquals(file("{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}", data),
                SafetensorsWriter.serialize(List.of(t), null));
        // a 65-byte header is padded with 7 spaces so the data starts 8-aligned
        NamedTensor t2 = NamedTensor.ofFloats("attn0", new long[] {1, 1, 2, 3}, new float[] {0, 1, 2, 3, 4, 5});
        assertArrayEquals(file("{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ", data),
                SafetensorsWriter.serialize(List.of(t2), Map.of()));
        assertArrayEquals(file("{}      ", new byte[0]), SafetensorsWriter.serialize(List.of(), null));
        assertArrayEquals(file("{\"__metadata__\":{\"framework\":\"pt\"}}     ", new byte[0]),
                SafetensorsWriter.serialize(List.of(), Map.of("framework", "pt")));
    }

    @Test
    void ordersByDescendingAlignmentThenName() throws IOException {
        List<NamedTensor> in = List.of(
                NamedTensor.ofBytes("b_u8", DType.U8, new long[] {3}, new byte[] {1, 2, 3}),
                NamedTensor.ofFloats("z_f32", new long[] {1}, new float[] {1}),
                NamedTensor.ofFloats("a_f32", new long[] {2}, new float[] {2, 3}),
                NamedTensor.ofFloats("h", new long[] {1}, new float[] {4}).convertTo(DType.F16),
                NamedTensor.ofLongs("i", new long[] {1}, new long[] {5}),
                NamedTensor.ofFloats("d", new long[] {1}, new float[] {6}).convertTo(DType.F64),
                NamedTensor.ofFloats("bf", new long[] {1}, new float[] {7}).convertTo(DType.BF16));
        Path p = dir.resolve("o.safetensors");
        SafetensorsWriter.write(p, in, Map.of("format", "pt"));
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(List.of("i", "d", "a_f32", "z_f32", "bf", "h", "b_u8"), f.names());
            for (TensorInfo t : f.infos()) assertEquals(0, (8 + headerLength(p) + t.begin()) % t.dtype().size(), t.name());
            assertEquals(Map.of("format", "pt"), f.metadata());
            assertEquals(5L, f.readLongs("i")[0]);
            assertEquals(6f, f.readFloats("d")[0]);
            assertEquals(7f, f.readFloats("bf")[0]);
            assertEquals(4f, f.readFloats("h")[0]);
            assertArrayEquals(new long[] {1, 2, 3}, f.readLongs("b_u8"));
        }
        assertEquals(0, headerLength(p) % 8);
    }

    static long headerLength(Path p) throws IOException {
        return ByteBuffer.wrap(Files.readAllBytes(p), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    @Test
    void roundTripZeroCopy() throws IOException {
        float[] w = new float[3 * 5];
        for (int i = 0; i < w.length; i++) w[i] = i * 0.25f - 1;
        Path p = dir.resolve("rt.safetensors");
        SafetensorsWriter.write(p, List.of(NamedTensor.ofFloats("w", new long[] {3, 5}, w),
                NamedTensor.ofLongs("ids", new long[] {2}, new long[] {Long.MIN_VALUE, 42}),
                NamedTensor.ofFloats("scalar", new long[] {}, new float[] {9}),
                NamedTensor.ofFloats("empty", new long[] {0, 4}, new float[0])), Map.of());
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertArrayEquals(w, f.readFloats("w"));
            assertArrayEquals(new long[] {3, 5}, f.info("w").shape());
            assertEquals(DType.F32, f.info("w").dtype());
            assertArrayEquals(new long[] {Long.MIN_VALUE, 42}, f.readLongs("ids"));
            assertArrayEquals(new float[] {9}, f.readFloats("scalar"));
            assertArrayEquals(new long[0], f.info("scalar").shape());
            assertEquals(0, f.readFloats("empty").length);
            var seg = f.segment("w");
            assertTrue(seg.isReadOnly());
            assertTrue(seg.isMapped());
            assertEquals(w[7], seg.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 7));
            assertEquals("model.safetensors: no tensor 'nope'".replace("model", "rt"),
                    assertThrows(CheckpointException.class, () -> f.tensor("nope")).getMessage());
            assertEquals("tensor 'ids' is I64, not a floating-point type",
                    assertThrows(CheckpointException.class, () -> f.readFloats("ids")).getMessage());
            assertEquals("tensor 'w' is F32, not an integer type",
                    assertThrows(CheckpointException.class, () -> f.readLongs("w")).getMessage());
        }
    }

    @Test
    void halfPrecisionValuesConvertExactly() throws IOException {
        short[] f16 = {0x3C00, (short) 0xC000, 0x0001, 0x7BFF, 0x7C00, (short) 0xFC00, 0x7E00, (short) 0x8000};
        short[] bf16 = {0x3F80, (short) 0xC000, 0x0001, 0x7F7F, 0x7F80, (short) 0xFF80, 0x7FC0, (short) 0x8000};
        Path p = dir.resolve("half.safetensors");
        SafetensorsWriter.write(p, List.of(
                NamedTensor.ofBytes("f16", DType.F16, new long[] {8}, le(f16)),
                NamedTensor.ofBytes("bf16", DType.BF16, new long[] {8}, le(bf16)),
                NamedTensor.ofBytes("f64", DType.F64, new long[] {2}, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN)
                        .putDouble(0.1).putDouble(1e300).array())), null);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            float[] h = f.readFloats("f16");
            assertArrayEquals(new float[] {1f, -2f, 0x1p-24f, 65504f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}, Arrays.copyOf(h, 6));
            assertTrue(Float.isNaN(h[6]));
            assertEquals(0x80000000, Float.floatToRawIntBits(h[7]));
            float[] b = f.readFloats("bf16");
            assertArrayEquals(new float[] {1f, -2f, 0x1p-133f, Float.intBitsToFloat(0x7F7F0000), Float.POSITIVE_INFINITY,
                    Float.NEGATIVE_INFINITY}, Arrays.copyOf(b, 6));
            assertTrue(Float.isNaN(b[6]));
            assertEquals(0x80000000, Float.floatToRawIntBits(b[7]));
            assertArrayEquals(new float[] {0.1f, Float.POSITIVE_INFINITY}, f.readFloats("f64"));
        }
        // float → bf16 / f16 on write, rounded to nearest even
        NamedTensor t = NamedTensor.ofFloats("x", new long[] {3}, new float[] {1f, Float.intBitsToFloat(0x3F818000), 65520f});
        assertArrayEquals(new float[] {1f, Float.intBitsToFloat(0x3F820000), 65536f}, t.convertTo(DType.BF16).toFloats());
        assertArrayEquals(new float[] {1f, 1.0117188f, Float.POSITIVE_INFINITY}, t.convertTo(DType.F16).toFloats());
    }

    static byte[] le(short[] s) {
        ByteBuffer b = ByteBuffer.allocate(s.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (short x : s) b.putShort(x);
        return b.array();
    }

    static final String A = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
        "{\"a\":[]}|model.safetensors: tensor 'a': header entry must be an object with dtype, shape and data_offsets",
        "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}|model.safetensors: tensor 'a': header entry has no dtype",
        "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}|model.safetensors: tensor 'a': header entry has no shape",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}|model.safetensors: tensor 'a': header entry has no data_offsets",
        "{\"a\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}|model.safetensors: tensor 'a': dtype must be a string, got 32",
        "{\"a\":{\"dtype\":\"F12\",\"shape\":[2],\"data_offsets\":[0,8]}}|model.safetensors: tensor 'a': unknown or unsupported dtype 'F12' (supported: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64)",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}|model.safetensors: tensor 'a': shape must be a list of non-negative integers, got 2",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}|model.safetensors: tensor 'a': shape must be a list of non-negative integers, got [-2]",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}|model.safetensors: tensor 'a': shape must be a list of non-negative integers, got [2.5]",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}|model.safetensors: tensor 'a': data_offsets must be [begin, end], got [0]",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\"0\",8]}}|model.safetensors: tensor 'a': data_offsets must be two non-negative integers, got [\"0\",8]",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}|model.safetensors: tensor 'a': data_offsets [8, 0] end before they begin",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}|model.safetensors: tensor 'a': F32 [3] needs 12 bytes but data_offsets [0, 8] hold 8",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}|model.safetensors: tensor 'a': data_offsets [0, 16] run past the end of the data section (8 bytes): truncated file or corrupt header",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}|model.safetensors: tensor 'a': shape [4294967296, 4294967296] overflows",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}|model.safetensors: tensor 'a' starts at byte 4 of the data section but no tensor starts at 0: the data_offsets must cover the data section contiguously from 0",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}|model.safetensors: the tensors cover 4 bytes but the data section has 8 (trailing bytes after the last tensor)",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}|model.safetensors: tensor 'b' data_offsets [4, 8] overlap tensor 'a' [0, 8]",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[6,8]}}|model.safetensors: tensor 'b' starts at byte 6 of the data section but the previous tensor 'a' ends at 4: the data_offsets must cover the data section contiguously from 0",
        "{\"__metadata__\":{\"format\":1}," + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}|model.safetensors: __metadata__ value for 'format' must be a string, got 1",
        "{\"__metadata__\":[]}|model.safetensors: __metadata__ must be an object of strings, got ARRAY",
        "[1]|model.safetensors: header does not start with '{' (corrupt, or not a safetensors file)",
        "` {}`|model.safetensors: header does not start with '{' (corrupt, or not a safetensors file)",
    })
    void invalidHeadersNameFileAndTensor(String header, String message) throws IOException {
        assertEquals(message, error(file(header, new byte[8])));
    }

    @Test
    void invalidJsonAndDuplicates() throws IOException {
        assertTrue(error(file("{\"a\":", new byte[8])).startsWith("model.safetensors: header is not valid JSON: "));
        assertTrue(error(file("{" + A + "," + A + "}", new byte[8])).startsWith("model.safetensors: header is not valid JSON: Duplicate field 'a'"));
        assertTrue(error(file("{" + A + "} x", new byte[8])).startsWith("model.safetensors: header is not valid JSON: "));
        byte[] bad = file("{\"\u00e9\":1}", new byte[0]);
        bad[10] = (byte) 0xFF; // break the UTF-8 of é
        assertEquals("model.safetensors: header is not valid UTF-8 (corrupt, or not a safetensors file)", error(bad));
    }

    @Test
    void brokenFiles() throws IOException {
        assertEquals("model.safetensors: file is empty (0 bytes), not a safetensors file", error(new byte[0]));
        assertEquals("model.safetensors: file is 5 bytes, too short for the 8-byte header length of a safetensors file", error(new byte[5]));
        byte[] huge = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-1).array();
        assertEquals("model.safetensors: header length 18446744073709551615 exceeds the safetensors limit of 100000000 bytes "
                + "(corrupt, or not a safetensors file)", error(huge));
        byte[] big = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(100_000_001).array();
        assertTrue(error(big).startsWith("model.safetensors: header length 100000001 exceeds"));
        byte[] past = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(9).array();
        assertEquals("model.safetensors: header length 9 runs past the end of the file (16 bytes): truncated, or not a safetensors file", error(past));
        assertEquals("model.safetensors: header length 0 is too short for a JSON object", error(new byte[8]));

        byte[] good = file("{" + A + "}", new byte[8]);
        byte[] truncated = Arrays.copyOf(good, good.length - 3);
        assertEquals("model.safetensors: tensor 'a': data_offsets [0, 8] run past the end of the data section (5 bytes): "
                + "truncated file or corrupt header", error(truncated));
        byte[] cutHeader = Arrays.copyOf(good, 20);
        assertTrue(error(cutHeader).startsWith("model.safetensors: header length "));
        assertTrue(error("garbage, not a checkpoint at all".getBytes(StandardCharsets.US_ASCII)).startsWith("model.safetensors: header length "));
        Path missing = dir.resolve("nope.safetensors");
        assertTrue(assertThrows(CheckpointException.class, () -> SafetensorsFile.open(missing)).getMessage().endsWith("nope.safetensors: no such file"));
    }

    @Test
    void randomCorruptionNeverEscapesAsAnotherException() throws IOException {
        byte[] good = SafetensorsWriter.serialize(List.of(
                NamedTensor.ofFloats("w", new long[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6}),
                NamedTensor.ofLongs("ids", new long[] {2}, new long[] {7, 8}),
                NamedTensor.ofFloats("h", new long[] {4}, new float[] {1, 2, 3, 4}).convertTo(DType.BF16)), Map.of("format", "pt"));
        SplittableRandom rnd = new SplittableRandom(2024);
        Path p = dir.resolve("model.safetensors");
        int opened = 0;
        for (int iter = 0; iter < 3000; iter++) {
            byte[] b;
            switch (iter % 3) {
                case 0 -> {
                    b = good.clone();
                    for (int k = 0; k < 1 + rnd.nextInt(4); k++) b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
                }
                case 1 -> b = Arrays.copyOf(good, rnd.nextInt(good.length));
                default -> {
                    b = new byte[rnd.nextInt(64)];
                    for (int k = 0; k < b.length; k++) b[k] = (byte) rnd.nextInt(256);
                }
            }
            Files.write(p, b);
            try (SafetensorsFile f = SafetensorsFile.open(p)) {
                for (String n : f.names()) {
                    NamedTensor t = f.tensor(n);
                    if (t.dtype().isFloatingPoint()) t.toFloats();
                    else t.toLongs();
                }
                opened++;
            } catch (CheckpointException expected) {
                assertTrue(expected.getMessage().startsWith("model.safetensors: "), expected.getMessage());
            }
        }
        assertTrue(opened > 0, "some single-byte changes hit tensor data only and still open");
    }

    @Test
    void writerRefusesDuplicatesAndReservedNames() {
        NamedTensor a = NamedTensor.ofFloats("a", new long[] {1}, new float[] {1});
        assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.serialize(List.of(a, a), null));
        assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.serialize(List.of(a.withName("__metadata__")), null));
        assertThrows(IllegalArgumentException.class, () -> NamedTensor.ofFloats("x", new long[] {3}, new float[] {1}));
    }

    @Test
    void writeIsAtomicAndReplaces() throws IOException {
        Path p = dir.resolve("x.safetensors");
        SafetensorsWriter.write(p, List.of(NamedTensor.ofFloats("a", new long[] {1}, new float[] {1})), null);
        SafetensorsWriter.write(p, List.of(NamedTensor.ofFloats("b", new long[] {1}, new float[] {2})), null);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(List.of("b"), f.names());
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of("x.safetensors"), files.map(q -> q.getFileName().toString()).toList());
        }
    }

    @Test
    void namesWithSpecialCharactersSurvive() throws IOException {
        String name = "weird \"name\"\\ é\n\u0001";
        Path p = dir.resolve("n.safetensors");
        SafetensorsWriter.write(p, List.of(NamedTensor.ofFloats(name, new long[] {1}, new float[] {3})), Map.of("k\"", "v\u00e9"));
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(List.of(name), f.names());
            assertEquals(Map.of("k\"", "v\u00e9"), f.metadata());
        }
    }
}
