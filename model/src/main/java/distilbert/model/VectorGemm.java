package distilbert.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code c = a·bᵀ} with the Vector API (see {@link MatmulKernel}): the {@link ScalarGemm} tile with
 * each accumulator a vector of lanes over p. Per step: 4 vector loads of b, 4 of a, 16 FMAs; the
 * lanes are summed once per tile at the end. The remainder of k past the last full vector is done
 * in scalar code, as are the edge rows and columns.
 *
 * <p>Only loaded when {@code jdk.incubator.vector} is in the boot layer.
 */
final class VectorGemm {

    private VectorGemm() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

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
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        int a0 = ao, a1 = ao + lda, a2 = ao + 2 * lda, a3 = ao + 3 * lda;
        int b0 = bo, b1 = bo + ldb, b2 = bo + 2 * ldb, b3 = bo + 3 * ldb;
        int kv = k - k % L;
        for (int p = 0; p < kv; p += L) {
            FloatVector w0 = FloatVector.fromArray(S, b, b0 + p);
            FloatVector w1 = FloatVector.fromArray(S, b, b1 + p);
            FloatVector w2 = FloatVector.fromArray(S, b, b2 + p);
            FloatVector w3 = FloatVector.fromArray(S, b, b3 + p);
            FloatVector x = FloatVector.fromArray(S, a, a0 + p);
            c00 = x.fma(w0, c00); c01 = x.fma(w1, c01); c02 = x.fma(w2, c02); c03 = x.fma(w3, c03);
            x = FloatVector.fromArray(S, a, a1 + p);
            c10 = x.fma(w0, c10); c11 = x.fma(w1, c11); c12 = x.fma(w2, c12); c13 = x.fma(w3, c13);
            x = FloatVector.fromArray(S, a, a2 + p);
            c20 = x.fma(w0, c20); c21 = x.fma(w1, c21); c22 = x.fma(w2, c22); c23 = x.fma(w3, c23);
            x = FloatVector.fromArray(S, a, a3 + p);
            c30 = x.fma(w0, c30); c31 = x.fma(w1, c31); c32 = x.fma(w2, c32); c33 = x.fma(w3, c33);
        }
        store(c, co, c00, c01, c02, c03, a, a0, b, b0, b1, b2, b3, kv, k);
        store(c, co + ldc, c10, c11, c12, c13, a, a1, b, b0, b1, b2, b3, kv, k);
        store(c, co + 2 * ldc, c20, c21, c22, c23, a, a2, b, b0, b1, b2, b3, kv, k);
        store(c, co + 3 * ldc, c30, c31, c32, c33, a, a3, b, b0, b1, b2, b3, kv, k);
    }

    /** One row of the tile: sum the lanes, add the scalar remainder p in [kv, k). */
    private static void store(float[] c, int co, FloatVector v0, FloatVector v1, FloatVector v2, FloatVector v3,
                              float[] a, int ar, float[] b, int b0, int b1, int b2, int b3, int kv, int k) {
        float[] lanes = new float[4 * L];
        v0.intoArray(lanes, 0);
        v1.intoArray(lanes, L);
        v2.intoArray(lanes, 2 * L);
        v3.intoArray(lanes, 3 * L);
        float s0 = sum(lanes, 0), s1 = sum(lanes, L), s2 = sum(lanes, 2 * L), s3 = sum(lanes, 3 * L);
        for (int p = kv; p < k; p++) {
            float x = a[ar + p];
            s0 += x * b[b0 + p];
            s1 += x * b[b1 + p];
            s2 += x * b[b2 + p];
            s3 += x * b[b3 + p];
        }
        c[co] = s0;
        c[co + 1] = s1;
        c[co + 2] = s2;
        c[co + 3] = s3;
    }

    /**
     * The lanes summed in lane order. {@code reduceLanes(ADD)} leaves the order open, and the JIT's
     * intrinsic and the interpreter's fallback do sum differently, so results depended on when a
     * method got compiled; this order is the same everywhere.
     */
    private static float sum(float[] lanes, int from) {
        float s = 0f;
        for (int i = from; i < from + L; i++) s += lanes[i];
        return s;
    }

    private static float dot(float[] a, int ao, float[] b, int bo, int k) {
        int kv = k - k % L;
        FloatVector acc = FloatVector.zero(S);
        for (int p = 0; p < kv; p += L) {
            acc = FloatVector.fromArray(S, a, ao + p).fma(FloatVector.fromArray(S, b, bo + p), acc);
        }
        float[] lanes = new float[L];
        acc.intoArray(lanes, 0);
        float s = sum(lanes, 0);
        for (int p = kv; p < k; p++) {
            s += a[ao + p] * b[bo + p];
        }
        return s;
    }
}
