package distilbert.bench;

import distilbert.model.Buffer;
import distilbert.model.CpuOps;
import distilbert.model.HostBuffer;
import distilbert.model.IndexBuffer;
import distilbert.model.MatmulKernel;
import distilbert.weights.Activation;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The ops of one all-MiniLM-L6-v2 layer (dim 384, 12 heads of 32, FFN 1536) on one thread: the
 * shipped {@link CpuOps} op ({@code shipped}) against its {@link LabKernels} version ({@code lab}),
 * at the token count of a batch shape. The setup checks that both give the same values and prints
 * the largest difference. One operation = one call of the op (ms/op).
 *
 * <ul>
 *   <li>{@code qkv}: [T, 384]·[384, 384]ᵀ + bias (q_lin, k_lin, v_lin, out_lin: 4 per layer);</li>
 *   <li>{@code lin1}: [T, 384]·[1536, 384]ᵀ, no bias (the bias goes with the GELU);</li>
 *   <li>{@code lin2}: [T, 1536]·[384, 1536]ᵀ + bias;</li>
 *   <li>{@code gelu}: bias + exact GELU over [T, 1536];</li>
 *   <li>{@code attention}: B sequences × 12 heads: scores, softmax, · V;</li>
 *   <li>{@code layernorm}: residual + LayerNorm over [T, 384] (2 per layer; no lab version: both
 *       methods run the shipped op).</li>
 * </ul>
 *
 * The lab matrix products include packing the weight k-major on every call. Run:
 * {@code ./dev bench CpuOpsLab -p shape=8x128}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@State(Scope.Benchmark)
public class CpuOpsLab {
    static final int C = 384, NH = 12, HS = 32, F = 1536;

    @Param({"qkv", "lin1", "lin2", "gelu", "attention", "layernorm"})
    public String op;

    /** B x L: T = B·L tokens, B sequences of L for attention. */
    @Param("8x128")
    public String shape;

    private CpuOps ops;
    private int B, Lq, T;
    private float[] x, w, bias, out, packed, scratch, q, k, v, residual, lnW, lnB, h;
    private int n, kk, m;
    private IndexBuffer cuSeqlens;

    @Setup(Level.Trial)
    public void setup() {
        if (!MatmulKernel.vectorApiAvailable()) throw new IllegalStateException("run with --add-modules jdk.incubator.vector");
        ops = new CpuOps(1, MatmulKernel.VECTOR);
        String[] p = shape.split("x");
        B = Integer.parseInt(p[0]);
        Lq = Integer.parseInt(p[1]);
        T = B * Lq;
        Random rnd = new Random(7);
        switch (op) {
            case "qkv" -> linear(rnd, C, C, true);
            case "lin1" -> linear(rnd, C, F, false);
            case "lin2" -> linear(rnd, F, C, true);
            case "gelu" -> {
                h = gaussian(rnd, T * F, 1.5);  // pre-activations of a trained FFN are of this order
                bias = gaussian(rnd, F, 0.1);
                out = new float[T * F];
            }
            case "attention" -> {
                q = gaussian(rnd, T * C, 1.0);
                k = gaussian(rnd, T * C, 1.0);
                v = gaussian(rnd, T * C, 1.0);
                out = new float[T * C];
                scratch = new float[LabKernels.packedSize(Lq, HS) + Lq * Lq + LabKernels.packedSize(HS, Lq)];
                int[] cu = new int[B + 1];
                for (int b = 0; b <= B; b++) cu[b] = b * Lq;
                cuSeqlens = ops.indicesOf(cu);
            }
            case "layernorm" -> {
                x = gaussian(rnd, T * C, 1.0);
                residual = gaussian(rnd, T * C, 1.0);
                lnW = gaussian(rnd, C, 1.0);
                lnB = gaussian(rnd, C, 0.1);
                out = new float[T * C];
            }
            default -> throw new IllegalArgumentException("op: qkv, lin1, lin2, gelu, attention or layernorm, not " + op);
        }
        check();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ops.close();
    }

    @Benchmark
    public float[] shipped() {
        runShipped(out);
        return out;
    }

    @Benchmark
    public float[] lab() {
        runLab(out);
        return out;
    }

    private void runShipped(float[] o) {
        switch (op) {
            case "qkv", "lin1", "lin2" -> ops.matmulForward(buf(o), buf(x), buf(w), bias == null ? null : buf(bias), n, kk, m);
            case "gelu" -> ops.biasActivationForward(Activation.GELU, buf(o), buf(h), buf(bias), T, F);
            case "attention" -> ops.attentionForward(buf(o), null, buf(q), buf(k), buf(v), null, cuSeqlens, null, B, T, NH, HS);
            case "layernorm" -> ops.residualLayerNormForward(buf(o), null, null, null, buf(x), buf(residual), buf(lnW), buf(lnB),
                    T, C, 1e-12f);
            default -> throw new IllegalStateException(op);
        }
    }

    private void runLab(float[] o) {
        switch (op) {
            case "qkv", "lin1", "lin2" -> {
                LabKernels.packRows(packed, 0, w, 0, kk, m, kk);
                LabKernels.gemm(o, 0, m, x, 0, kk, packed, 0, bias, 0, n, m, kk);
            }
            case "gelu" -> LabKernels.biasGelu(o, 0, h, 0, bias, 0, T, F);
            case "attention" -> {
                for (int s = 0; s < B; s++) {
                    for (int hd = 0; hd < NH; hd++) {
                        LabKernels.attentionHead(o, q, k, v, s * Lq * C + hd * HS, C, Lq, HS, scratch);
                    }
                }
            }
            case "layernorm" -> runShipped(o);
            default -> throw new IllegalStateException(op);
        }
    }

    /** Lab and shipped on the same inputs: elementwise within 1e-5 + 1e-5·|shipped|, worst printed. */
    private void check() {
        float[] a = new float[out.length], b = new float[out.length];
        runShipped(a);
        runLab(b);
        double worstAbs = 0, worstRel = 0;
        int bad = -1;
        for (int i = 0; i < a.length; i++) {
            double d = Math.abs(a[i] - b[i]);
            worstAbs = Math.max(worstAbs, d);
            if (Math.abs(a[i]) > 1e-3) worstRel = Math.max(worstRel, d / Math.abs(a[i]));
            if (!(d <= 1e-5 + 1e-5 * Math.abs(a[i])) && bad < 0) bad = i;
        }
        System.out.printf("lab vs shipped, %s at %s (T = %d): max |diff| %.2e, max relative (|value| > 1e-3) %.2e%n",
                op, shape, T, worstAbs, worstRel);
        if (bad >= 0) {
            throw new IllegalStateException("lab " + op + " differs at " + bad + ": shipped " + a[bad] + ", lab " + b[bad]);
        }
    }

    private void linear(Random rnd, int inDim, int outDim, boolean withBias) {
        n = T;
        kk = inDim;
        m = outDim;
        x = gaussian(rnd, n * kk, 1.0);
        w = gaussian(rnd, m * kk, 1.0 / Math.sqrt(kk));
        bias = withBias ? gaussian(rnd, m, 0.1) : null;
        packed = new float[LabKernels.packedSize(m, kk)];
        out = new float[n * m];
    }

    private static float[] gaussian(Random rnd, int size, double sd) {
        float[] a = new float[size];
        for (int i = 0; i < size; i++) a[i] = (float) (rnd.nextGaussian() * sd);
        return a;
    }

    private static Buffer buf(float[] a) {
        return HostBuffer.wrap(a);
    }
}
