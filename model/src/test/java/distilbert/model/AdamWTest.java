package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import distilbert.weights.SafetensorsFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link AdamW} against torch.optim.AdamW and clip_grad_norm_ (tests/golden/make_optimizer_golden.py
 * wrote the file on the CPU), plus steps small enough to check by hand.
 *
 * <p>The bounds. m and v must equal torch's to the bit (same float ops, same FMAs). The parameter
 * must equal torch's to the bit wherever torch's sqrt of v was correctly rounded (about 5 values in
 * 6). Where it was 1 ulp off (the file says where: sqrt_ulps), that ulp (at most 2⁻²³ relative)
 * passes through two roundings into the denominator (≤ 2 ulps of it apart), so the exact quotients
 * m·step/denom differ by ≤ 2 ulps of the update and the rounded ones by ≤ {@value #UPDATE_ULPS};
 * the sum with the parameter adds one rounding: {@code |ours − torch| <= ulp(torch) +
 * UPDATE_ULPS·ulp(update)}. On the committed file the worst is ulp(torch) + 1.9·ulp(update). Each
 * step starts from torch's parameter of the step before, so these differences do not carry over.
 */
class AdamWTest {

    static final int UPDATE_ULPS = 3;
    static final double BETA1 = 0.9;
    static final double BETA2 = 0.999;

    private static SafetensorsFile golden;

    @BeforeAll
    static void open() throws Exception {
        golden = SafetensorsFile.open(goldenPath());
    }

    @AfterAll
    static void close() {
        if (golden != null) {
            golden.close();
        }
    }

    /**
     * The golden file as a path: the resource itself in a build, a copy when it is inside a jar (the
     * distribution's test jar), since the safetensors reader maps a file.
     */
    static Path goldenPath() throws Exception {
        java.net.URL url = AdamWTest.class.getResource("/optimizer/torch-adamw.safetensors");
        if (url.getProtocol().equals("file")) {
            return Path.of(url.toURI());
        }
        Path copy = java.nio.file.Files.createTempFile("torch-adamw", ".safetensors");
        copy.toFile().deleteOnExit();
        try (var in = url.openStream()) {
            java.nio.file.Files.copy(in, copy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        return copy;
    }

    record Run(String name, double lr, double eps, double weightDecay) {
    }

    @ParameterizedTest
    @ValueSource(strings = {"a", "b"})
    void matchesTorchEveryStep(String name) {
        Run run = name.equals("a") ? new Run("a", 3e-4, 1e-8, 0.01) : new Run("b", 5e-5, 1e-6, 0.0);
        float[] param0 = golden.readFloats("adamw.param0");
        int n = param0.length;
        float[] m = new float[n];
        float[] v = new float[n];
        float[] before = param0;
        List<String> problems = new ArrayList<>();
        int sqrtOff = 0;
        double worstUpdateUlps = 0;
        for (int k = 1; k <= 5; k++) {
            float[] grad = golden.readFloats("adamw.grad." + k);
            float[] expected = golden.readFloats("adamw." + name + ".param." + k);
            long[] sqrtUlps = golden.readLongs("adamw." + name + ".sqrt_ulps." + k);
            // the update alone: the same step applied to a zero parameter (0 + u = u exactly)
            float[] update = new float[n];
            AdamW.update(update, 0, grad, 0, m.clone(), 0, v.clone(), 0, n, run.lr(), BETA1, BETA2, run.eps(), run.weightDecay(), k);
            float[] param = before.clone();
            AdamW.update(param, 0, grad, 0, m, 0, v, 0, n, run.lr(), BETA1, BETA2, run.eps(), run.weightDecay(), k);
            for (int i = 0; i < n; i++) {
                if (Float.floatToRawIntBits(param[i]) == Float.floatToRawIntBits(expected[i])) continue;
                double err = Math.abs((double) param[i] - expected[i]);
                if (sqrtUlps[i] == 0) {
                    problems.add(String.format("step %d [%d]: %s, torch %s (torch's sqrt was correctly rounded here: must be bit-equal)",
                            k, i, param[i], expected[i]));
                    continue;
                }
                sqrtOff++;
                double excess = (err - Math.ulp(expected[i])) / Math.ulp(update[i]);
                worstUpdateUlps = Math.max(worstUpdateUlps, excess);
                if (excess > UPDATE_ULPS) {
                    problems.add(String.format("step %d [%d]: %s, torch %s, |diff| %.3g > ulp(torch) + %d·ulp(update %s)",
                            k, i, param[i], expected[i], err, UPDATE_ULPS, update[i]));
                }
            }
            before = expected;
        }
        System.out.printf("AdamW run %s: %d parameter values differ where torch's sqrt was off, by at most ulp(p) + %.2f ulp(update)%n",
                name, sqrtOff, worstUpdateUlps);
        if (!problems.isEmpty()) {
            fail(problems.size() + " parameter values off; first:\n  " + String.join("\n  ", problems.subList(0, Math.min(8, problems.size()))));
        }
        assertBitEqual("exp_avg after step 5", golden.readFloats("adamw." + name + ".exp_avg"), m);
        assertBitEqual("exp_avg_sq after step 5", golden.readFloats("adamw." + name + ".exp_avg_sq"), v);
    }

    @ParameterizedTest
    @ValueSource(strings = {"clips", "keeps"})
    void clipGradNormMatchesTorch(String name) {
        float[] g0 = golden.readFloats("clip." + name + ".grad.0");
        float[] g1 = golden.readFloats("clip." + name + ".grad.1");
        float[] c0 = golden.readFloats("clip." + name + ".clipped.0");
        float[] c1 = golden.readFloats("clip." + name + ".clipped.1");
        float torchNorm = golden.readFloats("clip." + name + ".total_norm")[0];
        // both gradients in one flat buffer, as in the gradient slab
        float[] grads = concat(g0, g1);
        float[] expected = concat(c0, c1);

        float norm = AdamW.clipGradNorm(grads, 0, grads.length, 1.0);
        // torch: float32 norm of each tensor, then of the norms; ours rounds once from double
        assertTrue(Math.abs(norm - torchNorm) <= Math.ulp(torchNorm), "total norm " + norm + ", torch " + torchNorm);
        float coefficient = AdamW.clipCoefficient(torchNorm, 1.0);
        for (int i = 0; i < grads.length; i++) {
            // from our norm: at most an ulp apart when the norms are; from torch's norm: the same floats
            assertTrue(Math.abs(grads[i] - expected[i]) <= Math.ulp(expected[i]), "clipped [" + i + "] " + grads[i] + ", torch " + expected[i]);
        }
        float[] fromTorchNorm = concat(g0, g1);
        AdamW.scale(fromTorchNorm, 0, fromTorchNorm.length, coefficient);
        assertBitEqual("clipped with torch's norm", expected, fromTorchNorm);
        if (name.equals("keeps")) {
            assertEquals(1f, coefficient);
            assertBitEqual("unclipped gradients", concat(g0, g1), grads);
        } else {
            assertTrue(coefficient < 1f, "coefficient " + coefficient);
        }
    }

    /** Step 1 with no weight decay: m/bc1 = g and sqrt(v/bc2) = |g|, so each element moves by −lr·g/(|g| + eps). */
    @Test
    void firstStepMovesByLrTimesSign() {
        float[] g = {0.5f, -3f, 1e-3f, -2e-2f, 0f, 7e4f};
        float[] p = {1f, 1f, -2f, 0f, 5f, 0.25f};
        float[] start = p.clone();
        float[] m = new float[g.length];
        float[] v = new float[g.length];
        double lr = 1e-3;
        AdamW.update(p, 0, g, 0, m, 0, v, 0, g.length, lr, BETA1, BETA2, 1e-8, 0.0, 1);
        for (int i = 0; i < g.length; i++) {
            double moved = (double) p[i] - start[i];
            double want = -lr * Math.signum(g[i]);
            // the float32 roundings of p (ulp(p) / lr relative: 2.4e-4 at |p| = 2) and eps/|g| (1e-5 at 1e-3)
            assertEquals(want, moved, 1e-4 * lr + Math.ulp(start[i]), "element " + i + " (g " + g[i] + ")");
        }
        assertEquals(5f, p[4], "a zero gradient on step 1 leaves the parameter");
        assertEquals(0f, m[4]);
        assertEquals(0f, v[4]);
    }

    @Test
    void zeroGradientWithWeightDecayOnlyDecays() {
        float[] p = {1f, -3.5f, 0f, 1e-30f, 123.456f};
        float[] start = p.clone();
        float[] g = new float[p.length];
        float[] m = new float[p.length];
        float[] v = new float[p.length];
        double lr = 1e-2;
        double wd = 0.1;
        for (int step = 1; step <= 3; step++) {
            AdamW.update(p, 0, g, 0, m, 0, v, 0, p.length, lr, BETA1, BETA2, 1e-8, wd, step);
        }
        float decay = (float) (1 - lr * wd);
        for (int i = 0; i < p.length; i++) {
            assertEquals(start[i] * decay * decay * decay, p[i], "element " + i);
            assertEquals(0f, m[i]);
            assertEquals(0f, v[i]);
        }
    }

    @Test
    void updatesOnlyItsRange() {
        float[] p = {1f, 2f, 3f, 4f};
        float[] g = {1f, 1f, 1f, 1f};
        float[] m = new float[4];
        float[] v = new float[4];
        AdamW.update(p, 1, g, 1, m, 1, v, 1, 2, 0.1, BETA1, BETA2, 1e-8, 0.0, 1);
        assertEquals(1f, p[0]);
        assertEquals(4f, p[3]);
        assertEquals(1.9f, p[1], 1e-6f);
        assertEquals(2.9f, p[2], 1e-6f);
        assertEquals(0f, m[0]);
        assertEquals(0f, v[3]);
    }

    /** torch's lerp changes form at weight 0.5: end − (end − self)·(1 − w); beta1 = 0.3 takes it. */
    @Test
    void largeLerpWeightUsesTheOtherForm() {
        float[] p = {0f};
        float[] g = {2f};
        float[] m = {1f};
        float[] v = {0f};
        AdamW.update(p, 0, g, 0, m, 0, v, 0, 1, 1e-3, 0.3, BETA2, 1e-8, 0.0, 2);
        assertEquals(Math.fma((float) (1 - 0.3) - 1f, 1f, 2f), m[0]);
        assertEquals(1.7f, m[0], Math.ulp(1.7f));
    }

    @Test
    void rejectsStepZero() {
        float[] a = new float[1];
        var e = assertThrows(IllegalArgumentException.class,
                () -> AdamW.update(a, 0, a, 0, a, 0, a, 0, 1, 1e-3, BETA1, BETA2, 1e-8, 0.0, 0));
        assertTrue(e.getMessage().contains(">= 1"), e.getMessage());
    }

    @Test
    void clipCoefficientClampsAndPropagatesNaN() {
        assertEquals(1f, AdamW.clipCoefficient(0f, 1.0));
        assertEquals(1f, AdamW.clipCoefficient(0.5f, 1.0));
        assertEquals((1f / (4f + (float) 1e-6)) * 1f, AdamW.clipCoefficient(4f, 1.0));
        assertEquals(0f, AdamW.clipCoefficient(Float.POSITIVE_INFINITY, 1.0));
        assertTrue(Float.isNaN(AdamW.clipCoefficient(Float.NaN, 1.0)));
        assertEquals(25.0, AdamW.sumOfSquares(new float[] {9f, 3f, 4f, 9f}, 1, 2));
    }

    private static float[] concat(float[] a, float[] b) {
        float[] out = new float[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static void assertBitEqual(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what + ": length");
        int[] e = new int[expected.length];
        int[] a = new int[actual.length];
        for (int i = 0; i < e.length; i++) {
            e[i] = Float.floatToRawIntBits(expected[i]);
            a[i] = Float.floatToRawIntBits(actual[i]);
        }
        assertArrayEquals(e, a, what);
    }

    /** The Vector API loop (what CpuOps runs) gives the scalar loop's bits, lanes and tail, every branch of the step. */
    @Test
    void theVectorLoopGivesTheScalarLoopsBits() {
        java.util.Random r = new java.util.Random(17);
        int n = 1003; // not a multiple of any lane count: a tail
        for (double beta1 : new double[] {0.9, 0.3}) {          // lerp's two forms
            for (double wd : new double[] {0.0, 0.01}) {
                float[] p = new float[n], g = new float[n], m = new float[n], v = new float[n];
                for (int i = 0; i < n; i++) {
                    p[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(7) - 4));
                    g[i] = i % 17 == 0 ? 0f : (float) (r.nextGaussian() * Math.pow(10, r.nextInt(9) - 7));
                    m[i] = (float) (r.nextGaussian() * 1e-3);
                    v[i] = (float) Math.abs(r.nextGaussian() * 1e-6);
                }
                float[] p2 = p.clone(), m2 = m.clone(), v2 = v.clone();
                AdamW.Scalars s = AdamW.Scalars.of(3e-4, beta1, 0.999, 1e-8, wd, 3);
                AdamW.update(s, p, 0, g, 0, m, 0, v, 0, n);
                VectorRows.adamW(s, p2, 0, g, 0, m2, 0, v2, 0, n);
                assertArrayEquals(p, p2, "params, beta1 " + beta1 + ", wd " + wd);
                assertArrayEquals(m, m2, "exp_avg");
                assertArrayEquals(v, v2, "exp_avg_sq");
            }
        }
    }
}
