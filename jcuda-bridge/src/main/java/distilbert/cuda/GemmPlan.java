package distilbert.cuda;

/**
 * The arguments of one column-major cuBLAS GEMM, {@code C(m×n) = op(A)(m×k) · op(B)(k×n)}, worked
 * out from a row-major description. Pure data, so the mapping is tested on the CPU against the
 * row-major definitions (GemmPlanTest); {@link Cublas} only passes these numbers on.
 *
 * <p>The trick: a row-major {@code X[r×c]} with row stride {@code ld} is, byte for byte, the
 * column-major {@code Xᵀ[c×r]} with leading dimension {@code ld}. So the row-major
 * {@code C = op(A)·op(B)} is the column-major {@code Cᵀ = op(B)ᵀ·op(A)ᵀ}: cuBLAS gets the caller's B
 * as its A and the caller's A as its B ({@link #swapped}), m and n exchange, k and every leading
 * dimension stay.
 *
 * @param transA cuBLAS's op on its A (CUBLAS_OP_T when true)
 * @param transB cuBLAS's op on its B
 * @param m rows of C (column-major)
 * @param n columns of C
 * @param k the summed dimension
 * @param lda leading dimension of cuBLAS's A as stored: at least {@link #aRows()}
 * @param ldb leading dimension of cuBLAS's B as stored: at least {@link #bRows()}
 * @param ldc leading dimension of C: at least m
 * @param swapped whether cuBLAS's A is the caller's (row-major) B and cuBLAS's B the caller's A
 */
record GemmPlan(boolean transA, boolean transB, int m, int n, int k, int lda, int ldb, int ldc, boolean swapped) {

    GemmPlan {
        if (m < 1 || n < 1 || k < 1) {
            throw new IllegalArgumentException("GEMM dimensions must be positive: m=" + m + " n=" + n + " k=" + k);
        }
        // Named as the caller knows them: after a swap, cuBLAS's lda is the caller's ldb.
        requireLeading(swapped ? "ldb" : "lda", lda, transA ? k : m, swapped ? "B" : "A", swapped);
        requireLeading(swapped ? "lda" : "ldb", ldb, transB ? n : k, swapped ? "A" : "B", swapped);
        requireLeading("ldc", ldc, m, "C", swapped);
    }

    /**
     * The Linear layer {@code out[N,M] = inp[N,K] · weight[M,K]ᵀ}, all three row-major and packed:
     * column-major {@code D(M×N, ld M) = op_T(weight as K×M, ld K) · op_N(inp as K×N, ld K)}. cuBLAS's
     * A is the weight, its B the input; the bias of the Linear is one value per row of D.
     *
     * @param N rows of inp and out (tokens, B·T)
     * @param K input features
     * @param M output features
     */
    static GemmPlan linear(int N, int K, int M) {
        return rowMajor(false, true, N, M, K, K, K, M);
    }

    /**
     * The row-major {@code C[m×n] = op(A)·op(B)}: A is stored as {@code m×k} ({@code k×m} when
     * {@code transA}) with row stride {@code lda}, B as {@code k×n} ({@code n×k} when {@code transB})
     * with row stride {@code ldb}, C as {@code m×n} with row stride {@code ldc}.
     */
    static GemmPlan rowMajor(boolean transA, boolean transB, int m, int n, int k, int lda, int ldb, int ldc) {
        return new GemmPlan(transB, transA, n, m, k, ldb, lda, ldc, true);
    }

    /** The column-major call as given (no swap): checks the BLAS rules on the leading dimensions. */
    static GemmPlan columnMajor(boolean transA, boolean transB, int m, int n, int k, int lda, int ldb, int ldc) {
        return new GemmPlan(transA, transB, m, n, k, lda, ldb, ldc, false);
    }

    /** Rows of cuBLAS's A as stored (before op): the cuBLASLt layout's rows. */
    int aRows() {
        return transA ? k : m;
    }

    int aCols() {
        return transA ? m : k;
    }

    int bRows() {
        return transB ? n : k;
    }

    int bCols() {
        return transB ? k : n;
    }

    private static void requireLeading(String name, int ld, int rows, String matrix, boolean rowMajor) {
        if (ld < Math.max(1, rows)) {
            throw new IllegalArgumentException(name + " " + ld + " is less than the " + rows
                    + (rowMajor ? " elements in a row of " + matrix + " (row-major)"
                                : " rows of " + matrix + " as stored (column-major)"));
        }
    }
}
