package distilbert.model;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Row-wise ops of {@link CpuOps} on double lanes with the Vector API, the same formulas as their
 * scalar versions in CpuOps, evaluated in double and rounded once to float. Promoted from bench's
 * LabKernels (bench/README.md).
 *
 * <p>Determinism: lane sums run in lane order ({@code lane(i)}), never {@code reduceLanes(ADD)},
 * whose order differs between the JIT and the interpreter (reading the lanes back with
 * {@code intoArray} instead doubled the attention's time in the lab). The one exception is
 * {@code lanewise(EXP)}: the JIT's intrinsic and the interpreter's per-lane {@code Math.exp} may
 * differ by an ulp of a double, which the rounding to float almost always hides.
 *
 * <p>Only loaded when {@code jdk.incubator.vector} is in the boot layer.
 */
final class VectorRows {

    private VectorRows() {
    }

    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
    /** Floats with as many lanes as {@link #D}: the float side of a float ⇄ double conversion. */
    private static final VectorSpecies<Float> FD =
            VectorSpecies.of(float.class, VectorShape.forBitSize(D.vectorBitSize() / 2));

    /** {@code row[i] = headScale · exp(scale·row[i] − max) / Σ}, in place: CpuOps.softmaxRow on double lanes. */
    static void softmaxRow(float[] row, int ro, int n, double scale, float headScale) {
        int lanes = D.length();
        int nv = n - n % lanes;
        DoubleVector vmax = DoubleVector.broadcast(D, Double.NEGATIVE_INFINITY);
        for (int j = 0; j < nv; j += lanes) {
            vmax = vmax.max(((DoubleVector) FloatVector.fromArray(FD, row, ro + j)
                    .convertShape(VectorOperators.F2D, D, 0)).mul(scale));
        }
        double max = vmax.reduceLanes(VectorOperators.MAX); // exact in any order
        for (int j = nv; j < n; j++) {
            max = Math.max(max, row[ro + j] * scale);
        }
        DoubleVector vsum = DoubleVector.zero(D);
        for (int j = 0; j < nv; j += lanes) {
            DoubleVector s = (DoubleVector) FloatVector.fromArray(FD, row, ro + j).convertShape(VectorOperators.F2D, D, 0);
            FloatVector e = (FloatVector) s.mul(scale).sub(max).lanewise(VectorOperators.EXP)
                    .convertShape(VectorOperators.D2F, FD, 0);
            e.intoArray(row, ro + j);
            vsum = vsum.add(e.convertShape(VectorOperators.F2D, D, 0));
        }
        double sum = 0;
        for (int i = 0; i < lanes; i++) {
            sum += vsum.lane(i);
        }
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

    // ---- bias + exact GELU ------------------------------------------------------------------------

    private static final double INV_SQRT2 = 0.70710678118654752440;

    /**
     * {@code out[j] = gelu(inp[j] + bias[j])} for {@code j < M} (one row; {@code bias} may be null,
     * out may be inp): ActivationFunctions.gelu on double lanes, the bias added in float first as
     * there. The lanes past the last full vector go through the scalar function.
     */
    static void biasGelu(float[] out, int oo, float[] inp, int io, float[] bias, int bo, int M) {
        int lanes = D.length();
        int j = 0;
        for (; j + lanes <= M; j += lanes) {
            DoubleVector x = biased(inp, io + j, bias, bo + j);
            ((FloatVector) gelu(x).convertShape(VectorOperators.D2F, FD, 0)).intoArray(out, oo + j);
        }
        for (; j < M; j++) {
            out[oo + j] = ActivationFunctions.gelu(inp[io + j] + (bias == null ? 0f : bias[bo + j]));
        }
    }

    /** {@code inp[io + ·] + bias[bo + ·]} added in float (as the scalar code rounds it), as double lanes. */
    private static DoubleVector biased(float[] inp, int io, float[] bias, int bo) {
        FloatVector xf = FloatVector.fromArray(FD, inp, io);
        if (bias != null) {
            xf = xf.add(FloatVector.fromArray(FD, bias, bo));
        }
        return (DoubleVector) xf.convertShape(VectorOperators.F2D, D, 0);
    }

    /**
     * 0.5·x·erfc(−x/√2) on double lanes: {@link Erf}'s rational functions (W. J. Cody), the ranges
     * selected by lane masks. exp(−y²) is {@code lanewise(EXP)} of −y² in one piece, where Erf splits
     * y to keep the last bits of exp for large y: the relative difference stays below ~1e-13, far
     * under float's rounding. (EXP is also the one op here whose JIT and interpreter results may
     * differ by an ulp of a double; see the class comment.)
     */
    private static DoubleVector gelu(DoubleVector x) {
        return x.mul(0.5).mul(erfc(x.mul(-INV_SQRT2)));
    }

    /** erfc(z) on double lanes: {@link Erf}'s rational functions, as {@link #gelu} describes. */
    private static DoubleVector erfc(DoubleVector z) {
        DoubleVector y = z.abs();
        VectorMask<Double> small = y.compare(VectorOperators.LE, 0.46875);
        DoubleVector erfc;
        if (small.allTrue()) {
            erfc = DoubleVector.broadcast(D, 1.0).sub(z.mul(smallRatio(y)));
        } else {
            // erfc(|z|) on (0.46875, 4]: rational C/D times exp(−y²)
            DoubleVector num = y.mul(Erf.C[8]), den = y;
            for (int i = 0; i < 7; i++) {
                num = num.add(Erf.C[i]).mul(y);
                den = den.add(Erf.D[i]).mul(y);
            }
            DoubleVector r = num.add(Erf.C[7]).div(den.add(Erf.D[7]));
            VectorMask<Double> big = y.compare(VectorOperators.GT, 4.0);
            if (big.anyTrue()) {
                // (4, X_BIG): (1/√π − P/Q(1/y²)/y²) / y
                DoubleVector ysq = DoubleVector.broadcast(D, 1.0).div(y.mul(y));
                DoubleVector pn = ysq.mul(Erf.P[5]), pd = ysq;
                for (int i = 0; i < 4; i++) {
                    pn = pn.add(Erf.P[i]).mul(ysq);
                    pd = pd.add(Erf.Q[i]).mul(ysq);
                }
                DoubleVector rb = ysq.mul(pn.add(Erf.P[4])).div(pd.add(Erf.Q[4]));
                rb = DoubleVector.broadcast(D, Erf.ONE_OVER_SQRT_PI).sub(rb).div(y);
                r = r.blend(rb, big);
            }
            r = r.mul(y.mul(y).neg().lanewise(VectorOperators.EXP));
            r = r.blend(0.0, y.compare(VectorOperators.GE, Erf.X_BIG));
            erfc = r.blend(DoubleVector.broadcast(D, 2.0).sub(r), z.compare(VectorOperators.LT, 0.0));
            if (small.anyTrue()) {
                erfc = erfc.blend(DoubleVector.broadcast(D, 1.0).sub(z.mul(smallRatio(y))), small);
            }
        }
        return erfc;
    }

    /**
     * The backward of {@link #biasGelu} for one row: {@code dx[j] = g[j]·(Φ(x) + x·φ(x))} with
     * {@code x = inp[j] + bias[j]} rounded to float as the forward rounds it, Φ(x) = erfc(−x/√2)/2 and
     * φ(x) = exp(−x²/2)/√(2π), in double; {@code acc[j] += dx[j]} (the bias gradient). The scalar
     * ActivationFunctions.derivative to ~1e-13 relative, far below float's rounding.
     */
    static void biasGeluBackward(float[] dx, int dxo, float[] g, int go, float[] inp, int io, float[] bias, int bo, int M,
                                 double[] acc) {
        int lanes = D.length();
        int j = 0;
        for (; j + lanes <= M; j += lanes) {
            DoubleVector x = biased(inp, io + j, bias, bo + j);
            DoubleVector pdf = x.mul(x).mul(-0.5).lanewise(VectorOperators.EXP).mul(INV_SQRT_2PI);
            DoubleVector grad = erfc(x.mul(-INV_SQRT2)).mul(0.5).add(x.mul(pdf));
            DoubleVector gd = (DoubleVector) FloatVector.fromArray(FD, g, go + j).convertShape(VectorOperators.F2D, D, 0);
            FloatVector d = (FloatVector) gd.mul(grad).convertShape(VectorOperators.D2F, FD, 0);
            d.intoArray(dx, dxo + j);
            ((DoubleVector) d.convertShape(VectorOperators.F2D, D, 0)).add(DoubleVector.fromArray(D, acc, j)).intoArray(acc, j);
        }
        for (; j < M; j++) {
            float pre = inp[io + j] + (bias == null ? 0f : bias[bo + j]);
            float d = (float) (g[go + j] * ActivationFunctions.derivative(distilbert.weights.Activation.GELU, pre));
            dx[dxo + j] = d;
            acc[j] += d;
        }
    }

    private static final double INV_SQRT_2PI = 0.39894228040143267794;

    /** erf(y) / y for y ≤ 0.46875 (lanes past that give values the caller blends away). */
    private static DoubleVector smallRatio(DoubleVector y) {
        DoubleVector ysq = y.mul(y);
        DoubleVector num = ysq.mul(Erf.A[4]), den = ysq;
        for (int i = 0; i < 3; i++) {
            num = num.add(Erf.A[i]).mul(ysq);
            den = den.add(Erf.B[i]).mul(ysq);
        }
        return num.add(Erf.A[3]).div(den.add(Erf.B[3]));
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /**
     * {@link AdamW#update(AdamW.Scalars, float[], int, float[], int, float[], int, float[], int, int)} on float
     * lanes: the same float operations (fma, IEEE square root and division), so the same bits.
     */
    static void adamW(AdamW.Scalars s, float[] param, int po, float[] grad, int go, float[] m, int mo, float[] v, int vo,
                      int n) {
        int lanes = F.length(), nv = n - n % lanes;
        FloatVector decay = FloatVector.broadcast(F, s.decay()), w1 = FloatVector.broadcast(F, s.w1());
        FloatVector w1m1 = FloatVector.broadcast(F, s.w1() - 1f), b2 = FloatVector.broadcast(F, s.b2());
        FloatVector w2 = FloatVector.broadcast(F, s.w2()), bc2 = FloatVector.broadcast(F, s.bc2Sqrt());
        FloatVector eps = FloatVector.broadcast(F, s.eps()), step = FloatVector.broadcast(F, s.negStepSize());
        for (int i = 0; i < nv; i += lanes) {
            FloatVector g = FloatVector.fromArray(F, grad, go + i);
            FloatVector p = FloatVector.fromArray(F, param, po + i);
            if (s.decays()) {
                p = p.mul(decay);
            }
            FloatVector mi = FloatVector.fromArray(F, m, mo + i);
            FloatVector d = g.sub(mi);
            mi = s.smallW1() ? w1.fma(d, mi) : w1m1.fma(d, g);
            FloatVector vi = w2.mul(g).fma(g, FloatVector.fromArray(F, v, vo + i).mul(b2));
            FloatVector denom = vi.lanewise(VectorOperators.SQRT).div(bc2).add(eps);
            p.add(step.mul(mi).div(denom)).intoArray(param, po + i);
            mi.intoArray(m, mo + i);
            vi.intoArray(v, vo + i);
        }
        AdamW.update(s, param, po + nv, grad, go + nv, m, mo + nv, v, vo + nv, n - nv);
    }
}
