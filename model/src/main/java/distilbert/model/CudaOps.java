package distilbert.model;

import distilbert.cuda.ActivationKernels;
import distilbert.cuda.AttentionKernel;
import distilbert.cuda.AttentionTrainingKernels;
import distilbert.cuda.Cublas;
import distilbert.cuda.CudaContext;
import distilbert.cuda.DeviceArena;
import distilbert.cuda.DeviceArray;
import distilbert.cuda.ElementType;
import distilbert.cuda.GpuEventLog;
import distilbert.cuda.InferenceKernels;
import distilbert.cuda.TrainingKernels;
import distilbert.weights.Activation;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The CUDA backend: every op a kernel of kernels-cu or a cuBLAS call on one stream of one device;
 * nothing comes back to the host but what a caller downloads.
 *
 * <h2>Memory</h2>
 * Buffers allocated outside a {@link #scope()} (the parameter slab) are device allocations of their
 * own, freed when the backend closes. Buffers allocated inside a scope (a forward pass's activations,
 * ids, offsets) come from a {@link DeviceArena}: after the largest step seen so far nothing is
 * allocated from the driver again, and a scope's close takes them all back. {@link #allocate}
 * zero-fills (a memset on the stream); {@link #allocateUninitialized}, which the model uses for
 * every activation, hands out the memory as it is: whatever the previous step left there.
 *
 * <h2>Precision</h2>
 * Every float buffer holds the {@link Precision}'s storage type: float32 for {@link Precision#FP32}
 * and {@link Precision#TF32}, bfloat16 or float16 otherwise (parameters included, as HF's
 * {@code model.to(dtype)}), except those of {@link #allocateFloat32}: training's gradients, optimizer
 * state and master weights. Uploads round on the host, downloads widen exactly. Kernels compute in
 * float32 and round once on store; cuBLAS accumulates in float32 (TF32 tensor cores for TF32).
 *
 * <h2>Threads</h2>
 * One device context, current on whichever thread holds the backend: {@link #scope()} takes a lock
 * and makes the context current, so forwards from several threads take turns. Ops called outside a
 * scope must come from one thread at a time.
 */
public final class CudaOps implements BackwardOps {

    /** 128 elements: 256 bytes in a 16-bit type, 512 in float32. */
    private static final int PARAMETER_ALIGNMENT = 128;

    private final CudaContext context;
    private final Precision precision;
    private final ElementType storage;
    private final InferenceKernels kernels;
    private final TrainingKernels training;
    private final AttentionTrainingKernels attentionTraining;
    private volatile AttentionTrainingKernels.Path trainingPath = AttentionTrainingKernels.Path.fromSystemProperty();
    private final ActivationKernels activation;
    private final Cublas cublas;
    private final Cublas.DataType gemmType;
    private final Cublas.Compute gemmCompute;
    private final DeviceArena arena;
    private final ReentrantLock lock = new ReentrantLock();
    private int depth;
    /** The per-op breakdown while {@link #startProfile} is on; null otherwise. */
    private GpuEventLog profile;

    private CudaOps(CudaContext context, Precision precision) {
        this.context = context;
        this.precision = precision;
        this.storage = switch (precision) {
            case FP32, TF32 -> ElementType.F32;
            case BF16 -> ElementType.BF16;
            case FP16 -> ElementType.F16;
        };
        this.gemmType = switch (precision) {
            case FP32, TF32 -> Cublas.DataType.F32;
            case BF16 -> Cublas.DataType.BF16;
            case FP16 -> Cublas.DataType.F16;
        };
        this.gemmCompute = precision == Precision.TF32 ? Cublas.Compute.TF32 : Cublas.Compute.FP32;
        this.kernels = new InferenceKernels(context);
        this.training = new TrainingKernels(context);
        this.attentionTraining = new AttentionTrainingKernels(context);
        this.activation = new ActivationKernels(context);
        this.cublas = Cublas.create(context);
        this.arena = new DeviceArena(context);
    }

    /**
     * The backend on the default GPU.
     *
     * @param precision null for the default, {@link Precision#BF16} (every device we run on is sm_80+)
     * @throws IllegalStateException saying why when no GPU is usable (no driver, no device, no cuBLAS,
     *     driver too old)
     */
    public static CudaOps create(Precision precision) {
        return on(CudaContext.open(), precision);
    }

    /**
     * The backend on GPU {@code ordinal} (the driver's numbering, after CUDA_VISIBLE_DEVICES).
     *
     * @param precision as in {@link #create(Precision)}
     * @throws IllegalStateException saying why when no GPU is usable, there is no GPU {@code ordinal}, or it
     *     cannot run the kernels
     */
    public static CudaOps create(int ordinal, Precision precision) {
        return on(CudaContext.open(ordinal), precision);
    }

    private static CudaOps on(CudaContext context, Precision precision) {
        try {
            return new CudaOps(context, precision == null ? Precision.BF16 : precision);
        } catch (RuntimeException e) {
            try {
                context.close();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    public Precision precision() {
        return precision;
    }

    /** The device context, for benchmarks that time on the device. */
    public CudaContext context() {
        return context;
    }

    @Override
    public String describe() {
        return "cuda (" + context.device().describe() + ", " + precision.cliName() + ")";
    }

    @Override
    public int parameterAlignment() {
        return PARAMETER_ALIGNMENT;
    }

    @Override
    public Scope scope() {
        lock.lock();
        long mark;
        try {
            context.makeCurrent();
            mark = arena.mark();
            depth++;
            if (profile != null && depth == 1) {
                profile.begin();
            }
        } catch (RuntimeException e) {
            lock.unlock();
            throw e;
        }
        return new Scope() {
            private boolean closed;

            @Override
            public void close() {
                if (closed) {
                    return;
                }
                closed = true;
                try {
                    depth--;
                    if (profile != null && depth == 0) {
                        profile.drain();
                    }
                    arena.release(mark);
                } finally {
                    lock.unlock();
                }
            }
        };
    }

    /**
     * Starts a per-op time breakdown: from now on an event is recorded after every op and every copy
     * inside a scope, and each scope's close adds the device time between consecutive events to the
     * totals, labelled by op and shape. The ops still run back to back (no synchronisation between
     * them), so the sum is the forward pass's device time.
     */
    public void startProfile() {
        if (profile == null) {
            profile = new GpuEventLog(context);
        }
        profile.reset();
    }

    /** The breakdown since {@link #startProfile}, and profiling off. */
    public GpuEventLog.Totals stopProfile() {
        if (profile == null) {
            throw new IllegalStateException("no profile was started");
        }
        GpuEventLog.Totals totals = profile.totals();
        profile.close();
        profile = null;
        return totals;
    }

    /**
     * Which kernel runs attention without probabilities: {@link AttentionKernel#AUTO} (the default, or
     * the system property {@value AttentionKernel#PROPERTY}) takes the tensor cores for bf16/fp16 where
     * the head size allows; {@link AttentionKernel#SIMT} forces {@code attention.cu}'s float32 kernel;
     * {@link AttentionKernel#TENSOR_CORES} fails where they cannot run. The profile labels say which ran.
     */
    public void attentionKernel(AttentionKernel kernel) {
        kernels.attentionKernel(kernel);
    }

    public AttentionKernel attentionKernel() {
        return kernels.attentionKernel();
    }

    /** Labels the work queued since the previous label (profiling only; cheap otherwise). */
    private void done(String op, long... dims) {
        if (profile != null && depth > 0) {
            StringBuilder label = new StringBuilder(op);
            for (int i = 0; i < dims.length; i++) {
                label.append(i == 0 ? " " : "x").append(dims[i]);
            }
            profile.record(label.toString());
        }
    }

    /** Waits for everything queued so far; reports asynchronous kernel errors. */
    public void synchronize() {
        context.synchronize();
    }

    @Override
    public void close() {
        try {
            cublas.close();
        } finally {
            context.close(); // frees the arena and every allocation with it
        }
    }

    // ---------------------------------------------------------------------------------------------
    // memory

    @Override
    public CudaBuffer allocate(long length) {
        return new CudaBuffer(allocateArray(storage, length, "activations", true));
    }

    @Override
    public CudaBuffer allocateFloat32(long length) {
        return new CudaBuffer(allocateArray(ElementType.F32, length, "float32 state", true,
                "training state (float32 gradients, AdamW moments or master weights)"));
    }

    /** Whatever the arena (or the driver) hands out: an earlier step's activations, or garbage. */
    @Override
    public CudaBuffer allocateUninitialized(long length) {
        return new CudaBuffer(allocateArray(storage, length, "activations", false));
    }

    @Override
    public CudaIndexBuffer allocateIndices(long length) {
        return new CudaIndexBuffer(allocateArray(ElementType.I32, length, "indices", true));
    }

    @Override
    public CudaIndexBuffer allocateIndicesUninitialized(long length) {
        return new CudaIndexBuffer(allocateArray(ElementType.I32, length, "indices", false));
    }

    /** Scratch from the arena inside a scope, an allocation of its own outside; zero-filled when asked. */
    private DeviceArray allocateArray(ElementType type, long length, String what, boolean zero) {
        return allocateArray(type, length, what, zero, "a buffer outside a forward pass (parameters)");
    }

    /** {@code outside}: what the buffer is, for the out-of-memory message, when it is not from a scope's arena. */
    private DeviceArray allocateArray(ElementType type, long length, String what, boolean zero, String outside) {
        DeviceArray a = depth > 0 ? arena.allocate(type, length, what) : context.allocate(type, length, outside);
        if (zero) {
            a.zero();
            done("zero-fill", length);
        }
        return a;
    }

    @Override
    public void upload(Buffer dst, float[] src) {
        device(dst).upload(src);
        done("upload", src.length);
    }

    @Override
    public void uploadIndices(IndexBuffer dst, int[] src) {
        index(dst).upload(src);
        done("upload indices", src.length);
    }

    @Override
    public void download(float[] dst, Buffer src) {
        device(src).download(dst);
        done("download", dst.length);
    }

    @Override
    public int[] downloadIndices(IndexBuffer src) {
        int[] out = indices(src).downloadInts();
        done("download indices", out.length);
        return out;
    }

    // ---------------------------------------------------------------------------------------------
    // embeddings and layer norm

    @Override
    public void embeddingForward(Buffer out, IndexBuffer tokenIds, IndexBuffer positionIds, Buffer wordEmbeddings,
                                 Buffer positionEmbeddings, int T, int C) {
        kernels.embedding(device(out), indices(tokenIds), indices(positionIds), device(wordEmbeddings),
                device(positionEmbeddings), T, C);
        done("embedding", T, C);
    }

    @Override
    public void positionEmbeddingForward(Buffer out, Buffer inputsEmbeds, IndexBuffer positionIds,
                                         Buffer positionEmbeddings, int T, int C) {
        kernels.positionEmbedding(device(out), device(inputsEmbeds), indices(positionIds), device(positionEmbeddings),
                T, C);
        done("position embedding", T, C);
    }

    @Override
    public void embeddingLayerNormForward(Buffer out, IndexBuffer tokenIds, IndexBuffer positionIds,
                                          Buffer wordEmbeddings, Buffer positionEmbeddings, Buffer weight,
                                          Buffer bias, int T, int C, float eps) {
        kernels.embeddingLayerNorm(device(out), indices(tokenIds), indices(positionIds), device(wordEmbeddings),
                device(positionEmbeddings), device(weight), device(bias), T, C, eps);
        done("embedding + layer norm", T, C);
    }

    @Override
    public void layerNormForward(Buffer out, Buffer mean, Buffer rstd, Buffer inp, Buffer weight, Buffer bias,
                                 int N, int C, float eps) {
        kernels.layerNorm(device(out), deviceOrNull(mean), deviceOrNull(rstd), device(inp), device(weight),
                device(bias), N, C, eps);
        done("layer norm", N, C);
    }

    @Override
    public void residualLayerNormForward(Buffer out, Buffer sum, Buffer mean, Buffer rstd, Buffer inp, Buffer bias,
                                         Buffer residual, Buffer weight, Buffer lnBias, int N, int C, float eps) {
        kernels.residualLayerNorm(device(out), deviceOrNull(sum), deviceOrNull(mean), deviceOrNull(rstd), device(inp),
                deviceOrNull(bias), device(residual), device(weight), device(lnBias), N, C, eps);
        done("bias + residual + layer norm", N, C);
    }

    // ---------------------------------------------------------------------------------------------
    // linear layers

    @Override
    public void matmulForward(Buffer out, Buffer inp, Buffer weight, Buffer bias, int N, int K, int M) {
        DeviceArray o = device(out), x = device(inp), w = device(weight), b = deviceOrNull(bias);
        checkLength(o, (long) N * M, "out");
        checkLength(x, (long) N * K, "inp");
        checkLength(w, (long) M * K, "weight");
        if (b != null) {
            checkLength(b, M, "bias");
        }
        if (N == 0 || M == 0) {
            return;
        }
        // cuBLASLt with a bias epilogue, or GemmEx over the bias rows where Lt has no algorithm
        cublas.linear(o.address(), x.address(), w.address(), b == null ? 0 : b.address(), N, K, M, gemmType,
                gemmCompute);
        done("matmul", N, K, M);
    }

    @Override
    public void biasActivationForward(Activation act, Buffer out, Buffer inp, Buffer bias, int N, int M) {
        kernels.biasActivation(distilbert.cuda.Activation.fromHfName(act.hfName()), device(out), device(inp),
                deviceOrNull(bias), N, M);
        done("bias + " + act.hfName(), N, M);
    }

    // ---------------------------------------------------------------------------------------------
    // attention

    @Override
    public void attentionForward(Buffer out, Buffer probs, Buffer qkv, Buffer headMask, IndexBuffer cuSeqlens,
                                 IndexBuffer keyLens, int numSeqs, int T, int NH, int HS) {
        AttentionShape a = attentionShape(cuSeqlens, keyLens, numSeqs, T, NH);
        DeviceArray offsets = probs == null ? null : probsOffsets(a, device(probs));
        try {
            String kernel = kernels.attention(device(out), deviceOrNull(probs), device(qkv), deviceOrNull(headMask),
                    indices(cuSeqlens), keyLens == null ? null : indices(keyLens), offsets, numSeqs, T, a.maxLen(), NH, HS);
            done(probs != null ? "attention with probs" : kernel != null && kernel.startsWith("attention_tc")
                    ? "attention (tensor cores)" : "attention", T, NH, HS);
        } finally {
            release(offsets); // queued work keeps the order: the free waits for the kernel
        }
    }

    /**
     * A packed batch's attention geometry, checked on the host: what the kernels trust. probsOffsets
     * is [numSeqs + 1]: where each sequence's probabilities start, and their total last.
     */
    private record AttentionShape(long[] probsOffsets, int maxLen, int numSeqs) {
        long total() {
            return probsOffsets[numSeqs];
        }
    }

    /** The probabilities' per-sequence starts on the device (I64 [numSeqs]), {@code probs} checked to hold them all. */
    private DeviceArray probsOffsets(AttentionShape a, DeviceArray probs) {
        checkLength(probs, a.total(), "probs");
        int n = Math.max(1, a.numSeqs());
        DeviceArray offsets = scratch(ElementType.I64, n, "attention offsets");
        offsets.uploadLongs(java.util.Arrays.copyOf(a.probsOffsets(), n));
        return offsets;
    }

    private AttentionShape attentionShape(IndexBuffer cuSeqlens, IndexBuffer keyLens, int numSeqs, int T, int NH) {
        int[] cu = index(cuSeqlens).host(numSeqs + 1);
        int[] keys = keyLens == null ? null : index(keyLens).host(numSeqs);
        int maxLen = 0;
        for (int s = 0; s < numSeqs; s++) {
            int len = cu[s + 1] - cu[s];
            // the kernel reads keys [0, keyLens[s]) of the sequence: more would be another sequence's rows
            if (len < 0 || cu[s + 1] > T || keys != null && (keys[s] < 0 || keys[s] > len)) {
                throw new IllegalArgumentException("sequence " + s + ": cu_seqlens [" + cu[s] + ", " + cu[s + 1] + ")"
                        + (keys == null ? "" : ", key_lens " + keys[s]) + " do not fit " + T + " tokens");
            }
            maxLen = Math.max(maxLen, len);
        }
        return new AttentionShape(PackedBatch.probsOffsets(cu, keys, NH), maxLen, numSeqs);
    }

    // ---------------------------------------------------------------------------------------------
    // data movement and losses

    @Override
    public void gatherRows(Buffer out, Buffer inp, IndexBuffer rows, int N, int C) {
        kernels.gatherRows(device(out), device(inp), indices(rows), N, C);
        done("gather rows", N, C);
    }

    @Override
    public void poolRowsForward(RowPooling mode, Buffer out, Buffer inp, IndexBuffer cuSeqlens, IndexBuffer keyLens,
                                IndexBuffer positions, int B, int C, int skip) {
        kernels.poolRows(device(out), device(inp), indices(cuSeqlens), keyLens == null ? null : indices(keyLens),
                indices(positions), B, C, mode.ordinal(), skip);
    }

    @Override
    public void softmaxTopKForward(Buffer probs, IndexBuffer ids, Buffer logits, int N, int V, int K) {
        CudaIndexBuffer out = index(ids);
        kernels.softmaxTopK(device(probs), out.array(), device(logits), N, V, K);
        out.writtenOnTheDevice();
        done("softmax top-k", N, V);
    }

    @Override
    public void softmaxGatherForward(Buffer probs, Buffer logits, IndexBuffer targets, int N, int V, int K) {
        kernels.softmaxGather(device(probs), device(logits), indices(targets), N, V, K);
        done("softmax gather", N, V);
    }

    @Override
    public void crossEntropyForward(Buffer losses, Buffer logits, IndexBuffer targets, int N, int V, int ignoreIndex) {
        kernels.crossEntropy(device(losses), device(logits), indices(targets), N, V, ignoreIndex);
        done("cross-entropy", N, V);
    }

    @Override
    public void mseForward(Buffer losses, Buffer predictions, Buffer targets, int N) {
        kernels.mse(device(losses), device(predictions), device(targets), N);
        done("mse", N);
    }

    @Override
    public void bceWithLogitsForward(Buffer losses, Buffer logits, Buffer targets, int N) {
        kernels.bceWithLogits(device(losses), device(logits), device(targets), N);
        done("bce with logits", N);
    }

    // ---------------------------------------------------------------------------------------------
    // training (BackwardOps): fp32, tf32, bf16 and fp16 (the trainer scales fp16's loss); parameter gradients and
    // optimizer state are float32 arrays whatever the storage type

    @Override
    public boolean storesFloat32() {
        return storage == ElementType.F32;
    }

    @Override
    public boolean needsLossScaling() {
        return storage == ElementType.F16;
    }

    @Override
    public void storeParameters(Buffer params, Buffer master, long n) {
        training.storeParameters(device(params), grad(master), n);
        done("store parameters", n);
    }

    /**
     * A deterministic scatter-add per table (float32 for the embeddings, of the storage type for
     * {@link #gatherRowsBackward}): the tokens grouped by row on the host, from the ids it
     * uploaded (the index buffers keep them), so that each row is summed by one thread in token order
     * (the CPU's bits in fp32; no atomics, so a run, and a resumed one, repeats to the bit).
     */
    @Override
    public void embeddingBackward(Buffer dWordEmbeddings, Buffer dPositionEmbeddings, Buffer dOut, IndexBuffer tokenIds,
                                  IndexBuffer positionIds, int paddingIdx, int T, int C) {
        if (dWordEmbeddings != null) {
            scatterAdd(grad(dWordEmbeddings), device(dOut), index(tokenIds).host(T), paddingIdx, T, C);
        }
        if (dPositionEmbeddings != null) {
            scatterAdd(grad(dPositionEmbeddings), device(dOut), index(positionIds).host(T), -1, T, C);
        }
        done("embedding backward", T, C);
    }

    private void scatterAdd(DeviceArray table, DeviceArray dOut, int[] ids, int skip, int T, int C) {
        TrainingKernels.RowGroups g = TrainingKernels.RowGroups.of(ids, T, skip);
        if (g.groups() == 0) {
            return;
        }
        DeviceArray order = scratch(ElementType.I32, g.order().length, "embedding backward order");
        DeviceArray starts = scratch(ElementType.I32, g.starts().length, "embedding backward groups");
        DeviceArray rows = scratch(ElementType.I32, g.rows().length, "embedding backward rows");
        try {
            order.uploadInts(g.order());
            starts.uploadInts(g.starts());
            rows.uploadInts(g.rows());
            training.scatterAddRows(table, dOut, order, starts, rows, g.groups(), T, C);
        } finally {
            release(rows);
            release(starts);
            release(order);
        }
    }

    @Override
    public void layerNormBackward(Buffer dInp, Buffer dWeight, Buffer dBias, Buffer dOut, Buffer inp, Buffer weight,
                                  Buffer mean, Buffer rstd, int N, int C) {
        DeviceArray scratch = scratch(ElementType.F32, Math.max(1, TrainingKernels.layerNormBackwardScratchLength(N, C)),
                "layer norm backward partials");
        try {
            training.layerNormBackward(device(dInp), gradOrNull(dWeight), gradOrNull(dBias), device(dOut), device(inp),
                    device(weight), device(mean), device(rstd), N, C, scratch);
        } finally {
            release(scratch);
        }
        done("layer norm backward", N, C);
    }

    @Override
    public void matmulBackward(Buffer dInp, Buffer dWeight, Buffer dBias, Buffer dOut, Buffer inp, Buffer weight, int N,
                               int K, int M, boolean accumulate) {
        DeviceArray dx = deviceOrNull(dInp), dw = gradOrNull(dWeight), db = gradOrNull(dBias), g = device(dOut);
        DeviceArray x = device(inp), w = device(weight);
        checkLength(g, (long) N * M, "dOut");
        checkLength(x, (long) N * K, "inp");
        checkLength(w, (long) M * K, "weight");
        if (dx != null) {
            checkLength(dx, (long) N * K, "dInp");
        }
        if (dw != null) {
            checkLength(dw, (long) M * K, "dWeight");
        }
        if (N == 0 || M == 0 || K == 0) {
            return;
        }
        // row-major: dInp[N, K] (=, +=) dOut[N, M] · weight[M, K];  dWeight[M, K] += dOut[N, M]ᵀ · inp[N, K]
        if (dx != null) {
            cublas.gemmStridedBatchedRowMajor(false, false, N, K, M, g.address(), M, 0, w.address(), K, 0,
                    dx.address(), K, 0, 1, gemmType, gemmCompute, 1f, accumulate ? 1f : 0f);
        }
        if (dw != null) {
            // into the float32 gradient whatever the storage type: a 16-bit product accumulated in float32
            cublas.gemmStridedBatchedRowMajor(true, false, M, K, N, g.address(), M, 0, x.address(), K, 0,
                    dw.address(), K, 0, 1, gemmType, Cublas.DataType.F32, gemmCompute, 1f, 1f);
        }
        if (db != null) {
            checkLength(db, M, "dBias");
            DeviceArray scratch = scratch(ElementType.F32, TrainingKernels.columnSumScratchLength(N, M), "bias gradient partials");
            try {
                training.columnSum(db, g, N, M, scratch);
            } finally {
                release(scratch);
            }
        }
        done("matmul backward", N, K, M);
    }

    @Override
    public void biasActivationBackward(Activation act, Buffer dInp, Buffer dBias, Buffer dOut, Buffer inp, Buffer bias,
                                       int N, int M) {
        DeviceArray scratch = scratch(ElementType.F32, Math.max(1, ActivationKernels.backwardScratchLength(N, M)),
                "bias gradient partials");
        try {
            activation.backward(distilbert.cuda.Activation.fromHfName(act.hfName()), device(dInp), gradOrNull(dBias),
                    device(dOut), device(inp), deviceOrNull(bias), N, M, scratch);
        } finally {
            release(scratch);
        }
        done("bias + " + act.hfName() + " backward", N, M);
    }

    @Override
    public void dropoutForward(Buffer out, Buffer inp, DropoutRng rng, float p, long N) {
        DropoutRng.scale(p); // checks p
        training.dropout(device(out), device(inp), rng.seed(), rng.offset(), p, N);
        done("dropout", N);
    }

    @Override
    public void dropoutBackward(Buffer dInp, Buffer dOut, DropoutRng rng, float p, long N) {
        DropoutRng.scale(p);
        training.dropout(device(dInp), device(dOut), rng.seed(), rng.offset(), p, N);
        done("dropout backward", N);
    }

    /** How attention trains: through cuBLAS (the default) or the SIMT kernels; see {@link AttentionTrainingKernels.Path}. */
    public void attentionTrainingPath(AttentionTrainingKernels.Path path) {
        this.trainingPath = java.util.Objects.requireNonNull(path, "path");
    }

    public AttentionTrainingKernels.Path attentionTrainingPath() {
        return trainingPath;
    }

    @Override
    public void attentionTrainingForward(Buffer out, Buffer probs, Buffer dropped, Buffer qkv, Buffer headMask,
                                         DropoutRng dropout, float p, IndexBuffer cuSeqlens, IndexBuffer keyLens,
                                         int numSeqs, int T, int NH, int HS) {
        AttentionShape a = attentionShape(cuSeqlens, keyLens, numSeqs, T, NH);
        boolean drops = dropout != null && p > 0;
        DropoutRng.scale(p);
        DeviceArray offsets = probsOffsets(a, device(probs));
        boolean gemm = trainingPath == AttentionTrainingKernels.Path.GEMM;
        DeviceArray scratch = gemm ? scratch(storage, Math.max(1, AttentionTrainingKernels.forwardGemmScratchLength(numSeqs,
                a.maxLen(), NH, HS)), "attention training forward (padded heads)") : null;
        try {
            if (dropped != null) {
                checkLength(device(dropped), a.total(), "dropped");
            }
            DeviceArray kept = drops ? deviceOrNull(dropped) : null, mask = deviceOrNull(headMask);
            DeviceArray cu = indices(cuSeqlens), keys = keyLens == null ? null : indices(keyLens);
            long seed = drops ? dropout.seed() : 0, offset = drops ? dropout.offset() : 0;
            if (gemm) {
                attentionTraining.forwardGemm(cublas, gemmType, gemmCompute, device(out), device(probs), kept, device(qkv),
                        mask, seed, offset, drops ? p : 0f, cu, keys, offsets, numSeqs, T, a.maxLen(), NH, HS, scratch);
            } else {
                attentionTraining.forward(device(out), device(probs), kept, device(qkv), mask, seed, offset,
                        drops ? p : 0f, cu, keys, offsets, numSeqs, T, a.maxLen(), NH, HS);
            }
        } finally {
            release(scratch);
            release(offsets);
        }
        done(gemm ? "attention training forward (cuBLAS)" : "attention training forward", T, NH, HS);
    }

    @Override
    public void attentionBackward(Buffer dQkv, Buffer dOut, Buffer qkv, Buffer probs, Buffer dropped, Buffer headMask,
                                  DropoutRng dropout, float p, IndexBuffer cuSeqlens, IndexBuffer keyLens, int numSeqs,
                                  int T, int NH, int HS) {
        AttentionShape a = attentionShape(cuSeqlens, keyLens, numSeqs, T, NH);
        boolean drops = dropout != null && p > 0;
        DropoutRng.scale(p);
        DeviceArray offsets = probsOffsets(a, device(probs));
        boolean gemm = trainingPath == AttentionTrainingKernels.Path.GEMM;
        DeviceArray scratch = gemm
                ? scratch(storage, Math.max(1, AttentionTrainingKernels.backwardGemmScratchLength(numSeqs, a.maxLen(), NH, HS)),
                        "attention backward (padded heads)")
                : scratch(ElementType.F32, Math.max(1, AttentionTrainingKernels.backwardScratchLength(a.total())),
                        "attention backward dS");
        try {
            DeviceArray kept = drops ? deviceOrNull(dropped) : null, mask = deviceOrNull(headMask);
            DeviceArray cu = indices(cuSeqlens), keys = keyLens == null ? null : indices(keyLens);
            long seed = drops ? dropout.seed() : 0, offset = drops ? dropout.offset() : 0;
            if (gemm) {
                attentionTraining.backwardGemm(cublas, gemmType, gemmCompute, device(dQkv), device(dOut), device(qkv),
                        device(probs), kept, mask, drops && kept == null, seed, offset, drops ? p : 0f, cu, keys, offsets,
                        numSeqs, T, a.maxLen(), NH, HS, scratch);
            } else {
                attentionTraining.backward(device(dQkv), device(dOut), device(qkv), device(probs), kept, mask,
                        drops && kept == null, seed, offset, drops ? p : 0f, cu, keys, offsets, numSeqs, T, a.maxLen(), NH,
                        HS, scratch);
            }
        } finally {
            release(scratch);
            release(offsets);
        }
        done(gemm ? "attention backward (cuBLAS)" : "attention backward", T, NH, HS);
    }

    @Override
    public void gatherRowsBackward(Buffer dInp, Buffer dOut, IndexBuffer rows, int N, int C) {
        // the embeddings' scatter: rows grouped on the host (from the uploaded copy), each summed by one thread
        scatterAdd(device(dInp), device(dOut), index(rows).host(N), -1, N, C);
        done("gather rows backward", N, C);
    }

    @Override
    public void fill(Buffer out, float value, long N) {
        training.fill(device(out), value, N);
        done("fill", N);
    }

    @Override
    public void crossEntropyBackward(Buffer dLogits, Buffer logits, IndexBuffer targets, int N, int V, int ignoreIndex,
                                     float scale) {
        training.crossEntropyBackward(device(dLogits), device(logits), indices(targets), N, V, ignoreIndex, scale);
        done("cross-entropy backward", N, V);
    }

    @Override
    public void mseBackward(Buffer dPredictions, Buffer predictions, Buffer targets, int N, float scale) {
        training.mseBackward(device(dPredictions), device(predictions), device(targets), N, scale);
        done("mse backward", N);
    }

    @Override
    public void bceWithLogitsBackward(Buffer dLogits, Buffer logits, Buffer targets, int N, float scale) {
        training.bceWithLogitsBackward(device(dLogits), device(logits), device(targets), N, scale);
        done("bce with logits backward", N);
    }

    @Override
    public void adamWUpdate(Buffer params, Buffer grads, Buffer m, Buffer v, long n, double lr, double beta1,
                            double beta2, double eps, double weightDecay, long step) {
        AdamW.Scalars s = AdamW.Scalars.of(lr, beta1, beta2, eps, weightDecay, step);
        training.adamW(grad(params), grad(grads), grad(m), grad(v), n, s.decays(), s.decay(), s.smallW1(), s.w1(), s.b2(),
                s.w2(), s.bc2Sqrt(), s.eps(), s.negStepSize());
        done("adamw", n);
    }

    /** The segment table on the device, kept while the caller passes the same arrays (a trainer's, step after step). */
    private int[] segmentEndsUploaded;
    private boolean[] segmentDecaysUploaded;
    private DeviceArray segmentEndsOnDevice, segmentDecaysOnDevice;

    @Override
    public void adamWUpdate(Buffer params, Buffer grads, Buffer m, Buffer v, int[] segmentEnds, boolean[] segmentDecays,
                            double lr, double beta1, double beta2, double eps, double weightDecay, long step) {
        if (segmentEnds.length != segmentDecays.length || segmentEnds.length == 0) {
            throw new IllegalArgumentException("AdamW segments: " + segmentEnds.length + " ends and " + segmentDecays.length
                    + " decay flags");
        }
        if (segmentEnds != segmentEndsUploaded || segmentDecays != segmentDecaysUploaded) {
            if (segmentEndsOnDevice != null) {
                segmentEndsOnDevice.close();
                segmentDecaysOnDevice.close();
            }
            int[] decays = new int[segmentDecays.length];
            for (int i = 0; i < decays.length; i++) {
                decays[i] = segmentDecays[i] ? 1 : 0;
            }
            segmentEndsOnDevice = context.allocate(ElementType.I32, segmentEnds.length, "the optimizer's segments");
            segmentDecaysOnDevice = context.allocate(ElementType.I32, decays.length, "the optimizer's segments");
            segmentEndsOnDevice.uploadInts(segmentEnds);
            segmentDecaysOnDevice.uploadInts(decays);
            segmentEndsUploaded = segmentEnds;
            segmentDecaysUploaded = segmentDecays;
        }
        AdamW.Scalars s = AdamW.Scalars.of(lr, beta1, beta2, eps, weightDecay, step);
        long n = segmentEnds[segmentEnds.length - 1];
        training.adamWSegments(grad(params), grad(grads), grad(m), grad(v), segmentEndsOnDevice, segmentDecaysOnDevice,
                segmentEnds.length, n, s.decay(), s.smallW1(), s.w1(), s.b2(), s.w2(), s.bc2Sqrt(), s.eps(), s.negStepSize());
        done("adamw (the slab)", n);
    }

    @Override
    public double sumOfSquares(Buffer g, long n) {
        DeviceArray scratch = scratch(ElementType.F32, TrainingKernels.sumOfSquaresScratchLength(n), "sum of squares partials");
        try {
            return training.sumOfSquares(grad(g), n, scratch);
        } finally {
            release(scratch);
            done("sum of squares", n);
        }
    }

    @Override
    public void scale(Buffer g, float factor, long n) {
        training.scale(grad(g), factor, n);
        done("scale", n);
    }

    /** Scratch memory: from the arena inside a scope, an allocation of its own (see {@link #release}) outside. */
    private DeviceArray scratch(ElementType type, long length, String what) {
        return depth > 0 ? arena.allocate(type, length, what) : context.allocate(type, length, what);
    }

    /** Gives back {@link #scratch} taken outside a scope (queued work keeps the order: the free waits for it). */
    private void release(DeviceArray scratch) {
        if (scratch != null && depth == 0) {
            scratch.close();
        }
    }

    /** A float32 array: parameter gradients and optimizer state. */
    private DeviceArray grad(Buffer b) {
        DeviceArray a = device(b);
        if (a.type() != ElementType.F32) {
            throw new IllegalArgumentException("parameter gradients and optimizer state are float32 on the GPU, got "
                    + a.type() + " (" + b + ")");
        }
        return a;
    }

    private DeviceArray gradOrNull(Buffer b) {
        return b == null ? null : grad(b);
    }

    // ---------------------------------------------------------------------------------------------
    // helpers

    private static void checkLength(DeviceArray a, long needed, String name) {
        if (a.length() < needed) {
            throw new IllegalArgumentException(name + " holds " + a.length() + " elements, needs " + needed);
        }
    }

    private DeviceArray device(Buffer b) {
        if (b instanceof CudaBuffer c && c.array().context() == context) {
            return c.array();
        }
        throw new IllegalArgumentException("the CUDA backend was given a buffer of another backend: " + b);
    }

    private DeviceArray deviceOrNull(Buffer b) {
        return b == null ? null : device(b);
    }

    private CudaIndexBuffer index(IndexBuffer b) {
        if (b instanceof CudaIndexBuffer c && c.array().context() == context) {
            return c;
        }
        throw new IllegalArgumentException("the CUDA backend was given an index buffer of another backend: " + b);
    }

    private DeviceArray indices(IndexBuffer b) {
        return index(b).array();
    }
}
