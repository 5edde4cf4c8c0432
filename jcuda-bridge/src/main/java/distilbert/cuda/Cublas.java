package distilbert.cuda;

import static distilbert.cuda.CublasLibrary.COMPUTE_32F;
import static distilbert.cuda.CublasLibrary.CUDA_R_32F;
import static distilbert.cuda.CublasLibrary.GEMM_DEFAULT;
import static distilbert.cuda.CublasLibrary.OP_N;
import static distilbert.cuda.CublasLibrary.OP_T;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One cuBLAS handle and one cuBLASLt handle on a {@link CudaContext}'s stream, with a 32 MiB
 * workspace that both use (one stream, so their uses never overlap). The matrix products of the
 * model go through here: {@link #linear} for every Linear layer, {@link #gemmStridedBatchedRowMajor}
 * for attention.
 *
 * <p>Arguments are raw device addresses (typed overloads live with the device arrays). Every call is
 * queued on the context's stream and returns at once; results are there for the next kernel on the
 * stream, and for the host after {@link CudaContext#synchronize()}.
 *
 * <p>Scalars: alpha and beta are host floats (CUBLAS_POINTER_MODE_HOST, scale type CUDA_R_32F for both
 * compute types), read by cuBLAS before the call returns.
 *
 * <p>Threads: one Cublas per CudaContext, used by one thread at a time, the thread that has the
 * context current (see {@link CudaContext#makeCurrent}). The plan cache and the argument memory are
 * not synchronized. Closing the context closes its Cublas first.
 */
public final class Cublas implements AutoCloseable {

    /** The workspace cuBLAS and cuBLASLt may use: NVIDIA's recommendation for Hopper (4 MiB suffices before). */
    public static final long WORKSPACE_BYTES = 32L << 20;

    /** Element type of A, B and C; the {@code cudaDataType} value of library_types.h. */
    public enum DataType {
        F32(0, 4, 0x3F80_0000, "f32"),
        F16(2, 2, 0x3C00, "f16"),
        BF16(14, 2, 0x3F80, "bf16");

        final int cudaValue;
        final int bytes;
        /** 1.0 in this type, as the bit pattern cuMemsetD32/D16 writes. */
        final int oneBits;
        final String label;

        DataType(int cudaValue, int bytes, int oneBits, String label) {
            this.cudaValue = cudaValue;
            this.bytes = bytes;
            this.oneBits = oneBits;
            this.label = label;
        }

        /** Bytes per element. */
        public int bytes() {
            return bytes;
        }

        /** The cuBLAS type of a float {@link ElementType}. */
        public static DataType of(ElementType type) {
            return switch (type) {
                case F32 -> F32;
                case F16 -> F16;
                case BF16 -> BF16;
                default -> throw new IllegalArgumentException(type + " is not a type cuBLAS multiplies");
            };
        }
    }

    /** How products are summed; the {@code cublasComputeType_t} value of cublas_api.h. Accumulation is float32 in both. */
    public enum Compute {
        /** CUBLAS_COMPUTE_32F: float32 products of float32 data; tensor cores for 16-bit data. */
        FP32(68, "fp32"),
        /** CUBLAS_COMPUTE_32F_FAST_TF32: float32 data rounded to TF32 (10-bit mantissa) for tensor cores. F32 only. */
        TF32(77, "tf32");

        final int cublasValue;
        final String label;

        Compute(int cublasValue, String label) {
            this.cublasValue = cublasValue;
            this.label = label;
        }
    }

    /** Which library computed a {@link #linear}: cuBLASLt with the bias in its epilogue, or cublasGemmEx. */
    public enum Route { LT, GEMM_EX }

    private final CudaContext context;
    private final CublasLibrary lib;
    /** Shared, not confined: close may come from another thread than the calls (CudaContext allows that). */
    private final Arena arena = Arena.ofShared();
    private final MemorySegment stream;
    private final long workspaceAddress;
    private final MemorySegment workspace;
    private final MemorySegment handle;
    private final MemorySegment ltHandle;

    // Argument memory, reused call after call (one thread at a time, see the class comment).
    private final MemorySegment one;
    private final MemorySegment zero;
    private final MemorySegment alpha;
    private final MemorySegment beta;
    private final MemorySegment attribute;
    private final MemorySegment handleOut;
    private final MemorySegment countOut;
    private final MemorySegment heuristic;

    /** The cuBLASLt descriptors and algorithm chosen per Linear shape; repeated shapes query nothing. */
    /**
     * Lt plans by shape, least recently used first; past {@link #MAX_PLANS} the eldest is destroyed
     * (packed batches vary N with every batch, and a server runs for days).
     */
    private final LinkedHashMap<LinearKey, LtLinear> linearPlans = new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<LinearKey, LtLinear> eldest) {
            if (size() <= MAX_PLANS) {
                return false;
            }
            LtLinear plan = eldest.getValue();
            if (plan.supported()) {
                destroyQuietly(plan.desc, plan.a, plan.b, plan.d);
            }
            return true;
        }
    };
    /** Lt plans kept: a few shapes per layer type times the batch shapes in use. */
    static final int MAX_PLANS = 512;
    /** Per DataType: a device vector of ones for the bias in the GemmEx route (allocated on first need). */
    private final long[] onesAddress = new long[DataType.values().length];
    private final int[] onesLength = new int[DataType.values().length];
    private boolean forceGemmEx;
    private boolean closed;

    private Cublas(CudaContext context, CublasLibrary lib, long workspaceAddress) {
        this.context = context;
        this.lib = lib;
        this.workspaceAddress = workspaceAddress;
        this.workspace = MemorySegment.ofAddress(workspaceAddress);
        this.stream = MemorySegment.ofAddress(context.streamHandle());
        one = arena.allocate(JAVA_FLOAT);
        one.set(JAVA_FLOAT, 0, 1f);
        zero = arena.allocate(JAVA_FLOAT);
        zero.set(JAVA_FLOAT, 0, 0f);
        alpha = arena.allocate(JAVA_FLOAT);
        beta = arena.allocate(JAVA_FLOAT);
        attribute = arena.allocate(JAVA_LONG);
        handleOut = arena.allocate(ADDRESS);
        countOut = arena.allocate(JAVA_INT);
        heuristic = arena.allocate(CublasLibrary.HEURISTIC_RESULT);

        MemorySegment created = null;
        try {
            lib.check(lib.create(handleOut), "cublasCreate_v2");
            created = handleOut.get(ADDRESS, 0);
            lib.check(lib.setStream(created, stream), "cublasSetStream_v2");
            // cublasSetStream resets the handle's workspace to cuBLAS's own pool: set ours after it.
            lib.check(lib.setWorkspace(created, workspace, WORKSPACE_BYTES),
                    "cublasSetWorkspace_v2(" + WORKSPACE_BYTES + " bytes)");
            // Precision comes from each call's compute type, never from a handle-wide mode.
            lib.check(lib.setMathMode(created, CublasLibrary.DEFAULT_MATH), "cublasSetMathMode(CUBLAS_DEFAULT_MATH)");
            lib.check(lib.ltCreate(handleOut), "cublasLtCreate");
        } catch (RuntimeException e) {
            if (created != null) {
                lib.destroy(created);
            }
            arena.close();
            throw e;
        }
        handle = created;
        ltHandle = handleOut.get(ADDRESS, 0);
    }

    /**
     * Creates the handles on {@code context}'s stream and allocates the workspace.
     *
     * @throws IllegalStateException when no cuBLAS can be loaded (the reason names the libraries tried)
     * @throws CublasException when cuBLAS cannot create its handles
     */
    public static Cublas create(CudaContext context) {
        context.ensureOpen();
        CublasLibrary lib = CublasLibrary.get();
        long workspace = context.allocateBytes(WORKSPACE_BYTES, "the cuBLAS workspace");
        Cublas cublas;
        try {
            cublas = new Cublas(context, lib, workspace);
        } catch (RuntimeException e) {
            context.freeBytes(workspace, WORKSPACE_BYTES);
            throw e;
        }
        // Closed with the context if not before, ahead of the memory it uses.
        context.own(cublas);
        return cublas;
    }

    /** The cuBLAS version in use, e.g. "13.0.2". */
    public String version() {
        return CublasLibrary.version();
    }

    /**
     * With {@code true}, {@link #linear} skips cuBLASLt and always takes the cublasGemmEx route, so
     * tests and benchmarks can compare the two.
     */
    public void forceGemmEx(boolean force) {
        this.forceGemmEx = force;
    }

    public boolean gemmExForced() {
        return forceGemmEx;
    }

    /**
     * The Linear layer {@code out[N,M] = inp[N,K] · weight[M,K]ᵀ + bias[M]}, all row-major and
     * packed, all of {@code type} (the bias too); {@code bias == 0} for none. The bias is always
     * applied, whichever route computes it:
     *
     * <ul>
     *   <li>{@link Route#LT}: cublasLtMatmul with CUBLASLT_EPILOGUE_BIAS, the algorithm chosen by the
     *       cuBLASLt heuristic once per (shape, types, bias, pointer alignments) and cached.
     *   <li>{@link Route#GEMM_EX}, where cuBLASLt offers no algorithm or {@link #forceGemmEx} is set:
     *       {@code out} is first filled with the bias rows (the rank-1 product bias·1ᵀ, exact in every
     *       type), then cublasGemmEx adds the product with beta = 1. Same result: the float32 sum plus
     *       the bias, rounded once to {@code type}.
     * </ul>
     *
     * <p>In column-major terms (how cuBLAS sees it): {@code D(M×N, ld M) = op_T(weight as K×M, ld K) ·
     * op_N(inp as K×N, ld K)}, the bias one value per row of D; see {@link GemmPlan#linear}.
     *
     * @param out device address of {@code [N, M]}; must not overlap the inputs
     * @param inp device address of {@code [N, K]}
     * @param weight device address of {@code [M, K]} (HF's nn.Linear layout: out_features × in_features)
     * @param bias device address of {@code [M]}, or 0
     * @return the route that computed it (for tests and benchmarks; callers need not look)
     * @throws IllegalArgumentException for non-positive sizes, null or misaligned addresses, TF32 with 16-bit data
     */
    public Route linear(long out, long inp, long weight, long bias, int N, int K, int M, DataType type,
                        Compute compute) {
        ensureOpen();
        requireSupported(type, compute);
        requireAddress(out, "out", type);
        requireAddress(inp, "inp", type);
        requireAddress(weight, "weight", type);
        if (bias != 0) {
            requireAddress(bias, "bias", type);
        }
        GemmPlan plan = GemmPlan.linear(N, K, M);
        // cuBLAS's A is the weight, its B the input (GemmPlan.linear).
        if (!forceGemmEx) {
            LinearKey key = new LinearKey(N, K, M, type, compute, bias != 0,
                    alignment(weight), alignment(inp), alignment(out), alignment(bias));
            LtLinear lt = linearPlans.get(key);
            if (lt == null) {
                lt = createLtLinear(key, plan, bias);
                linearPlans.put(key, lt);
            }
            if (lt.supported()) {
                if (bias != 0 && bias != lt.biasPointer) {
                    setDescPointer(lt.desc, CublasLibrary.DESC_BIAS_POINTER, bias, key);
                    lt.biasPointer = bias;
                }
                int status = lib.matmul(ltHandle, lt.desc, one, at(weight), lt.a, at(inp), lt.b, zero,
                        at(out), lt.d, at(out), lt.d, lt.algo, workspace, WORKSPACE_BYTES, stream);
                if (status != CublasLibrary.STATUS_SUCCESS) {
                    lib.check(status, "cublasLtMatmul(" + key.describe() + ")");
                }
                return Route.LT;
            }
        }
        gemmExLinear(out, inp, weight, bias, plan, type, compute);
        return Route.GEMM_EX;
    }

    /**
     * The column-major cuBLAS strided-batched GEMM, for {@code i} in {@code [0, batch)}:
     * {@code C_i(m×n) = alpha · op(A_i)(m×k) · op(B_i)(k×n) + beta · C_i}, where {@code X_i} starts
     * {@code i · strideX} elements after {@code X}. A is stored {@code m×k} ({@code k×m} when
     * {@code transA}) column-major with leading dimension {@code lda}; B {@code k×n} ({@code n×k} when
     * {@code transB}) with {@code ldb}; C {@code m×n} with {@code ldc}. With {@code beta == 0}, C is
     * not read (it may hold NaN). Strides and leading dimensions are in elements.
     */
    public void gemmStridedBatched(boolean transA, boolean transB, int m, int n, int k,
                                   long A, int lda, long strideA, long B, int ldb, long strideB,
                                   long C, int ldc, long strideC, int batch,
                                   DataType type, Compute compute, float alpha, float beta) {
        ensureOpen();
        GemmPlan plan = GemmPlan.columnMajor(transA, transB, m, n, k, lda, ldb, ldc);
        stridedBatched(plan, A, strideA, B, strideB, C, strideC, batch, type, type, compute, alpha, beta);
    }

    /**
     * {@link #gemmStridedBatched} for row-major matrices, as attention uses it: for each {@code i},
     * {@code C_i[m×n] = alpha · op(A_i) · op(B_i) + beta · C_i}, A stored {@code m×k} ({@code k×m} when
     * {@code transA}) row-major with row stride {@code lda}, B {@code k×n} ({@code n×k} when
     * {@code transB}) with row stride {@code ldb}, C {@code m×n} with row stride {@code ldc}. For
     * scores = Q·Kᵀ per head: {@code transA=false, transB=true, m=T, n=T, k=HS}. Mapped to the
     * column-major call by {@link GemmPlan#rowMajor} (A and B change places, so do m and n).
     */
    public void gemmStridedBatchedRowMajor(boolean transA, boolean transB, int m, int n, int k,
                                           long A, int lda, long strideA, long B, int ldb, long strideB,
                                           long C, int ldc, long strideC, int batch,
                                           DataType type, Compute compute, float alpha, float beta) {
        gemmStridedBatchedRowMajor(transA, transB, m, n, k, A, lda, strideA, B, ldb, strideB, C, ldc, strideC, batch,
                type, type, compute, alpha, beta);
    }

    /**
     * {@link #gemmStridedBatchedRowMajor} with C of another type than A and B: a 16-bit product
     * accumulated into float32 ({@code type} BF16 or F16, {@code cType} F32: a weight's gradient in
     * mixed-precision training), which cuBLAS supports with FP32 compute. {@code cType == type} is the
     * plain call.
     */
    public void gemmStridedBatchedRowMajor(boolean transA, boolean transB, int m, int n, int k,
                                           long A, int lda, long strideA, long B, int ldb, long strideB,
                                           long C, int ldc, long strideC, int batch,
                                           DataType type, DataType cType, Compute compute, float alpha, float beta) {
        ensureOpen();
        if (cType != type && (cType != DataType.F32 || compute != Compute.FP32)) {
            throw new IllegalArgumentException("C of " + cType + " with A and B of " + type
                    + ": only float32 C with FP32 compute mixes types");
        }
        GemmPlan plan = GemmPlan.rowMajor(transA, transB, m, n, k, lda, ldb, ldc);
        stridedBatched(plan, B, strideB, A, strideA, C, strideC, batch, type, cType, compute, alpha, beta);
    }

    /** {@code a} and {@code b} are cuBLAS's A and B (already swapped for a row-major call). */
    private void stridedBatched(GemmPlan p, long a, long strideA, long b, long strideB, long c, long strideC,
                                int batch, DataType type, DataType cType, Compute compute, float alphaValue,
                                float betaValue) {
        requireSupported(type, compute);
        requireAddress(a, "A", type);
        requireAddress(b, "B", type);
        requireAddress(c, "C", cType);
        if (batch < 1) {
            throw new IllegalArgumentException("batch must be positive: " + batch);
        }
        if (strideA < 0 || strideB < 0 || strideC < 0) {
            throw new IllegalArgumentException("negative stride: A " + strideA + ", B " + strideB + ", C " + strideC);
        }
        alpha.set(JAVA_FLOAT, 0, alphaValue);
        beta.set(JAVA_FLOAT, 0, betaValue);
        int t = type.cudaValue;
        int status = lib.gemmStridedBatchedEx(handle, op(p.transA()), op(p.transB()), p.m(), p.n(), p.k(),
                alpha, at(a), t, p.lda(), strideA, at(b), t, p.ldb(), strideB, beta,
                at(c), cType.cudaValue, p.ldc(), strideC, batch, compute.cublasValue, GEMM_DEFAULT);
        if (status != CublasLibrary.STATUS_SUCCESS) {
            lib.check(status, String.format(Locale.ROOT,
                    "cublasGemmStridedBatchedEx(%s %s m=%d n=%d k=%d lda=%d ldb=%d ldc=%d strides %d %d %d batch=%d %s %s)",
                    p.transA() ? "T" : "N", p.transB() ? "T" : "N", p.m(), p.n(), p.k(), p.lda(), p.ldb(), p.ldc(),
                    strideA, strideB, strideC, batch, type == cType ? type.label : type.label + " -> " + cType.label,
                    compute.label));
        }
    }

    private void gemmExLinear(long out, long inp, long weight, long bias, GemmPlan p, DataType type, Compute compute) {
        int t = type.cudaValue;
        int status;
        if (bias != 0) {
            // out(M×N, ld M) = bias(M×1) · ones(1×N): every row of the row-major out is the bias.
            // COMPUTE_32F whatever was asked: TF32 would round the bias.
            status = lib.gemmEx(handle, OP_N, OP_N, p.m(), p.n(), 1, one, at(bias), t, p.m(),
                    at(ones(type, p.n())), t, 1, zero, at(out), t, p.ldc(), COMPUTE_32F, GEMM_DEFAULT);
            if (status != CublasLibrary.STATUS_SUCCESS) {
                lib.check(status, "cublasGemmEx(bias rows of " + describeLinear(p, type, compute, true) + ")");
            }
        }
        status = lib.gemmEx(handle, op(p.transA()), op(p.transB()), p.m(), p.n(), p.k(),
                one, at(weight), t, p.lda(), at(inp), t, p.ldb(), bias != 0 ? one : zero,
                at(out), t, p.ldc(), compute.cublasValue, GEMM_DEFAULT);
        if (status != CublasLibrary.STATUS_SUCCESS) {
            lib.check(status, "cublasGemmEx(" + describeLinear(p, type, compute, bias != 0) + ")");
        }
    }

    /**
     * Descriptors and the heuristic's algorithm for one Linear key, or {@link LtLinear#UNSUPPORTED}
     * when cuBLASLt has none (then the GemmEx route serves the key from now on).
     */
    private LtLinear createLtLinear(LinearKey key, GemmPlan p, long bias) {
        int t = key.type().cudaValue;
        String what = key.describe();
        MemorySegment desc = null;
        MemorySegment a = null;
        MemorySegment b = null;
        MemorySegment d = null;
        MemorySegment preference = null;
        boolean kept = false;
        try {
            lib.check(lib.matmulDescCreate(handleOut, key.compute().cublasValue, CUDA_R_32F),
                    "cublasLtMatmulDescCreate(" + what + ")");
            desc = handleOut.get(ADDRESS, 0);
            setDescInt(desc, CublasLibrary.DESC_TRANSA, op(p.transA()), key);
            setDescInt(desc, CublasLibrary.DESC_TRANSB, op(p.transB()), key);
            if (bias != 0) {
                setDescInt(desc, CublasLibrary.DESC_EPILOGUE, CublasLibrary.EPILOGUE_BIAS, key);
                // The heuristic reads the pointer's alignment from here.
                setDescPointer(desc, CublasLibrary.DESC_BIAS_POINTER, bias, key);
            }
            a = layout(t, p.aRows(), p.aCols(), p.lda(), what);
            b = layout(t, p.bRows(), p.bCols(), p.ldb(), what);
            d = layout(t, p.m(), p.n(), p.ldc(), what);

            lib.check(lib.preferenceCreate(handleOut), "cublasLtMatmulPreferenceCreate(" + what + ")");
            preference = handleOut.get(ADDRESS, 0);
            attribute.set(JAVA_LONG, 0, WORKSPACE_BYTES);
            lib.check(lib.preferenceSetAttribute(preference, CublasLibrary.PREF_MAX_WORKSPACE_BYTES, attribute, 8),
                    "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES, " + what + ")");
            // The buffers' actual alignments (part of the key): kernels that need more are excluded.
            setPreferenceInt(preference, CublasLibrary.PREF_MIN_ALIGNMENT_A_BYTES, key.alignWeight(), what);
            setPreferenceInt(preference, CublasLibrary.PREF_MIN_ALIGNMENT_B_BYTES, key.alignInp(), what);
            setPreferenceInt(preference, CublasLibrary.PREF_MIN_ALIGNMENT_C_BYTES, key.alignOut(), what);
            setPreferenceInt(preference, CublasLibrary.PREF_MIN_ALIGNMENT_D_BYTES, key.alignOut(), what);

            countOut.set(JAVA_INT, 0, 0);
            int status = lib.algoGetHeuristic(ltHandle, desc, a, b, d, d, preference, 1, heuristic, countOut);
            if (status == CublasLibrary.STATUS_NOT_SUPPORTED
                    || (status == CublasLibrary.STATUS_SUCCESS && countOut.get(JAVA_INT, 0) < 1)) {
                return LtLinear.UNSUPPORTED;
            }
            lib.check(status, "cublasLtMatmulAlgoGetHeuristic(" + what + ")");
            lib.check(heuristic.get(JAVA_INT, CublasLibrary.HEURISTIC_STATE_OFFSET),
                    "cublasLtMatmulAlgoGetHeuristic(" + what + ") result state");
            MemorySegment algo = arena.allocate(CublasLibrary.MATMUL_ALGO);
            algo.copyFrom(heuristic.asSlice(0, CublasLibrary.MATMUL_ALGO.byteSize()));
            kept = true;
            return new LtLinear(desc, a, b, d, algo, bias);
        } finally {
            if (preference != null) {
                lib.preferenceDestroy(preference);
            }
            if (!kept) {
                destroyQuietly(desc, a, b, d);
            }
        }
    }

    private MemorySegment layout(int type, int rows, int cols, int ld, String what) {
        lib.check(lib.matrixLayoutCreate(handleOut, type, rows, cols, ld),
                "cublasLtMatrixLayoutCreate(" + rows + "×" + cols + " ld " + ld + ", " + what + ")");
        return handleOut.get(ADDRESS, 0);
    }

    private void setDescInt(MemorySegment desc, int name, int value, LinearKey key) {
        attribute.set(JAVA_INT, 0, value);
        lib.check(lib.matmulDescSetAttribute(desc, name, attribute, 4),
                "cublasLtMatmulDescSetAttribute(" + name + " = " + value + ", " + key.describe() + ")");
    }

    private void setDescPointer(MemorySegment desc, int name, long address, LinearKey key) {
        attribute.set(ADDRESS, 0, MemorySegment.ofAddress(address));
        lib.check(lib.matmulDescSetAttribute(desc, name, attribute, ADDRESS.byteSize()),
                "cublasLtMatmulDescSetAttribute(" + name + " = 0x" + Long.toHexString(address) + ", "
                        + key.describe() + ")");
    }

    private void setPreferenceInt(MemorySegment preference, int name, int value, String what) {
        attribute.set(JAVA_INT, 0, value);
        lib.check(lib.preferenceSetAttribute(preference, name, attribute, 4),
                "cublasLtMatmulPreferenceSetAttribute(" + name + " = " + value + ", " + what + ")");
    }

    /** Destroys Lt objects on an error path: statuses ignored, the first error is the one to report. */
    private void destroyQuietly(MemorySegment desc, MemorySegment... layouts) {
        if (desc != null) {
            lib.matmulDescDestroy(desc);
        }
        for (MemorySegment layout : layouts) {
            if (layout != null) {
                lib.matrixLayoutDestroy(layout);
            }
        }
    }

    /** A device vector of at least {@code count} ones of {@code type}, grown on demand. */
    private long ones(DataType type, int count) {
        int i = type.ordinal();
        if (onesLength[i] < count) {
            if (onesAddress[i] != 0) {
                // Queued GEMMs may still read the old vector.
                context.synchronize();
                context.freeBytes(onesAddress[i], (long) onesLength[i] * type.bytes);
                onesAddress[i] = 0;
                onesLength[i] = 0;
            }
            int length = Math.max(count, 4096);
            onesAddress[i] = context.allocateBytes((long) length * type.bytes, "cuBLAS's vector of ones");
            onesLength[i] = length;
            if (type.bytes == 4) {
                context.memsetD32(onesAddress[i], type.oneBits, length);
            } else {
                context.memsetD16(onesAddress[i], (short) type.oneBits, length);
            }
        }
        return onesAddress[i];
    }

    private static void requireSupported(DataType type, Compute compute) {
        if (compute == Compute.TF32 && type != DataType.F32) {
            throw new IllegalArgumentException("TF32 compute is for F32 data; " + type
                    + " data already multiplies on tensor cores with FP32 compute");
        }
    }

    private static void requireAddress(long address, String name, DataType type) {
        if (address == 0) {
            throw new IllegalArgumentException(name + " is a null device address");
        }
        if (address % type.bytes != 0) {
            throw new IllegalArgumentException(name + " at 0x" + Long.toHexString(address) + " is not aligned to its "
                    + type.bytes + "-byte " + type + " elements");
        }
    }

    /** The largest power of two dividing {@code address}, up to 256 (cuBLASLt's default); 0 for 0. */
    static int alignment(long address) {
        return (int) Math.min(256, Long.lowestOneBit(address));
    }

    private static int op(boolean transpose) {
        return transpose ? OP_T : OP_N;
    }

    private static MemorySegment at(long address) {
        return MemorySegment.ofAddress(address);
    }

    private static String describeLinear(GemmPlan p, DataType type, Compute compute, boolean bias) {
        // p is GemmPlan.linear(N, K, M): m = M, n = N.
        return "linear N=" + p.n() + " K=" + p.k() + " M=" + p.m() + " " + type.label + " " + compute.label
                + (bias ? " +bias" : "");
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("cuBLAS handle is closed");
        }
        context.ensureOpen();
    }

    /**
     * Waits for the queued work, destroys the descriptors and handles, frees the workspace. Every
     * step is attempted even if one fails; the first failure is thrown with the others suppressed.
     *
     * @throws IllegalStateException when the context was closed first: then nothing native is released
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        context.disown(this);
        try {
            context.ensureOpen();
        } catch (IllegalStateException e) {
            // Not reachable through CudaContext.close (it closes what it owns first); kept for safety.
            arena.close();
            throw new IllegalStateException("cuBLAS handle closed after its CUDA context: its handles and workspace "
                    + "could not be released", e);
        }
        Teardown failures = new Teardown();
        failures.attempt(context::makeCurrent);
        failures.attempt(context::synchronize);
        for (LtLinear plan : linearPlans.values()) {
            if (plan.supported()) {
                failures.attempt(() -> lib.check(lib.matmulDescDestroy(plan.desc), "cublasLtMatmulDescDestroy"));
                for (MemorySegment layout : List.of(plan.a, plan.b, plan.d)) {
                    failures.attempt(() -> lib.check(lib.matrixLayoutDestroy(layout), "cublasLtMatrixLayoutDestroy"));
                }
            }
        }
        linearPlans.clear();
        failures.attempt(() -> lib.check(lib.ltDestroy(ltHandle), "cublasLtDestroy"));
        failures.attempt(() -> lib.check(lib.destroy(handle), "cublasDestroy_v2"));
        failures.attempt(() -> context.freeBytes(workspaceAddress, WORKSPACE_BYTES));
        for (DataType type : DataType.values()) {
            long address = onesAddress[type.ordinal()];
            long bytes = (long) onesLength[type.ordinal()] * type.bytes;
            failures.attempt(() -> context.freeBytes(address, bytes));
        }
        arena.close();
        failures.rethrow();
    }

    /**
     * What a cuBLASLt plan depends on. Pointer alignments are part of it because the heuristic picks
     * kernels for them; in practice a model sees one or two per shape.
     */
    private record LinearKey(int N, int K, int M, DataType type, Compute compute, boolean bias,
                             int alignWeight, int alignInp, int alignOut, int alignBias) {

        String describe() {
            return "linear N=" + N + " K=" + K + " M=" + M + " " + type.label + " " + compute.label
                    + (bias ? " +bias" : "");
        }
    }

    /** Cached cuBLASLt objects for one key; {@link #UNSUPPORTED} (all null) routes the key to GemmEx. */
    private static final class LtLinear {
        static final LtLinear UNSUPPORTED = new LtLinear(null, null, null, null, null, 0);

        final MemorySegment desc;
        final MemorySegment a;
        final MemorySegment b;
        final MemorySegment d;
        final MemorySegment algo;
        /** The bias pointer the descriptor holds now; set again only when a call brings another. */
        long biasPointer;

        LtLinear(MemorySegment desc, MemorySegment a, MemorySegment b, MemorySegment d, MemorySegment algo,
                 long biasPointer) {
            this.desc = desc;
            this.a = a;
            this.b = b;
            this.d = d;
            this.algo = algo;
            this.biasPointer = biasPointer;
        }

        boolean supported() {
            return algo != null;
        }
    }
}
