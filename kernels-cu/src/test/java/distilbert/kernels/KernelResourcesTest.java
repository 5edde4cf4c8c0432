package distilbert.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Checks what the build produced: one fatbin per CUDA source, each holding exactly the targets that
 * CMakeLists.txt promises (cubins for sm_80, sm_86, sm_89, sm_90 and compute_90 PTX). Needs no GPU.
 */
final class KernelResourcesTest {

    /** The shipped targets; a build narrowed with -DKERNELS_ARCHS must fail here. */
    private static final Set<String> EXPECTED_TARGETS =
            Set.of("sm_80", "sm_86", "sm_89", "sm_90", "compute_90");

    /** ELF machine number of NVIDIA CUDA cubins. */
    private static final int EM_CUDA = 190;

    /** Surefire runs in the module's directory. */
    private static final Path CUDA_SOURCES = Path.of("src", "main", "cuda");

    @Test
    void everySourceHasAFatbinAndEveryFatbinASource() throws IOException, URISyntaxException {
        Set<String> sources = names(CUDA_SOURCES, ".cu");
        assertFalse(sources.isEmpty(), "no .cu files under " + CUDA_SOURCES.toAbsolutePath());
        // The test classes share the package folder, so look in every classpath root that has it.
        Set<String> fatbins = new TreeSet<>();
        for (URL dir : Collections.list(getClass().getClassLoader().getResources(KernelResources.DIRECTORY))) {
            fatbins.addAll(names(Path.of(dir.toURI()), ".fatbin"));
        }
        assertEquals(sources, fatbins, "fatbins built vs .cu sources");
    }

    @Test
    void everyFatbinHoldsTheShippedTargets() throws IOException {
        for (String name : names(CUDA_SOURCES, ".cu")) {
            byte[] bytes = KernelResources.read(name);
            assertEquals(0xBA55ED50, leInt(bytes), name + ".fatbin: magic number, little-endian at offset 0");
            Fatbin fatbin = Fatbin.parse(bytes);
            assertEquals(new TreeSet<>(EXPECTED_TARGETS), fatbin.targets(), name + ".fatbin targets");
            assertTrue(fatbin.hasCubin(90), name + ".fatbin has no sm_90 cubin");
            for (Fatbin.Entry e : fatbin.entries()) {
                if (e.kind() == Fatbin.Kind.CUBIN && !e.compressed()) {
                    int at = Math.toIntExact(e.payloadOffset());
                    ByteBuffer elf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
                    assertEquals(2, bytes[at + 4], name + " " + e.target() + ": ELF class must be 64-bit");
                    assertEquals(EM_CUDA, Short.toUnsignedInt(elf.getShort(at + 18)),
                            name + " " + e.target() + ": ELF machine must be EM_CUDA");
                }
            }
        }
    }

    /** What the bridge checks launches against: every family's kernels, read off the compiled PTX. */
    @Test
    void everyFatbinHasTheParameterListsOfItsKernels() throws IOException {
        for (String name : names(CUDA_SOURCES, ".cu")) {
            Map<String, List<String>> sigs = KernelResources.signatures(name);
            assertFalse(sigs.isEmpty(), name + ".signatures lists no kernel");
            for (var e : sigs.entrySet()) {
                // the storage types of one kernel take the same parameters
                String k = e.getKey();
                for (String suffix : List.of("_f32", "_bf16", "_f16")) {
                    if (k.endsWith(suffix)) {
                        String stem = k.substring(0, k.length() - suffix.length());
                        for (String other : List.of("_bf16", "_f16")) {
                            if (sigs.containsKey(stem + other)) {
                                assertEquals(e.getValue(), sigs.get(stem + other), name + ": " + k + " vs " + stem + other);
                            }
                        }
                    }
                }
            }
        }
        // as the sources declare them
        assertEquals(List.of("u64", "u64", "u64", "u64", "u64", "u32", "u32", "u32", "u32"),
                KernelResources.signatures("misc").get("pool_rows_bf16"),
                "pool_rows(out, inp, cu_seqlens, key_lens, positions, B, C, mode, skip)");
        assertEquals(List.of("u64", "u64", "u64", "u64", "u32", "u64", "u64", "u64", "u32", "u32", "u32", "f32"),
                KernelResources.signatures("attention_tc").get("attention_tc_forward_hs64_bf16"));
        assertEquals(3 * 2 * 1, KernelResources.signatures("attention_tc").size(), "hs32/64/128 x bf16/f16");
        assertTrue(KernelResources.signatures("activation").containsKey("bias_grad_reduce_f32"));
    }

    @Test
    void aMalformedSignaturesFileIsAnErrorNamingTheLine() {
        assertEquals(Map.of("k", List.of("u64", "u32", "f32"), "none", List.of()),
                KernelResources.parseSignatures("x", "k u64,u32,f32\n\nnone\n"));
        for (String bad : List.of("k u64,u8", "k u64 u32", "k u64,,u32")) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> KernelResources.parseSignatures("f.signatures", "ok u64\n" + bad + "\n"));
            assertTrue(e.getMessage().startsWith("f.signatures line 2: expected 'kernel type,type,...'"), e.getMessage());
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> KernelResources.signatures("no_such_family"));
        assertTrue(e.getMessage().contains("distilbert/kernels/no_such_family.signatures"), e.getMessage());
    }

    @Test
    void activationFatbinIsThere() {
        // The bridge loads this one by name; keep the name and the source file in step.
        assertTrue(Fatbin.parse(KernelResources.read("activation")).hasCubin(80));
    }

    @Test
    void missingKernelFileIsReportedByName() {
        IllegalStateException e =
                assertThrows(IllegalStateException.class, () -> KernelResources.read("no_such_family"));
        assertTrue(e.getMessage().contains("distilbert/kernels/no_such_family.fatbin"), e.getMessage());
    }

    @Test
    void parseRejectsWhatIsNotAFatbin() {
        byte[] elf = {0x7F, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Fatbin.parse(elf));
        assertTrue(e.getMessage().contains("magic"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Fatbin.parse(new byte[3]));
    }

    @Test
    void parseRejectsATruncatedFatbin() {
        byte[] whole = KernelResources.read("activation");
        byte[] cut = Arrays.copyOf(whole, whole.length / 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Fatbin.parse(cut));
        assertTrue(e.getMessage().contains("do not fit"), e.getMessage());
    }

    @Test
    void parseReadsAHandMadeFatbin() {
        // One uncompressed sm_86 cubin of 8 bytes, built field by field from the documented layout.
        ByteBuffer b = ByteBuffer.allocate(16 + 64 + 8).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(Fatbin.MAGIC).putShort((short) 1).putShort((short) 16).putLong(64 + 8);
        b.putShort((short) 2).putShort((short) 0x101).putInt(64).putLong(8);
        b.putInt(0).putInt(0).putShort((short) 8).putShort((short) 1).putInt(86);
        b.position(16 + 64);
        b.put(new byte[] {0x7F, 'E', 'L', 'F', 2, 1, 1, 0});
        Fatbin f = Fatbin.parse(b.array());
        assertEquals(List.of(new Fatbin.Entry(Fatbin.Kind.CUBIN, 86, 80, 8, false)), f.entries());
        assertArrayEquals(new String[] {"sm_86"}, f.targets().toArray(String[]::new));
    }

    private static int leInt(byte[] bytes) {
        return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getInt(0);
    }

    private static Set<String> names(Path dir, String suffix) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            Set<String> names = new TreeSet<>();
            files.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(suffix))
                    .forEach(n -> names.add(n.substring(0, n.length() - suffix.length())));
            return names;
        }
    }
}
