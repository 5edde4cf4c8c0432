package distilbert.bench;

import distilbert.cuda.AttentionKernel;
import distilbert.cuda.AttentionTrainingKernels;
import distilbert.model.BackwardOps;
import distilbert.model.Buffer;
import distilbert.model.CpuOps;
import distilbert.model.CudaOps;
import distilbert.model.Device;
import distilbert.model.DropoutRng;
import distilbert.model.IndexBuffer;
import distilbert.model.MatmulKernel;
import distilbert.model.Ops;
import distilbert.model.Precision;
import distilbert.weights.Activation;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
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
 * Each op of a DistilBERT layer alone, at a layer's shapes, on one backend: the per-kernel numbers
 * beside the device's ceilings (DESIGN.md, Kernels). One call is the op and, on a GPU, a synchronize,
 * so the time includes the launch. The score is calls/s; the aux counters {@code bytes} and
 * {@code flops} turn it into the bytes the op must move at least (each input read once, each output
 * written once, in the storage type) per second and its floating-point operations per second.
 * {@code bench/peer/kernel_report.py} writes the table: µs per call, GB/s and TFLOP/s against the
 * measured copy and matmul ceilings ({@code bench/peer/ceilings.py}).
 *
 * <p>Ops ({@code -p op=}), in a layer's order: {@code embedding_layernorm} (the embeddings' gather +
 * positions + LayerNorm), {@code qkv} (the fused [T, C] × [3C, C]ᵀ + bias), {@code attention} (the
 * backend's default kernel: tensor cores for bf16/fp16), {@code attention_simt} (the float32 SIMT
 * kernel, on a GPU), {@code out_proj}, {@code residual_layernorm} (bias + residual + LayerNorm),
 * {@code ffn_up}, {@code gelu} (bias + GELU over [T, F]), {@code ffn_down}, {@code pool_rows} (mean
 * pooling, [T, C] to [B, C]). Training's, in the backward's order: {@code attention_train} (the training
 * forward: the softmax and dropout(0.1) of it kept; through cuBLAS, the default), {@code attention_backward},
 * each also {@code _simt} (the SIMT kernels' path, on a GPU), {@code layernorm_backward}
 * (with the weight and bias gradients), {@code ffn_up_backward} (dInp and dWeight through cuBLAS, dBias),
 * {@code gelu_backward} (with the bias gradient), {@code dropout} (over [T, C]), {@code embedding_backward}
 * (the scatter into the word and position tables), {@code cross_entropy_backward} (the MLM head's 15%
 * of T rows × the vocabulary), {@code adamw} and {@code sum_of_squares} (over DistilBERT-base's 66.4M
 * float32 parameters, the optimizer's walk; sum_of_squares waits for its result).
 *
 * <p>Shapes: {@code tokens} T = B·L packed tokens in sequences of {@code seqLen} L; {@code dim} C,
 * {@code heads} NH, {@code ffn} F: DistilBERT-base by default. Inputs are random (never zeros, which
 * run faster than real data), rounded to the storage type on upload.
 *
 * <p>Run: {@code ./dev bench KernelBenchmark -p device=cuda -p precision=bf16,fp32}, or in a GPU
 * session {@code scripts/gpu-session.sh kernels}; {@code -p device=cpu} times the CPU backend (small
 * shapes: {@code -p tokens=256 -p seqLen=64}).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 300, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 300, timeUnit = TimeUnit.MILLISECONDS)
@State(Scope.Benchmark)
public class KernelBenchmark {

    @Param({"embedding_layernorm", "qkv", "attention", "attention_simt", "out_proj", "residual_layernorm", "ffn_up", "gelu",
            "ffn_down", "pool_rows", "attention_train", "attention_train_simt", "attention_backward", "attention_backward_simt",
            "layernorm_backward", "ffn_up_backward",
            "gelu_backward", "dropout", "embedding_backward", "cross_entropy_backward", "adamw", "sum_of_squares"})
    public String op;

    /** cuda, cuda:N or cpu. */
    @Param("cuda")
    public String device;

    /** fp32, tf32, bf16 or fp16 (the CPU backend is fp32 only). */
    @Param("bf16")
    public String precision;

    /** T: packed tokens, B·L. */
    @Param("8192")
    public int tokens;

    /** L: the length of every sequence (T must be a multiple). */
    @Param("128")
    public int seqLen;

    @Param("768")
    public int dim;

    @Param("12")
    public int heads;

    @Param("3072")
    public int ffn;

    /** The positions and vocabulary the embedding gathers from (DistilBERT-base's). */
    static final int POSITIONS = 512, VOCAB = 30522;
    /** DistilBERT-base's parameters (the optimizer's walk), and the attention dropout of the training ops. */
    static final int PARAMETERS = 66_362_880;
    static final float DROPOUT = 0.1f;

    private Ops ops;
    private CudaOps cuda;
    private Runnable call;
    private long bytesPerCall, flopsPerCall;

    /** Per-thread totals, reported by JMH as rates: bytes/s and flops/s. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Counters {
        public long bytes;
        public long flops;

        @Setup(Level.Iteration)
        public void reset() {
            bytes = 0;
            flops = 0;
        }
    }

    /** What one call of {@code op} costs at least: bytes moved and floating-point operations. */
    record Cost(long bytes, long flops) {}

    /**
     * The least traffic and the arithmetic of one call, {@code s} bytes per stored element. Matrix
     * products: 2·N·K·M flops, A, W and the bias read, the output written. Attention: QKᵀ and PV,
     * 4·L²·C flops per sequence, q/k/v read and the output written once (the probabilities stay on
     * chip). LayerNorm and activations: their elements read and written, their flops not counted.
     */
    static Cost cost(String op, int T, int L, int C, int NH, int F, int s) {
        long t = T, c = C, f = F, nh = NH;
        return switch (op) {
            case "embedding_layernorm" -> new Cost(2 * 4 * t + 2 * t * c * s + 2 * c * s + t * c * s, 0);
            case "qkv" -> matmul(t, c, 3 * c, s);
            case "attention", "attention_simt" -> new Cost(t * 3 * c * s + t * c * s, 4L * (t / L) * L * L * c);
            case "out_proj" -> matmul(t, c, c, s);
            case "residual_layernorm" -> new Cost(3 * t * c * s + 3 * c * s, 0);
            case "ffn_up" -> matmul(t, c, f, s);
            case "gelu" -> new Cost(2 * t * f * s + f * s, 0);
            case "ffn_down" -> matmul(t, f, c, s);
            case "pool_rows" -> new Cost(t * c * s + (t / L) * c * s + 2 * 4 * (t / L + 1) + 4 * t, 0);
            // the probabilities and their dropout written (read back by the backward), besides q/k/v and out
            case "attention_train", "attention_train_simt" -> new Cost(t * 3 * c * s + t * c * s + 2 * t * L * nh * s, 4L * (t / L) * L * L * c);
            // q/k/v, dOut, probs and dropped read, dqkv written, dS written and read in float32; four products
            case "attention_backward", "attention_backward_simt" -> new Cost(t * 3 * c * s + t * c * s + 2 * t * L * nh * s + t * 3 * c * s
                    + 2 * t * L * nh * 4, 8L * (t / L) * L * L * c);
            case "layernorm_backward" -> new Cost(3 * t * c * s + c * s + 2 * t * s + t * c * s + 2 * c * 4, 0);
            // dInp = dOut·W and dWeight = dOutᵀ·inp: twice a forward's products
            case "ffn_up_backward" -> new Cost((t * f + f * c + t * c + t * c) * s + f * c * 4 + f * 4, 4 * t * c * f);
            case "gelu_backward" -> new Cost(3 * t * f * s + f * s + f * 4, 0);
            case "dropout" -> new Cost(2 * t * c * s, 0);
            case "embedding_backward" -> new Cost(t * c * s + 2 * 4 * t + 2 * t * c * 4, 0);
            case "cross_entropy_backward" -> new Cost(2 * (t * 15 / 100) * VOCAB * s + 4 * (t * 15 / 100), 0);
            case "adamw" -> new Cost(7L * 4 * PARAMETERS, 0);
            case "sum_of_squares" -> new Cost(4L * PARAMETERS, 0);
            default -> throw new IllegalArgumentException("unknown op '" + op + "'");
        };
    }

    private static Cost matmul(long n, long k, long m, int s) {
        return new Cost((n * k + m * k + m + n * m) * s, 2 * n * k * m);
    }

    @Setup(Level.Trial)
    public void setup() {
        if (tokens % seqLen != 0 || dim % heads != 0) {
            throw new IllegalArgumentException("tokens must be a multiple of seqLen and dim of heads: " + tokens + ", "
                    + seqLen + ", " + dim + ", " + heads);
        }
        Precision p = Precision.valueOf(precision.toUpperCase(Locale.ROOT));
        Device d = Device.parse(device);
        switch (d.kind()) {
            case CUDA -> ops = cuda = d.ordinal().isPresent() ? CudaOps.create(d.ordinal().getAsInt(), p) : CudaOps.create(p);
            case CPU -> {
                if (p != Precision.FP32) throw new IllegalArgumentException("the CPU backend is fp32 only, not " + precision);
                ops = new CpuOps(Runtime.getRuntime().availableProcessors(), MatmulKernel.best());
            }
            default -> throw new IllegalArgumentException("device must be cuda, cuda:N or cpu, not '" + device + "'");
        }
        if (op.equals("attention_simt")) {
            if (cuda == null) throw new IllegalArgumentException("attention_simt is the GPU's SIMT kernel: -p device=cuda");
            cuda.attentionKernel(AttentionKernel.SIMT);
        }
        if (op.endsWith("_simt") && op.startsWith("attention_") && !op.equals("attention_simt")) {
            if (cuda == null) throw new IllegalArgumentException(op + " is the GPU's SIMT path: -p device=cuda");
            cuda.attentionTrainingPath(AttentionTrainingKernels.Path.SIMT);
        }
        int T = tokens, L = seqLen, C = dim, NH = heads, F = ffn, B = T / L;
        int storage = cuda == null ? 4 : switch (p) {
            case FP32, TF32 -> 4;
            case BF16, FP16 -> 2;
        };
        Cost c = cost(op, T, L, C, NH, F, storage);
        bytesPerCall = c.bytes();
        flopsPerCall = c.flops();

        Random r = new Random(20261207L);
        int[] cu = new int[B + 1];
        for (int b = 0; b < B; b++) cu[b + 1] = cu[b] + L;
        IndexBuffer cuSeqlens = ops.indicesOf(cu);
        Buffer x = random(r, (long) T * C, 1), out = ops.allocateUninitialized((long) T * C);
        call = switch (op) {
            case "embedding_layernorm" -> {
                int[] ids = new int[T], pos = new int[T];
                for (int i = 0; i < T; i++) {
                    ids[i] = 1000 + r.nextInt(VOCAB - 1000);
                    pos[i] = i % L;
                }
                IndexBuffer tokenIds = ops.indicesOf(ids), positionIds = ops.indicesOf(pos);
                Buffer wte = random(r, (long) VOCAB * C, 0.05), wpe = random(r, (long) POSITIONS * C, 0.05);
                Buffer w = random(r, C, 1), bias = random(r, C, 0.1);
                yield () -> ops.embeddingLayerNormForward(out, tokenIds, positionIds, wte, wpe, w, bias, T, C, 1e-12f);
            }
            case "qkv" -> linear(r, x, T, C, 3 * C);
            case "out_proj" -> linear(r, x, T, C, C);
            case "ffn_up" -> linear(r, x, T, C, F);
            case "ffn_down" -> linear(r, random(r, (long) T * F, 1), T, F, C);
            case "attention", "attention_simt" -> {
                Buffer qkv = random(r, (long) T * 3 * C, 1);
                yield () -> ops.attentionForward(out, null, qkv, null, cuSeqlens, null, B, T, NH, C / NH);
            }
            case "residual_layernorm" -> {
                Buffer res = random(r, (long) T * C, 1), bias = random(r, C, 0.1), w = random(r, C, 1), b = random(r, C, 0.1);
                yield () -> ops.residualLayerNormForward(out, null, null, null, x, bias, res, w, b, T, C, 1e-12f);
            }
            case "gelu" -> {
                Buffer h = random(r, (long) T * F, 2), hOut = ops.allocateUninitialized((long) T * F), bias = random(r, F, 0.1);
                yield () -> ops.biasActivationForward(Activation.GELU, hOut, h, bias, T, F);
            }
            case "pool_rows" -> {
                Buffer pooled = ops.allocateUninitialized((long) B * C);
                int[] pos = new int[T];
                for (int i = 0; i < T; i++) pos[i] = i % L;
                IndexBuffer positions = ops.indicesOf(pos);
                yield () -> ops.poolRowsForward(Ops.RowPooling.MEAN, pooled, x, cuSeqlens, null, positions, B, C, 0);
            }
            default -> trainingOp(r, cuSeqlens, x, out, T, L, C, NH, F, B);
        };
        call.run(); // the first call checks the arguments and loads the kernel
        sync();
        System.out.printf("%s on %s: T=%d (B=%d x L=%d), C=%d, NH=%d, F=%d; %,d bytes and %,d flops a call%n", op,
                ops.describe(), T, B, L, C, NH, F, bytesPerCall, flopsPerCall);
    }

    /** The training ops (BackwardOps), at the same shapes; gradients of parameters float32. */
    private Runnable trainingOp(Random r, IndexBuffer cuSeqlens, Buffer x, Buffer out, int T, int L, int C, int NH, int F,
                                int B) {
        BackwardOps b = (BackwardOps) ops;
        DropoutRng rng = new DropoutRng(42, 0);
        long probs = (long) B * NH * L * L;
        return switch (op) {
            case "attention_train", "attention_backward", "attention_train_simt", "attention_backward_simt" -> {
                Buffer qkv = random(r, (long) T * 3 * C, 1), p = ops.allocateUninitialized(probs);
                Buffer dropped = ops.allocateUninitialized(probs);
                b.attentionTrainingForward(out, p, dropped, qkv, null, rng, DROPOUT, cuSeqlens, null, B, T, NH, C / NH);
                if (op.startsWith("attention_train")) {
                    yield () -> b.attentionTrainingForward(out, p, dropped, qkv, null, rng, DROPOUT, cuSeqlens, null, B, T, NH,
                            C / NH);
                }
                Buffer dqkv = ops.allocateUninitialized((long) T * 3 * C);
                yield () -> b.attentionBackward(dqkv, x, qkv, p, dropped, null, rng, DROPOUT, cuSeqlens, null, B, T, NH, C / NH);
            }
            case "layernorm_backward" -> {
                Buffer w = random(r, C, 1), bias = random(r, C, 0.1), mean = ops.allocateFloat32(T);
                Buffer rstd = ops.allocateFloat32(T), normed = ops.allocateUninitialized((long) T * C);
                ops.layerNormForward(normed, mean, rstd, x, w, bias, T, C, 1e-12f);
                Buffer dOut = random(r, (long) T * C, 1), dw = ops.allocateFloat32(C), db = ops.allocateFloat32(C);
                yield () -> b.layerNormBackward(out, dw, db, dOut, x, w, mean, rstd, T, C);
            }
            case "ffn_up_backward" -> {
                Buffer w = random(r, (long) F * C, 1 / Math.sqrt(C)), dOut = random(r, (long) T * F, 1);
                Buffer dw = ops.allocateFloat32((long) F * C), db = ops.allocateFloat32(F);
                yield () -> b.matmulBackward(out, dw, db, dOut, x, w, T, C, F, false);
            }
            case "gelu_backward" -> {
                Buffer h = random(r, (long) T * F, 2), dh = random(r, (long) T * F, 1), bias = random(r, F, 0.1);
                Buffer db = ops.allocateFloat32(F);
                yield () -> b.biasActivationBackward(Activation.GELU, dh, db, dh, h, bias, T, F);
            }
            case "dropout" -> () -> b.dropoutForward(out, x, rng, DROPOUT, (long) T * C);
            case "embedding_backward" -> {
                int[] ids = new int[T], pos = new int[T];
                for (int i = 0; i < T; i++) {
                    ids[i] = 1000 + r.nextInt(VOCAB - 1000);
                    pos[i] = i % L;
                }
                IndexBuffer tokenIds = ops.indicesOf(ids), positionIds = ops.indicesOf(pos);
                Buffer dwte = ops.allocateFloat32((long) VOCAB * C), dwpe = ops.allocateFloat32((long) POSITIONS * C);
                yield () -> b.embeddingBackward(dwte, dwpe, x, tokenIds, positionIds, 0, T, C);
            }
            case "cross_entropy_backward" -> {
                int N = T * 15 / 100;
                int[] targets = new int[N];
                for (int i = 0; i < N; i++) targets[i] = r.nextInt(VOCAB);
                IndexBuffer y = ops.indicesOf(targets);
                Buffer logits = random(r, (long) N * VOCAB, 4), dLogits = ops.allocateUninitialized((long) N * VOCAB);
                yield () -> b.crossEntropyBackward(dLogits, logits, y, N, VOCAB, -100, 1f / N);
            }
            case "adamw", "sum_of_squares" -> {
                Buffer params = ops.allocateFloat32(PARAMETERS), grads = ops.allocateFloat32(PARAMETERS);
                Buffer m = ops.allocateFloat32(PARAMETERS), v = ops.allocateFloat32(PARAMETERS);
                float[] g = new float[PARAMETERS];
                for (int i = 0; i < g.length; i++) g[i] = (float) (r.nextGaussian() * 1e-3);
                ops.upload(grads, g);
                if (op.equals("sum_of_squares")) {
                    yield () -> b.sumOfSquares(grads, PARAMETERS);
                }
                long[] step = {0};
                yield () -> b.adamWUpdate(params, grads, m, v, PARAMETERS, 5e-5, 0.9, 0.999, 1e-8, 0.01, ++step[0]);
            }
            default -> throw new IllegalArgumentException("unknown op '" + op + "'");
        };
    }

    private Runnable linear(Random r, Buffer in, int N, int K, int M) {
        Buffer w = random(r, (long) M * K, 1 / Math.sqrt(K)), bias = random(r, M, 0.1);
        Buffer out = ops.allocateUninitialized((long) N * M);
        return () -> ops.matmulForward(out, in, w, bias, N, K, M);
    }

    /** A buffer of uniform values in [-scale, scale). */
    private Buffer random(Random r, long n, double scale) {
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return ops.bufferOf(v);
    }

    private void sync() {
        if (cuda != null) cuda.synchronize();
    }

    @Benchmark
    public void run(Counters counters) {
        call.run();
        sync();
        counters.bytes += bytesPerCall;
        counters.flops += flopsPerCall;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (ops != null) ops.close();
    }
}
