package distilbert.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.SymbolLookup;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What can be checked of the cuBLAS bindings without a GPU: names, layouts, enum values, loading. */
final class CublasLibraryTest {

    @Test
    void statusNamesAreThoseOfCublasApiH() {
        assertEquals("CUBLAS_STATUS_SUCCESS", CublasException.knownStatusName(0));
        assertEquals("CUBLAS_STATUS_NOT_INITIALIZED", CublasException.knownStatusName(1));
        assertEquals("CUBLAS_STATUS_ALLOC_FAILED", CublasException.knownStatusName(3));
        assertEquals("CUBLAS_STATUS_INVALID_VALUE", CublasException.knownStatusName(7));
        assertEquals("CUBLAS_STATUS_ARCH_MISMATCH", CublasException.knownStatusName(8));
        assertEquals("CUBLAS_STATUS_MAPPING_ERROR", CublasException.knownStatusName(11));
        assertEquals("CUBLAS_STATUS_EXECUTION_FAILED", CublasException.knownStatusName(13));
        assertEquals("CUBLAS_STATUS_INTERNAL_ERROR", CublasException.knownStatusName(14));
        assertEquals("CUBLAS_STATUS_NOT_SUPPORTED", CublasException.knownStatusName(15));
        assertEquals("CUBLAS_STATUS_LICENSE_ERROR", CublasException.knownStatusName(16));
        assertNull(CublasException.knownStatusName(2));
        assertNull(CublasException.knownStatusName(17));
    }

    @Test
    void theExceptionNamesTheCallAndTheStatus() {
        CublasException e = new CublasException("cublasLtMatmul(linear N=128 K=768 M=3072 bf16 fp32)", 15,
                "CUBLAS_STATUS_NOT_SUPPORTED");
        assertEquals("cublasLtMatmul(linear N=128 K=768 M=3072 bf16 fp32) failed: CUBLAS_STATUS_NOT_SUPPORTED (15)",
                e.getMessage());
        assertEquals(15, e.status());
        assertEquals("CUBLAS_STATUS_NOT_SUPPORTED", e.statusName());
        CublasException invalid = new CublasException("cublasGemmEx(x)", 7, "CUBLAS_STATUS_INVALID_VALUE");
        assertTrue(invalid.getMessage().startsWith("cublasGemmEx(x) failed: CUBLAS_STATUS_INVALID_VALUE (7). "),
                invalid.getMessage());
    }

    /** cublasLt.h: algo uint64_t[8], size_t workspaceSize, cublasStatus_t state, float wavesCount, int reserved[4]. */
    @Test
    void theHeuristicResultHasTheLayoutOfCublasLtH() {
        assertEquals(64, CublasLibrary.MATMUL_ALGO.byteSize());
        assertEquals(96, CublasLibrary.HEURISTIC_RESULT.byteSize());
        assertEquals(64, CublasLibrary.HEURISTIC_WORKSPACE_OFFSET);
        assertEquals(72, CublasLibrary.HEURISTIC_STATE_OFFSET);
        assertEquals(76, CublasLibrary.HEURISTIC_RESULT.byteOffset(PathElement.groupElement("wavesCount")));
        assertEquals(80, CublasLibrary.HEURISTIC_RESULT.byteOffset(PathElement.groupElement("reserved")));
    }

    @Test
    void enumValuesAreThoseOfTheHeaders() {
        // cudaDataType (library_types.h)
        assertEquals(0, Cublas.DataType.F32.cudaValue);
        assertEquals(2, Cublas.DataType.F16.cudaValue);
        assertEquals(14, Cublas.DataType.BF16.cudaValue);
        // cublasComputeType_t (cublas_api.h)
        assertEquals(68, Cublas.Compute.FP32.cublasValue);
        assertEquals(77, Cublas.Compute.TF32.cublasValue);
        assertEquals(68, CublasLibrary.COMPUTE_32F);
        // 1.0 as the device stores it
        assertEquals(1f, Float.intBitsToFloat(Cublas.DataType.F32.oneBits));
        assertEquals(1f, Float.float16ToFloat((short) Cublas.DataType.F16.oneBits));
        assertEquals(1f, ElementType.fromBf16((short) Cublas.DataType.BF16.oneBits));
        assertEquals(Cublas.DataType.BF16, Cublas.DataType.of(ElementType.BF16));
        assertThrows(IllegalArgumentException.class, () -> Cublas.DataType.of(ElementType.I32));
    }

    @Test
    void alignmentIsTheLargestPowerOfTwoUpTo256() {
        assertEquals(256, Cublas.alignment(0x7f00_0000_1000L));
        assertEquals(8, Cublas.alignment(0x7f00_0000_1008L));
        assertEquals(2, Cublas.alignment(0x7f00_0000_1002L));
        assertEquals(0, Cublas.alignment(0));
    }

    @Test
    void aLibraryThatIsNotThereIsAReasonNamingItNotACrash() {
        var loaded = CublasLibrary.load(List.of(
                new CublasLibrary.Candidate("libdistilbert-no-such-cublas.so.99", "libdistilbert-no-such-cublasLt.so.99"),
                new CublasLibrary.Candidate("libdistilbert-no-such-cublas.so.98", "libdistilbert-no-such-cublasLt.so.98")));
        assertNull(loaded.library());
        var unavailable = assertInstanceOf(CublasLibrary.Availability.Unavailable.class, loaded.availability());
        assertTrue(unavailable.reason().contains("libdistilbert-no-such-cublas.so.99, libdistilbert-no-such-cublas.so.98"),
                unavailable.reason());
    }

    /** The folders searched after the library search path: named ones first, then toolkits, existing ones only. */
    @Test
    void theFoldersSearchedAreTheNamedOnesThenTheToolkitsLibFolders(@TempDir Path tmp) throws IOException {
        Path named1 = Files.createDirectories(tmp.resolve("wheel/nvidia/cublas/lib"));
        Path named2 = Files.createDirectories(tmp.resolve("env-named"));
        Path home = tmp.resolve("toolkit");
        Path lib64 = Files.createDirectories(home.resolve("lib64"));
        Path target = Files.createDirectories(home.resolve("targets/x86_64-linux/lib"));
        Files.createDirectories(home.resolve("targets/sbsa-linux/lib"));
        Map<String, String> env = Map.of("DISTILBERT_CUBLAS_DIR", named2 + java.io.File.pathSeparator + tmp.resolve("absent"),
                "CUDA_HOME", home.toString());
        List<Path> folders = CublasLibrary.searchFolders(env::get, named1.toString(), "amd64");
        // the first four in this order; the machine's own /usr/local/cuda* folders may follow
        assertEquals(List.of(named1, named2, lib64, target), folders.subList(0, 4), folders.toString());
        assertTrue(folders.stream().noneMatch(f -> f.startsWith(tmp.resolve("absent"))), folders.toString());

        List<Path> arm = CublasLibrary.searchFolders(Map.of("CUDA_PATH", home.toString())::get, null, "aarch64");
        assertEquals(List.of(lib64, home.resolve("targets/sbsa-linux/lib")), arm.subList(0, 2), arm.toString());
    }

    @Test
    void versionedToolkitsComeNewestFirstByNumber(@TempDir Path tmp) throws IOException {
        for (String name : new String[] {"cuda-12.4", "cuda-13.0", "cuda-12.10", "cuda", "cudafoo", "cuda-12"}) {
            Files.createDirectories(tmp.resolve(name));
        }
        assertEquals(List.of(tmp.resolve("cuda-13.0"), tmp.resolve("cuda-12.10"), tmp.resolve("cuda-12.4"),
                tmp.resolve("cuda-12")), CublasLibrary.versionedToolkits(tmp));
        assertEquals(List.of(), CublasLibrary.versionedToolkits(tmp.resolve("none")));
    }

    /**
     * A pair found in a folder, not on the search path, is opened by its full path (cublasLt first) and
     * bound: here a real shared library under cuBLAS's names, which opens and then lacks the functions,
     * so the reason names the files found in the folder and what they lack.
     */
    @Test
    void aPairInAFolderIsOpenedByItsPath(@TempDir Path tmp) throws IOException {
        Path libz = Path.of("/lib/x86_64-linux-gnu/libz.so.1");
        Assumptions.assumeTrue(Files.exists(libz), "needs " + libz + " as a stand-in shared library");
        Path folder = Files.createDirectories(tmp.resolve("lib"));
        Files.createSymbolicLink(folder.resolve("libdistilbert-test-cublas.so.97"), libz);
        Files.createSymbolicLink(folder.resolve("libdistilbert-test-cublasLt.so.97"), libz);
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        var loaded = CublasLibrary.load(List.of(new CublasLibrary.Candidate("libdistilbert-test-cublas.so.97",
                "libdistilbert-test-cublasLt.so.97")), List.of(empty, folder));
        assertNull(loaded.library());
        String reason = ((CublasLibrary.Availability.Unavailable) loaded.availability()).reason();
        assertTrue(reason.contains("the cuBLAS found lacks functions this program calls: "
                + folder.resolve("libdistilbert-test-cublas.so.97") + ": cublasCreate_v2"), reason);
        assertTrue(reason.contains("libdistilbert-test-cublas.so.97 could not be opened from the library search path "
                + "(LD_LIBRARY_PATH, the ldconfig cache) or " + empty + ", " + folder), reason);
    }

    @Test
    void filesUnderCublasNamesThatAreNotLibrariesAreAReason(@TempDir Path tmp) throws IOException {
        Files.writeString(tmp.resolve("libdistilbert-test-cublas.so.96"), "not an ELF file");
        Files.writeString(tmp.resolve("libdistilbert-test-cublasLt.so.96"), "not an ELF file");
        var loaded = CublasLibrary.load(List.of(new CublasLibrary.Candidate("libdistilbert-test-cublas.so.96",
                "libdistilbert-test-cublasLt.so.96")), List.of(tmp));
        String reason = ((CublasLibrary.Availability.Unavailable) loaded.availability()).reason();
        assertTrue(reason.startsWith(tmp.resolve("libdistilbert-test-cublas.so.96") + " and "
                + tmp.resolve("libdistilbert-test-cublasLt.so.96") + " are there but did not open"), reason);
    }

    @Test
    void withoutAnyCublasTheReasonSaysHowToNameItsFolder() {
        var loaded = CublasLibrary.load(List.of(new CublasLibrary.Candidate("libdistilbert-no-such-cublas.so.95",
                "libdistilbert-no-such-cublasLt.so.95")), List.of());
        String reason = ((CublasLibrary.Availability.Unavailable) loaded.availability()).reason();
        assertTrue(reason.endsWith("name the folder that holds it (the nvidia-cublas wheel's lib folder, say) with "
                + "-Ddistilbert.cublas.dir or $DISTILBERT_CUBLAS_DIR"), reason);
    }

    /** On a machine without cuBLAS (this build box, CI) the reason names both sonames tried. */
    @Test
    void withoutCublasTheReasonNamesTheLibrariesTried() {
        Assumptions.assumeTrue(System.getProperty("os.name").toLowerCase(Locale.ROOT).contains("linux"),
                "checks the Linux sonames");
        Assumptions.assumeFalse(opens("libcublas.so.13") || opens("libcublas.so.12"), "cuBLAS is installed here");
        String reason = CublasLibrary.unavailableReason().orElseThrow();
        assertTrue(reason.contains("libcublas.so.13, libcublas.so.12"), reason);
        IllegalStateException e = assertThrows(IllegalStateException.class, CublasLibrary::get);
        assertEquals("no cuBLAS: " + reason, e.getMessage());
        assertThrows(IllegalStateException.class, CublasLibrary::version);
        System.out.println("cuBLAS on this machine: " + reason);
    }

    /** Where cuBLAS is installed, it loads and says which version it is. */
    @Test
    void whereCublasIsInstalledItReportsItsVersion() {
        Assumptions.assumeTrue(CublasLibrary.unavailableReason().isEmpty(),
                () -> "no cuBLAS here: " + CublasLibrary.unavailableReason().orElse(""));
        String version = CublasLibrary.version();
        assertTrue(version.matches("1[2-9]\\.\\d+\\.\\d+"), version);
        System.out.println("cuBLAS " + version + " (" + CublasLibrary.get().libraries() + ")");
    }

    @SuppressWarnings("restricted")
    private static boolean opens(String library) {
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup.libraryLookup(library, arena);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
