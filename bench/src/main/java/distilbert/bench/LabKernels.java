package distilbert.bench;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Lab versions of the three CPU ops that the forward profile (bench/README.md, "Where our CPU
 * forward spends its time") finds hot, written to be moved into {@code model/} (CpuOps,
 * VectorGemm) once they win. Single-threaded: the callers split the work as CpuOps does.
 * {@link CpuOpsLab} times each against the shipped op and checks that they agree.
 *
 * <ul>
 *   <li>{@link #gemm}: {@code c = a·b} with b k-major ({@code b[p·ldb + j]}), as an 8-row × 2-vector
 *       register tile of broadcast FMAs. The shipped kernel computes {@code a·bᵀ} with vector
 *       accumulators along k, so every 4 × 4 tile ends in 16 horizontal reductions
 *       ({@code reduceLanes}); with k = 384 (or 32 in attention) those cost as much as the FMAs.
 *       Here the accumulators lie along j: no reduction at all, the bias is added on the store.
 *       A Linear weight {@code [M, K]} is first packed k-major ({@link #packTransposed}, M·K copies,
 *       1/N of the product's work); attention's V already is k-major, and Kᵀ is packed per head.</li>
 *   <li>{@link #biasGelu}: bias + exact GELU on 8 double lanes: Cody's erfc rational functions
 *       (the coefficients of model/Erf.java), branches selected by lane masks, exp(−y²) from
 *       {@code DoubleVector.lanewise(EXP)}.</li>
 *   <li>{@link #softmaxRow}: the shipped softmax (scale, max, exp and sum in double, one rounding)
 *       on double lanes.</li>
 * </ul>
 *
 * <p>Determinism: {@link #gemm} needs no lane sums at all (each output is one chain of FMAs over p
 * in order, the same in the interpreter and the JIT). The softmax sums its lanes in lane order.
 * {@code lanewise(EXP)} is the one place where the JIT (an SVML-style intrinsic) and the
 * interpreter (Math.exp per lane) may differ, by an ulp of a double, which rounding to float almost
 * always hides; a polynomial exp written with FMAs would make it exact everywhere.
 */
final class LabKernels {

    private LabKernels() {
    }

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int L = F.length();
    /** Columns of a register tile: two vectors. */
    static final int NR = 2 * L;
    /** Rows of a register tile. */
    static final int MR = 8;
    static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
    /** Floats with as many lanes as {@link #D}: the float side of a float ⇄ double conversion. */
    static final VectorSpecies<Float> FD = VectorSpecies.of(float.class, VectorShape.forBitSize(D.vectorBitSize() / 2));

    // ---- matrix product -----------------------------------------------------------------------------

    /** Floats {@link #packRows}/{@link #packColumns} write for an operand of m output columns and depth k. */
    static int packedSize(int m, int k) {
        return (m + NR - 1) / NR * NR * k;
    }

    /**
     * A Linear weight {@code b[j·ldb + p]} ({@code [m, k]}, one row per output column j) into
     * panels of {@link #NR} columns, each k-major and contiguous:
     * {@code out[oo + (j / NR)·k·NR + p·NR + j % NR]}; columns past m are zero.
     */
    static void packRows(float[] out, int oo, float[] b, int bo, int ldb, int m, int k) {
        for (int j0 = 0; j0 < m; j0 += NR) {
            int panel = oo + j0 * k, cols = Math.min(NR, m - j0);
            for (int jj = 0; jj < NR; jj++) {
                if (jj >= cols) {
                    for (int p = 0; p < k; p++) out[panel + p * NR + jj] = 0f;
                    continue;
                }
                int src = bo + (j0 + jj) * ldb;
                for (int p = 0; p < k; p++) out[panel + p * NR + jj] = b[src + p];
            }
        }
    }

    /** A k-major operand {@code b[p·ldb + j]} ({@code [k, m]}, e.g. attention's V) into the same panels. */
    static void packColumns(float[] out, int oo, float[] b, int bo, int ldb, int m, int k) {
        for (int j0 = 0; j0 < m; j0 += NR) {
            int panel = oo + j0 * k, cols = Math.min(NR, m - j0);
            for (int p = 0; p < k; p++) {
                int o = panel + p * NR, src = bo + p * ldb + j0;
                for (int jj = 0; jj < cols; jj++) out[o + jj] = b[src + jj];
                for (int jj = cols; jj < NR; jj++) out[o + jj] = 0f;
            }
        }
    }

    /**
     * {@code c[i, j] = bias[j] + Σ_p a[i, p]·b[p, j]} for {@code i < n, j < m, p < k}: a and c
     * row-major blocks with leading dimensions, b packed by {@link #packRows} or {@link #packColumns}
     * at {@code bo}; {@code bias} may be null.
     */
    static void gemm(float[] c, int co, int ldc, float[] a, int ao, int lda, float[] b, int bo,
                     float[] bias, int biasOff, int n, int m, int k) {
        float[] edge = null; // (MR, NR): a tile whose columns run past m is computed here, then copied
        for (int j = 0; j < m; j += NR) {
            int cols = Math.min(NR, m - j);
            int panel = bo + j * k;
            int i = 0;
            if (cols == NR) {
                for (; i + MR <= n; i += MR) {
                    tile8(c, co + i * ldc + j, ldc, a, ao + i * lda, lda, b, panel, k, bias, biasOff + j);
                }
                for (; i < n; i++) {
                    row1(c, co + i * ldc + j, a, ao + i * lda, b, panel, k, bias, biasOff + j);
                }
            } else {
                if (edge == null) edge = new float[MR * NR];
                for (; i < n; i += MR) {
                    int rows = Math.min(MR, n - i);
                    if (rows == MR) {
                        tile8(edge, 0, NR, a, ao + i * lda, lda, b, panel, k, null, 0);
                    } else {
                        for (int r = 0; r < rows; r++) row1(edge, r * NR, a, ao + (i + r) * lda, b, panel, k, null, 0);
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

    /**
     * One MR × NR tile over the whole depth: 16 accumulators, per p 2 loads of b, 8 broadcasts of a,
     * 16 FMAs. (Vectors or masks passed in as arguments, or stores through a helper taking vectors,
     * cost 3× here: C2 then keeps the accumulators as objects. Keep the tile's vectors local.)
     */
    private static void tile8(float[] c, int co, int ldc, float[] a, int ao, int lda, float[] b, int bo, int k,
                              float[] bias, int biasOff) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        FloatVector c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
        for (int p = 0; p < k; p++) {
            int bp = bo + p * NR;
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
    private static void row1(float[] c, int co, float[] a, int ao, float[] b, int bo, int k, float[] bias, int biasOff) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0;
        for (int p = 0; p < k; p++) {
            int bp = bo + p * NR;
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

    // ---- bias + exact GELU --------------------------------------------------------------------------

    // model/Erf.java's coefficients (W. J. Cody, netlib CALERF)
    private static final double[] A = {3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
            3.20937758913846947e03, 1.85777706184603153e-1};
    private static final double[] B = {2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
            2.84423683343917062e03};
    private static final double[] C = {5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
            2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03,
            1.23033935479799725e03, 2.15311535474403846e-8};
    private static final double[] DD = {1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
            1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03,
            1.23033935480374942e03};
    private static final double[] P = {3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
            1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2};
    private static final double[] Q = {2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
            6.05183413124413191e-2, 2.33520497626869185e-3};
    private static final double ONE_OVER_SQRT_PI = 5.6418958354775628695e-1;
    private static final double INV_SQRT2 = 0.70710678118654752440;
    private static final double X_BIG = 26.543;

    /** {@code out[n, j] = gelu(inp[n, j] + bias[j])} over {@code [N, M]} row-major; out may be inp. */
    static void biasGelu(float[] out, int oo, float[] inp, int io, float[] bias, int bo, int N, int M) {
        int lanes = D.length();
        for (int n = 0; n < N; n++) {
            int orow = oo + n * M, irow = io + n * M;
            int j = 0;
            for (; j + lanes <= M; j += lanes) {
                FloatVector xf = FloatVector.fromArray(FD, inp, irow + j).add(FloatVector.fromArray(FD, bias, bo + j));
                DoubleVector x = (DoubleVector) xf.convertShape(VectorOperators.F2D, D, 0);
                DoubleVector g = gelu(x);
                ((FloatVector) g.convertShape(VectorOperators.D2F, FD, 0)).intoArray(out, orow + j);
            }
            for (; j < M; j++) {
                double x = inp[irow + j] + bias[bo + j];
                out[orow + j] = (float) (0.5 * x * erfcScalar(-x * INV_SQRT2));
            }
        }
    }

    /** 0.5·x·erfc(−x/√2) on double lanes. */
    static DoubleVector gelu(DoubleVector x) {
        DoubleVector z = x.mul(-INV_SQRT2);          // erfc's argument
        DoubleVector y = z.abs();
        VectorMask<Double> small = y.compare(VectorOperators.LE, 0.46875);
        VectorMask<Double> big = y.compare(VectorOperators.GT, 4.0);
        DoubleVector erfc;
        if (small.allTrue()) {
            erfc = DoubleVector.broadcast(D, 1.0).sub(z.mul(smallRatio(y)));
        } else {
            // erfc(|z|) on (0.46875, 4]: rational C/D times exp(−y²)
            DoubleVector num = y.mul(C[8]), den = y;
            for (int i = 0; i < 7; i++) {
                num = num.add(C[i]).mul(y);
                den = den.add(DD[i]).mul(y);
            }
            DoubleVector r = num.add(C[7]).div(den.add(DD[7]));
            if (big.anyTrue()) {
                DoubleVector ysq = DoubleVector.broadcast(D, 1.0).div(y.mul(y));
                DoubleVector pn = ysq.mul(P[5]), pd = ysq;
                for (int i = 0; i < 4; i++) {
                    pn = pn.add(P[i]).mul(ysq);
                    pd = pd.add(Q[i]).mul(ysq);
                }
                DoubleVector rb = ysq.mul(pn.add(P[4])).div(pd.add(Q[4]));
                rb = DoubleVector.broadcast(D, ONE_OVER_SQRT_PI).sub(rb).div(y);
                r = r.blend(rb, big);
            }
            r = r.mul(y.mul(y).neg().lanewise(VectorOperators.EXP));
            r = r.blend(0.0, y.compare(VectorOperators.GE, X_BIG));
            erfc = r.blend(DoubleVector.broadcast(D, 2.0).sub(r), z.compare(VectorOperators.LT, 0.0));
            if (small.anyTrue()) {
                erfc = erfc.blend(DoubleVector.broadcast(D, 1.0).sub(z.mul(smallRatio(y))), small);
            }
        }
        return x.mul(0.5).mul(erfc);
    }

    /** erf(y) / y for y ≤ 0.46875 (lanes past that give garbage the caller blends away). */
    private static DoubleVector smallRatio(DoubleVector y) {
        DoubleVector ysq = y.mul(y);
        DoubleVector num = ysq.mul(A[4]), den = ysq;
        for (int i = 0; i < 3; i++) {
            num = num.add(A[i]).mul(ysq);
            den = den.add(B[i]).mul(ysq);
        }
        return num.add(A[3]).div(den.add(B[3]));
    }

    /** Scalar tail: the same formulas as model/Erf.java. */
    static double erfcScalar(double x) {
        double y = Math.abs(x);
        if (y <= 0.46875) {
            double ysq = y * y, num = A[4] * ysq, den = ysq;
            for (int i = 0; i < 3; i++) {
                num = (num + A[i]) * ysq;
                den = (den + B[i]) * ysq;
            }
            return 1.0 - x * (num + A[3]) / (den + B[3]);
        }
        double r;
        if (y >= X_BIG) {
            r = 0.0;
        } else if (y <= 4.0) {
            double num = C[8] * y, den = y;
            for (int i = 0; i < 7; i++) {
                num = (num + C[i]) * y;
                den = (den + DD[i]) * y;
            }
            r = (num + C[7]) / (den + DD[7]) * Math.exp(-y * y);
        } else {
            double ysq = 1.0 / (y * y), num = P[5] * ysq, den = ysq;
            for (int i = 0; i < 4; i++) {
                num = (num + P[i]) * ysq;
                den = (den + Q[i]) * ysq;
            }
            r = ysq * (num + P[4]) / (den + Q[4]);
            r = (ONE_OVER_SQRT_PI - r) / y * Math.exp(-y * y);
        }
        return x < 0 ? 2.0 - r : r;
    }

    // ---- softmax ------------------------------------------------------------------------------------

    /** {@code row[i] = headScale · exp(scale·row[i] − max) / Σ}, in place; as CpuOps.softmaxRow, on double lanes. */
    static void softmaxRow(float[] row, int ro, int n, double scale, float headScale) {
        int lanes = D.length();
        int nv = n - n % lanes;
        DoubleVector vmax = DoubleVector.broadcast(D, Double.NEGATIVE_INFINITY);
        for (int j = 0; j < nv; j += lanes) {
            vmax = vmax.max(((DoubleVector) FloatVector.fromArray(FD, row, ro + j).convertShape(VectorOperators.F2D, D, 0)).mul(scale));
        }
        double max = vmax.reduceLanes(VectorOperators.MAX);
        for (int j = nv; j < n; j++) {
            max = Math.max(max, row[ro + j] * scale);
        }
        DoubleVector vsum = DoubleVector.zero(D);
        for (int j = 0; j < nv; j += lanes) {
            DoubleVector s = (DoubleVector) FloatVector.fromArray(FD, row, ro + j).convertShape(VectorOperators.F2D, D, 0);
            FloatVector e = (FloatVector) s.mul(scale).sub(max).lanewise(VectorOperators.EXP).convertShape(VectorOperators.D2F, FD, 0);
            e.intoArray(row, ro + j);
            vsum = vsum.add(e.convertShape(VectorOperators.F2D, D, 0));
        }
        // The lanes summed in lane order, as VectorGemm does since 4459ee1: reduceLanes(ADD) may
        // sum in another order in the JIT than in the interpreter. (MAX above is exact in any order.)
        double sum = 0;
        for (int i = 0; i < lanes; i++) sum += vsum.lane(i);
        for (int j = nv; j < n; j++) {
            float e = (float) Math.exp(row[ro + j] * scale - max);
            row[ro + j] = e;
            sum += e;
        }
        double norm = headScale / sum;
        for (int j = 0; j < nv; j += lanes) {
            DoubleVector e = (DoubleVector) FloatVector.fromArray(FD, row, ro + j).convertShape(VectorOperators.F2D, D, 0);
            ((FloatVector) e.mul(norm).convertShape(VectorOperators.D2F, FD, 0)).intoArray(row, ro + j);
        }
        for (int j = nv; j < n; j++) {
            row[ro + j] = (float) (row[ro + j] * norm);
        }
    }

    // ---- attention ----------------------------------------------------------------------------------

    /**
     * Attention of one (sequence, head), as CpuOps.attentionForward's task without head mask,
     * probabilities output or query-only tokens: {@code out_h = softmax(q_h·k_hᵀ / √HS) · v_h}.
     *
     * @param scratch at least {@code packedSize(len, HS) + len·len + packedSize(HS, len)} floats
     */
    static void attentionHead(float[] out, float[] q, float[] k, float[] v, int headOffset, int C, int len, int HS,
                              float[] scratch) {
        int sc = packedSize(len, HS), vp = sc + len * len;   // [k_hᵀ panels | scores | v_h panels]
        packRows(scratch, 0, k, headOffset, C, len, HS);           // k_hᵀ: the keys are the output columns
        gemm(scratch, sc, len, q, headOffset, C, scratch, 0, null, 0, len, len, HS); // (len, len) scores
        double scale = 1.0 / Math.sqrt(HS);
        for (int i = 0; i < len; i++) {
            softmaxRow(scratch, sc + i * len, len, scale, 1f);
        }
        packColumns(scratch, vp, v, headOffset, C, HS, len);        // v_h (len, HS)
        gemm(out, headOffset, C, scratch, sc, len, scratch, vp, null, 0, len, HS, len); // (len, HS) = P · v_h
    }
}
