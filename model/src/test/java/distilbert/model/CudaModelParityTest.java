package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.cuda.GpuOutOfMemoryException;
import distilbert.weights.Activation;
import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Whole forward passes on the CUDA backend against the CPU backend on the same random weights: the
 * encoder with hidden states and attentions, all four activations, learned and sinusoidal
 * positions, head sizes of several kernel variants, ragged masks in both {@link MaskedPositions}
 * modes, a head mask, and every head with its loss. Bounds: {@link GpuBackends#modelBound}.
 * Also: device memory stays flat over many forwards of varying shapes, and running out of it is a
 * clear error after which the backend still works.
 */
@Tag("gpu")
final class CudaModelParityTest {

    private static final int B = 4, L = 16;

    /** dim, heads, ffn: head sizes 8 (the 32 variant), 64, 48 (between variants). */
    private static final int[][] SHAPES = {{32, 4, 64}, {128, 2, 256}, {96, 2, 200}};

    private static DistilBertConfig config(Activation act, boolean sinusoidal, int[] shape, int numLabels) {
        return DistilBertConfig.builder().vocabSize(100).maxPositionEmbeddings(64).sinusoidalPosEmbds(sinusoidal)
                .nLayers(2).nHeads(shape[1]).dim(shape[0]).hiddenDim(shape[2]).activation(act).numLabels(numLabels)
                .build();
    }

    /** The same checkpoint on the CPU and on the GPU at {@code p}; the pair is closed together. */
    record Pair(DistilBert cpu, DistilBert gpu) implements AutoCloseable {
        static Pair of(Checkpoint ckpt, Precision p) {
            GpuBackends.cudaOrSkip(p); // skips, saying why, without a GPU
            return new Pair(DistilBert.of(ckpt, new CpuOps(2, MatmulKernel.best())),
                    DistilBert.of(ckpt, GpuBackends.create(p)));
        }

        @Override
        public void close() {
            try {
                cpu.close();
            } finally {
                gpu.close();
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void encoderWithHiddenStatesAndAttentions(Precision p) {
        int seed = 100;
        for (Activation act : Activation.values()) {
            for (int[] shape : SHAPES) {
                boolean sinusoidal = act == Activation.GELU_NEW || act == Activation.SILU;
                DistilBertConfig config = config(act, sinusoidal, shape, 2);
                try (Pair m = Pair.of(TestModels.checkpoint(config, Head.BASE, seed++), p)) {
                    int[][] ids = TestModels.randomIds(B, L, config.vocabSize(), seed++);
                    for (MaskedPositions mode : MaskedPositions.values()) {
                        ModelInput in = ModelInput.ofIds(ids, TestModels.raggedMask()).withMaskedPositions(mode)
                                .withOutputHiddenStates(true).withOutputAttentions(true);
                        String what = act + " " + (sinusoidal ? "sinusoidal" : "learned") + " dim " + shape[0] + " heads "
                                + shape[1] + " " + mode + " " + p;
                        BaseModelOutput cpu = m.cpu().as(DistilBertModel.class).forward(in);
                        BaseModelOutput gpu = m.gpu().as(DistilBertModel.class).forward(in);
                        close(what + " last_hidden_state", p, cpu.lastHiddenState(), gpu.lastHiddenState());
                        closeAll(what + " hidden_states", p, cpu.hiddenStates(), gpu.hiddenStates());
                        closeAll(what + " attentions", p, cpu.attentions(), gpu.attentions());
                        for (SentenceEmbeddings.Pooling pooling : SentenceEmbeddings.Pooling.values()) {
                            close(what + " pool " + pooling, p, m.cpu().as(DistilBertModel.class).pool(in, pooling),
                                    m.gpu().as(DistilBertModel.class).pool(in, pooling));
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void headMaskAndInputsEmbeds(Precision p) {
        DistilBertConfig config = config(Activation.GELU, false, SHAPES[1], 2);
        try (Pair m = Pair.of(TestModels.checkpoint(config, Head.BASE, 7), p)) {
            Rand r = new Rand(8);
            Tensor headMask = Tensor.of(new float[] {1, 0, 0.5f, 1}, 2, 2);
            ModelInput in = ModelInput.ofIds(TestModels.randomIds(B, L, 100, 9), TestModels.raggedMask())
                    .withHeadMask(headMask).withOutputAttentions(true);
            BaseModelOutput cpu = m.cpu().as(DistilBertModel.class).forward(in);
            BaseModelOutput gpu = m.gpu().as(DistilBertModel.class).forward(in);
            close("head mask " + p, p, cpu.lastHiddenState(), gpu.lastHiddenState());
            closeAll("head mask attentions " + p, p, cpu.attentions(), gpu.attentions());

            Tensor embeds = Tensor.of(r.floats(B * L * config.dim(), 1), B, L, config.dim());
            ModelInput e = ModelInput.ofEmbeds(embeds, DistilBertModelTest.flat(TestModels.raggedMask()));
            close("inputs_embeds " + p, p, m.cpu().as(DistilBertModel.class).forward(e).lastHiddenState(),
                    m.gpu().as(DistilBertModel.class).forward(e).lastHiddenState());
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void everyHeadWithItsLoss(Precision p) {
        int[] shape = SHAPES[1];
        int[][] ids = TestModels.randomIds(B, L, 100, 21);
        int[][] mask = TestModels.raggedMaskWithFirstTokens();
        ModelInput in = ModelInput.ofIds(ids, mask);
        Rand r = new Rand(22);

        try (Pair m = Pair.of(TestModels.checkpoint(config(Activation.GELU, false, shape, 3), Head.SEQUENCE_CLASSIFICATION, 23), p)) {
            SequenceLabels labels = SequenceLabels.classes(0, 2, 1, 2);
            var cpu = m.cpu().as(DistilBertForSequenceClassification.class).forward(in, labels);
            var gpu = m.gpu().as(DistilBertForSequenceClassification.class).forward(in, labels);
            close("sequence classification logits " + p, p, cpu.logits(), gpu.logits());
            loss("sequence classification loss " + p, p, cpu.loss(), gpu.loss(), cpu.logits(), gpu.logits());
        }
        try (Pair m = Pair.of(TestModels.checkpoint(config(Activation.GELU, false, shape, 5), Head.TOKEN_CLASSIFICATION, 24), p)) {
            int[][] labels = TestModels.randomIds(B, L, 5, 25);
            labels[0][3] = -100;
            var cpu = m.cpu().as(DistilBertForTokenClassification.class).forward(in, labels);
            var gpu = m.gpu().as(DistilBertForTokenClassification.class).forward(in, labels);
            close("token classification logits " + p, p, cpu.logits(), gpu.logits());
            loss("token classification loss " + p, p, cpu.loss(), gpu.loss(), cpu.logits(), gpu.logits());
        }
        try (Pair m = Pair.of(TestModels.checkpoint(config(Activation.GELU, false, shape, 2), Head.QUESTION_ANSWERING, 26), p)) {
            int[] start = {1, 3, 0, 40}, end = {2, 5, -3, 1};
            var cpu = m.cpu().as(DistilBertForQuestionAnswering.class).forward(in, start, end);
            var gpu = m.gpu().as(DistilBertForQuestionAnswering.class).forward(in, start, end);
            close("qa start logits " + p, p, cpu.startLogits(), gpu.startLogits());
            close("qa end logits " + p, p, cpu.endLogits(), gpu.endLogits());
            loss("qa loss " + p, p, cpu.loss(), gpu.loss(), cpu.startLogits(), gpu.startLogits(), cpu.endLogits(),
                    gpu.endLogits());
        }
        try (Pair m = Pair.of(TestModels.checkpoint(config(Activation.GELU, false, shape, 2), Head.MASKED_LM, 27), p)) {
            int[][] labels = TestModels.randomIds(B, L, 100, 28);
            for (int b = 0; b < B; b++) {
                for (int l = 0; l < L; l++) {
                    if ((b + l) % 3 != 0) {
                        labels[b][l] = -100;
                    }
                }
            }
            var cpu = m.cpu().as(DistilBertForMaskedLM.class).forward(in, labels);
            var gpu = m.gpu().as(DistilBertForMaskedLM.class).forward(in, labels);
            close("masked LM logits " + p, p, cpu.logits(), gpu.logits());
            loss("masked LM loss " + p, p, cpu.loss(), gpu.loss(), cpu.logits(), gpu.logits());
            var cpuAt = m.cpu().as(DistilBertForMaskedLM.class).forwardAt(in, TokenPositions.labeled(labels), labels);
            var gpuAt = m.gpu().as(DistilBertForMaskedLM.class).forwardAt(in, TokenPositions.labeled(labels), labels);
            close("masked LM logits at labelled positions " + p, p, cpuAt.logits(), gpuAt.logits());
            loss("masked LM loss at labelled positions " + p, p, cpuAt.loss(), gpuAt.loss(), cpuAt.logits(), gpuAt.logits());
            float[] grouped = new float[cpuAt.logits().size()];
            m.gpu().as(DistilBertForMaskedLM.class).forwardAtInGroups(in, TokenPositions.labeled(labels), 3,
                    (first, logits) -> System.arraycopy(logits.data(), 0, grouped, first * 100, logits.size()));
            close("masked LM logits at labelled positions, 3 at a time " + p, p, cpuAt.logits(),
                    Tensor.of(grouped, cpuAt.logits().shape()));
        }
        try (Pair m = Pair.of(TestModels.checkpoint(config(Activation.GELU, false, shape, 2), Head.MULTIPLE_CHOICE, 29), p)) {
            int C = 3;
            int[][][] choiceIds = new int[2][C][];
            int[][][] choiceMask = new int[2][C][];
            for (int b = 0; b < 2; b++) {
                for (int c = 0; c < C; c++) {
                    choiceIds[b][c] = r.ints(L, 100);
                    choiceMask[b][c] = mask[(b + c) % B];
                }
            }
            int[] labels = {2, 0};
            var cpu = m.cpu().as(DistilBertForMultipleChoice.class).forward(choiceIds, choiceMask, labels);
            var gpu = m.gpu().as(DistilBertForMultipleChoice.class).forward(choiceIds, choiceMask, labels);
            close("multiple choice logits " + p, p, cpu.logits(), gpu.logits());
            loss("multiple choice loss " + p, p, cpu.loss(), gpu.loss(), cpu.logits(), gpu.logits());
        }
    }

    /** Device memory after many forwards of varying shapes equals memory after the first (the largest). */
    @Test
    void memoryStaysFlatOverManyForwardsOfVaryingShapes() {
        CudaOps probe = GpuBackends.cudaOrSkip(Precision.BF16);
        DistilBertConfig config = config(Activation.GELU, false, SHAPES[1], 2);
        Checkpoint ckpt = TestModels.checkpoint(config, Head.SEQUENCE_CLASSIFICATION, 31);
        try (DistilBert gpu = DistilBert.of(ckpt, GpuBackends.create(Precision.BF16))) {
            CudaOps ops = (CudaOps) gpu.ops();
            var head = gpu.as(DistilBertForSequenceClassification.class);
            Rand r = new Rand(32);
            Function<Integer, ModelInput> batch = i -> {
                int b = 1 + (i == 0 ? 31 : r.nextInt(32)), l = i == 0 ? 64 : 1 + r.nextInt(64);
                int[][] mask = new int[b][l];
                for (int[] row : mask) {
                    int n = 1 + r.nextInt(l);
                    for (int j = 0; j < n; j++) {
                        row[j] = 1;
                    }
                }
                return ModelInput.ofIds(TestModels.randomIds(b, l, 100, i), mask);
            };
            head.forward(batch.apply(0)); // the largest shape first
            ops.synchronize();
            long afterFirst = ops.context().memoryInfo()[0];
            // 1000 on a GPU; 40 in the kernel emulator (kernels-cu/src/test/emu), where a forward of
            // this size takes a third of a second (allocations repeat within a few shapes either way)
            int forwards = GpuBackends.emulated() ? 40 : 1000;
            for (int i = 1; i < forwards; i++) {
                head.forward(batch.apply(i));
            }
            ops.synchronize();
            long afterAll = ops.context().memoryInfo()[0];
            assertEquals(afterFirst, afterAll, "free device memory after 1 forward vs after " + forwards + " (bytes)");
        }
        assertTrue(probe != null);
    }

    @Test
    void theProfileBreaksAForwardPassDownByOp() {
        GpuBackends.cudaOrSkip(Precision.BF16);
        DistilBertConfig config = config(Activation.GELU, false, SHAPES[1], 2);
        try (DistilBert gpu = DistilBert.of(TestModels.checkpoint(config, Head.BASE, 35), GpuBackends.create(Precision.BF16))) {
            CudaOps ops = (CudaOps) gpu.ops();
            ModelInput in = ModelInput.ofIds(TestModels.randomIds(B, L, 100, 36), TestModels.raggedMask());
            ops.startProfile();
            gpu.as(DistilBertModel.class).forward(in);
            var totals = ops.stopProfile();
            int T = 16 + 9 + 8; // the ragged mask's tokens per row: 16, 9, 8, 0
            String qkv = "matmul " + T + "x128x384", outLin = "matmul " + T + "x128x128";
            assertTrue(totals.calls().containsKey(qkv), "labels: " + totals.calls().keySet());
            // one fused q/k/v projection and one out_lin in each of the 2 layers
            assertEquals(2, totals.calls().get(qkv)[0], qkv + " calls");
            assertEquals(2, totals.calls().get(outLin)[0], outLin + " calls");
            // bf16, head size 64: the tensor-core kernel (AttentionKernel.AUTO)
            String attention = "attention (tensor cores) " + T + "x2x64";
            assertEquals(2, totals.calls().get(attention)[0], attention + " calls; labels: " + totals.calls().keySet());
            assertTrue(totals.millis().values().stream().allMatch(ms -> ms[0] >= 0));
        }
    }

    @Test
    void runningOutOfDeviceMemoryIsAClearErrorAndTheBackendGoesOn() {
        GpuBackends.cudaOrSkip(Precision.BF16);
        DistilBertConfig config = config(Activation.GELU, false, SHAPES[1], 2);
        Checkpoint ckpt = TestModels.checkpoint(config, Head.BASE, 33);
        try (DistilBert gpu = DistilBert.of(ckpt, GpuBackends.create(Precision.BF16))) {
            Ops ops = gpu.ops();
            GpuOutOfMemoryException e = assertThrows(GpuOutOfMemoryException.class, () -> {
                try (Ops.Scope scope = ops.scope()) {
                    ops.allocate(1L << 42); // 8 TiB of bfloat16
                }
            });
            assertTrue(e.getMessage().startsWith("GPU out of memory: activations needs"), e.getMessage());
            assertTrue(e.getMessage().contains("free of"), e.getMessage());
            ModelInput in = ModelInput.ofIds(TestModels.randomIds(B, L, 100, 34), TestModels.raggedMask());
            Tensor out = gpu.as(DistilBertModel.class).forward(in).lastHiddenState();
            assertEquals(B * L * config.dim(), out.size());
        }
    }

    // ---------------------------------------------------------------------------------------------

    /**
     * The GPU's loss against the CPU's, within what the difference of their logits allows: every head's
     * loss is a mean of cross entropies, and cross entropy is 2-Lipschitz in the max norm of its logits
     * (its gradient, softmax − one-hot, has L1 norm 2·(1 − p_label) ≤ 2), so |Δloss| ≤ 2·max|Δlogits|;
     * plus the loss's rounding to the storage type and float32's sums. A loss kernel that drops an
     * ignore_index, a clamp or a row is off by far more. {@code logits}: (CPU, GPU) pairs.
     */
    private static void loss(String what, Precision p, Float expected, Float actual, Tensor... logits) {
        assertTrue(expected != null && actual != null, what + ": missing loss");
        double maxDiff = 0;
        for (int t = 0; t < logits.length; t += 2) {
            float[] cpu = logits[t].data(), gpu = logits[t + 1].data();
            for (int i = 0; i < cpu.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs((double) gpu[i] - cpu[i]));
            }
        }
        double bound = 2 * maxDiff + 2 * GpuBackends.unitRoundoff(p) * Math.abs(expected) + 1e-5 * Math.abs(expected);
        double err = Math.abs((double) actual - expected);
        assertTrue(err <= bound, what + ": " + actual + " vs " + expected + ", error " + err + " > " + bound
                + " (2 x the largest logit difference, " + maxDiff + ", and the loss's rounding)");
    }

    private static void closeAll(String what, Precision p, List<Tensor> expected, List<Tensor> actual) {
        assertEquals(expected.size(), actual.size(), what + ": count");
        for (int i = 0; i < expected.size(); i++) {
            close(what + "[" + i + "]", p, expected.get(i), actual.get(i));
        }
    }

    static void close(String what, Precision p, Tensor expected, Tensor actual) {
        assertEquals(java.util.Arrays.toString(expected.shape()), java.util.Arrays.toString(actual.shape()),
                what + ": shape");
        GpuBackends.assertWithin(what, GpuBackends.modelBound(p), expected.data(), actual.data(), actual.shape());
    }
}
