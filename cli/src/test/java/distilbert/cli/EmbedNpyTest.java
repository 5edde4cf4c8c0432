package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** embed --format npy: a NumPy array file with what the JSONL lines hold, read here by the format's specification. */
final class EmbedNpyTest {

    @TempDir
    static Path dir;

    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = TinyModels.withTokenizer(dir.resolve("tiny"));
    }

    /** An .npy file of float32 (rows, dim) read as NumPy 1.0 defines it: magic, version, header length, dict, data. */
    static float[][] readNpy(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[6];
        b.get(magic);
        assertArrayEquals(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'}, magic);
        assertEquals(1, b.get(), "major version");
        assertEquals(0, b.get(), "minor version");
        int headerLength = Short.toUnsignedInt(b.getShort());
        assertEquals(0, (10 + headerLength) % 64, "the data starts on a 64-byte boundary");
        byte[] header = new byte[headerLength];
        b.get(header);
        String dict = new String(header, StandardCharsets.US_ASCII);
        assertTrue(dict.endsWith("\n"), dict);
        var m = Pattern.compile("\\{'descr': '<f4', 'fortran_order': False, 'shape': \\((\\d+), (\\d+)\\), \\} *\n")
                .matcher(dict);
        assertTrue(m.matches(), dict);
        int rows = Integer.parseInt(m.group(1)), dim = Integer.parseInt(m.group(2));
        assertEquals((long) rows * dim * Float.BYTES, b.remaining(), "the data is rows x dim float32, nothing more");
        float[][] out = new float[rows][dim];
        for (float[] row : out) for (int i = 0; i < dim; i++) row[i] = b.getFloat();
        return out;
    }

    @Test
    void theArrayHoldsTheJsonlEmbeddingsBitForBit() throws IOException {
        String rows = Cli.rows("the whale was white", "Call me Ishmael.", "a", "x y z", "It was the best of times.");
        for (String[] options : new String[][] {{}, {"--normalize"}, {"--pooling", "cls"}, {"--truncate-dim", "5", "--normalize"}}) {
            Path npy = dir.resolve("out.npy");
            Cli.Result r = Cli.onCpu("embed", model, rows, concat(options, "--format", "npy", "--output", npy.toString()));
            assertEquals(0, r.code(), r.err());
            assertEquals("", r.out());
            List<float[]> jsonl = EmbedCommandTest.embeddings(Cli.onCpu("embed", model, rows, options));
            float[][] array = readNpy(npy);
            assertEquals(jsonl.size(), array.length);
            for (int i = 0; i < array.length; i++) assertArrayEquals(jsonl.get(i), array[i], 0f, "row " + i);
            int width = List.of(options).contains("--truncate-dim") ? 5 : TinyModels.C;
            assertEquals(width, array[0].length);
            assertEquals(NpyOutput.HEADER_BYTES + 5L * width * 4, Files.size(npy));
        }
    }

    /** An int8 or uint8 (rows, width) .npy file as NumPy 1.0 defines it: the values as ints. */
    static int[][] readByteNpy(Path file, String descr) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        b.position(8);
        int headerLength = Short.toUnsignedInt(b.getShort());
        byte[] header = new byte[headerLength];
        b.get(header);
        var m = Pattern.compile("\\{'descr': '" + Pattern.quote(descr) + "', 'fortran_order': False, 'shape': \\((\\d+), (\\d+)\\), \\} *\n")
                .matcher(new String(header, StandardCharsets.US_ASCII));
        assertTrue(m.matches(), new String(header, StandardCharsets.US_ASCII));
        int rows = Integer.parseInt(m.group(1)), width = Integer.parseInt(m.group(2));
        assertEquals((long) rows * width, b.remaining(), "rows x width bytes, nothing more");
        int[][] out = new int[rows][width];
        for (int[] row : out) for (int i = 0; i < width; i++) row[i] = descr.equals("|i1") ? b.get() : b.get() & 0xff;
        return out;
    }

    @Test
    void quantizedArraysHoldTheJsonlIntegers() throws IOException {
        String rows = Cli.rows("the whale was white", "Call me Ishmael.", "a", "x y z", "It was the best of times.");
        Path calibration = dir.resolve("calibration.npy");
        assertEquals(0, Cli.onCpu("embed", model, rows, "--format", "npy", "--output", calibration.toString()).code());
        float[][] floats = readNpy(calibration);
        for (String kind : List.of("int8", "uint8", "binary", "ubinary")) {
            String[] options = kind.endsWith("int8") ? new String[] {"--quantize", kind, "--calibration", calibration.toString()}
                    : new String[] {"--quantize", kind};
            Path npy = dir.resolve(kind + ".npy");
            Cli.Result r = Cli.onCpu("embed", model, rows, concat(options, "--format", "npy", "--output", npy.toString()));
            assertEquals(0, r.code(), r.err());
            int[][] array = readByteNpy(npy, kind.equals("int8") || kind.equals("binary") ? "|i1" : "|u1");
            List<String> lines = Cli.ok(Cli.onCpu("embed", model, rows, options));
            int width = kind.endsWith("int8") ? TinyModels.C : (TinyModels.C + 7) / 8;
            for (int i = 0; i < array.length; i++) {
                assertEquals(width, array[i].length, kind);
                assertEquals(java.util.Arrays.toString(array[i]).replace(" ", ""),
                        new com.fasterxml.jackson.databind.ObjectMapper().readTree(lines.get(i)).get("embedding").toString(),
                        kind + " row " + i);
            }
            if (kind.equals("ubinary")) {
                for (int i = 0; i < floats.length; i++) {
                    for (int k = 0; k < TinyModels.C; k++) {
                        assertEquals(floats[i][k] > 0, (array[i][k / 8] & (0x80 >> (k % 8))) != 0, "row " + i + " bit " + k);
                    }
                }
            }
            if (kind.equals("uint8")) {
                for (int k = 0; k < TinyModels.C; k++) {
                    int lowest = 255, highest = 0;
                    for (int[] row : array) {
                        lowest = Math.min(lowest, row[k]);
                        highest = Math.max(highest, row[k]);
                    }
                    assertEquals(0, lowest, "calibrated on these rows: each dimension's smallest value is bucket 0");
                    assertTrue(highest >= 254, "and its largest the top bucket (254 where float32 division falls short): " + highest);
                }
            }
        }
    }

    @Test
    void aBadLineLeavesAValidArrayOfTheRowsBeforeIt() throws IOException {
        Path npy = Files.writeString(dir.resolve("bad.npy"), "old contents, replaced");
        String rows = Cli.rows("one", "two", "three") + "{not json\n" + Cli.rows("five");
        Cli.Result r = Cli.onCpu("embed", model, rows, "--format", "npy", "--output", npy.toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("distilbert embed: stdin line 4: not valid JSON"), r.err());
        float[][] array = readNpy(npy);
        assertEquals(3, array.length, "the three rows before the bad line");
        List<float[]> jsonl = EmbedCommandTest.embeddings(Cli.onCpu("embed", model, Cli.rows("one", "two", "three")));
        for (int i = 0; i < 3; i++) assertArrayEquals(jsonl.get(i), array[i], 0f, "row " + i);
        Cli.Result none = Cli.onCpu("embed", model, "", "--format", "npy", "--output", npy.toString());
        assertEquals(0, none.code(), none.err());
        assertEquals(0, readNpy(npy).length, "no rows: an empty (0, dim) array");
    }

    /** The header counts the rows written so far after every write: a killed run leaves a valid array. */
    @Test
    void theFileIsAValidArrayAfterEveryWrite() throws IOException {
        Path file = dir.resolve("direct.npy");
        try (NpyOutput out = NpyOutput.create(file, 3)) {
            assertEquals(0, readNpy(file).length);
            out.write(List.of(new float[] {1, 2, 3}, new float[] {4, 5, 6}), (gen, v) -> { }, v -> 0);
            float[][] two = readNpy(file);
            assertArrayEquals(new float[] {4, 5, 6}, two[1], 0f);
            out.write(List.of(new float[] {-0f, Float.MIN_VALUE, Float.NaN}), (gen, v) -> { }, v -> 0);
            float[][] three = readNpy(file);
            assertEquals(3, three.length);
            assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(three[2][0]));
            assertEquals(Float.MIN_VALUE, three[2][1]);
            assertTrue(Float.isNaN(three[2][2]));
            IllegalStateException wrong = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> out.write(List.of(new float[2]), (gen, v) -> { }, v -> 0));
            assertEquals("an npy row must be float[3], got float[2]", wrong.getMessage());
        }
        assertEquals(3, readNpy(file).length);
    }

    @Test
    void usageErrors() {
        String m = "--model=" + model;
        Cli.assertUsageError("embed", "--format npy writes a file: give --output FILE", m, "--format", "npy");
        Cli.assertUsageError("embed", "--format npy writes a file: give --output FILE", m, "--format", "npy", "--output", "-");
        Cli.assertUsageError("embed", "--format npy needs a pooling other than none (with none, rows have as many vectors as tokens)",
                m, "--format", "npy", "--pooling", "none", "--output", dir.resolve("x.npy").toString());
        Cli.Result folder = Cli.onCpu("embed", model, Cli.rows("x"), "--format", "npy", "--output", dir.toString());
        assertEquals(1, folder.code());
        assertEquals("distilbert embed: cannot write " + dir + ": it is a directory", folder.err().strip());
    }

    private static String[] concat(String[] a, String... b) {
        String[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }
}
