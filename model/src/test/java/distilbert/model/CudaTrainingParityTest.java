package distilbert.model;

import static distilbert.model.GpuBackends.compare;
import static distilbert.model.GpuBackends.cumulative;
import static distilbert.model.GpuBackends.lengths;
import static distilbert.model.GpuBackends.poisoned;
import static distilbert.model.GpuBackends.round;
import static distilbert.model.GpuBackends.storage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.cuda.AttentionTrainingKernels;
import distilbert.cuda.ElementType;
import distilbert.model.CudaModelParityTest.Pair;
import distilbert.weights.Activation;
import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import distilbert.weights.ParameterSpec;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Training on the CUDA backend against the CPU backend: attention's training forward and backward
 * (dropout drawn on the device, the mask kept or drawn again, head masks, ragged and query-only and
 * fully masked sequences), the linear layers' and activations' backward through cuBLAS and the
 * activation kernels, then whole backward passes of every head with dropout on, and optimizer steps
 * of the {@link Trainer}. The other backward ops are {@link CudaBackwardOpsParityTest}'s.
 *
 * <p>Bounds: ops by {@link GpuBackends#opBound}. Whole gradients: per parameter tensor
 * ‖gpu − cpu‖ ≤ bound·max(‖cpu‖, floor·‖cpu gradient of the whole model‖), with the bound of
 * {@link #gradientBound} and the floor of {@link #noiseFloor}; the floor is for tensors whose gradient
 * is zero in exact arithmetic (k_lin's bias: a bias under a softmax) and holds rounding noise only, on
 * both backends.
 */
@Tag("gpu")
final class CudaTrainingParityTest {

    private final CpuOps cpu = new CpuOps(2, MatmulKernel.best());

    /**
     * Relative bound of a whole gradient against the CPU's. fp32: the forward's 1e-4
     * ({@link GpuBackends#modelBound}); the backward runs the same kinds of ops in float32 with
     * float32 sums in other orders. tf32: the backward has twice the forward's matrix products (dInp
     * and dWeight for each), each with operands rounded to 11 bits, so twice the forward's 5e-3.
     * bf16 (mixed precision): what HuggingFace's own bf16 gradients lose against its float32 ones on
     * models drawn as these (tests/golden/gradient_sensitivity.py: the relative L2 distance of the whole
     * gradient, every head of these tests, 4 seeds, torch 2.13 CPU: autocast 0.008 to 0.167, the model
     * cast to bf16 0.010 to 0.164; these random models amplify rounding, as GpuBackends#modelBound
     * says), held to 1.5 times HF's worst, on the whole gradient only: per tensor HF's own bf16 is off
     * by up to 1.3 where a gradient is zero in exact arithmetic (k_lin's bias, a bias under a softmax).
     * fp16 (mixed precision, the loss scaled): HF's own fp16 gradients on the same models
     * (gradient_sensitivity.py --dtype float16, the loss scaled by 1024 and the gradients unscaled, as
     * GradScaler does): the model cast to float16, which stores every tensor in fp16 as our fp16 does,
     * 0.001 to 0.005 of the whole gradient, held to 1.5 times that worst; autocast is further off on one
     * seed of multiple choice (0.102), the others 0.001 to 0.004. The kernels are the same templates in
     * every type; fp32 checks their arithmetic tensor by tensor.
     */
    private static double gradientBound(Precision p) {
        return switch (p) {
            case FP32 -> 1e-4;
            case TF32 -> 1e-2;
            case BF16 -> 0.25;
            case FP16 -> 0.0075;
        };
    }

    /**
     * The loss scale of the fp16 gradient tests: the heads' backward runs on lossScale times the loss
     * and the gradient is divided by it after, as the trainer's GradScaler does; 1024 keeps these
     * models' gradients inside float16's range (65504) and out of its subnormals.
     */
    private static float testLossScale(Precision p) {
        return p == Precision.FP16 ? 1024f : 1f;
    }

    // ---------------------------------------------------------------------------------------------
    // attention

    @ParameterizedTest
    @EnumSource(Precision.class)
    void attentionTrainingForwardAndBackward(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(31);
        // an empty sequence, one token, lengths around the 4-row blocks and the 32-lane key loops
        int[] cu = cumulative(new int[] {5, 0, 1, 33, 4, 40});
        for (int[] heads : new int[][] {{2, 8}, {3, 40}}) {
            int NH = heads[0], HS = heads[1];
            for (float dropout : new float[] {0f, 0.3f}) {
                runAttention(p, gpu, r, cu, null, NH, HS, null, dropout, true);
                runAttention(p, gpu, r, cu, null, NH, HS, round(p, r.floats(NH, 0, 2)), dropout, dropout > 0);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"FP32", "BF16"})
    void attentionTrainingWithQueryOnlyTokensAndMaskedRows(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(32);
        // COMPUTE mode: every row L tokens, the first keys[b] are keys; 0 keys attends uniformly
        int L = 21;
        int[] cu = cumulative(new int[] {L, L, L, L});
        int[] keys = {L, 6, 0, 1};
        runAttention(p, gpu, r, cu, keys, 2, 16, null, 0f, true);
        runAttention(p, gpu, r, cu, keys, 2, 16, round(p, r.floats(2, 0, 2)), 0.25f, true);
        runAttention(p, gpu, r, cu, keys, 2, 16, null, 0.25f, false);
    }

    /**
     * Both backends' training attention on the same inputs: out, probs, dropped (the same mask: the
     * zeros in the same places), then dQkv from a random dOut, with the mask kept ({@code keep}) or
     * drawn again.
     */
    private void runAttention(Precision p, CudaOps gpu, Rand r, int[] cu, int[] keys, int NH, int HS, float[] headMask,
                              float dropout, boolean keep) {
        AttentionTrainingKernels.Path before = gpu.attentionTrainingPath();
        try {
            for (AttentionTrainingKernels.Path path : AttentionTrainingKernels.Path.values()) {
                gpu.attentionTrainingPath(path);
                runAttention(p, gpu, r, cu, keys, NH, HS, headMask, dropout, keep, path);
            }
        } finally {
            gpu.attentionTrainingPath(before);
        }
    }

    private void runAttention(Precision p, CudaOps gpu, Rand r, int[] cu, int[] keys, int NH, int HS, float[] headMask,
                              float dropout, boolean keep, AttentionTrainingKernels.Path path) {
        int S = cu.length - 1, T = cu[S], C = NH * HS;
        float[] qkv = round(p, NaiveOps.qkv(r.floats(T * C, 1.5), r.floats(T * C, 1.5), r.floats(T * C, 1), T, C));
        float[] dOut = round(p, r.floats(T * C, 1));
        long total = PackedBatch.probsOffsets(cu, keys, NH)[S];
        DropoutRng rng = dropout > 0 ? new DropoutRng(77, 1000) : null;
        boolean kept = keep && dropout > 0;
        String what = "attention training (" + path + ") NH=" + NH + " HS=" + HS + " lens=" + Arrays.toString(lengths(cu))
                + (keys == null ? "" : " keys=" + Arrays.toString(keys)) + (headMask == null ? "" : " head mask")
                + " dropout=" + dropout + (dropout > 0 ? keep ? " kept" : " redrawn" : "") + " " + p;

        Buffer cOut = cpu.allocate((long) T * C), cProbs = cpu.allocate(total), cDropped = kept ? cpu.allocate(total) : null;
        Buffer cQkv = cpu.bufferOf(qkv), cMask = headMask == null ? null : cpu.bufferOf(headMask);
        IndexBuffer cCu = cpu.indicesOf(cu), cKeys = keys == null ? null : cpu.indicesOf(keys);
        cpu.attentionTrainingForward(cOut, cProbs, cDropped, cQkv, cMask, rng, dropout, cCu, cKeys, S, T, NH, HS);
        Buffer cdQkv = cpu.allocate(3L * T * C);
        cpu.attentionBackward(cdQkv, cpu.bufferOf(dOut), cQkv, cProbs, cDropped, cMask, rng, dropout, cCu, cKeys, S, T,
                NH, HS);

        Buffer gOut = poisoned(gpu, (long) T * C), gProbs = poisoned(gpu, total), gDropped = kept ? poisoned(gpu, total) : null;
        Buffer gQkv = gpu.bufferOf(qkv), gMask = headMask == null ? null : gpu.bufferOf(headMask);
        IndexBuffer gCu = gpu.indicesOf(cu), gKeys = keys == null ? null : gpu.indicesOf(keys);
        gpu.attentionTrainingForward(gOut, gProbs, gDropped, gQkv, gMask, rng, dropout, gCu, gKeys, S, T, NH, HS);
        compare(what + " out", p, cpu.download(cOut), gpu.download(gOut), T, NH, HS);
        float[] probs = gpu.download(gProbs);
        compare(what + " probs", p, cpu.download(cProbs), probs);
        if (kept) {
            float[] expected = cpu.download(cDropped), actual = gpu.download(gDropped);
            compare(what + " dropped", p, expected, actual);
            int zeros = 0;
            for (int i = 0; i < expected.length; i++) {
                // the same Philox mask: a dropped element is 0 on both (a kept one is 0 only where P is)
                if (expected[i] == 0f && probs[i] != 0f) {
                    assertEquals(0f, actual[i], what + ": element " + i + " is dropped on the CPU");
                    zeros++;
                }
            }
            assertTrue(zeros > total * dropout / 2, what + ": " + zeros + " of " + total + " dropped");
        }
        Buffer gdQkv = poisoned(gpu, 3L * T * C);
        gpu.attentionBackward(gdQkv, gpu.bufferOf(dOut), gQkv, gProbs, gDropped, gMask, rng, dropout, gCu, gKeys, S, T,
                NH, HS);
        float[] expected = cpu.download(cdQkv), actual = gpu.download(gdQkv);
        // q, k and v apart: each is a gradient of its own size
        for (int part = 0; part < 3; part++) {
            compare(what + " d" + "qkv".charAt(part), p, columns(expected, T, 3 * C, part * C, C),
                    columns(actual, T, 3 * C, part * C, C), T, NH, HS);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // linear layers and activations

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"FP32", "TF32"})
    void matmulBackward(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(33);
        for (int[] shape : new int[][] {{1, 8, 8}, {37, 48, 100}, {130, 96, 3}}) {
            int N = shape[0], K = shape[1], M = shape[2];
            float[] x = r.floats(N * K, 1), w = r.floats(M * K, 0.2), g = r.floats(N * M, 1);
            float[] dx0 = r.floats(N * K, 1), dw0 = r.floats(M * K, 1), db0 = r.floats(M, 1);
            for (boolean accumulate : new boolean[] {false, true}) {
                for (boolean all : new boolean[] {true, false}) {
                    String what = "matmul backward [" + N + ", " + K + "] x [" + M + ", " + K + "]ᵀ accumulate="
                            + accumulate + (all ? "" : " no dWeight, no dBias") + " " + p;
                    Buffer cdx = cpu.bufferOf(dx0), cdw = cpu.bufferOf(dw0), cdb = cpu.bufferOf(db0);
                    cpu.matmulBackward(cdx, all ? cdw : null, all ? cdb : null, cpu.bufferOf(g), cpu.bufferOf(x),
                            cpu.bufferOf(w), N, K, M, accumulate);
                    Buffer gdx = accumulate ? gpu.bufferOf(dx0) : poisoned(gpu, (long) N * K);
                    Buffer gdw = gpu.bufferOf(dw0), gdb = gpu.bufferOf(db0);
                    gpu.matmulBackward(gdx, all ? gdw : null, all ? gdb : null, gpu.bufferOf(g), gpu.bufferOf(x),
                            gpu.bufferOf(w), N, K, M, accumulate);
                    compare(what + " dInp", p, cpu.download(cdx), gpu.download(gdx), N, K);
                    compare(what + " dWeight", p, cpu.download(cdw), gpu.download(gdw), M, K);
                    compare(what + " dBias", p, cpu.download(cdb), gpu.download(gdb));
                    if (!all) {
                        assertEquals(Arrays.toString(dw0), Arrays.toString(gpu.download(gdw)), what + ": dWeight untouched");
                    }
                }
            }
        }
        // only the weight's gradient (the first layer's input is not trained)
        float[] x = r.floats(20 * 8, 1), w = r.floats(5 * 8, 1), g = r.floats(20 * 5, 1);
        Buffer cdw = cpu.allocate(40);
        cpu.matmulBackward(null, cdw, null, cpu.bufferOf(g), cpu.bufferOf(x), cpu.bufferOf(w), 20, 8, 5, false);
        Buffer gdw = gpu.allocate(40);
        gpu.matmulBackward(null, gdw, null, gpu.bufferOf(g), gpu.bufferOf(x), gpu.bufferOf(w), 20, 8, 5, false);
        compare("matmul backward dWeight only " + p, p, cpu.download(cdw), gpu.download(gdw));
    }

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"FP32", "BF16"})
    void biasActivationBackward(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(34);
        int N = 300, M = 45;
        float[] x = round(p, r.floats(N * M, 3)), b = round(p, r.floats(M, 1)), g = round(p, r.floats(N * M, 1));
        float[] db0 = r.floats(M, 1);
        for (Activation act : Activation.values()) {
            for (boolean withBias : new boolean[] {true, false}) {
                String what = "bias + " + act.hfName() + " backward" + (withBias ? "" : " without bias") + " " + p;
                Buffer cdx = cpu.allocate((long) N * M), cdb = cpu.bufferOf(db0);
                cpu.biasActivationBackward(act, cdx, withBias ? cdb : null, cpu.bufferOf(g), cpu.bufferOf(x),
                        withBias ? cpu.bufferOf(b) : null, N, M);
                // in place (dInp = dOut), as the model runs it
                Buffer gdx = gpu.bufferOf(g), gdb = f32(gpu, db0);
                gpu.biasActivationBackward(act, gdx, withBias ? gdb : null, gdx, gpu.bufferOf(x),
                        withBias ? gpu.bufferOf(b) : null, N, M);
                compare(what + " dInp", p, cpu.download(cdx), gpu.download(gdx), N, M);
                if (withBias) {
                    compare(what + " dBias", p, cpu.download(cdb), gpu.download(gdb));
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // whole backward passes

    private static DistilBertConfig config(int numLabels, Activation act, boolean sinusoidal) {
        return DistilBertConfig.builder().vocabSize(60).maxPositionEmbeddings(24).sinusoidalPosEmbds(sinusoidal)
                .nLayers(2).nHeads(4).dim(32).hiddenDim(48).activation(act).dropout(0.1).attentionDropout(0.2)
                .seqClassifDropout(0.25).qaDropout(0.15).numLabels(numLabels).build();
    }

    private static final int[][] IDS = {{2, 7, 9, 11, 5, 3, 0, 0}, {2, 13, 17, 3, 21, 22, 23, 3}, {2, 0, 0, 0, 0, 0, 0, 0}};
    private static final int[][] MASK = {{1, 1, 1, 1, 1, 1, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, {1, 0, 0, 0, 0, 0, 0, 0}};

    /** Runs {@code step} (a head's backward into the slab given, returning the loss) on both and compares. */
    private static void gradients(String what, Precision p, Pair m, Function<DistilBert, Function<ParameterSlab, Float>> step) {
        ParameterSlab cg = ParameterSlab.allocate(m.cpu().ops(), m.cpu().architecture().parameters().table());
        ParameterSlab gg = ParameterSlab.allocate(m.gpu().ops(), m.gpu().architecture().parameters().table());
        float cl = step.apply(m.cpu()).apply(cg), gl = step.apply(m.gpu()).apply(gg);
        assertEquals(cl, gl, gradientBound(p) * Math.abs(cl), what + ": loss");
        float[] c = m.cpu().ops().download(cg.slab()), g = inLayoutOf(cg, gg, m.gpu().ops().download(gg.slab()));
        for (int i = 0; i < g.length; i++) {
            g[i] /= testLossScale(p);   // 1, or fp16's loss scale (a power of 2: exact)
        }
        double modelNorm = norm(c, 0, c.length);
        assertTrue(modelNorm > 1e-3, what + ": gradient norm " + modelNorm);
        if (p == Precision.BF16 || p == Precision.FP16) {
            GpuBackends.assertWithin(what + ": the whole gradient", gradientBound(p), c, g);
            return;
        }
        for (ParameterSpec spec : cg.table().specs()) {
            int off = (int) cg.table().offset(spec.name()), n = (int) spec.numel();
            double diff = 0;
            for (int i = off; i < off + n; i++) {
                diff += ((double) g[i] - c[i]) * ((double) g[i] - c[i]);
            }
            double scale = Math.max(norm(c, off, n), noiseFloor(p) * modelNorm);
            assertTrue(Math.sqrt(diff) <= gradientBound(p) * scale, what + ": " + spec.name() + " off by "
                    + Math.sqrt(diff) / scale + " of " + scale + " (bound " + gradientBound(p) + ")");
        }
    }

    /**
     * {@code values} (a slab in {@code from}'s layout) rearranged into {@code to}'s: the backends align
     * their parameters differently (the GPU's to 128 elements), so the same name sits at other offsets.
     */
    private static float[] inLayoutOf(ParameterSlab to, ParameterSlab from, float[] values) {
        float[] out = new float[(int) to.table().numel()];
        for (ParameterSpec spec : to.table().specs()) {
            System.arraycopy(values, (int) from.table().offset(spec.name()), out, (int) to.table().offset(spec.name()),
                    (int) spec.numel());
        }
        return out;
    }

    /**
     * The per-tensor floor, as a share of the whole gradient's norm: what a tensor whose gradient is zero
     * in exact arithmetic (k_lin's bias) holds of rounding noise on both backends. fp32: 1e-3. tf32
     * rounds the operands of every product to 11 bits, the attention's products too on the GEMM path:
     * 5e-3 (k_lin's bias under masked LM was seen 1.0e-5 of the whole gradient away from the CPU's,
     * a fifth of the bound this gives).
     */
    private static double noiseFloor(Precision p) {
        return p == Precision.TF32 ? 5e-3 : 1e-3;
    }

    private static double norm(float[] v, int off, int n) {
        double s = 0;
        for (int i = off; i < off + n; i++) {
            s += (double) v[i] * v[i];
        }
        return Math.sqrt(s);
    }

    private static ModelInput input(long seed) {
        return ModelInput.ofIds(IDS, MASK).withDropout(new DropoutRng(seed, 0));
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void everyHeadsGradientsWithDropout(Precision p) {
        // the GPU's backward takes fp16's loss scale (gradients() divides it out); the CPU's takes 1
        Function<DistilBert, Float> ls = db -> db.ops() instanceof CudaOps ? testLossScale(p) : 1f;
        try (Pair m = Pair.of(TestModels.checkpoint(config(3, Activation.GELU, false), Head.SEQUENCE_CLASSIFICATION, 41), p)) {
            gradients("sequence classification " + p, p, m, db -> g -> db.as(DistilBertForSequenceClassification.class)
                    .backward(input(5), SequenceLabels.classes(2, 0, 1), g, ls.apply(db)).loss());
        }
        try (Pair m = Pair.of(TestModels.checkpoint(config(2, Activation.RELU, true), Head.SEQUENCE_CLASSIFICATION, 42), p)) {
            gradients("multi-label " + p, p, m, db -> g -> db.as(DistilBertForSequenceClassification.class)
                    .backward(input(6), new SequenceLabels.Values(Tensor.of(new float[] {1, 0, 1, 1, 0, 0}, 3, 2)), g,
                            ls.apply(db)).loss());
        }
        try (Pair m = Pair.of(TestModels.checkpoint(config(1, Activation.SILU, false), Head.SEQUENCE_CLASSIFICATION, 43), p)) {
            gradients("regression " + p, p, m, db -> g -> db.as(DistilBertForSequenceClassification.class)
                    .backward(input(7), new SequenceLabels.Values(Tensor.of(new float[] {0.5f, -1f, 2f}, 3)), g, ls.apply(db))
                    .loss());
        }
        try (Pair m = Pair.of(TestModels.checkpoint(config(4, Activation.GELU_NEW, false), Head.TOKEN_CLASSIFICATION, 44), p)) {
            int[][] labels = {{-100, 1, 3, 0, 2, -100, -100, -100}, {-100, 2, 1, 0, 0, 3, 1, -100},
                              {-100, -100, -100, -100, -100, -100, -100, -100}};
            gradients("token classification " + p, p, m, db -> g -> db.as(DistilBertForTokenClassification.class)
                    .backward(input(8), labels, g, ls.apply(db)).loss());
        }
        try (Pair m = Pair.of(TestModels.checkpoint(config(2, Activation.GELU, false), Head.QUESTION_ANSWERING, 45), p)) {
            gradients("question answering " + p, p, m, db -> g -> db.as(DistilBertForQuestionAnswering.class)
                    .backward(input(9).withMaskedPositions(MaskedPositions.COMPUTE), new int[] {1, 2, 9},
                            new int[] {4, 3, -1}, g, ls.apply(db)).loss());
        }
        try (Pair m = Pair.of(TestModels.checkpoint(config(2, Activation.GELU, false), Head.MASKED_LM, 46), p)) {
            int[][] labels = {{-100, 7, -100, 30, -100, -100, -100, -100}, {-100, -100, 4, -100, 50, -100, -100, 8},
                              {-100, -100, -100, -100, -100, -100, -100, -100}};
            gradients("masked LM " + p, p, m, db -> g -> db.as(DistilBertForMaskedLM.class)
                    .backward(input(10), labels, g, ls.apply(db)).loss());
        }
        try (Pair m = Pair.of(TestModels.checkpoint(config(2, Activation.GELU, false), Head.MULTIPLE_CHOICE, 47), p)) {
            int[][][] ids = {{{2, 7, 9, 3}, {2, 8, 3, 0}}, {{2, 5, 3, 0}, {2, 6, 6, 3}}};
            int[][][] mask = {{{1, 1, 1, 1}, {1, 1, 1, 0}}, {{1, 1, 1, 0}, {1, 1, 1, 1}}};
            gradients("multiple choice " + p, p, m, db -> g -> db.as(DistilBertForMultipleChoice.class)
                    .backward(ModelInput.ofChoices(ids, mask).withDropout(new DropoutRng(11, 0)), 2, new int[] {1, 0}, g,
                            ls.apply(db)).loss());
        }
    }

    @Test
    void encoderGradientsWithHeadMaskAndAMaskedRow() {
        try (Pair m = Pair.of(TestModels.checkpoint(config(2, Activation.GELU, false), Head.BASE, 48), Precision.FP32)) {
            int[][] mask = {{1, 1, 1, 1, 1, 1, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, {0, 0, 0, 0, 0, 0, 0, 0}};
            Tensor probe = Tensor.of(new Rand(49).floats(3 * 8 * 32, 1), 3, 8, 32);
            ModelInput in = ModelInput.ofIds(IDS, mask).withMaskedPositions(MaskedPositions.COMPUTE)
                    .withHeadMask(Tensor.of(new float[] {1f, 0.5f, 0f, 1f, 1f, 1f, 0.25f, 1f}, 2, 4))
                    .withDropout(new DropoutRng(12, 0));
            gradients("encoder " + Precision.FP32, Precision.FP32, m, db -> g -> {
                Tensor last = db.as(DistilBertModel.class).backward(in, probe, g);
                double s = 0;
                for (int i = 0; i < probe.data().length; i++) {
                    s += (double) last.data()[i] * probe.data()[i];
                }
                return (float) s;
            });
        }
    }

    // ---------------------------------------------------------------------------------------------
    // optimizer steps

    /** Three steps of the Trainer (clipping, weight decay, warmup) on both backends: the same parameters after. */
    @ParameterizedTest
    @EnumSource(Precision.class)
    void trainerSteps(Precision p) {
        try (Pair m = Pair.of(TestModels.checkpoint(config(3, Activation.GELU, false), Head.SEQUENCE_CLASSIFICATION, 51), p)) {
            Trainer.Options options = new Trainer.Options(1e-3, 0.01, 0.9, 0.999, 1e-8, 0.5,
                    LearningRateSchedule.of("linear", 1, 10), 7);
            Trainer ct = new Trainer(m.cpu(), options), gt = new Trainer(m.gpu(), options);
            if (p == Precision.FP16) {
                assertEquals(65536f, gt.lossScale());      // GradScaler's initial scale
                gt.lossScaling(new Trainer.LossScaling(testLossScale(p), 2f, 0.5f, 2000)); // one that does not overflow here
            }
            assertEquals(1f, ct.lossScale());
            SequenceLabels labels = SequenceLabels.classes(2, 0, 1);
            for (int s = 0; s < 3; s++) {
                float cl = m.cpu().as(DistilBertForSequenceClassification.class)
                        .backward(ModelInput.ofIds(IDS, MASK).withDropout(ct.nextDropout()), labels, ct.gradients()).loss();
                float gl = m.gpu().as(DistilBertForSequenceClassification.class)
                        .backward(ModelInput.ofIds(IDS, MASK).withDropout(gt.nextDropout()), labels, gt.gradients())
                        .loss();   // fp16: the trainer's gradient slab carries its loss scale
                assertEquals(cl, gl, gradientBound(p) * Math.abs(cl), "step " + s + " loss");
                Trainer.Step cs = ct.step(), gs = gt.step();
                assertFalse(gs.skipped(), "step " + s);
                assertEquals(cs.learningRate(), gs.learningRate(), "step " + s + " learning rate");
                assertEquals(cs.gradNorm(), gs.gradNorm(), gradientBound(p) * cs.gradNorm(), "step " + s + " grad norm");
            }
            // the full-precision weights: in bf16 the trainer's float32 master weights
            ParameterSlab cp = m.cpu().architecture().parameters(), gp = m.gpu().architecture().parameters();
            float[] c = ct.weights(), g = inLayoutOf(cp, gp, gt.weights());
            float[] start = TestModels.checkpoint(config(3, Activation.GELU, false), Head.SEQUENCE_CLASSIFICATION, 51)
                    .toSlab(m.cpu().architecture().parameters().table());
            // the update (parameters minus start) agrees: 3 steps of lr 1e-3 move each parameter ~3e-3
            float[] dc = new float[c.length], dg = new float[c.length];
            for (int i = 0; i < c.length; i++) {
                dc[i] = c[i] - start[i];
                dg[i] = g[i] - start[i];
            }
            // AdamW divides by sqrt(v), so an update is ~lr·sign(g) where g is small, and a gradient that is
            // rounding noise on both backends (k_lin's bias: zero in exact arithmetic) moves its parameter by
            // ±lr at random: those are left out. fp32 and tf32, per tensor: ten times the gradients' bound (an
            // element whose gradient is small beside its tensor's still moves by ~lr, with its own gradient's
            // relative error, larger than the tensor's). bf16, the whole update: the gradients' bound (the
            // update inherits the gradient's relative error; HF's own bf16 is off by as much per tensor)
            float[] wc = new float[0], wg = new float[0];
            for (ParameterSpec spec : cp.table().specs()) {
                int off = (int) cp.table().offset(spec.name()), n = (int) spec.numel();
                if (spec.name().endsWith("k_lin.bias")) {
                    continue;
                }
                float[] uc = Arrays.copyOfRange(dc, off, off + n), ug = Arrays.copyOfRange(dg, off, off + n);
                if (p.halfStorage()) {
                    wc = concat(wc, uc);
                    wg = concat(wg, ug);
                } else {
                    GpuBackends.assertWithin("trainer update after 3 steps, " + spec.name() + " " + p,
                            10 * gradientBound(p), uc, ug);
                }
            }
            if (p.halfStorage()) {
                GpuBackends.assertWithin("trainer update after 3 steps " + p, gradientBound(p), wc, wg);
            }
        }
    }

    private static float[] concat(float[] a, float[] b) {
        float[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /**
     * AdamW over the whole slab in one launch, segment by segment with and without weight decay (and a
     * gap of zeros, as alignment leaves between parameters): the CPU's bits, over three steps.
     */
    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"FP32", "BF16"})
    void adamWOverTheSlabInOneLaunchIsTheCpusToTheBit(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(54);
        int[] ends = {300, 301, 428, 1000, 1037};
        boolean[] decays = {true, false, false, true, false};
        int n = ends[ends.length - 1];
        float[] w = r.floats(n, 1);
        java.util.Arrays.fill(w, 301, 428, 0f); // a gap: zero parameters and gradients
        Buffer cw = cpu.bufferOf(w), cm = cpu.allocateFloat32(n), cv = cpu.allocateFloat32(n);
        Buffer gw = gpu.allocateFloat32(n), gm = gpu.allocateFloat32(n), gv = gpu.allocateFloat32(n);
        gpu.upload(gw, w);
        for (int step = 1; step <= 3; step++) {
            float[] g = r.floats(n, 0.1);
            java.util.Arrays.fill(g, 301, 428, 0f);
            Buffer gg = gpu.allocateFloat32(n);
            gpu.upload(gg, g);
            cpu.adamWUpdate(cw, cpu.bufferOf(g), cm, cv, ends, decays, 1e-2, 0.9, 0.999, 1e-8, 0.1, step);
            gpu.adamWUpdate(gw, gg, gm, gv, ends, decays, 1e-2, 0.9, 0.999, 1e-8, 0.1, step);
        }
        org.junit.jupiter.api.Assertions.assertArrayEquals(cpu.download(cw), gpu.download(gw), "parameters " + p);
        org.junit.jupiter.api.Assertions.assertArrayEquals(cpu.download(cm), gpu.download(gm), "first moments " + p);
        org.junit.jupiter.api.Assertions.assertArrayEquals(cpu.download(cv), gpu.download(gv), "second moments " + p);
        float[] after = gpu.download(gw);
        for (int i = 301; i < 428; i++) {
            assertEquals(0f, after[i], "the gap stays 0 at " + i);
        }
        // and the CPU's one walk is its per-range calls: segment 0 decayed, segments 1 and 2 not
        Buffer a = cpu.bufferOf(w), b = cpu.bufferOf(w), z = cpu.allocateFloat32(n), z2 = cpu.allocateFloat32(n);
        float[] g = r.floats(n, 0.1);
        cpu.adamWUpdate(a, cpu.bufferOf(g), z, cpu.allocateFloat32(n), ends, decays, 1e-2, 0.9, 0.999, 1e-8, 0.1, 1);
        cpu.adamWUpdate(b.view(0, 300), cpu.bufferOf(g).view(0, 300), z2.view(0, 300), cpu.allocateFloat32(300), 300, 1e-2,
                0.9, 0.999, 1e-8, 0.1, 1);
        cpu.adamWUpdate(b.view(300, 128), cpu.bufferOf(g).view(300, 128), cpu.allocateFloat32(128),
                cpu.allocateFloat32(128), 128, 1e-2, 0.9, 0.999, 1e-8, 0.0, 1);
        org.junit.jupiter.api.Assertions.assertArrayEquals(java.util.Arrays.copyOfRange(cpu.download(b), 0, 428),
                java.util.Arrays.copyOfRange(cpu.download(a), 0, 428));
    }

    /** The 16-bit copy of the master weights: each value rounded to nearest even, as ElementType rounds it; a copy in fp32. */
    @ParameterizedTest
    @EnumSource(Precision.class)
    void storeParametersRoundsTheMasterWeights(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        float[] master = new Rand(53).floats(1000, 3);
        master[0] = 1f + 0x1p-8f;   // a tie in bf16: to even (1.0)
        master[1] = 1f + 0x1p-11f;  // a tie in fp16: to even (1.0)
        master[2] = 70000f;         // past fp16's range: infinity, as a cast gives
        Buffer m = gpu.allocateFloat32(master.length);
        gpu.upload(m, master);
        Buffer params = poisoned(gpu, master.length);
        gpu.storeParameters(params, m, master.length);
        assertEquals(Arrays.toString(round(p, master)), Arrays.toString(gpu.download(params)), p.cliName());
        assertEquals(p == Precision.FP32 || p == Precision.TF32, gpu.storesFloat32());
    }

    /**
     * fp16's loss scaling, as torch's GradScaler: a scale that overflows float16 skips the step (the
     * weights, AdamW's state and the schedule stay; the step counts) and halves; finite steps in a
     * row double it after the growth interval; a checkpoint keeps the scale, its tracker and both
     * step counts. bf16 and fp32 scale nothing.
     */
    @Test
    void fp16LossScalingSkipsOverflowingStepsHalvesAndGrows(@TempDir Path dir) throws IOException {
        GpuBackends.cudaOrSkip(Precision.FP16);
        try (DistilBert db = DistilBert.of(TestModels.checkpoint(config(3, Activation.GELU, false),
                Head.SEQUENCE_CLASSIFICATION, 52), GpuBackends.create(Precision.FP16))) {
            Trainer.Options options = new Trainer.Options(1e-3, 0.01, 0.9, 0.999, 1e-8, 1.0,
                    LearningRateSchedule.of("linear", 0, 100), 9);
            Trainer t = new Trainer(db, options);
            t.lossScaling(new Trainer.LossScaling(0x1p40f, 2f, 0.5f, 2));  // 2^40: the gradients overflow float16
            var head = db.as(DistilBertForSequenceClassification.class);
            float[] start = t.weights();
            List<Float> scales = new ArrayList<>();
            Trainer.Step s;
            do {
                head.backward(input(t.microBatches()).withDropout(t.nextDropout()), SequenceLabels.classes(2, 0, 1),
                        t.gradients());
                assertEquals(t.lossScale(), t.gradients().lossScale(), "the slab carries the scale");
                s = t.step();
                scales.add(s.lossScale());
                if (s.skipped()) {
                    assertFalse(Float.isFinite(s.gradNorm()), "a skipped step's norm: " + s.gradNorm());
                    assertArrayEquals(start, t.weights(), "a skipped step leaves the master weights");
                    assertEquals(0, t.optimizerSteps());
                }
            } while (s.skipped() && s.step() < 40);
            int skipped = (int) s.step() - 1;
            assertTrue(skipped >= 1 && !s.skipped(), "skipped " + skipped + " steps, then " + s);
            for (int i = 0; i < scales.size(); i++) {
                assertEquals(Math.scalb(1f, 39 - Math.min(i, skipped - 1)), scales.get(i), "scale after step " + (i + 1));
            }
            assertEquals(options.schedule().lrAt(1, 1e-3), s.learningRate(), "the first update takes the schedule's first rate");
            assertEquals(1, t.optimizerSteps());
            assertTrue(Float.isFinite(s.gradNorm()) && s.gradNorm() > 0, "the unscaled norm: " + s.gradNorm());
            float good = s.lossScale();
            head.backward(input(99).withDropout(t.nextDropout()), SequenceLabels.classes(2, 0, 1), t.gradients());
            Trainer.Step next = t.step();
            if (!next.skipped()) {
                assertEquals(2 * good, next.lossScale(), "two finite steps in a row double the scale");
            }
            // a checkpoint keeps the scaler's state and both counts
            t.save(dir, null);
            Trainer r = new Trainer(db, options);
            r.resume(dir);
            assertEquals(t.lossScale(), r.lossScale());
            assertEquals(t.lossScale(), r.gradients().lossScale());
            assertEquals(t.steps(), r.steps());
            assertEquals(t.optimizerSteps(), r.optimizerSteps());
        }
        try (DistilBert bf = DistilBert.of(TestModels.checkpoint(config(3, Activation.GELU, false),
                Head.SEQUENCE_CLASSIFICATION, 52), GpuBackends.create(Precision.BF16))) {
            assertEquals(1f, new Trainer(bf, Trainer.Options.defaults(LearningRateSchedule.of("constant", 0, 10))).lossScale());
        }
    }

    // ---------------------------------------------------------------------------------------------
    // helpers

    /** A float32 buffer whatever the precision: a parameter gradient. */
    private static Buffer f32(CudaOps gpu, float[] values) {
        CudaBuffer b = (CudaBuffer) gpu.bufferOf(values);
        if (b.array().type() == ElementType.F32) {
            return b;
        }
        CudaBuffer f = new CudaBuffer(b.array().context().allocate(ElementType.F32, values.length, "test gradient"));
        f.array().upload(values);
        return f;
    }

    /** Columns [from, from + n) of a [rows, width] matrix. */
    private static float[] columns(float[] m, int rows, int width, int from, int n) {
        float[] out = new float[rows * n];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(m, r * width + from, out, r * n, n);
        }
        return out;
    }
}
