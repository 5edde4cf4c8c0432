package distilbert.cuda;

/**
 * Matrix products by their definitions, in double precision, for checking cuBLAS and the plans
 * that drive it. Written from the definitions alone, never from {@link GemmPlan}.
 */
final class GemmReference {

    private GemmReference() {}

    /**
     * Column-major, as the reference BLAS xGEMM defines it: {@code C := alpha·op(A)·op(B) + beta·C}
     * with {@code C} m×n, element (i, j) of a column-major X at {@code X[off + i + j·ld]}, and
     * {@code op(A)(i, p) = transA ? A(p, i) : A(i, p)}. With {@code beta == 0}, C is not read.
     */
    static void columnMajor(boolean transA, boolean transB, int m, int n, int k, double alpha,
                            double[] a, int aOff, int lda, double[] b, int bOff, int ldb,
                            double beta, double[] c, int cOff, int ldc) {
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < m; i++) {
                double sum = 0;
                for (int p = 0; p < k; p++) {
                    double av = transA ? a[aOff + p + i * lda] : a[aOff + i + p * lda];
                    double bv = transB ? b[bOff + j + p * ldb] : b[bOff + p + j * ldb];
                    sum += av * bv;
                }
                int at = cOff + i + j * ldc;
                c[at] = alpha * sum + (beta == 0 ? 0 : beta * c[at]);
            }
        }
    }

    /**
     * Row-major: {@code C[i][j] := alpha·Σ_p op(A)[i][p]·op(B)[p][j] + beta·C[i][j]}, element
     * (i, j) of a row-major X at {@code X[off + i·ld + j]}, {@code op(A)[i][p] = transA ? A[p][i] : A[i][p]}.
     */
    static void rowMajor(boolean transA, boolean transB, int m, int n, int k, double alpha,
                         double[] a, int aOff, int lda, double[] b, int bOff, int ldb,
                         double beta, double[] c, int cOff, int ldc) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (int p = 0; p < k; p++) {
                    double av = transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                    double bv = transB ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j];
                    sum += av * bv;
                }
                int at = cOff + i * ldc + j;
                c[at] = alpha * sum + (beta == 0 ? 0 : beta * c[at]);
            }
        }
    }

    /** The Linear layer: {@code out[n][m] = Σ_k inp[n][k]·weight[m][k] + bias[m]} (bias may be null). */
    static double[] linear(double[] inp, double[] weight, double[] bias, int N, int K, int M) {
        double[] out = new double[N * M];
        for (int n = 0; n < N; n++) {
            for (int m = 0; m < M; m++) {
                double sum = bias == null ? 0 : bias[m];
                for (int k = 0; k < K; k++) {
                    sum += inp[n * K + k] * weight[m * K + k];
                }
                out[n * M + m] = sum;
            }
        }
        return out;
    }

    static double[] abs(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = Math.abs(x[i]);
        }
        return y;
    }

    static double[] toDouble(float[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i];
        }
        return y;
    }
}
