package distilbert.model;

/**
 * {@code c = a·bᵀ} in plain Java (see {@link MatmulKernel}). A 4 × 4 tile of c is held in 16 local
 * accumulators while p runs over k: each step loads 4 values of a and 4 of b for 16 multiply-adds.
 * The tile loops go over columns of c outermost so that 4 rows of b stay in L1 while the rows of a
 * stream past.
 */
final class ScalarGemm {

    private ScalarGemm() {
    }

    static void abt(float[] c, int cOff, int ldc, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                    int n, int m, int k) {
        int n4 = n - n % 4;
        int m4 = m - m % 4;
        for (int j = 0; j < m4; j += 4) {
            for (int i = 0; i < n4; i += 4) {
                tile4x4(c, cOff + i * ldc + j, ldc, a, aOff + i * lda, lda, b, bOff + j * ldb, ldb, k);
            }
            for (int i = n4; i < n; i++) {
                for (int jj = j; jj < j + 4; jj++) {
                    c[cOff + i * ldc + jj] = dot(a, aOff + i * lda, b, bOff + jj * ldb, k);
                }
            }
        }
        for (int j = m4; j < m; j++) {
            for (int i = 0; i < n; i++) {
                c[cOff + i * ldc + j] = dot(a, aOff + i * lda, b, bOff + j * ldb, k);
            }
        }
    }

    private static void tile4x4(float[] c, int co, int ldc, float[] a, int ao, int lda, float[] b, int bo, int ldb,
                                int k) {
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        int a0 = ao, a1 = ao + lda, a2 = ao + 2 * lda, a3 = ao + 3 * lda;
        int b0 = bo, b1 = bo + ldb, b2 = bo + 2 * ldb, b3 = bo + 3 * ldb;
        for (int p = 0; p < k; p++) {
            float w0 = b[b0 + p], w1 = b[b1 + p], w2 = b[b2 + p], w3 = b[b3 + p];
            float x = a[a0 + p];
            c00 += x * w0; c01 += x * w1; c02 += x * w2; c03 += x * w3;
            x = a[a1 + p];
            c10 += x * w0; c11 += x * w1; c12 += x * w2; c13 += x * w3;
            x = a[a2 + p];
            c20 += x * w0; c21 += x * w1; c22 += x * w2; c23 += x * w3;
            x = a[a3 + p];
            c30 += x * w0; c31 += x * w1; c32 += x * w2; c33 += x * w3;
        }
        c[co] = c00; c[co + 1] = c01; c[co + 2] = c02; c[co + 3] = c03;
        co += ldc;
        c[co] = c10; c[co + 1] = c11; c[co + 2] = c12; c[co + 3] = c13;
        co += ldc;
        c[co] = c20; c[co + 1] = c21; c[co + 2] = c22; c[co + 3] = c23;
        co += ldc;
        c[co] = c30; c[co + 1] = c31; c[co + 2] = c32; c[co + 3] = c33;
    }

    static float dot(float[] a, int ao, float[] b, int bo, int k) {
        float s = 0;
        for (int p = 0; p < k; p++) {
            s += a[ao + p] * b[bo + p];
        }
        return s;
    }
}
