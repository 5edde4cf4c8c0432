package distilbert.model;

/**
 * The inner kernel of every CPU matrix product:
 * {@code c[i, j] = bias[j] + Σ_p a[i, p]·b[p, j]} for {@code i < n, j < m, p < k}, a and c row-major
 * blocks with leading dimensions (so a head's slice of Q is a block too), b read in panels of
 * {@link #panelWidth()} columns: column {@code j} of row {@code p} at
 * {@code b[bo + (j - j % nr)·ps + p·ldb + j % nr]}. A Linear weight {@code [m, k]} is first packed
 * ({@link #packRows}: {@code ldb = nr, ps = k}, zero columns past m); a k-major operand whose
 * width is a multiple of nr (attention's V) is read in place ({@code ldb} its row stride,
 * {@code ps = 1}). Each output is one chain of multiply-adds over p in order, float accumulation.
 *
 * <ul>
 *   <li>{@link #VECTOR}: {@code jdk.incubator.vector}, an 8-row × 2-vector tile of broadcast FMAs
 *       ({@link VectorGemm}). Needs the JVM flag {@code --add-modules jdk.incubator.vector}.</li>
 *   <li>{@link #SCALAR}: plain Java, a 4 × 4 tile ({@link ScalarGemm}), for JVMs started without that
 *       flag.</li>
 * </ul>
 */
public enum MatmulKernel {
    SCALAR,
    VECTOR;

    /** Whether this JVM resolved {@code jdk.incubator.vector} (it is not resolved unless asked for). */
    public static boolean vectorApiAvailable() {
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    }

    /** {@link #VECTOR} where the Vector API is there, else {@link #SCALAR}. */
    public static MatmulKernel best() {
        return vectorApiAvailable() ? VECTOR : SCALAR;
    }

    /** Columns of one panel of b (nr). */
    int panelWidth() {
        return switch (this) {
            case SCALAR -> ScalarGemm.NR;
            // VectorGemm is only loaded here and below, so a JVM without the module never touches it.
            case VECTOR -> VectorGemm.NR;
        };
    }

    /** Floats {@link #packRows} writes for m columns of depth k. */
    int packedSize(int m, int k) {
        int nr = panelWidth();
        return (m + nr - 1) / nr * nr * k;
    }

    /**
     * {@code b[j·ldb + p]} ({@code [m, k]}, one row per output column j: a Linear weight, or attention's
     * K) into panels at {@code out[oo]}: {@code out[oo + (j - j % nr)·k + p·nr + j % nr]}, zeros past m.
     * Read it back with {@code ldb = nr, ps = k}.
     */
    void packRows(float[] out, int oo, float[] b, int bo, int ldb, int m, int k) {
        int nr = panelWidth();
        for (int j0 = 0; j0 < m; j0 += nr) {
            int panel = oo + j0 * k, cols = Math.min(nr, m - j0);
            for (int jj = 0; jj < nr; jj++) {
                if (jj >= cols) {
                    for (int p = 0; p < k; p++) out[panel + p * nr + jj] = 0f;
                    continue;
                }
                int src = bo + (j0 + jj) * ldb;
                for (int p = 0; p < k; p++) out[panel + p * nr + jj] = b[src + p];
            }
        }
    }

    /** A k-major operand {@code b[p·ldb + j]} ({@code [k, m]}) into the same panels as {@link #packRows}. */
    void packColumns(float[] out, int oo, float[] b, int bo, int ldb, int m, int k) {
        int nr = panelWidth();
        for (int j0 = 0; j0 < m; j0 += nr) {
            int panel = oo + j0 * k, cols = Math.min(nr, m - j0);
            for (int p = 0; p < k; p++) {
                int o = panel + p * nr, src = bo + p * ldb + j0;
                for (int jj = 0; jj < cols; jj++) out[o + jj] = b[src + jj];
                for (int jj = cols; jj < nr; jj++) out[o + jj] = 0f;
            }
        }
    }

    /**
     * {@code c = a·b + bias} on the given blocks (overwrites c; {@code bias} may be null). Serial:
     * callers split the work. When {@code m} is not a multiple of the panel width the last panel
     * must be packed (its columns past m are read).
     */
    void gemm(float[] c, int co, int ldc, float[] a, int ao, int lda, float[] b, int bo, int ldb, int ps,
              float[] bias, int biasOff, int n, int m, int k) {
        switch (this) {
            case SCALAR -> ScalarGemm.gemm(c, co, ldc, a, ao, lda, b, bo, ldb, ps, bias, biasOff, n, m, k);
            case VECTOR -> VectorGemm.gemm(c, co, ldc, a, ao, lda, b, bo, ldb, ps, bias, biasOff, n, m, k);
        }
    }
}
