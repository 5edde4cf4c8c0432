package distilbert.model;

/**
 * The inner kernel of every CPU matrix product:
 * {@code c[i, j] = Σ_p a[i, p]·b[j, p]} for {@code i < n, j < m, p < k}, over row-major blocks with
 * leading dimensions (so a head's slice of Q or K is a block too). Both kernels compute the same
 * 4 × 4 register tile with float accumulation along p; they differ only in using SIMD lanes.
 *
 * <ul>
 *   <li>{@link #VECTOR}: {@code jdk.incubator.vector}, one FMA per lane, ~15× the scalar kernel on
 *       an AVX-512 core. Needs the JVM flag {@code --add-modules jdk.incubator.vector}.</li>
 *   <li>{@link #SCALAR}: plain Java, for JVMs started without that flag.</li>
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

    /** c = a·bᵀ on the given blocks (overwrites c). Serial: callers split the work. */
    void abt(float[] c, int cOff, int ldc, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
             int n, int m, int k) {
        switch (this) {
            case SCALAR -> ScalarGemm.abt(c, cOff, ldc, a, aOff, lda, b, bOff, ldb, n, m, k);
            // VectorGemm is only loaded here, so a JVM without the module never touches it.
            case VECTOR -> VectorGemm.abt(c, cOff, ldc, a, aOff, lda, b, bOff, ldb, n, m, k);
        }
    }
}
