package distilbert.model;

/**
 * {@code c = a·b + bias} in plain Java (see {@link MatmulKernel}), b in panels of {@link #NR}
 * columns: the {@link VectorGemm} contract for JVMs without the Vector API. A 4 × 4 tile of c is
 * held in 16 local accumulators while p runs over k: each step loads 4 values of a and 4 of b (one
 * row of a panel, contiguous) for 16 multiply-adds; the bias is added on the store.
 */
final class ScalarGemm {

    private ScalarGemm() {
    }

    /** Columns of a packed panel. */
    static final int NR = 4;

    /** See {@link MatmulKernel#gemm}; here {@code nr = }{@link #NR}. */
    static void gemm(float[] c, int co, int ldc, float[] a, int ao, int lda, float[] b, int bo, int ldb, int ps,
                     float[] bias, int biasOff, int n, int m, int k) {
        int n4 = n - n % 4;
        for (int j = 0; j < m; j += NR) {
            int cols = Math.min(NR, m - j);
            int panel = bo + j * ps;
            int i = 0;
            if (cols == NR) {
                for (; i < n4; i += 4) {
                    tile4x4(c, co + i * ldc + j, ldc, a, ao + i * lda, lda, b, panel, ldb, k, bias, biasOff + j);
                }
            }
            for (; i < n; i++) {
                for (int jj = 0; jj < cols; jj++) {
                    float s = 0;
                    for (int p = 0; p < k; p++) {
                        s += a[ao + i * lda + p] * b[panel + p * ldb + jj];
                    }
                    c[co + i * ldc + j + jj] = s + (bias == null ? 0f : bias[biasOff + j + jj]);
                }
            }
        }
    }

    private static void tile4x4(float[] c, int co, int ldc, float[] a, int ao, int lda, float[] b, int bo, int ldb,
                                int k, float[] bias, int biasOff) {
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        int a0 = ao, a1 = ao + lda, a2 = ao + 2 * lda, a3 = ao + 3 * lda;
        for (int p = 0; p < k; p++) {
            int bp = bo + p * ldb;
            float w0 = b[bp], w1 = b[bp + 1], w2 = b[bp + 2], w3 = b[bp + 3];
            float x = a[a0 + p];
            c00 += x * w0; c01 += x * w1; c02 += x * w2; c03 += x * w3;
            x = a[a1 + p];
            c10 += x * w0; c11 += x * w1; c12 += x * w2; c13 += x * w3;
            x = a[a2 + p];
            c20 += x * w0; c21 += x * w1; c22 += x * w2; c23 += x * w3;
            x = a[a3 + p];
            c30 += x * w0; c31 += x * w1; c32 += x * w2; c33 += x * w3;
        }
        float d0 = 0, d1 = 0, d2 = 0, d3 = 0;
        if (bias != null) {
            d0 = bias[biasOff]; d1 = bias[biasOff + 1]; d2 = bias[biasOff + 2]; d3 = bias[biasOff + 3];
        }
        c[co] = c00 + d0; c[co + 1] = c01 + d1; c[co + 2] = c02 + d2; c[co + 3] = c03 + d3;
        co += ldc;
        c[co] = c10 + d0; c[co + 1] = c11 + d1; c[co + 2] = c12 + d2; c[co + 3] = c13 + d3;
        co += ldc;
        c[co] = c20 + d0; c[co + 1] = c21 + d1; c[co + 2] = c22 + d2; c[co + 3] = c23 + d3;
        co += ldc;
        c[co] = c30 + d0; c[co + 1] = c31 + d1; c[co + 2] = c32 + d2; c[co + 3] = c33 + d3;
    }
}
