package distilbert.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The .bin files under src/test/resources/distilbert/weights/bin are written by src/test/python/make_pytorch_bins.py. */
class PytorchBinTest {
    @TempDir
    Path dir;

    static Path resource(String name) {
        try {
            return Path.of(PytorchBinTest.class.getResource("/distilbert/weights/bin/" + name).toURI());
        } catch (java.net.URISyntaxException e) {
            throw new AssertionError(e);
        }
    }

    /** The generator's value(k, i): element i of the k-th tensor of the tiny MLM state dict. */
    static float value(int k, long i) {
        return (float) (((k * 131 + i * 7) % 101) / 100.0 - 0.5);
    }

    @Test
    void readsTheTinyMaskedLmStateDict() throws IOException {
        DistilBertConfig config = DistilBertConfig.read(resource("tiny-distilbert-mlm/config.json"));
        List<ParameterSpec> layout = DistilBertParameters.layout(config, Head.MASKED_LM);
        try (PytorchBinFile f = PytorchBinFile.open(resource("tiny-distilbert-mlm/pytorch_model.bin"))) {
            assertEquals(layout.stream().map(ParameterSpec::name).toList(), f.names(), "state dict order");
            for (int k = 0; k < layout.size(); k++) {
                ParameterSpec s = layout.get(k);
                NamedTensor t = f.tensor(s.name());
                assertEquals(DType.F32, t.dtype());
                assertArrayEquals(s.shape(), t.shape(), s.name());
                float[] v = t.toFloats();
                int owner = s.isTied() ? 0 : k; // vocab_projector.weight is a view of the word embeddings' storage
                for (int i = 0; i < v.length; i++) assertEquals(value(owner, i), v[i], s.name() + "[" + i + "]");
            }
            assertTrue(f.sharesStorage("vocab_projector.weight", "distilbert.embeddings.word_embeddings.weight"));
        }
    }

    @Test
    void readsEveryDtypeAndView() throws IOException {
        try (PytorchBinFile f = PytorchBinFile.open(resource("dtypes.bin"))) {
            float[] h = f.tensor("f16").toFloats();
            assertArrayEquals(new long[] {2, 4}, f.tensor("f16").shape());
            assertArrayEquals(new float[] {1f, -2f, 0.5f, 65504f, 0x1p-24f, Float.POSITIVE_INFINITY, -0.0f}, Arrays.copyOf(h, 7));
            assertTrue(Float.isNaN(h[7]));
            float[] b = f.tensor("bf16").toFloats();
            assertArrayEquals(new float[] {1f, -2f, Float.POSITIVE_INFINITY, 0x1p-133f}, Arrays.copyOf(b, 4));
            assertTrue(Float.isNaN(b[4]));
            assertEquals(0.15625f, b[5]);
            assertArrayEquals(new float[] {0.1f, Float.NEGATIVE_INFINITY, 3f}, f.tensor("f64").toFloats());
            assertArrayEquals(new long[] {0, -1, 1L << 40, 7}, f.tensor("i64").toLongs());
            assertEquals(DType.I32, f.tensor("i32").dtype());
            assertArrayEquals(new long[] {1, -2, 3}, f.tensor("i32").toLongs());
            assertArrayEquals(new long[] {1, 0, 1}, f.tensor("bool").toLongs());
            assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5}, f.tensor("matrix").toFloats());
            NamedTensor tr = f.tensor("transposed");
            assertArrayEquals(new long[] {3, 2}, tr.shape());
            assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, tr.toFloats(), "strided view gathered row-major");
            assertArrayEquals(new float[] {3, 4, 5}, f.tensor("row1").toFloats(), "storage offset");
            assertArrayEquals(new long[0], f.tensor("scalar").shape());
            assertArrayEquals(new float[] {42}, f.tensor("scalar").toFloats());
            assertArrayEquals(new float[] {42}, f.tensor("param").toFloats(), "_rebuild_parameter");
            assertEquals("dtypes.bin: no tensor 'x'", assertThrows(CheckpointException.class, () -> f.tensor("x")).getMessage());
        }
    }

    @Test
    void refusesTheMaliciousPickle() {
        var e = assertThrows(CheckpointException.class, () -> PytorchBinFile.open(resource("malicious.bin")));
        assertEquals("malicious.bin: refusing to load global 'os.system' (only state-dict tensors are allowed)", e.getMessage());
    }

    // ---- hand-built pickles and archives ---------------------------------------------------------

    Path zip(String name, Map<String, byte[]> entries) throws IOException {
        Path p = dir.resolve(name);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(out)) {
            for (var e : entries.entrySet()) {
                z.putNextEntry(new ZipEntry(e.getKey()));
                z.write(e.getValue());
                z.closeEntry();
            }
        }
        Files.write(p, out.toByteArray());
        return p;
    }

    String binError(byte[] pickle) throws IOException {
        Path p = zip("pytorch_model.bin", Map.of("archive/data.pkl", pickle, "archive/version", "3\n".getBytes()));
        return assertThrows(CheckpointException.class, () -> PytorchBinFile.open(p).close()).getMessage();
    }

    static byte[] bytes(Object... parts) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (Object o : parts) {
            if (o instanceof String s) b.writeBytes(s.getBytes(StandardCharsets.ISO_8859_1));
            else if (o instanceof Integer i) b.write(i);
            else b.writeBytes((byte[]) o);
        }
        return b.toByteArray();
    }

    @Test
    void refusesOtherGlobalsHoweverNamed() throws IOException {
        // protocol 4: STACK_GLOBAL 'builtins' 'eval'
        byte[] stackGlobal = bytes(0x80, 4, 0x8c, 8, "builtins", 0x8c, 4, "eval", 0x93, 0x8c, 2, "1+", 0x85, "R.");
        assertEquals("pytorch_model.bin: refusing to load global 'builtins.eval' (only state-dict tensors are allowed)", binError(stackGlobal));
        assertEquals("pytorch_model.bin: refusing to load global 'torch.load' (only state-dict tensors are allowed)",
                binError(bytes(0x80, 2, "ctorch\nload\n)R.")));
        assertEquals("pytorch_model.bin: refusing to load global 'subprocess.Popen' (only state-dict tensors are allowed)",
                binError(bytes(0x80, 2, "csubprocess\nPopen\n.")));
        assertEquals("pytorch_model.bin: refusing to load global 'torch._utils._rebuild_qtensor' (only state-dict tensors are allowed)",
                binError(bytes(0x80, 2, "ctorch._utils\n_rebuild_qtensor\n.")));
    }

    @Test
    void malformedPickles() throws IOException {
        assertEquals("pytorch_model.bin: unsupported pickle opcode 0x49 ('I') at byte 2 of data.pkl (only what torch.save writes for a state dict is supported)",
                binError(bytes(0x80, 2, "I1\n.")));
        assertEquals("pytorch_model.bin: data.pkl is malformed or not a state dict: stack underflow at byte 2 (opcode 0x52)",
                binError(bytes(0x80, 2, "R.")));
        assertEquals("pytorch_model.bin: data.pkl is malformed or not a state dict: ends without a STOP opcode (truncated)",
                binError(bytes(0x80, 2, "}")));
        assertEquals("pytorch_model.bin: data.pkl is malformed or not a state dict: truncated at byte 3 (needs 4 more bytes)",
                binError(bytes(0x80, 2, "J", 1)));
        assertEquals("pytorch_model.bin: data.pkl is malformed or not a state dict: memo key 5 read at byte 2 was never stored",
                binError(bytes(0x80, 2, "h", 5, ".")));
        assertEquals("pytorch_model.bin: data.pkl is malformed or not a state dict: a string of 1000 bytes runs past the end of data.pkl",
                binError(bytes(0x80, 2, "X", 0xe8, 3, 0, 0, "abc.")));
        assertEquals("pytorch_model.bin: data.pkl is malformed or not a state dict: no MARK before byte 2 (opcode 0x74)",
                binError(bytes(0x80, 2, "t.")));
        assertEquals("pytorch_model.bin: holds list of 0, not a state dict (a dict of tensors)", binError(bytes(0x80, 2, "].")));
        assertEquals("pytorch_model.bin: entry 'epoch' is Long 3, not a tensor (expected a flat state dict {name: tensor})",
                binError(bytes(0x80, 2, "}X", 5, 0, 0, 0, "epochK", 3, "s.")));
        assertEquals("pytorch_model.bin: data.pkl is malformed or not a state dict: pickle protocol 9 is newer than 5",
                binError(bytes(0x80, 9, ".")));
        // a persistent id naming a storage file that is not in the archive
        byte[] missingStorage = bytes(0x80, 2, "}X", 1, 0, 0, 0, "w", "ctorch._utils\n_rebuild_tensor_v2\n",
                "((X", 7, 0, 0, 0, "storage", "ctorch\nFloatStorage\n", "X", 1, 0, 0, 0, "9", "X", 3, 0, 0, 0, "cpu", "K", 2, "tQ",
                "K", 0, "K", 2, 0x85, "K", 1, 0x85, 0x89, "}tRs.");
        assertEquals("pytorch_model.bin: tensor 'w' refers to storage '9', but the archive has no archive/data/9", binError(missingStorage));
    }

    @Test
    void viewOutsideItsStorageIsRefused() throws IOException {
        // size 4 over a storage of 2 floats
        byte[] pkl = bytes(0x80, 2, "}X", 1, 0, 0, 0, "w", "ctorch._utils\n_rebuild_tensor_v2\n",
                "((X", 7, 0, 0, 0, "storage", "ctorch\nFloatStorage\n", "X", 1, 0, 0, 0, "0", "X", 3, 0, 0, 0, "cpu", "K", 2, "tQ",
                "K", 0, "K", 4, 0x85, "K", 1, 0x85, 0x89, "}tRs.");
        Path p = zip("pytorch_model.bin", Map.of("archive/data.pkl", pkl, "archive/data/0", new byte[8]));
        assertEquals("pytorch_model.bin: tensor 'w' (size [4], stride [1], offset 0) reaches element 3 of a storage of 2",
                assertThrows(CheckpointException.class, () -> PytorchBinFile.open(p)).getMessage());
        // the storage file shorter than the pickle says
        byte[] fixed = new String(pkl, StandardCharsets.ISO_8859_1).replace("K\u0004\u0085", "K\u0002\u0085").getBytes(StandardCharsets.ISO_8859_1);
        Path q = zip("pytorch_model.bin", Map.of("archive/data.pkl", fixed, "archive/data/0", new byte[4]));
        assertEquals("pytorch_model.bin: storage 0 of tensor 'w' holds 4 bytes but its 2 F32 elements need 8",
                assertThrows(CheckpointException.class, () -> PytorchBinFile.open(q)).getMessage());
    }

    @Test
    void notTorchZipFiles() throws IOException {
        Path empty = dir.resolve("pytorch_model.bin");
        Files.write(empty, new byte[0]);
        assertEquals("pytorch_model.bin: file is empty (0 bytes)", assertThrows(CheckpointException.class, () -> PytorchBinFile.open(empty)).getMessage());
        Files.write(empty, bytes(0x80, 2, 0x8a, 10, "legacy magic number"));
        assertTrue(assertThrows(CheckpointException.class, () -> PytorchBinFile.open(empty)).getMessage()
                .startsWith("pytorch_model.bin: is a bare pickle, the legacy torch.save format of PyTorch < 1.6, which is not supported"));
        Files.writeString(empty, "<html>not found</html>");
        assertEquals("pytorch_model.bin: not a zip archive (torch.save format of PyTorch >= 1.6) nor a pickle: corrupt, or not a checkpoint",
                assertThrows(CheckpointException.class, () -> PytorchBinFile.open(empty)).getMessage());
        Path noPkl = zip("x.bin", Map.of("archive/version", "3\n".getBytes()));
        assertEquals("x.bin: zip archive has no data.pkl: not a torch.save checkpoint",
                assertThrows(CheckpointException.class, () -> PytorchBinFile.open(noPkl)).getMessage());
        byte[] good = Files.readAllBytes(resource("dtypes.bin"));
        Path truncated = dir.resolve("t.bin");
        Files.write(truncated, Arrays.copyOf(good, good.length / 2));
        assertTrue(assertThrows(CheckpointException.class, () -> PytorchBinFile.open(truncated)).getMessage()
                .startsWith("t.bin: not a readable zip archive"));
        Path big = zip("b.bin", Map.of("archive/data.pkl", bytes(0x80, 2, "}."), "archive/byteorder", "big".getBytes()));
        assertEquals("b.bin: byteorder is 'big'; only little-endian checkpoints are supported",
                assertThrows(CheckpointException.class, () -> PytorchBinFile.open(big)).getMessage());
    }

    @Test
    void anyTopFolderNameAndAnEmptyStateDict() throws IOException {
        Path p = zip("m.bin", Map.of("my_model/data.pkl", bytes(0x80, 2, "ccollections\nOrderedDict\n)R.")));
        try (PytorchBinFile f = PytorchBinFile.open(p)) {
            assertEquals(List.of(), f.names());
        }
    }
}
