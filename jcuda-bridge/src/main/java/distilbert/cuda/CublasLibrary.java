package distilbert.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import java.util.Locale;
import java.util.Optional;

/**
 * cuBLAS and cuBLASLt through {@code java.lang.foreign}: the libraries found by name on the
 * system's library search path (dlopen: LD_LIBRARY_PATH, the ldconfig cache), newest major first,
 * else in the CUDA toolkit's usual folders ({@link #searchFolders}), and one downcall handle per
 * function we use. Loaded once per process; a missing library or symbol is a reason string
 * ({@link #availability()}), never a crash.
 *
 * <p>Why not JCublas: JCublas 12.6's natives demand the symbol versions of libcublas.so.12 and do
 * not load against libcublas.so.13, while the C API itself is the same in both majors (the
 * signatures below are those of cublas_api.h and cublasLt.h of CUDA 12.6 and 13.0).
 *
 * <p>C types map as on LP64 (Linux x86-64 and aarch64, and Windows x64 for the sizes used here):
 * handles, descriptors and pointers to {@code ADDRESS}; {@code int} and every enum
 * ({@code cublasStatus_t}, {@code cublasOperation_t}, {@code cudaDataType}, {@code cublasComputeType_t},
 * {@code cublasGemmAlgo_t}, attribute names) to {@code JAVA_INT}; {@code size_t}, {@code uint64_t},
 * {@code int64_t} and {@code long long} to {@code JAVA_LONG}.
 */
final class CublasLibrary {

    /** {@code cublasOperation_t}. */
    static final int OP_N = 0;
    static final int OP_T = 1;
    /** {@code cublasGemmAlgo_t} CUBLAS_GEMM_DEFAULT: let cuBLAS choose. */
    static final int GEMM_DEFAULT = -1;
    /** {@code cublasMath_t} CUBLAS_DEFAULT_MATH: precision comes from each call's compute type. */
    static final int DEFAULT_MATH = 0;
    /** {@code cudaDataType} CUDA_R_32F: the scale type (alpha, beta) of every compute type we use. */
    static final int CUDA_R_32F = 0;
    /** {@code cublasComputeType_t} CUBLAS_COMPUTE_32F. */
    static final int COMPUTE_32F = 68;
    /** {@code libraryPropertyType}: MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL. */
    static final int MAJOR_VERSION = 0;
    static final int MINOR_VERSION = 1;
    static final int PATCH_LEVEL = 2;
    static final int STATUS_SUCCESS = 0;
    static final int STATUS_NOT_SUPPORTED = 15;

    // cublasLtMatmulDescAttributes_t, with the C type of each value.
    /** int32_t (cublasOperation_t). */
    static final int DESC_TRANSA = 3;
    /** int32_t (cublasOperation_t). */
    static final int DESC_TRANSB = 4;
    /** uint32_t (cublasLtEpilogue_t). */
    static final int DESC_EPILOGUE = 7;
    /** const void* (device); its type is D's unless CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE says otherwise. */
    static final int DESC_BIAS_POINTER = 8;
    /** cublasLtEpilogue_t CUBLASLT_EPILOGUE_BIAS: add bias[i] to every element of D's row i. */
    static final int EPILOGUE_BIAS = 4;

    // cublasLtMatmulPreferenceAttributes_t.
    /** uint64_t. */
    static final int PREF_MAX_WORKSPACE_BYTES = 1;
    /** uint32_t each; the default 256 lets heuristics pick kernels that need 256-byte aligned buffers. */
    static final int PREF_MIN_ALIGNMENT_A_BYTES = 5;
    static final int PREF_MIN_ALIGNMENT_B_BYTES = 6;
    static final int PREF_MIN_ALIGNMENT_C_BYTES = 7;
    static final int PREF_MIN_ALIGNMENT_D_BYTES = 8;

    /** {@code cublasLtMatmulAlgo_t}: {@code uint64_t data[8]}, opaque. */
    static final MemoryLayout MATMUL_ALGO = MemoryLayout.sequenceLayout(8, JAVA_LONG).withName("algo");

    /** {@code cublasLtMatmulHeuristicResult_t}: 96 bytes. */
    static final StructLayout HEURISTIC_RESULT = MemoryLayout.structLayout(
            MATMUL_ALGO,
            JAVA_LONG.withName("workspaceSize"),
            JAVA_INT.withName("state"),
            JAVA_FLOAT.withName("wavesCount"),
            MemoryLayout.sequenceLayout(4, JAVA_INT).withName("reserved"));

    static final long HEURISTIC_WORKSPACE_OFFSET =
            HEURISTIC_RESULT.byteOffset(MemoryLayout.PathElement.groupElement("workspaceSize"));
    static final long HEURISTIC_STATE_OFFSET =
            HEURISTIC_RESULT.byteOffset(MemoryLayout.PathElement.groupElement("state"));

    /** One (libcublas, libcublasLt) pair to try, newest first. */
    record Candidate(String cublas, String cublasLt) {}

    /** What loading found. */
    sealed interface Availability {
        /** @param version e.g. "13.0.2", from cublasGetProperty; @param libraries e.g. "libcublas.so.13, libcublasLt.so.13" */
        record Available(String version, String libraries) implements Availability {}

        /** @param reason which libraries were tried and what went wrong, for people */
        record Unavailable(String reason) implements Availability {}
    }

    /** @param library null when unavailable */
    record Loaded(CublasLibrary library, Availability availability) {}

    /** Lazy, thread-safe, once: the JVM runs a holder class's initializer exactly once. */
    private static final class Holder {
        static final Loaded LOADED = load(candidates(),
                searchFolders(System::getenv, System.getProperty(FOLDER_PROPERTY), System.getProperty("os.arch", "")));
    }

    /** System property (and, as {@link #FOLDER_ENV}, environment variable): folders holding cuBLAS, searched first. */
    static final String FOLDER_PROPERTY = "distilbert.cublas.dir";
    static final String FOLDER_ENV = "DISTILBERT_CUBLAS_DIR";

    private final String libraries;

    private final MethodHandle cublasCreate;
    private final MethodHandle cublasDestroy;
    private final MethodHandle cublasSetStream;
    private final MethodHandle cublasSetMathMode;
    private final MethodHandle cublasSetWorkspace;
    private final MethodHandle cublasGetProperty;
    /** Null where the library has no cublasGetStatusName (it is optional: only for messages). */
    private final MethodHandle cublasGetStatusName;
    private final MethodHandle cublasGemmEx;
    private final MethodHandle cublasGemmStridedBatchedEx;
    private final MethodHandle ltCreate;
    private final MethodHandle ltDestroy;
    private final MethodHandle ltMatmulDescCreate;
    private final MethodHandle ltMatmulDescDestroy;
    private final MethodHandle ltMatmulDescSetAttribute;
    private final MethodHandle ltMatrixLayoutCreate;
    private final MethodHandle ltMatrixLayoutDestroy;
    private final MethodHandle ltMatmulPreferenceCreate;
    private final MethodHandle ltMatmulPreferenceDestroy;
    private final MethodHandle ltMatmulPreferenceSetAttribute;
    private final MethodHandle ltMatmulAlgoGetHeuristic;
    private final MethodHandle ltMatmul;

    private CublasLibrary(Candidate names, SymbolLookup cublas, SymbolLookup lt) {
        libraries = names.cublas() + ", " + names.cublasLt();
        Binder b = new Binder(names, cublas, lt);
        cublasCreate = b.cublas("cublasCreate_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        cublasDestroy = b.cublas("cublasDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        cublasSetStream = b.cublas("cublasSetStream_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        cublasSetMathMode = b.cublas("cublasSetMathMode", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        cublasSetWorkspace = b.cublas("cublasSetWorkspace_v2",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
        cublasGetProperty = b.cublas("cublasGetProperty", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        cublasGetStatusName = b.optional("cublasGetStatusName", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        // cublasGemmEx(handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta,
        //              C, Ctype, ldc, computeType, algo)
        cublasGemmEx = b.cublas("cublasGemmEx", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        // cublasGemmStridedBatchedEx(handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA,
        //              B, Btype, ldb, strideB, beta, C, Ctype, ldc, strideC, batchCount, computeType, algo)
        cublasGemmStridedBatchedEx = b.cublas("cublasGemmStridedBatchedEx", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT));

        ltCreate = b.lt("cublasLtCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        ltDestroy = b.lt("cublasLtDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        ltMatmulDescCreate = b.lt("cublasLtMatmulDescCreate",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        ltMatmulDescDestroy = b.lt("cublasLtMatmulDescDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        ltMatmulDescSetAttribute = b.lt("cublasLtMatmulDescSetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        // cublasLtMatrixLayoutCreate(layout*, type, uint64_t rows, uint64_t cols, int64_t ld)
        ltMatrixLayoutCreate = b.lt("cublasLtMatrixLayoutCreate",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
        ltMatrixLayoutDestroy = b.lt("cublasLtMatrixLayoutDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        ltMatmulPreferenceCreate = b.lt("cublasLtMatmulPreferenceCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        ltMatmulPreferenceDestroy = b.lt("cublasLtMatmulPreferenceDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        ltMatmulPreferenceSetAttribute = b.lt("cublasLtMatmulPreferenceSetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        // cublasLtMatmulAlgoGetHeuristic(handle, desc, Adesc, Bdesc, Cdesc, Ddesc, pref,
        //              requestedAlgoCount, results[], returnAlgoCount*)
        ltMatmulAlgoGetHeuristic = b.lt("cublasLtMatmulAlgoGetHeuristic", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        // cublasLtMatmul(handle, desc, alpha, A, Adesc, B, Bdesc, beta, C, Cdesc, D, Ddesc, algo*,
        //              workspace, size_t workspaceSize, stream)
        ltMatmul = b.lt("cublasLtMatmul", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
        b.failIfMissing();
    }

    /** The loaded libraries, or {@link IllegalStateException} with the reason there are none. */
    static CublasLibrary get() {
        Loaded loaded = Holder.LOADED;
        if (loaded.library() == null) {
            throw new IllegalStateException("no cuBLAS: " + ((Availability.Unavailable) loaded.availability()).reason());
        }
        return loaded.library();
    }

    /** The cuBLAS version and libraries, or why cuBLAS cannot be used. Never throws. */
    static Availability availability() {
        return Holder.LOADED.availability();
    }

    /** Why cuBLAS cannot be used (which libraries were tried); empty when it can. */
    static Optional<String> unavailableReason() {
        return availability() instanceof Availability.Unavailable u ? Optional.of(u.reason()) : Optional.empty();
    }

    /** The loaded cuBLAS's version, "13.0.2" style. @throws IllegalStateException when there is none */
    static String version() {
        return switch (availability()) {
            case Availability.Available a -> a.version();
            case Availability.Unavailable u -> throw new IllegalStateException("no cuBLAS: " + u.reason());
        };
    }

    /** e.g. "libcublas.so.13, libcublasLt.so.13". */
    String libraries() {
        return libraries;
    }

    /** The library pairs for this OS, newest major first; both of a pair come from the same major. */
    static List<Candidate> candidates() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        if (os.contains("windows")) {
            return List.of(new Candidate("cublas64_13.dll", "cublasLt64_13.dll"),
                    new Candidate("cublas64_12.dll", "cublasLt64_12.dll"));
        }
        return List.of(new Candidate("libcublas.so.13", "libcublasLt.so.13"),
                new Candidate("libcublas.so.12", "libcublasLt.so.12"));
    }

    /**
     * Where to look for a candidate pair that the library search path does not have, in order, the
     * folders that exist only: {@code -Ddistilbert.cublas.dir} and {@code $DISTILBERT_CUBLAS_DIR}
     * (each a list joined by the path separator); {@code $CUDA_HOME}, {@code $CUDA_PATH} and
     * {@code $CUDA_ROOT}; {@code /usr/local/cuda}; then {@code /usr/local/cuda-N.M}, newest first. In
     * each toolkit its {@code lib64} and {@code targets/<arch>-linux/lib}. The CUDA toolkit installs
     * cuBLAS there without always adding it to the loader's cache, and machines whose CUDA came with
     * PyTorch have it only in the nvidia-cublas wheel, whose {@code lib} folder the property can name.
     *
     * @param env the environment ({@code System::getenv})
     * @param property the system property's value, or null
     * @param osArch {@code os.arch}: amd64 / x86_64, or aarch64 (CUDA's {@code sbsa})
     */
    static List<Path> searchFolders(UnaryOperator<String> env, String property, String osArch) {
        Set<Path> folders = new LinkedHashSet<>();
        for (String list : new String[] {property, env.apply(FOLDER_ENV)}) {
            if (list != null && !list.isBlank()) {
                for (String f : list.split(java.io.File.pathSeparator)) {
                    if (!f.isBlank()) {
                        folders.add(Path.of(f.strip()));
                    }
                }
            }
        }
        String target = switch (osArch) {
            case "amd64", "x86_64" -> "x86_64-linux";
            case "aarch64", "arm64" -> "sbsa-linux";
            default -> null;
        };
        List<Path> toolkits = new ArrayList<>();
        for (String var : new String[] {"CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"}) {
            String home = env.apply(var);
            if (home != null && !home.isBlank()) {
                toolkits.add(Path.of(home.strip()));
            }
        }
        toolkits.add(Path.of("/usr/local/cuda"));
        toolkits.addAll(versionedToolkits(Path.of("/usr/local")));
        for (Path toolkit : toolkits) {
            folders.add(toolkit.resolve("lib64"));
            if (target != null) {
                folders.add(toolkit.resolve("targets").resolve(target).resolve("lib"));
            }
        }
        return folders.stream().filter(Files::isDirectory).toList();
    }

    /** {@code parent/cuda-N.M} folders, the newest version first. */
    static List<Path> versionedToolkits(Path parent) {
        try (Stream<Path> children = Files.list(parent)) {
            return children.filter(p -> p.getFileName().toString().matches("cuda-\\d+(\\.\\d+)*"))
                    .sorted(Comparator.comparing((Path p) -> versionKey(p.getFileName().toString().substring(5))).reversed())
                    .toList();
        } catch (java.io.IOException | SecurityException e) {
            return List.of();
        }
    }

    /** "13.0" -> a key that sorts numerically part by part (13.0 after 12.10). */
    private static String versionKey(String version) {
        StringBuilder key = new StringBuilder();
        for (String part : version.split("\\.")) {
            key.append(String.format("%06d", Integer.parseInt(part.length() > 6 ? part.substring(0, 6) : part)));
        }
        return key.toString();
    }

    /** {@link #load(List, List)} with the library search path only. */
    static Loaded load(List<Candidate> candidates) {
        return load(candidates, List.of());
    }

    /**
     * Tries each candidate in order, by name on the library search path, then in each of
     * {@code folders} that holds both of its files; the first that opens completely wins. Opened
     * with the global arena: a loaded cuBLAS stays for the life of the process, as the driver does.
     */
    @SuppressWarnings("restricted")
    static Loaded load(List<Candidate> candidates, List<Path> folders) {
        List<String> notFound = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        for (Candidate byName : candidates) {
            List<Candidate> tries = new ArrayList<>();
            tries.add(byName);
            for (Path folder : folders) {
                Path cublas = folder.resolve(byName.cublas()), lt = folder.resolve(byName.cublasLt());
                if (Files.exists(cublas) && Files.exists(lt)) {
                    tries.add(new Candidate(cublas.toString(), lt.toString()));
                }
            }
            for (Candidate c : tries) {
                boolean inFolder = c != byName;
                SymbolLookup cublas, lt;
                try {
                    // In a folder, cublasLt first: libcublas needs it, and the loader finds it among
                    // the loaded libraries by its soname even where the folder is not on its path.
                    lt = inFolder ? SymbolLookup.libraryLookup(Path.of(c.cublasLt()), Arena.global()) : null;
                    cublas = inFolder ? SymbolLookup.libraryLookup(Path.of(c.cublas()), Arena.global())
                            : SymbolLookup.libraryLookup(c.cublas(), Arena.global());
                } catch (IllegalArgumentException e) {
                    if (inFolder) {
                        problems.add(c.cublas() + " and " + c.cublasLt() + " are there but did not open: " + e.getMessage());
                    } else {
                        notFound.add(c.cublas());
                    }
                    continue;
                } catch (IllegalCallerException e) {
                    return unavailable("native access is not enabled for distilbert-cuda; run java with "
                            + "--enable-native-access=ALL-UNNAMED: " + e.getMessage());
                }
                if (!inFolder) {
                    try {
                        lt = SymbolLookup.libraryLookup(c.cublasLt(), Arena.global());
                    } catch (IllegalArgumentException e) {
                        problems.add(c.cublas() + " opened but " + c.cublasLt() + " did not (both come with the same "
                                + "cuBLAS release)");
                        continue;
                    }
                }
                Loaded loaded = bindAll(c, cublas, lt, problems);
                if (loaded != null) {
                    return loaded;
                }
            }
        }
        String where = " from the library search path (LD_LIBRARY_PATH, the ldconfig cache)"
                + (folders.isEmpty() ? "" : " or " + folders.stream().map(Path::toString)
                        .collect(java.util.stream.Collectors.joining(", ")));
        String missing = (notFound.size() == 1 ? notFound.getFirst() + " could not be opened"
                : "none of " + String.join(", ", notFound) + " could be opened") + where;
        if (problems.isEmpty()) {
            return unavailable(missing + ": install cuBLAS of CUDA 13 or 12 (the CUDA toolkit's libcublas), or name "
                    + "the folder that holds it (the nvidia-cublas wheel's lib folder, say) with -D" + FOLDER_PROPERTY
                    + " or $" + FOLDER_ENV);
        }
        return unavailable(String.join("; ", problems) + (notFound.isEmpty() ? "" : "; " + missing));
    }

    /** The library bound and its version read, or null with the reason added to {@code problems}. */
    private static Loaded bindAll(Candidate c, SymbolLookup cublas, SymbolLookup lt, List<String> problems) {
        CublasLibrary library;
        try {
            library = new CublasLibrary(c, cublas, lt);
        } catch (MissingSymbols e) {
            problems.add(e.getMessage());
            return null;
        }
        try {
            return new Loaded(library, new Availability.Available(library.readVersion(), library.libraries()));
        } catch (CublasException | LinkageError e) {
            problems.add(library.libraries() + " opened but cublasGetProperty failed: " + e.getMessage());
            return null;
        }
    }

    private static Loaded unavailable(String reason) {
        return new Loaded(null, new Availability.Unavailable(reason));
    }

    private String readVersion() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = arena.allocate(JAVA_INT);
            int[] parts = new int[3];
            int[] properties = {MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL};
            for (int i = 0; i < 3; i++) {
                check(getProperty(properties[i], value), "cublasGetProperty(" + properties[i] + ")");
                parts[i] = value.get(JAVA_INT, 0);
            }
            return parts[0] + "." + parts[1] + "." + parts[2];
        }
    }

    // ---- Status ---------------------------------------------------------------------------------

    /** Throws {@link CublasException} naming {@code call} unless {@code status} is success. */
    void check(int status, String call) {
        if (status != STATUS_SUCCESS) {
            throw new CublasException(call, status, statusName(status));
        }
    }

    /** The table's name; for a status newer than the table, the library's own (cublasGetStatusName). */
    @SuppressWarnings("restricted")
    String statusName(int status) {
        String known = CublasException.knownStatusName(status);
        if (known != null || cublasGetStatusName == null) {
            return known != null ? known : "CUBLAS_STATUS_UNKNOWN";
        }
        try {
            MemorySegment name = (MemorySegment) cublasGetStatusName.invokeExact(status);
            // A static C string: readable up to its terminating NUL.
            return name.equals(MemorySegment.NULL) ? "CUBLAS_STATUS_UNKNOWN"
                    : name.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "CUBLAS_STATUS_UNKNOWN";
        }
    }

    // ---- cuBLAS ---------------------------------------------------------------------------------
    // One wrapper per function: invokeExact needs the exact static types, which these signatures fix.

    int create(MemorySegment handleOut) {
        try {
            return (int) cublasCreate.invokeExact(handleOut);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int destroy(MemorySegment handle) {
        try {
            return (int) cublasDestroy.invokeExact(handle);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int setStream(MemorySegment handle, MemorySegment stream) {
        try {
            return (int) cublasSetStream.invokeExact(handle, stream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int setMathMode(MemorySegment handle, int mode) {
        try {
            return (int) cublasSetMathMode.invokeExact(handle, mode);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int setWorkspace(MemorySegment handle, MemorySegment workspace, long bytes) {
        try {
            return (int) cublasSetWorkspace.invokeExact(handle, workspace, bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int getProperty(int property, MemorySegment valueOut) {
        try {
            return (int) cublasGetProperty.invokeExact(property, valueOut);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int gemmEx(MemorySegment handle, int transa, int transb, int m, int n, int k,
               MemorySegment alpha, MemorySegment a, int aType, int lda,
               MemorySegment b, int bType, int ldb, MemorySegment beta,
               MemorySegment c, int cType, int ldc, int computeType, int algo) {
        try {
            return (int) cublasGemmEx.invokeExact(handle, transa, transb, m, n, k, alpha, a, aType, lda,
                    b, bType, ldb, beta, c, cType, ldc, computeType, algo);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int gemmStridedBatchedEx(MemorySegment handle, int transa, int transb, int m, int n, int k,
                             MemorySegment alpha, MemorySegment a, int aType, int lda, long strideA,
                             MemorySegment b, int bType, int ldb, long strideB, MemorySegment beta,
                             MemorySegment c, int cType, int ldc, long strideC, int batchCount,
                             int computeType, int algo) {
        try {
            return (int) cublasGemmStridedBatchedEx.invokeExact(handle, transa, transb, m, n, k,
                    alpha, a, aType, lda, strideA, b, bType, ldb, strideB, beta,
                    c, cType, ldc, strideC, batchCount, computeType, algo);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- cuBLASLt -------------------------------------------------------------------------------

    int ltCreate(MemorySegment handleOut) {
        try {
            return (int) ltCreate.invokeExact(handleOut);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int ltDestroy(MemorySegment handle) {
        try {
            return (int) ltDestroy.invokeExact(handle);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int matmulDescCreate(MemorySegment descOut, int computeType, int scaleType) {
        try {
            return (int) ltMatmulDescCreate.invokeExact(descOut, computeType, scaleType);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int matmulDescDestroy(MemorySegment desc) {
        try {
            return (int) ltMatmulDescDestroy.invokeExact(desc);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int matmulDescSetAttribute(MemorySegment desc, int attribute, MemorySegment value, long bytes) {
        try {
            return (int) ltMatmulDescSetAttribute.invokeExact(desc, attribute, value, bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int matrixLayoutCreate(MemorySegment layoutOut, int type, long rows, long cols, long ld) {
        try {
            return (int) ltMatrixLayoutCreate.invokeExact(layoutOut, type, rows, cols, ld);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int matrixLayoutDestroy(MemorySegment layout) {
        try {
            return (int) ltMatrixLayoutDestroy.invokeExact(layout);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int preferenceCreate(MemorySegment preferenceOut) {
        try {
            return (int) ltMatmulPreferenceCreate.invokeExact(preferenceOut);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int preferenceDestroy(MemorySegment preference) {
        try {
            return (int) ltMatmulPreferenceDestroy.invokeExact(preference);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int preferenceSetAttribute(MemorySegment preference, int attribute, MemorySegment value, long bytes) {
        try {
            return (int) ltMatmulPreferenceSetAttribute.invokeExact(preference, attribute, value, bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int algoGetHeuristic(MemorySegment handle, MemorySegment desc, MemorySegment aLayout, MemorySegment bLayout,
                         MemorySegment cLayout, MemorySegment dLayout, MemorySegment preference,
                         int requested, MemorySegment results, MemorySegment returnedOut) {
        try {
            return (int) ltMatmulAlgoGetHeuristic.invokeExact(handle, desc, aLayout, bLayout, cLayout, dLayout,
                    preference, requested, results, returnedOut);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int matmul(MemorySegment handle, MemorySegment desc, MemorySegment alpha,
               MemorySegment a, MemorySegment aLayout, MemorySegment b, MemorySegment bLayout,
               MemorySegment beta, MemorySegment c, MemorySegment cLayout, MemorySegment d, MemorySegment dLayout,
               MemorySegment algo, MemorySegment workspace, long workspaceBytes, MemorySegment stream) {
        try {
            return (int) ltMatmul.invokeExact(handle, desc, alpha, a, aLayout, b, bLayout, beta,
                    c, cLayout, d, dLayout, algo, workspace, workspaceBytes, stream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Downcalls throw nothing checked; anything that does come out is passed on unchanged. */
    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException("unexpected checked exception from a native call", t);
    }

    /** Looks symbols up, remembering every missing one so the reason lists them all at once. */
    private static final class Binder {
        private final Candidate names;
        private final SymbolLookup cublas;
        private final SymbolLookup lt;
        private final List<String> missing = new ArrayList<>();

        Binder(Candidate names, SymbolLookup cublas, SymbolLookup lt) {
            this.names = names;
            this.cublas = cublas;
            this.lt = lt;
        }

        MethodHandle cublas(String name, FunctionDescriptor descriptor) {
            return bind(cublas, names.cublas(), name, descriptor, true);
        }

        MethodHandle lt(String name, FunctionDescriptor descriptor) {
            return bind(lt, names.cublasLt(), name, descriptor, true);
        }

        MethodHandle optional(String name, FunctionDescriptor descriptor) {
            return bind(cublas, names.cublas(), name, descriptor, false);
        }

        @SuppressWarnings("restricted")
        private MethodHandle bind(SymbolLookup lookup, String library, String name, FunctionDescriptor descriptor,
                                  boolean required) {
            Optional<MemorySegment> symbol = lookup.find(name);
            if (symbol.isEmpty()) {
                if (required) {
                    missing.add(library + ": " + name);
                }
                return null;
            }
            return Linker.nativeLinker().downcallHandle(symbol.get(), descriptor);
        }

        void failIfMissing() {
            if (!missing.isEmpty()) {
                throw new MissingSymbols("the cuBLAS found lacks functions this program calls: "
                        + String.join(", ", missing));
            }
        }
    }

    private static final class MissingSymbols extends RuntimeException {
        private static final long serialVersionUID = 1L;

        MissingSymbols(String message) {
            super(message);
        }
    }
}
