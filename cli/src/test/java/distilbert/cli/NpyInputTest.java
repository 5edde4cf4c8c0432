package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading .npy files: what embed --format npy writes, numpy.save's other versions, and what is refused. */
class NpyInputTest {

    @TempDir
    Path dir;

    /** An .npy file as numpy.save writes one: magic, version, header length (2 or 4 bytes), dict, data. */
    private Path npy(String name, int major, String dict, float[] data) throws IOException {
        byte[] d = (dict + "\n").getBytes(StandardCharsets.ISO_8859_1);
        int lengthBytes = major == 1 ? 2 : 4;
        ByteBuffer b = ByteBuffer.allocate(8 + lengthBytes + d.length + 4 * data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) major).put((byte) 0);
        if (major == 1) b.putShort((short) d.length);
        else b.putInt(d.length);
        b.put(d);
        for (float f : data) b.putFloat(f);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    @Test
    void readsWhatEmbedWritesAndNumpysVersions() throws IOException {
        Path written = dir.resolve("embed.npy");
        try (NpyOutput out = NpyOutput.create(written, 3)) {
            out.write(List.of(new float[] {1, 2, 3}, new float[] {4, 5, -6.5f}), null, v -> 0);
        }
        NpyInput in = NpyInput.read(written);
        assertEquals(2, in.rows());
        assertEquals(3, in.dim());
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, -6.5f}, in.values());

        float[] v = {0.5f, -1, 2, 3};
        NpyInput two = NpyInput.read(npy("v2.npy", 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", v));
        assertArrayEquals(v, two.values());
        NpyInput none = NpyInput.read(npy("empty.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 384), }",
                new float[0]));
        assertEquals(0, none.rows());
        assertEquals(384, none.dim());
    }

    @Test
    void otherArraysAreRefusedNamingTheFile() throws IOException {
        Path f8 = npy("f8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", new float[4]);
        assertEquals(f8 + ": holds '<f8', not float32 ('<f4')", assertThrows(CliException.class, () -> NpyInput.read(f8)).getMessage());
        Path fortran = npy("f.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new float[4]);
        assertEquals(fortran + ": is in Fortran order; save it in C order (numpy.ascontiguousarray)",
                assertThrows(CliException.class, () -> NpyInput.read(fortran)).getMessage());
        Path flat = npy("flat.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", new float[4]);
        assertEquals(flat + ": shape (4,) is not (rows, dim)", assertThrows(CliException.class, () -> NpyInput.read(flat)).getMessage());
        Path cut = npy("cut.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", new float[4]);
        assertEquals(cut + ": the header says (3, 2) but the file holds 16 bytes of data, not 24",
                assertThrows(CliException.class, () -> NpyInput.read(cut)).getMessage());
        Path missing = dir.resolve("missing.npy");
        assertEquals(missing + ": no such file", assertThrows(CliException.class, () -> NpyInput.read(missing)).getMessage());
    }
}
