package distilbert.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code c = a·b + bias} with the Vector API (see {@link MatmulKernel}), b in panels of {@link #NR}
 * columns: an {@link #MR}-row × 2-vector register tile of broadcast FMAs. Per step p: 2 vector loads
 * of b, 8 broadcasts of a, 16 FMAs. The accumulators lie along the output columns, so no lane is
 * ever summed: each {@code c[i, j]} is one chain of FMAs over p in order, the same in the
 * interpreter and in the JIT; the bias is added on the store. Promoted from bench's LabKernels
 * (bench/README.md): it replaced a {@code a·bᵀ} kernel with accumulators along p, whose 16 lane
 * sums per 4 × 4 tile cost as much as the FMAs at k = 384 (and more in attention, k = 32).
 *
 * <p>Every vector stays local to {@link #tile8}: passing FloatVectors (or masks) to a helper made
 * C2 keep the accumulators as objects, 3× slower in the lab.
 *
 * <p>Only loaded when {@code jdk.incubator.vector} is in the boot layer.
 */
final class VectorGemm {

    private VectorGemm() {
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** Columns of a register tile and of a packed panel: two vectors. */
    static final int NR = 2 * L;
    /** Rows of a register tile. */
    private static final int MR = 8;

    /** See {@link MatmulKernel#gemm}; here {@code nr = }{@link #NR}. */
    static void gemm(float[] c, int co, int ldc, float[] a, int ao, int lda, float[] b, int bo, int ldb, int ps,
                     float[] bias, int biasOff, int n, int m, int k) {
        float[] edge = null; // (MR, NR): a tile whose columns run past m is computed here, then copied
        for (int j = 0; j < m; j += NR) {
            int cols = Math.min(NR, m - j);
            int panel = bo + j * ps;
            int i = 0;
            if (cols == NR) {
                for (; i + MR <= n; i += MR) {
                    tile8(c, co + i * ldc + j, ldc, a, ao + i * lda, lda, b, panel, ldb, k, bias, biasOff + j);
                }
                for (; i < n; i++) {
                    row1(c, co + i * ldc + j, a, ao + i * lda, b, panel, ldb, k, bias, biasOff + j);
                }
            } else {
                if (edge == null) edge = new float[MR * NR];
                for (; i < n; i += MR) {
                    int rows = Math.min(MR, n - i);
                    if (rows == MR) {
                        tile8(edge, 0, NR, a, ao + i * lda, lda, b, panel, ldb, k, null, 0);
                    } else {
                        for (int r = 0; r < rows; r++) {
                            row1(edge, r * NR, a, ao + (i + r) * lda, b, panel, ldb, k, null, 0);
                        }
                    }
                    for (int r = 0; r < rows; r++) {
                        for (int jj = 0; jj < cols; jj++) {
                            c[co + (i + r) * ldc + j + jj] = edge[r * NR + jj] + (bias == null ? 0f : bias[biasOff + j + jj]);
                        }
                    }
                }
            }
        }
    }

    /** One MR × NR tile over the whole depth: 16 accumulators. */
    private static void tile8(float[] c, int co, int ldc, float[] a, int ao, int lda, float[] b, int bo, int ldb,
                              int k, float[] bias, int biasOff) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        FloatVector c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
        for (int p = 0; p < k; p++) {
            int bp = bo + p * ldb;
            FloatVector b0 = FloatVector.fromArray(F, b, bp);
            FloatVector b1 = FloatVector.fromArray(F, b, bp + L);
            int ap = ao + p;
            FloatVector x = FloatVector.broadcast(F, a[ap]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, a[ap + lda]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, a[ap + 2 * lda]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, a[ap + 3 * lda]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(F, a[ap + 4 * lda]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(F, a[ap + 5 * lda]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(F, a[ap + 6 * lda]);
            c60 = x.fma(b0, c60); c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(F, a[ap + 7 * lda]);
            c70 = x.fma(b0, c70); c71 = x.fma(b1, c71);
        }
        if (bias != null) {
            FloatVector d0 = FloatVector.fromArray(F, bias, biasOff), d1 = FloatVector.fromArray(F, bias, biasOff + L);
            c00 = c00.add(d0); c01 = c01.add(d1); c10 = c10.add(d0); c11 = c11.add(d1);
            c20 = c20.add(d0); c21 = c21.add(d1); c30 = c30.add(d0); c31 = c31.add(d1);
            c40 = c40.add(d0); c41 = c41.add(d1); c50 = c50.add(d0); c51 = c51.add(d1);
            c60 = c60.add(d0); c61 = c61.add(d1); c70 = c70.add(d0); c71 = c71.add(d1);
        }
        c00.intoArray(c, co); c01.intoArray(c, co + L); co += ldc;
        c10.intoArray(c, co); c11.intoArray(c, co + L); co += ldc;
        c20.intoArray(c, co); c21.intoArray(c, co + L); co += ldc;
        c30.intoArray(c, co); c31.intoArray(c, co + L); co += ldc;
        c40.intoArray(c, co); c41.intoArray(c, co + L); co += ldc;
        c50.intoArray(c, co); c51.intoArray(c, co + L); co += ldc;
        c60.intoArray(c, co); c61.intoArray(c, co + L); co += ldc;
        c70.intoArray(c, co); c71.intoArray(c, co + L);
    }

    /** One row of NR columns (the rows past the last full tile). */
    private static void row1(float[] c, int co, float[] a, int ao, float[] b, int bo, int ldb, int k, float[] bias,
                             int biasOff) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0;
        for (int p = 0; p < k; p++) {
            int bp = bo + p * ldb;
            FloatVector x = FloatVector.broadcast(F, a[ao + p]);
            c0 = x.fma(FloatVector.fromArray(F, b, bp), c0);
            c1 = x.fma(FloatVector.fromArray(F, b, bp + L), c1);
        }
        if (bias != null) {
            c0 = c0.add(FloatVector.fromArray(F, bias, biasOff));
            c1 = c1.add(FloatVector.fromArray(F, bias, biasOff + L));
        }
        c0.intoArray(c, co);
        c1.intoArray(c, co + L);
    }
}
