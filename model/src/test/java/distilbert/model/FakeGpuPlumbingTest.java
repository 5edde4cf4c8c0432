package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.cuda.AttentionKernel;
import distilbert.cuda.CudaContext;
import distilbert.cuda.GpuOutOfMemoryException;
import distilbert.cuda.GpuProbe;
import distilbert.cuda.GpuStatus;
import distilbert.weights.Activation;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The CUDA backend's host side on the stand-in driver and cuBLAS of kernels-cu/src/test/fake-cuda,
 * which keep device memory in host memory and run no kernel: everything up to the kernels runs for
 * real here, in CI, where no GPU is: module loading, every launch (its arguments against the kernel's
 * PTX parameters, its geometry against the device's limits, each pointer argument inside a live
 * allocation), every copy and memset (inside one live
 * allocation), every cuBLAS and cuBLASLt call (shapes, leading dimensions, every matrix inside its
 * allocation), the arena, the probe, out-of-memory, and that everything allocated is freed. The
 * values are not checked (no kernel ran): the GPU suite does that on a GPU.
 *
 * <p>Runs only in model/pom.xml's fake-gpu execution, which puts the stand-ins on LD_LIBRARY_PATH,
 * sets {@code distilbert.fakeGpu} and names the stand-ins' log (FAKE_CUDA_LOG): one line per launch
 * and per GEMM, and the reason of every call they refused.
 */
@Tag("fakegpu")
final class FakeGpuPlumbingTest {

    private static final int B = 4, L = 16;

    /** dim, heads, ffn: head sizes 8 and 64 (tensor cores in bf16/fp16), 48, and 200 (SIMT only). */
    private static final int[][] SHAPES = {{32, 4, 64}, {128, 2, 256}, {96, 2, 200}, {200, 1, 64}};

    private Path log;

    @BeforeEach
    void onTheStandIns() throws IOException {
        Assumptions.assumeTrue(Boolean.getBoolean("distilbert.fakeGpu"),
                "runs in model/pom.xml's fake-gpu execution, on the stand-in driver (mvn test runs it)");
        String path = System.getenv("FAKE_CUDA_LOG");
        assertTrue(path != null && !path.isBlank(), "the fake-gpu execution names FAKE_CUDA_LOG");
        log = Path.of(path);
        Files.deleteIfExists(log);
    }

    /** The stand-ins' log so far: launches, GEMMs and refusals. */
    private List<String> logLines() throws IOException {
        return Files.exists(log) ? Files.readAllLines(log) : List.of();
    }

    /** Launches per kernel, and no call refused. */
    private Map<String, Integer> launches() throws IOException {
        List<String> lines = logLines();
        List<String> errors = lines.stream().filter(l -> l.startsWith("error ")).toList();
        assertEquals(List.of(), errors, "calls the stand-in driver or cuBLAS refused");
        Map<String, Integer> out = new TreeMap<>();
        for (String l : lines) {
            if (l.startsWith("launch ")) {
                // FAKE_CUDA_SIGNATURES gave the driver every kernel's parameters: pointers checked
                assertTrue(l.endsWith(" checked"), "a launch whose pointer parameters the stand-in could not check: " + l);
                out.merge(l.split(" ")[1], 1, Integer::sum);
            }
        }
        return out;
    }

    private static DistilBertConfig config(Activation act, boolean sinusoidal, int[] shape, int numLabels) {
        return DistilBertConfig.builder().vocabSize(100).maxPositionEmbeddings(64).sinusoidalPosEmbds(sinusoidal)
                .nLayers(2).nHeads(shape[1]).dim(shape[0]).hiddenDim(shape[2]).activation(act).numLabels(numLabels)
                .build();
    }

    @Test
    void theProbeFindsTheStandInDeviceAndItsCublas() {
        GpuStatus status = GpuProbe.status();
        assertTrue(status.usable(), status.toString());
        String text = status.describe();
        assertTrue(text.contains("distilbert-cuda fake GPU"), text);
        assertTrue(text.contains("13.0.2"), "the stand-in cuBLAS's version: " + text);
    }

    /** Every head, every output, both masked-position modes, on every precision; everything freed after. */
    @ParameterizedTest
    @EnumSource(Precision.class)
    void everyHeadRunsThroughTheWholeHostPath(Precision p) throws IOException {
        long freeBefore = freeDeviceMemory();
        int seed = 1;
        for (int[] shape : SHAPES) {
            for (Activation act : Activation.values()) {
                DistilBertConfig config = config(act, act == Activation.SILU, shape, 3);
                try (DistilBert db = DistilBert.of(TestModels.checkpoint(config, Head.BASE, seed++), CudaOps.create(p))) {
                    for (MaskedPositions mode : MaskedPositions.values()) {
                        ModelInput in = ModelInput.ofIds(TestModels.randomIds(B, L, 100, seed), TestModels.raggedMask())
                                .withMaskedPositions(mode).withOutputHiddenStates(true).withOutputAttentions(true);
                        BaseModelOutput out = db.as(DistilBertModel.class).forward(in);
                        assertArrayEquals(new int[] {B, L, shape[0]}, out.lastHiddenState().shape());
                        assertEquals(3, out.hiddenStates().size());
                        assertEquals(2, out.attentions().size());
                        for (SentenceEmbeddings.Pooling pooling : SentenceEmbeddings.Pooling.values()) {
                            assertArrayEquals(new int[] {B, shape[0]}, db.as(DistilBertModel.class).pool(in, pooling).shape());
                        }
                    }
                    // without probabilities: the fused attention kernel of this head size
                    db.as(DistilBertModel.class).forward(ModelInput.ofIds(TestModels.randomIds(B, L, 100, seed),
                            TestModels.raggedMask()));
                    if (shape[1] == 2) {
                        db.as(DistilBertModel.class).forward(ModelInput.ofIds(TestModels.randomIds(B, L, 100, seed),
                                TestModels.raggedMask()).withHeadMask(Tensor.of(new float[] {1, 0.5f}, 2)));
                    }
                }
            }
        }
        int[] shape = SHAPES[1];
        int[][] ids = TestModels.randomIds(B, L, 100, 21);
        int[][] mask = TestModels.raggedMaskWithFirstTokens();
        ModelInput in = ModelInput.ofIds(ids, mask);
        try (DistilBert db = DistilBert.of(TestModels.checkpoint(config(Activation.GELU, false, shape, 3),
                Head.SEQUENCE_CLASSIFICATION, 23), CudaOps.create(p))) {
            var out = db.as(DistilBertForSequenceClassification.class).forward(in, SequenceLabels.classes(0, 2, 1, 2));
            assertArrayEquals(new int[] {B, 3}, out.logits().shape());
            assertTrue(out.loss() != null);
        }
        try (DistilBert db = DistilBert.of(TestModels.checkpoint(config(Activation.GELU, false, shape, 5),
                Head.TOKEN_CLASSIFICATION, 24), CudaOps.create(p))) {
            int[][] labels = TestModels.randomIds(B, L, 5, 25);
            labels[0][3] = -100;
            var out = db.as(DistilBertForTokenClassification.class).forward(in, labels);
            assertArrayEquals(new int[] {B, L, 5}, out.logits().shape());
        }
        try (DistilBert db = DistilBert.of(TestModels.checkpoint(config(Activation.GELU, false, shape, 2),
                Head.QUESTION_ANSWERING, 26), CudaOps.create(p))) {
            var out = db.as(DistilBertForQuestionAnswering.class).forward(in, new int[] {1, 3, 0, 40}, new int[] {2, 5, -3, 1});
            assertArrayEquals(new int[] {B, L}, out.startLogits().shape());
        }
        try (DistilBert db = DistilBert.of(TestModels.checkpoint(config(Activation.GELU, false, shape, 2),
                Head.MASKED_LM, 27), CudaOps.create(p))) {
            int[][] labels = TestModels.randomIds(B, L, 100, 28);
            for (int b = 0; b < B; b++) {
                for (int l = 0; l < L; l++) {
                    if ((b + l) % 3 != 0) labels[b][l] = -100;
                }
            }
            var mlm = db.as(DistilBertForMaskedLM.class);
            assertArrayEquals(new int[] {B, L, 100}, mlm.forward(in, labels).logits().shape());
            TokenPositions at = TokenPositions.labeled(labels);
            mlm.forwardAt(in, at, labels);
            List<Integer> groups = new ArrayList<>();
            mlm.topTokensAtInGroups(in, at, 3, 5, (first, top) -> groups.add(first));
            assertTrue(groups.size() >= 2, "groups of 3: " + groups);
            List<Integer> sizes = new ArrayList<>();
            mlm.targetProbsAtInGroups(in, at, 4, new int[] {7, 0, 99}, (first, probs) -> sizes.add(probs.length));
            assertEquals(at.size() * 3, sizes.stream().mapToInt(Integer::intValue).sum(), "[n, 3] per group: " + sizes);
        }
        try (DistilBert db = DistilBert.of(TestModels.checkpoint(config(Activation.GELU, false, shape, 2),
                Head.MULTIPLE_CHOICE, 29), CudaOps.create(p))) {
            int[][][] choiceIds = {{ids[0], ids[1], ids[2]}, {ids[3], ids[0], ids[1]}};
            int[][][] choiceMask = {{mask[0], mask[1], mask[2]}, {mask[3], mask[0], mask[1]}};
            var out = db.as(DistilBertForMultipleChoice.class).forward(choiceIds, choiceMask, new int[] {2, 0});
            assertArrayEquals(new int[] {2, 3}, out.logits().shape());
        }
        Map<String, Integer> launched = launches();
        String suffix = switch (p) {
            case FP32, TF32 -> "_f32";
            case BF16 -> "_bf16";
            case FP16 -> "_f16";
        };
        for (String kernel : List.of("embedding_layernorm_forward", "residual_layernorm_forward", "attention_probs_forward",
                "pool_rows", "gather_rows", "cross_entropy_forward", "softmax_top_k", "softmax_gather", "bias_gelu_forward", "bias_relu_forward",
                "bias_silu_forward", "bias_gelu_new_forward")) {
            assertTrue(launched.containsKey(kernel + suffix), kernel + suffix + " launched; launches: " + launched);
        }
        // without probabilities: the tensor cores for 16-bit storage where the head size allows, else SIMT
        String attention = p == Precision.BF16 || p == Precision.FP16 ? "attention_tc_forward_hs64" + suffix
                : "attention_forward_hs64" + suffix;
        assertTrue(launched.containsKey(attention), attention + " launched; launches: " + launched);
        String small = p == Precision.BF16 || p == Precision.FP16 ? "attention_tc_forward_hs32" + suffix
                : "attention_forward_hs32" + suffix;
        assertTrue(launched.containsKey(small), "head size 8: " + small + " launched; launches: " + launched);
        assertTrue(launched.containsKey("attention_forward_hs256" + suffix), "head size 200: the SIMT kernel, " + launched);
        assertTrue(logLines().stream().anyMatch(l -> l.startsWith("gemm cublasLtMatmul")), "GEMMs through cuBLASLt");
        assertEquals(freeBefore, freeDeviceMemory(), "device memory after every model is closed: all freed");
    }

    @Test
    void bothAttentionKernelsAndTheirRefusal() throws IOException {
        DistilBertConfig config = config(Activation.GELU, false, SHAPES[1], 2);
        try (DistilBert db = DistilBert.of(TestModels.checkpoint(config, Head.BASE, 31), CudaOps.create(Precision.BF16))) {
            CudaOps ops = (CudaOps) db.ops();
            ModelInput in = ModelInput.ofIds(TestModels.randomIds(B, L, 100, 32), TestModels.raggedMask());
            for (AttentionKernel kernel : List.of(AttentionKernel.SIMT, AttentionKernel.TENSOR_CORES)) {
                ops.attentionKernel(kernel);
                db.as(DistilBertModel.class).forward(in);
            }
        }
        Map<String, Integer> launched = launches();
        assertEquals(2, launched.get("attention_forward_hs64_bf16"), "SIMT, 2 layers: " + launched);
        assertEquals(2, launched.get("attention_tc_forward_hs64_bf16"), "tensor cores, 2 layers: " + launched);
        DistilBertConfig wide = config(Activation.GELU, false, SHAPES[3], 2);
        try (DistilBert db = DistilBert.of(TestModels.checkpoint(wide, Head.BASE, 33), CudaOps.create(Precision.BF16))) {
            ((CudaOps) db.ops()).attentionKernel(AttentionKernel.TENSOR_CORES);
            ModelInput in = ModelInput.ofIds(TestModels.randomIds(B, L, 100, 34), TestModels.raggedMask());
            RuntimeException e = assertThrows(RuntimeException.class, () -> db.as(DistilBertModel.class).forward(in));
            assertTrue(e.getMessage().contains("200"), "names the head size: " + e.getMessage());
        }
    }

    @Test
    void memoryStaysFlatAndRunningOutIsAClearErrorTheBackendSurvives() throws IOException {
        DistilBertConfig config = config(Activation.GELU, false, SHAPES[1], 2);
        try (DistilBert db = DistilBert.of(TestModels.checkpoint(config, Head.SEQUENCE_CLASSIFICATION, 35),
                CudaOps.create(Precision.BF16))) {
            CudaOps ops = (CudaOps) db.ops();
            var head = db.as(DistilBertForSequenceClassification.class);
            Rand r = new Rand(36);
            head.forward(ModelInput.ofIds(TestModels.randomIds(32, 64, 100, 0), full(32, 64))); // the largest first
            long afterFirst = ops.context().memoryInfo()[0];
            long allocationsBefore = logLines().stream().filter(l -> l.startsWith("alloc ") || l.startsWith("free ")).count();
            assertTrue(allocationsBefore > 0, "the stand-in logs allocations");
            for (int i = 1; i < 200; i++) {
                int b = 1 + r.nextInt(32), l = 1 + r.nextInt(64);
                head.forward(ModelInput.ofIds(TestModels.randomIds(b, l, 100, i), full(b, l)));
            }
            assertEquals(afterFirst, ops.context().memoryInfo()[0], "free device memory after 1 forward vs after 200");
            // the "no allocation inside a forward pass after warm-up": not one cuMemAlloc or cuMemFree
            assertEquals(allocationsBefore, logLines().stream().filter(l -> l.startsWith("alloc ") || l.startsWith("free ")).count(),
                    "device allocations and frees during 199 forwards after the largest");
            GpuOutOfMemoryException e = assertThrows(GpuOutOfMemoryException.class, () -> {
                try (Ops.Scope step = ops.scope()) {
                    assertTrue(step != null);
                    ops.allocate(1L << 40);
                }
            });
            assertTrue(e.getMessage().startsWith("GPU out of memory: activations needs"), e.getMessage());
            assertArrayEquals(new int[] {3, 2}, head.forward(ModelInput.ofIds(TestModels.randomIds(3, 9, 100, 37), full(3, 9)))
                    .logits().shape());
        }
        launches(); // nothing refused
    }

    /**
     * One CUDA backend shared by several threads, as a server shares it: the driver binds a context
     * to a thread, and the stand-in refuses a call from a thread the context is not current on, so
     * every forward must make it current (CudaOps.scope) and take its turn.
     */
    @Test
    void threadsSharingOneGpuModelEachMakeTheContextCurrent() throws Exception {
        DistilBertConfig config = config(Activation.GELU, false, SHAPES[1], 2);
        try (DistilBert db = DistilBert.of(TestModels.checkpoint(config, Head.SEQUENCE_CLASSIFICATION, 41),
                CudaOps.create(Precision.BF16))) {
            var head = db.as(DistilBertForSequenceClassification.class);
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
            try {
                List<java.util.concurrent.Future<int[]>> runs = new ArrayList<>();
                for (int t = 0; t < 16; t++) {
                    int b = 1 + t % 5, l = 3 + t;
                    runs.add(pool.submit(() -> head.forward(ModelInput.ofIds(TestModels.randomIds(b, l, 100, b), full(b, l)))
                            .logits().shape()));
                }
                for (int t = 0; t < runs.size(); t++) {
                    assertArrayEquals(new int[] {1 + t % 5, 2}, runs.get(t).get(), "thread run " + t);
                }
            } finally {
                pool.shutdownNow();
            }
        }
        launches(); // nothing refused: no call from a thread without the context
    }

    /**
     * Models on two GPUs of one machine ({@code cuda:0}, {@code cuda:1}; the fake-gpu execution's
     * FAKE_CUDA_DEVICES gives three, the third sm_75), run at once from two threads: the stand-in
     * refuses any pointer, stream, module or cuBLAS handle of one device used under the other's
     * context, so every call of each model stays on its own GPU; device 1's memory is taken and given
     * back by the model on it alone. A GPU that is not there, or cannot run the kernels, is a clear error.
     */
    @Test
    void modelsOnTwoGpusRunAtOnceEachOnItsOwn() throws Exception {
        GpuStatus.Usable status = (GpuStatus.Usable) GpuProbe.status();
        assertEquals(3, status.devices().size(), "FAKE_CUDA_DEVICES of the fake-gpu execution: " + status.devices());
        assertEquals(0, status.device().ordinal(), "the default GPU: the first that runs the kernels");
        long free0 = freeDeviceMemory(0), free1 = freeDeviceMemory(1);
        DistilBertConfig config = config(Activation.GELU, false, SHAPES[1], 2);
        try (DistilBert gpu0 = DistilBert.of(TestModels.checkpoint(config, Head.SEQUENCE_CLASSIFICATION, 45),
                     DistilBert.backend(Device.cuda(0), Precision.BF16));
             DistilBert gpu1 = DistilBert.of(TestModels.checkpoint(config, Head.SEQUENCE_CLASSIFICATION, 45),
                     DistilBert.backend(Device.parse("cuda:1"), Precision.BF16))) {
            assertTrue(gpu1.ops().describe().contains("device 1"), gpu1.ops().describe());
            long used0 = free0 - freeDeviceMemory(0), used1 = free1 - freeDeviceMemory(1);
            assertTrue(used0 > 0 && used1 == used0, "each GPU holds its own model's weights: " + used0 + ", " + used1);
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
            try {
                List<java.util.concurrent.Future<?>> runs = new ArrayList<>();
                for (DistilBert db : List.of(gpu0, gpu1)) {
                    runs.add(pool.submit(() -> {
                        for (int t = 0; t < 8; t++) {
                            int b = 1 + t % 3, l = 4 + t;
                            assertArrayEquals(new int[] {b, 2}, db.as(DistilBertForSequenceClassification.class)
                                    .forward(ModelInput.ofIds(TestModels.randomIds(b, l, 100, t), full(b, l))).logits().shape());
                        }
                        return null;
                    }));
                }
                for (var run : runs) run.get();
            } finally {
                pool.shutdownNow();
            }
        }
        launches(); // nothing refused: no call of one GPU's model reached the other GPU
        assertEquals(free1, freeDeviceMemory(1), "device 1's memory after its model is closed");
        assertEquals(free0, freeDeviceMemory(0), "device 0's memory after its model is closed");

        IllegalStateException old = assertThrows(IllegalStateException.class, () -> DistilBert.backend(Device.cuda(2), null));
        assertTrue(old.getMessage().contains("device 2") && old.getMessage().contains("sm_75")
                && old.getMessage().contains("cannot run the kernels: they need compute capability 8.0 or newer"), old.getMessage());
        IllegalStateException none = assertThrows(IllegalStateException.class, () -> DistilBert.backend(Device.cuda(3), null));
        assertTrue(none.getMessage().startsWith("no CUDA device 3: the driver sees 3 GPUs, devices 0 to 2"), none.getMessage());
    }

    /**
     * {@link Device#gpus()} and {@link Replicas}: every GPU that can run the kernels (the stand-in's
     * devices 0 and 1, not the sm_75 one), a copy of the model on each, driven by a batcher with a
     * worker per copy (every call stays on its copy's GPU: the stand-in refuses anything else), and
     * each GPU's memory given back on close. A copy that cannot load (the sm_75 GPU) closes the one
     * loaded before it. (The values on two GPUs: CliOnFakeGpuTest, kernels emulated.)
     */
    @Test
    void replicasOnEveryUsableGpu(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        assertEquals(List.of(Device.cuda(0), Device.cuda(1)), Device.gpus());
        DistilBertConfig config = config(Activation.GELU, false, SHAPES[1], 2);
        distilbert.weights.ModelDirectory.save(dir, TestModels.checkpoint(config, Head.SEQUENCE_CLASSIFICATION, 46));
        int[][] ids = TestModels.randomIds(6, 7, 100, 47);
        long free0 = freeDeviceMemory(0), free1 = freeDeviceMemory(1);
        try (Replicas models = Replicas.load(dir, Device.gpus(), Precision.FP32);
             DynamicBatcher<int[], float[]> b = DynamicBatcher.<int[], float[]>builder()
                     .workers(models.map(db -> (DynamicBatcher.BatchFunction<int[], float[]>) rows -> {
                         float[] logits = db.as(DistilBertForSequenceClassification.class)
                                 .forward(ModelInput.ofIds(rows.toArray(int[][]::new), full(rows.size(), 7))).logits().data();
                         List<float[]> out = new ArrayList<>();
                         for (int r = 0; r < rows.size(); r++) out.add(java.util.Arrays.copyOfRange(logits, 2 * r, 2 * r + 2));
                         return out;
                     }))
                     .maxBatchSize(2).build()) {
            assertTrue(models.models().get(0).ops().describe().contains("device 0")
                    && models.models().get(1).ops().describe().contains("device 1"), models.map(db -> db.ops().describe()).toString());
            var got = b.submitAll(List.of(ids));
            for (int r = 0; r < ids.length; r++) {
                // the kernels do not run here (the values are the CLI's emulated --device cuda:0,1 tests'): the plumbing only
                assertEquals(2, got.get(r).get(60, java.util.concurrent.TimeUnit.SECONDS).length, "row " + r);
            }
            assertEquals(ids.length, b.stats().requests());
        }
        assertEquals(free0, freeDeviceMemory(0));
        assertEquals(free1, freeDeviceMemory(1));
        IllegalStateException old = assertThrows(IllegalStateException.class,
                () -> Replicas.load(dir, List.of(Device.cuda(1), Device.cuda(2)), Precision.FP32));
        assertTrue(old.getMessage().contains("sm_75"), old.getMessage());
        assertEquals(free1, freeDeviceMemory(1), "the copy on device 1 was closed when device 2 failed");
        launches();
    }

    /**
     * The "only requested outputs come back to the host", counted in bytes copied from the
     * device: a classifier's forward brings back its [B, num_labels] logits, pooling [B, C], the
     * encoder with hidden states all of them; and what goes up is the ids and the packing (a few ints a
     * token), never activations.
     */
    @Test
    void onlyTheRequestedOutputsComeBack() throws IOException {
        int b = 8, l = 32, labels = 3;
        DistilBertConfig config = config(Activation.GELU, false, SHAPES[1], labels);
        int C = SHAPES[1][0];
        try (DistilBert db = DistilBert.of(TestModels.checkpoint(config, Head.SEQUENCE_CLASSIFICATION, 43),
                CudaOps.create(Precision.BF16))) {
            ModelInput in = ModelInput.ofIds(TestModels.randomIds(b, l, 100, 44), full(b, l));
            var head = db.as(DistilBertForSequenceClassification.class);
            head.forward(in); // warm-up: the arena's first growth
            Files.deleteIfExists(log);
            head.forward(in);
            assertEquals((long) b * labels * 2, copied("dtoh"), "a classifier's forward brings back [B, 3] bf16 logits");
            assertTrue(copied("htod") <= 4L * 4 * b * l, "up: the ids and the packing, " + copied("htod") + " bytes");
            Files.deleteIfExists(log);
            db.as(DistilBertForSequenceClassification.class).distilbert().pool(in, SentenceEmbeddings.Pooling.MEAN);
            assertEquals((long) b * C * 2, copied("dtoh"), "mean pooling brings back [B, C] bf16");
            Files.deleteIfExists(log);
            BaseModelOutput out = db.as(DistilBertForSequenceClassification.class).distilbert()
                    .forward(in.withOutputHiddenStates(true));
            // the embeddings' output and each layer's: last_hidden_state is the last of them, brought back once
            assertEquals(3L * b * l * C * 2, copied("dtoh"), "3 hidden states of [B, L, C] bf16");
            assertTrue(out.lastHiddenState() == out.hiddenStates().getLast(), "last_hidden_state is hidden_states[-1]");
        }
    }

    @Test
    void everyHeadBringsBackItsOutputsOnly() throws IOException {
        int b = 4, l = 16;
        ModelInput in = ModelInput.ofIds(TestModels.randomIds(b, l, 100, 45), full(b, l));
        try (DistilBert db = DistilBert.of(TestModels.checkpoint(config(Activation.GELU, false, SHAPES[1], 5),
                Head.TOKEN_CLASSIFICATION, 46), CudaOps.create(Precision.FP32))) {
            var head = db.as(DistilBertForTokenClassification.class);
            head.forward(in, null);
            Files.deleteIfExists(log);
            head.forward(in, null);
            assertEquals((long) b * l * 5 * 4, copied("dtoh"), "token classification: [B, L, 5] fp32 logits");
        }
        try (DistilBert db = DistilBert.of(TestModels.checkpoint(config(Activation.GELU, false, SHAPES[1], 2),
                Head.QUESTION_ANSWERING, 47), CudaOps.create(Precision.FP32))) {
            var head = db.as(DistilBertForQuestionAnswering.class);
            head.forward(in, null, null);
            Files.deleteIfExists(log);
            head.forward(in, null, null);
            assertEquals(2L * b * l * 4, copied("dtoh"), "question answering: start and end logits [B, L]");
        }
        try (DistilBert db = DistilBert.of(TestModels.checkpoint(config(Activation.GELU, false, SHAPES[1], 2),
                Head.MASKED_LM, 48), CudaOps.create(Precision.FP32))) {
            var head = db.as(DistilBertForMaskedLM.class);
            int[][] labels = new int[b][l];
            for (int[] row : labels) Arrays.fill(row, -100);
            labels[1][3] = 7;
            labels[2][0] = 9;
            head.forwardAt(in, TokenPositions.labeled(labels), null);
            Files.deleteIfExists(log);
            head.forwardAt(in, TokenPositions.labeled(labels), null);
            assertEquals(2L * 100 * 4, copied("dtoh"), "masked LM at 2 positions: [2, V] logits, not [B, L, V]");
            Files.deleteIfExists(log);
            head.topTokensAtInGroups(in, TokenPositions.labeled(labels), 64, 5, (first, top) -> { });
            assertEquals(2L * 5 * 4 * 2, copied("dtoh"), "top 5 at 2 positions: probabilities and ids, not logits");
        }
    }

    /**
     * A training step on the GPU, in fp32, bf16 and fp16 (mixed precision: float32 master weights,
     * gradients and moments beside the 16-bit model; fp16's loss scaled): every launch of it (the
     * training forward, each backward kernel, cuBLAS's gradient products, the unscaling, AdamW, the
     * 16-bit copy of the master weights) passes the stand-in driver's checks of its arguments against
     * the kernel's parameters and of its pointers against live allocations.
     */
    @Test
    void aTrainingStepOnTheGpuLaunchesEveryKernel() throws IOException {
        int b = 2, l = 8;
        ModelInput in = ModelInput.ofIds(TestModels.randomIds(b, l, 100, 49), full(b, l));
        DistilBertConfig config = config(Activation.GELU, false, SHAPES[1], 3);
        for (Precision p : List.of(Precision.FP32, Precision.BF16, Precision.FP16)) {
            try (DistilBert db = DistilBert.of(TestModels.checkpoint(config, Head.SEQUENCE_CLASSIFICATION, 50),
                    CudaOps.create(p))) {
                var head = db.as(DistilBertForSequenceClassification.class);
                Trainer trainer = new Trainer(db, Trainer.Options.defaults(LearningRateSchedule.of("linear", 0, 10)));
                head.backward(in.withDropout(trainer.nextDropout()), new SequenceLabels.Classes(new int[] {0, 1}),
                        trainer.gradients());
                trainer.step(); // the stand-in runs no kernel: the values are whatever memory held (the step may be skipped)
                ((CudaOps) db.ops()).synchronize(); // a refused launch would throw here or above
            }
        }
    }

    /** A model too large for the GPU's free memory: CUDA refuses it clearly, AUTO runs it on the CPU. */
    @Test
    void aModelThatDoesNotFitFailsOnCudaAndRunsOnTheCpuOnAuto(@org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        DistilBertConfig config = config(Activation.GELU, false, SHAPES[1], 2);
        distilbert.weights.ModelDirectory.save(dir, TestModels.checkpoint(config, Head.BASE, 49));
        Path memory = Path.of(System.getenv("FAKE_CUDA_MEMORY_FILE"));
        // room for the cuBLAS workspace (32 MiB) and little else: not the parameters
        Files.writeString(memory, Long.toString((32L << 20) + 4096));
        try {
            GpuOutOfMemoryException e = assertThrows(GpuOutOfMemoryException.class,
                    () -> DistilBert.load(dir, Device.CUDA, Precision.FP32));
            assertTrue(e.getMessage().startsWith("GPU out of memory: a buffer outside a forward pass (parameters) needs"),
                    e.getMessage());
            assertTrue(e.getMessage().endsWith("Free other models on this GPU, or run on the CPU (--device cpu, Device.CPU)"),
                    e.getMessage());
            try (DistilBert db = DistilBert.load(dir, Device.AUTO, Precision.FP32)) {
                assertTrue(db.ops() instanceof CpuOps, "AUTO fell back to the CPU: " + db.ops().describe());
                assertArrayEquals(new int[] {2, 5, SHAPES[1][0]}, db.as(DistilBertModel.class)
                        .forward(ModelInput.ofIds(TestModels.randomIds(2, 5, 100, 50), full(2, 5))).lastHiddenState().shape());
            }
        } finally {
            Files.deleteIfExists(memory);
        }
        assertEquals(0, logLines().stream().filter(l -> l.startsWith("alloc ")).count()
                - logLines().stream().filter(l -> l.startsWith("free ")).count(), "what the failed loads allocated was freed");
    }

    /** Bytes the stand-in copied in one direction ("dtoh", "htod") since the log was last cleared. */
    private long copied(String direction) throws IOException {
        return logLines().stream().filter(x -> x.startsWith(direction + " ")).mapToLong(x -> Long.parseLong(x.split(" ")[1])).sum();
    }

    private static int[][] full(int b, int l) {
        int[][] mask = new int[b][l];
        for (int[] row : mask) Arrays.fill(row, 1);
        return mask;
    }

    /** The stand-in device's free memory, read through a context of its own (opened and closed here). */
    private static long freeDeviceMemory() {
        return freeDeviceMemory(0);
    }

    /** Device {@code ordinal}'s free memory, as {@link #freeDeviceMemory()}. */
    private static long freeDeviceMemory(int ordinal) {
        try (CudaContext context = CudaContext.open(ordinal)) {
            return context.memoryInfo()[0];
        }
    }
}
