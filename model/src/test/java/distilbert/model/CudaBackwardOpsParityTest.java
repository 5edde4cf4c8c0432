package distilbert.model;

import static distilbert.model.GpuBackends.compare;
import static distilbert.model.GpuBackends.p;
import static distilbert.model.GpuBackends.poisoned;
import static distilbert.model.GpuBackends.round;
import static distilbert.model.GpuBackends.storage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.cuda.DeviceArray;
import distilbert.cuda.ElementType;
import distilbert.cuda.TrainingKernels;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every op of {@link BackwardOps} that {@code training.cu} runs, through {@link CudaOps}, against the
 * same op of {@link CpuOps} on fresh random inputs: values within {@link GpuBackends#opBound}, and to
 * the bit where the kernel promises the CPU's bits (dropout masks, AdamW, scale, the float32 row
 * scatter of gatherRowsBackward, mse). Outputs that an op writes are poisoned (NaN) first; gradients
 * that it accumulates into start from non-zero values, so {@code +=} is checked, not {@code =}.
 *
 * <p>Parameter gradients and optimizer state are float32 buffers, which {@code gpu.allocate} gives in
 * FP32 and TF32 (TF32 changes only matrix products, none of which run here). In BF16 and FP16 the ops
 * whose arrays are all activations run too (CudaOps refuses 16-bit training as a whole, not these
 * ops), compared with the CPU op on the storage-rounded inputs. Shapes are small (the kernel emulator
 * runs every thread) and ragged: columns not a multiple of 32, rows past one 256-row chunk, element
 * counts not a multiple of 4.
 */
@Tag("gpu")
final class CudaBackwardOpsParityTest {

    private final CpuOps cpu = new CpuOps(2, MatmulKernel.best());

    // ---------------------------------------------------------------------------------------------
    // embeddings

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"FP32", "TF32"})
    void embeddingBackward(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(41);
        int T = 37, C = 40, V = 20, P = 16, pad = 0;
        float[] dOut = r.floats(T * C, 1);
        int[] ids = r.ints(T, V), pos = r.ints(T, P);
        ids[0] = pad;
        ids[5] = pad;
        ids[6] = ids[7] = ids[8] = 11;            // a token three times: its row adds three rows
        pos[1] = pos[2] = 3;
        float[] wte0 = r.floats(V * C, 0.5), wpe0 = r.floats(P * C, 0.5);
        for (int variant = 0; variant < 3; variant++) {
            boolean words = variant != 2, positions = variant != 1;
            String what = "embedding backward" + (words ? " words" : "") + (positions ? " positions" : "") + " " + p;
            Buffer cWte = words ? cpu.bufferOf(wte0) : null, cWpe = positions ? cpu.bufferOf(wpe0) : null;
            cpu.embeddingBackward(cWte, cWpe, cpu.bufferOf(dOut), words ? cpu.indicesOf(ids) : null, cpu.indicesOf(pos),
                    pad, T, C);
            Buffer gWte = words ? gpu.bufferOf(wte0) : null, gWpe = positions ? gpu.bufferOf(wpe0) : null;
            gpu.embeddingBackward(gWte, gWpe, gpu.bufferOf(dOut), words ? gpu.indicesOf(ids) : null, gpu.indicesOf(pos),
                    pad, T, C);
            if (words) {
                float[] got = gpu.download(gWte);
                compare(what + " (word table)", p, cpu.download(cWte), got, V, C);
                // each row summed by one thread in token order, as the CPU adds: the same bits
                assertArrayEquals(cpu.download(cWte), got, what + ": the CPU's sums, bit for bit");
                for (int c = 0; c < C; c++) {
                    assertEquals(wte0[pad * C + c], got[pad * C + c], what + ": the padding row takes no gradient");
                }
            }
            if (positions) {
                compare(what + " (position table)", p, cpu.download(cWpe), gpu.download(gWpe), P, C);
                assertArrayEquals(cpu.download(cWpe), gpu.download(gWpe), what + ": the CPU's sums, bit for bit");
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // layer norm

    @ParameterizedTest
    @EnumSource(Precision.class)
    void layerNormBackward(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        boolean f32 = storage(p) == ElementType.F32;
        Rand r = new Rand(42);
        // one row; a row shorter than a warp's stride; rows past one 256-row chunk; C not a multiple of 32
        for (int[] shape : new int[][] {{1, 32}, {45, 96}, {300, 72}, {7, 100}, {3, 20}}) {
            int N = shape[0], C = shape[1];
            float[] x = round(p, r.floats(N * C, 3, 9)), w = round(p, r.floats(C, 0.5, 1.5));
            float[] b = round(p, r.floats(C, 0.3));
            Buffer mean = cpu.allocate(N), rstd = cpu.allocate(N);
            cpu.layerNormForward(cpu.allocate((long) N * C), mean, rstd, cpu.bufferOf(x), cpu.bufferOf(w),
                    cpu.bufferOf(b), N, C, 1e-12f);
            float[] mu = cpu.download(mean), rs = cpu.download(rstd);   // float32 on both backends
            float[] dOut = round(p, r.floats(N * C, 1));
            float[] dw0 = r.floats(C, 0.2), db0 = r.floats(C, 0.2);
            String shapeName = "layer norm backward [" + N + ", " + C + "] " + p;

            // the CPU reference, with both parameter gradients accumulating into non-zero starts
            Buffer cDx = cpu.allocate((long) N * C), cDw = cpu.bufferOf(dw0), cDb = cpu.bufferOf(db0);
            cpu.layerNormBackward(cDx, cDw, cDb, cpu.bufferOf(dOut), cpu.bufferOf(x), cpu.bufferOf(w), cpu.bufferOf(mu),
                    cpu.bufferOf(rs), N, C);
            float[] expectedDx = cpu.download(cDx), expectedDw = cpu.download(cDw), expectedDb = cpu.download(cDb);

            Buffer gx = gpu.bufferOf(x), gw = gpu.bufferOf(w), gMu = gpu.allocateFloat32(N), gRs = gpu.allocateFloat32(N);
            gpu.upload(gMu, mu);
            gpu.upload(gRs, rs);
            // dInp alone (the only form 16-bit storage can run: parameter gradients are float32)
            Buffer dx = poisoned(gpu, (long) N * C);
            gpu.layerNormBackward(dx, null, null, gpu.bufferOf(dOut), gx, gw, gMu, gRs, N, C);
            compare(shapeName + " dInp", p, expectedDx, gpu.download(dx), N, C);
            // in place: dInp is dOut (the partials must read dOut before the dInp kernel overwrites it)
            Buffer inPlace = gpu.bufferOf(dOut);
            Buffer dw = f32 ? gpu.bufferOf(dw0) : null, db = f32 ? gpu.bufferOf(db0) : null;
            gpu.layerNormBackward(inPlace, dw, db, inPlace, gx, gw, gMu, gRs, N, C);
            compare(shapeName + " dInp in place", p, expectedDx, gpu.download(inPlace), N, C);
            if (!f32) {
                continue;
            }
            float[] gotDw = gpu.download(dw), gotDb = gpu.download(db);
            compare(shapeName + " dWeight (+=, in place)", p, expectedDw, gotDw);
            compare(shapeName + " dBias (+=, in place)", p, expectedDb, gotDb);
            // separate buffers, each parameter gradient alone: the same sums, to the bit (fixed order)
            Buffer dwOnly = gpu.bufferOf(dw0), dbOnly = gpu.bufferOf(db0);
            gpu.layerNormBackward(poisoned(gpu, (long) N * C), dwOnly, null, gpu.bufferOf(dOut), gx, gw, gMu, gRs, N, C);
            gpu.layerNormBackward(poisoned(gpu, (long) N * C), null, dbOnly, gpu.bufferOf(dOut), gx, gw, gMu, gRs, N, C);
            assertArrayEquals(gotDw, gpu.download(dwOnly), shapeName + ": dWeight alone, rerun");
            assertArrayEquals(gotDb, gpu.download(dbOnly), shapeName + ": dBias alone, rerun");
        }
    }

    // ---------------------------------------------------------------------------------------------
    // column sums: a linear layer's bias gradient (matmulBackward with only dBias runs no GEMM)

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"FP32", "TF32"})
    void biasGradientColumnSum(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(43);
        for (int[] shape : new int[][] {{1, 5}, {300, 45}, {513, 33}, {64, 32}}) {
            int N = shape[0], M = shape[1], K = 3;
            float[] dOut = r.floats(N * M, 1), db0 = r.floats(M, 2);
            float[] inp = r.floats(N * K, 1), weight = r.floats(M * K, 1);
            Buffer cDb = cpu.bufferOf(db0);
            cpu.matmulBackward(null, null, cDb, cpu.bufferOf(dOut), cpu.bufferOf(inp), cpu.bufferOf(weight), N, K, M, false);
            float[] got = null;
            for (int run = 0; run < 2; run++) {
                Buffer db = gpu.bufferOf(db0);
                gpu.matmulBackward(null, null, db, gpu.bufferOf(dOut), gpu.bufferOf(inp), gpu.bufferOf(weight), N, K, M,
                        false);
                float[] now = gpu.download(db);
                if (got != null) {
                    assertArrayEquals(got, now, "column sum [" + N + ", " + M + "]: a rerun gives the same bits");
                }
                got = now;
            }
            compare("column sum [" + N + ", " + M + "] (+=) " + p, p, cpu.download(cDb), got);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // dropout

    @ParameterizedTest
    @EnumSource(Precision.class)
    void dropoutMasksAreTheCpusToTheBit(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(44);
        // the counter's low word carries into its high word inside the site; and one that wraps at 2^64
        DropoutRng[] sites = {new DropoutRng(0x299f31d0_a4093822L, 0x0000_0001_ffff_fff0L), new DropoutRng(7, -3),
                new DropoutRng(-1L, 0)};
        for (long n : new long[] {1, 2, 3, 4, 5, 130, 1027}) {
            float[] x = round(p, r.floats((int) n, 2));
            x[0] = -0f;
            for (float prob : new float[] {0f, 0.1f, 0.5f, 0.9f, 1f}) {
                for (DropoutRng site : sites) {
                    String what = "dropout n=" + n + " p=" + prob + " " + site + " " + p;
                    Buffer expected = cpu.allocate(n);
                    cpu.dropoutForward(expected, cpu.bufferOf(x), site, prob, n);
                    float[] want = round(p, cpu.download(expected));  // one rounding of inp·scale, as the kernel's
                    Buffer out = poisoned(gpu, n);
                    gpu.dropoutForward(out, gpu.bufferOf(x), site, prob, n);
                    assertArrayEquals(want, gpu.download(out), what);
                    // backward: the same map, in place
                    Buffer g = gpu.bufferOf(x);
                    gpu.dropoutBackward(g, g, site, prob, n);
                    assertArrayEquals(want, gpu.download(g), what + " backward in place");
                }
            }
        }
        // p = 0 keeps every bit, p = 1 drops everything to +0
        float[] x = round(p, r.floats(77, 3));
        Buffer keep = gpu.bufferOf(x);
        gpu.dropoutForward(keep, keep, sites[0], 0f, x.length);
        assertArrayEquals(x, gpu.download(keep), "p = 0 " + p);
        Buffer drop = gpu.bufferOf(x);
        gpu.dropoutForward(drop, drop, sites[0], 1f, x.length);
        assertArrayEquals(new float[x.length], gpu.download(drop), "p = 1 " + p);
        // a site over a view that starts mid-buffer (the kernel indexes from the view's first element)
        float[] big = round(p, r.floats(50, 1));
        Buffer whole = gpu.bufferOf(big);
        Buffer view = whole.view(7, 30);
        gpu.dropoutForward(view, view, sites[1], 0.5f, 30);
        float[] tail = java.util.Arrays.copyOfRange(big, 7, 37);
        Buffer cTail = cpu.bufferOf(tail);
        cpu.dropoutForward(cTail, cTail, sites[1], 0.5f, 30);
        float[] want = big.clone();
        System.arraycopy(round(p, cpu.download(cTail)), 0, want, 7, 30);
        assertArrayEquals(want, gpu.download(whole), "dropout on a view " + p);
    }

    // ---------------------------------------------------------------------------------------------
    // data movement

    @ParameterizedTest
    @EnumSource(Precision.class)
    void gatherRowsBackward(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(45);
        int rowsIn = 20, C = 70;
        int[] rows = {3, -1, 3, 0, 19, 3, -1, 7, 0};   // row 3 three times, row 0 twice, two skipped
        int N = rows.length;
        float[] dOut = round(p, r.floats(N * C, 1)), dx0 = round(p, r.floats(rowsIn * C, 1));
        Buffer expected = cpu.bufferOf(dx0);
        cpu.gatherRowsBackward(expected, cpu.bufferOf(dOut), cpu.indicesOf(rows), N, C);
        Buffer dx = gpu.bufferOf(dx0);
        gpu.gatherRowsBackward(dx, gpu.bufferOf(dOut), gpu.indicesOf(rows), N, C);
        float[] got = gpu.download(dx);
        if (storage(p) == ElementType.F32) {
            // float32: the same additions in the same order (n ascending), so the same bits
            assertArrayEquals(cpu.download(expected), got, "gather rows backward " + p);
        } else {
            compare("gather rows backward " + p, p, cpu.download(expected), got, rowsIn, C);
        }
        for (int c = 0; c < C; c++) {
            assertEquals(dx0[5 * C + c], got[5 * C + c], "row 5 is picked by no one: unchanged");
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void fill(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        for (int n : new int[] {1, 300, 1000}) {
            Buffer b = poisoned(gpu, n + 10);
            gpu.fill(b.view(5, n), 0.1f, n);
            float[] got = gpu.download(b);
            for (int i = 0; i < n + 10; i++) {
                if (i < 5 || i >= n + 5) {
                    assertTrue(Float.isNaN(got[i]), "fill n=" + n + " " + p + ": element " + i + " outside the view was written");
                } else {
                    assertEquals(p(p, 0.1f), got[i], "fill n=" + n + " " + p + ": element " + i);
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // losses

    @ParameterizedTest
    @EnumSource(Precision.class)
    void crossEntropyBackward(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(46);
        for (int[] nv : new int[][] {{9, 2}, {9, 7}, {9, 300}, {5, 1000}, {3, 30522}}) {
            int N = nv[0], V = nv[1];
            float[] logits = round(p, r.floats(N * V, 6));
            int[] targets = r.ints(N, V);
            targets[1] = -100;
            targets[N - 1] = V - 1;
            if (N > 3) {
                targets[3] = -100;
            }
            float scale = 1f / 7;
            Buffer expected = cpu.allocate((long) N * V);
            cpu.crossEntropyBackward(expected, cpu.bufferOf(logits), cpu.indicesOf(targets), N, V, -100, scale);
            Buffer d = poisoned(gpu, (long) N * V);
            gpu.crossEntropyBackward(d, gpu.bufferOf(logits), gpu.indicesOf(targets), N, V, -100, scale);
            float[] got = gpu.download(d);
            String what = "cross-entropy backward N=" + N + " V=" + V + " " + p;
            compare(what, p, cpu.download(expected), got, N, V);
            for (int j = 0; j < V; j++) {
                assertEquals(0f, got[V + j], what + ": an ignored row is zeros");
            }
            // each row's gradient sums to 0 (softmax sums to 1), up to rounding
            for (int n = 0; n < N; n++) {
                double sum = 0, abs = 0;
                for (int j = 0; j < V; j++) {
                    sum += got[n * V + j];
                    abs += Math.abs(got[n * V + j]);
                }
                assertTrue(Math.abs(sum) <= 1e-2 * Math.max(abs, 1e-30) + 1e-6, what + ": row " + n + " sums to " + sum);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void mseAndBceWithLogitsBackward(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(47);
        int N = 301;
        float[] x = round(p, r.floats(N, 8)), y = round(p, r.floats(N, 0, 1));
        x[0] = 40f;     // saturated sigmoids on both sides
        x[1] = -40f;
        float scale = 1f / 3;
        Buffer mse = cpu.allocate(N), bce = cpu.allocate(N);
        cpu.mseBackward(mse, cpu.bufferOf(x), cpu.bufferOf(y), N, scale);
        cpu.bceWithLogitsBackward(bce, cpu.bufferOf(x), cpu.bufferOf(y), N, scale);
        Buffer gMse = poisoned(gpu, N), gBce = poisoned(gpu, N);
        gpu.mseBackward(gMse, gpu.bufferOf(x), gpu.bufferOf(y), N, scale);
        gpu.bceWithLogitsBackward(gBce, gpu.bufferOf(x), gpu.bufferOf(y), N, scale);
        if (storage(p) == ElementType.F32) {
            // the CPU's double arithmetic, rounded once to float: the same bits
            assertArrayEquals(cpu.download(mse), gpu.download(gMse), "mse backward " + p);
        }
        compare("mse backward " + p, p, round(p, cpu.download(mse)), gpu.download(gMse));
        compare("bce with logits backward " + p, p, cpu.download(bce), gpu.download(gBce));
    }

    // ---------------------------------------------------------------------------------------------
    // optimizer

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"FP32", "TF32"})
    void adamWIsTheCpusToTheBit(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(48);
        int n = 1037;
        // torch's defaults with and without weight decay; and beta1 = 0.3 (lerp's other branch, w1 >= 0.5)
        double[][] hyper = {{1e-3, 0.9, 0.999, 1e-8, 0.01}, {5e-5, 0.9, 0.999, 1e-6, 0}, {2e-2, 0.3, 0.95, 1e-8, 0.1}};
        for (double[] h : hyper) {
            float[] param = r.floats(n, 1);
            Buffer cP = cpu.bufferOf(param), cM = cpu.allocate(n), cV = cpu.allocate(n);
            Buffer gP = gpu.bufferOf(param), gM = gpu.allocate(n), gV = gpu.allocate(n);
            for (long step = 1; step <= 4; step++) {
                float[] grad = r.floats(n, step == 3 ? 1e-4 : 1);
                grad[0] = 0f;
                cpu.adamWUpdate(cP, cpu.bufferOf(grad), cM, cV, n, h[0], h[1], h[2], h[3], h[4], step);
                gpu.adamWUpdate(gP, gpu.bufferOf(grad), gM, gV, n, h[0], h[1], h[2], h[3], h[4], step);
                String what = "adamw lr=" + h[0] + " beta1=" + h[1] + " wd=" + h[4] + " step " + step + " " + p;
                assertArrayEquals(cpu.download(cP), gpu.download(gP), what + ": params");
                assertArrayEquals(cpu.download(cM), gpu.download(gM), what + ": exp_avg");
                assertArrayEquals(cpu.download(cV), gpu.download(gV), what + ": exp_avg_sq");
            }
        }
        // over views of the slabs, as the trainer walks parameter ranges: elements outside are untouched
        float[] param = r.floats(100, 1), grad = r.floats(100, 1), m = r.floats(100, 0.1), v = r.floats(100, 0, 0.1);
        Buffer cP = cpu.bufferOf(param), cM = cpu.bufferOf(m), cV = cpu.bufferOf(v), cG = cpu.bufferOf(grad);
        Buffer gP = gpu.bufferOf(param), gM = gpu.bufferOf(m), gV = gpu.bufferOf(v), gG = gpu.bufferOf(grad);
        cpu.adamWUpdate(cP.view(13, 61), cG.view(13, 61), cM.view(13, 61), cV.view(13, 61), 61, 1e-3, 0.9, 0.999, 1e-8, 0.01, 7);
        gpu.adamWUpdate(gP.view(13, 61), gG.view(13, 61), gM.view(13, 61), gV.view(13, 61), 61, 1e-3, 0.9, 0.999, 1e-8, 0.01, 7);
        assertArrayEquals(cpu.download(cP), gpu.download(gP), "adamw on views: params " + p);
        assertArrayEquals(cpu.download(cM), gpu.download(gM), "adamw on views: exp_avg " + p);
        assertArrayEquals(cpu.download(cV), gpu.download(gV), "adamw on views: exp_avg_sq " + p);
    }

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"FP32", "TF32"})
    void sumOfSquaresAndScale(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        Rand r = new Rand(49);
        // 0; one element; a partial block; more elements than the 1024 blocks' threads (the grid-stride loop)
        for (int n : new int[] {0, 1, 1000, 263_000}) {
            float[] g = r.floats(Math.max(n, 1), 3);
            Buffer cG = cpu.bufferOf(g), gG = gpu.bufferOf(g);
            double expected = cpu.sumOfSquares(cG, n);
            double got = gpu.sumOfSquares(gG, n);
            String what = "sum of squares n=" + n + " " + p;
            assertEquals(expected, got, 1e-12 * expected, what);
            assertEquals(got, gpu.sumOfSquares(gG, n), what + ": a rerun gives the same bits");
            float factor = 0.37f;
            cpu.scale(cG, factor, n);
            gpu.scale(gG, factor, n);
            assertArrayEquals(cpu.download(cG), gpu.download(gG), "scale n=" + n + " " + p);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // the launchers' boundary checks

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"FP32", "BF16"})
    void launchersRefuseWhatDoesNotFit(Precision p) {
        CudaOps gpu = GpuBackends.cudaOrSkip(p);
        TrainingKernels k = new TrainingKernels(gpu.context());
        try (DeviceArray a = gpu.allocate(64).array(); DeviceArray small = gpu.allocate(8).array();
             DeviceArray ids = gpu.allocateIndices(8).array();
             DeviceArray f32 = gpu.context().allocate(ElementType.F32, 64, "test");
             DeviceArray scratch = gpu.context().allocate(ElementType.F32, 4, "test")) {
            refuses("probability", () -> k.dropout(a, a, 1, 2, 1.5f, 64));
            refuses("inp holds 8", () -> k.dropout(a, small, 1, 2, 0.5f, 64));
            refuses("targets holds 8", () -> k.crossEntropyBackward(a, a, ids, 9, 7, -100, 1f));
            refuses("float arrays", () -> k.fill(ids, 0f, 8));
            refuses("scratch holds 4", () -> k.columnSum(f32, a, 8, 8, scratch));
            if (a.type() != ElementType.F32) {
                refuses("dWeight is float32", () -> k.layerNormBackward(a, a, null, a, a, a, f32, f32, 2, 8, f32));
                refuses("mean is float32", () -> k.layerNormBackward(a, null, null, a, a, a, a, f32, 2, 8, f32));
                refuses("params is float32",
                        () -> k.adamW(a, f32, f32, f32, 8, false, 1f, true, 0.1f, 0.999f, 0.001f, 1f, 1e-8f, -1e-3f));
                refuses("one type", () -> k.dropout(f32, a, 1, 2, 0.5f, 8));
            }
        }
        assertEquals(2 * 16 * 3, TrainingKernels.layerNormBackwardScratchLength(257 + 255 + 1, 16));
        assertEquals(2, TrainingKernels.sumOfSquaresScratchLength(0));
        assertEquals(2 * 1024, TrainingKernels.sumOfSquaresScratchLength(1L << 40));
    }

    // ---------------------------------------------------------------------------------------------
    // helpers

    private static void refuses(String message, org.junit.jupiter.api.function.Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call, message);
        assertTrue(e.getMessage().contains(message), "\"" + e.getMessage() + "\" should say \"" + message + "\"");
    }
}
