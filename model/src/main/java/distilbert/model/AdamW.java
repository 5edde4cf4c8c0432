package distilbert.model;

/**
 * The optimizer step of fine-tuning: torch.optim.AdamW (amsgrad, maximize, foreach and fused all
 * off: the loop of {@code _single_tensor_adam} in torch/optim/adam.py, decoupled weight decay) and
 * torch.nn.utils.clip_grad_norm_ (norm type 2), on ranges of flat float32 buffers (the parameter,
 * gradient and moment slabs share one layout). Element-wise, so callers split ranges across
 * threads; the CUDA kernel mirrors {@link #update} one thread per element.
 *
 * <p>The float32 operations are torch's, in torch's order, with the scalars rounded where torch
 * rounds them: hyperparameters are doubles (Python floats), the per-step scalars are computed in
 * double as torch computes them in Python, and each is rounded once to float when it enters a
 * tensor op. Two of torch's CPU kernels contract into FMAs: {@code lerp_} (its vector path is an
 * explicit {@code vec::fmadd}) and {@code addcmul_} (GCC contracts {@code self + value * t1 * t2});
 * so do we, and m and v then match torch's to the bit. The one difference left is the square root:
 * ours is correctly rounded (IEEE, as CUDA's {@code sqrtf}), torch's CPU kernel is not (about one
 * value in six is 1 ulp off on an AVX-512 machine), so a parameter can differ from torch's by a few
 * ulps of its update where that happens, and only there (AdamWTest measures it).
 */
final class AdamW {

    private AdamW() {
    }

    /**
     * One AdamW step on {@code n} elements of each buffer from its offset, updating {@code param},
     * {@code m} (exp_avg) and {@code v} (exp_avg_sq) in place; {@code step} is the step count after
     * this step (1 on the first), as torch's {@code state_steps}. The hyperparameters are doubles
     * because torch's are: a float {@code beta1 = 0.9f} would make 1 − beta1 round to 0.10000002f,
     * not torch's 0.1f, and a scheduled lr cast to float moves step_size by an ulp. Per element, in
     * torch's order:
     * <pre>
     *   param *= (float) (1 - lr·wd)                              param.mul_(1 - lr * weight_decay), skipped when wd = 0
     *   m = fma(w1, g - m, m),  w1 = (float) (1 - beta1)            exp_avg.lerp_(grad, 1 - beta1), weight below 0.5
     *   v = fma(w2·g, g, v·(float) beta2), w2 = (float) (1 - beta2)  exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
     *   denom = sqrt(v) / (float) sqrt(bc2) + (float) eps          (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
     *   param = param + ((float) (-lr / bc1) · m) / denom          param.addcdiv_(exp_avg, denom, value=-step_size)
     * </pre>
     * with bc1 = 1 − beta1^step and bc2 = 1 − beta2^step in double.
     */
    static void update(float[] param, int paramOffset, float[] grad, int gradOffset, float[] m, int mOffset, float[] v,
            int vOffset, int n, double lr, double beta1, double beta2, double eps, double weightDecay, long step) {
        update(Scalars.of(lr, beta1, beta2, eps, weightDecay, step), param, paramOffset, grad, gradOffset, m, mOffset, v,
                vOffset, n);
    }

    /**
     * The float32 scalars of one step, what a CUDA kernel takes: computed once per step (in double,
     * rounded once each, as torch rounds them) and shared by every range and every lane.
     */
    record Scalars(boolean decays, float decay, boolean smallW1, float w1, float b2, float w2, float bc2Sqrt, float eps,
                   float negStepSize) {
        static Scalars of(double lr, double beta1, double beta2, double eps, double weightDecay, long step) {
            if (step < 1) throw new IllegalArgumentException("AdamW step must be >= 1 (the count after this step), got " + step);
            double biasCorrection1 = 1 - StrictMath.pow(beta1, step);
            double biasCorrection2 = 1 - StrictMath.pow(beta2, step);
            float w1 = (float) (1 - beta1);
            // torch's lerp: self + w·(end − self) for |w| < 0.5, else end − (end − self)·(1 − w); Adam's w is 1 − beta1
            return new Scalars(weightDecay != 0, (float) (1 - lr * weightDecay), Math.abs(w1) < 0.5f, w1, (float) beta2,
                    (float) (1 - beta2), (float) Math.sqrt(biasCorrection2), (float) eps, (float) -(lr / biasCorrection1));
        }
    }

    /** {@link #update} with its scalars computed: the scalar loop (the Vector API one is VectorRows.adamW, the same bits). */
    static void update(Scalars s, float[] param, int paramOffset, float[] grad, int gradOffset, float[] m, int mOffset,
                       float[] v, int vOffset, int n) {
        for (int i = 0; i < n; i++) {
            float g = grad[gradOffset + i];
            float p = s.decays() ? param[paramOffset + i] * s.decay() : param[paramOffset + i];
            float mi = m[mOffset + i];
            float d = g - mi;
            mi = s.smallW1() ? Math.fma(s.w1(), d, mi) : Math.fma(s.w1() - 1f, d, g);
            float vi = Math.fma(s.w2() * g, g, v[vOffset + i] * s.b2());
            float denom = (float) Math.sqrt(vi) / s.bc2Sqrt() + s.eps();
            param[paramOffset + i] = p + s.negStepSize() * mi / denom;
            m[mOffset + i] = mi;
            v[vOffset + i] = vi;
        }
    }

    /** Σ g² over {@code g[offset .. offset + n)}, accumulated in double. */
    static double sumOfSquares(float[] g, int offset, int n) {
        double s = 0;
        for (int i = offset, end = offset + n; i < end; i++) {
            double x = g[i];
            s += x * x;
        }
        return s;
    }

    /** {@code g[offset .. offset + n) *= factor}, in float. */
    static void scale(float[] g, int offset, int n, float factor) {
        for (int i = offset, end = offset + n; i < end; i++) g[i] *= factor;
    }

    /**
     * The L2 norm of all gradients as float32, from their sum of squares (the partial sums of
     * {@link #sumOfSquares} over the ranges, added). torch takes the float32 norm of each parameter's
     * gradient, then the float32 norm of those norms; this rounds once from double, so the two can
     * differ by an ulp.
     */
    static float totalNorm(double sumOfSquares) {
        return (float) Math.sqrt(sumOfSquares);
    }

    /**
     * clip_grad_norm_'s factor: {@code min(max_norm / (total_norm + 1e-6), 1)} as torch evaluates it
     * on a float32 tensor: {@code total_norm + 1e-6} in float, {@code max_norm / tensor} as
     * {@code tensor.reciprocal() * max_norm} (Tensor.__rtruediv__), then clamp(max=1.0). A NaN or
     * infinite norm gives NaN or 0, as in torch (error_if_nonfinite is off in HF's Trainer).
     */
    static float clipCoefficient(float totalNorm, double maxNorm) {
        float coefficient = (1f / (totalNorm + (float) 1e-6)) * (float) maxNorm;
        return Math.min(coefficient, 1f);
    }

    /**
     * torch.nn.utils.clip_grad_norm_(params, maxNorm) on one range holding all the gradients:
     * multiplies them by {@link #clipCoefficient}, even when it clamps to 1 (as torch does, to
     * avoid a host sync; multiplying by 1 changes nothing). Returns the total norm before
     * clipping, what HF's Trainer logs as {@code grad_norm}. Callers that split the buffer add
     * {@link #sumOfSquares} over the ranges and {@link #scale} each.
     */
    static float clipGradNorm(float[] grad, int offset, int n, double maxNorm) {
        float norm = totalNorm(sumOfSquares(grad, offset, n));
        scale(grad, offset, n, clipCoefficient(norm, maxNorm));
        return norm;
    }
}
