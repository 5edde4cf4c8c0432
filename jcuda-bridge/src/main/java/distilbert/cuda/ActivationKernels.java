package distilbert.cuda;

/**
 * Launchers for {@code activation.cu}: bias + activation, forward and backward, float32.
 *
 * <p>Signatures mirror the kernels and the CPU ops: outputs first, then inputs, then sizes. Shapes:
 * {@code inp, out, dout, dinp} are [rows, cols] row-major (rows = tokens), {@code bias, dbias} are
 * [cols]. Gradient convention: {@code dbias} accumulates ({@code +=}), {@code dinp} is written
 * ({@code =}). In place is allowed: {@code out} may be {@code inp}, {@code dinp} may be
 * {@code dout}.
 *
 * <p>Sizes and buffer lengths are checked here, at the boundary, because an out-of-range kernel
 * access is a sticky error that ruins the whole context; the kernels themselves trust them.
 */
public final class ActivationKernels {

    /** Rows per partial sum of the bias gradient; equals BIAS_GRAD_CHUNK_ROWS in activation.cu. */
    public static final int BIAS_GRAD_CHUNK_ROWS = 256;

    private static final int FORWARD_BLOCK = 256;
    private static final int BACKWARD_BLOCK_X = 32;
    private static final int BACKWARD_BLOCK_Y = 8;
    private static final int REDUCE_BLOCK = 256;
    private static final int MAX_GRID_Y = 65_535;

    private final CudaContext context;
    private final KernelModule module;

    public ActivationKernels(CudaContext context) {
        this.context = context;
        this.module = context.module("activation");
    }

    /**
     * Floats of scratch memory {@link #backward} needs for a [rows, cols] input: one partial bias
     * gradient per column and chunk of {@value #BIAS_GRAD_CHUNK_ROWS} rows. Plan it with the other
     * activations; the backward pass allocates nothing.
     */
    public static long backwardScratchLength(int rows, int cols) {
        return (long) ceilDiv(rows, BIAS_GRAD_CHUNK_ROWS) * cols;
    }

    /** out[r, c] = act(inp[r, c] + bias[c]). */
    public void forward(Activation act, DeviceFloatBuffer out, DeviceFloatBuffer inp, DeviceFloatBuffer bias,
                        int rows, int cols) {
        checkShape(rows, cols);
        long n = (long) rows * cols;
        require(out, n, "out");
        require(inp, n, "inp");
        require(bias, cols, "bias");
        if (n == 0) {
            return;
        }
        long blocks = ceilDiv(n, FORWARD_BLOCK);
        if (blocks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(rows + " x " + cols + " elements exceed one launch's grid");
        }
        KernelModule.Kernel kernel = module.kernel("bias_" + act.hfName() + "_forward_f32");
        context.launch(kernel, (int) blocks, 1, FORWARD_BLOCK, 1,
                new KernelArgs().pointer(out).pointer(inp).pointer(bias).i32(rows).i32(cols));
    }

    /**
     * dinp[r, c] = dout[r, c] · act'(inp[r, c] + bias[c]);  dbias[c] += Σ_r dinp[r, c].
     *
     * @param scratch at least {@link #backwardScratchLength}(rows, cols) floats, overwritten; must not
     *     overlap the other arguments
     */
    public void backward(Activation act, DeviceFloatBuffer dinp, DeviceFloatBuffer dbias, DeviceFloatBuffer dout,
                         DeviceFloatBuffer inp, DeviceFloatBuffer bias, int rows, int cols,
                         DeviceFloatBuffer scratch) {
        checkShape(rows, cols);
        long n = (long) rows * cols;
        require(dinp, n, "dinp");
        require(dbias, cols, "dbias");
        require(dout, n, "dout");
        require(inp, n, "inp");
        require(bias, cols, "bias");
        require(scratch, backwardScratchLength(rows, cols), "scratch");
        if (n == 0) {
            return;
        }
        int chunks = ceilDiv(rows, BIAS_GRAD_CHUNK_ROWS);
        if (chunks > MAX_GRID_Y) {
            throw new IllegalArgumentException(rows + " rows exceed the backward grid (at most "
                    + (long) MAX_GRID_Y * BIAS_GRAD_CHUNK_ROWS + ")");
        }
        KernelModule.Kernel backward = module.kernel("bias_" + act.hfName() + "_backward_f32");
        context.launch(backward, ceilDiv(cols, BACKWARD_BLOCK_X), chunks, BACKWARD_BLOCK_X, BACKWARD_BLOCK_Y,
                new KernelArgs().pointer(dinp).pointer(scratch).pointer(dout).pointer(inp).pointer(bias)
                        .i32(rows).i32(cols));
        KernelModule.Kernel reduce = module.kernel("bias_grad_reduce_f32");
        context.launch(reduce, ceilDiv(cols, REDUCE_BLOCK), 1, REDUCE_BLOCK, 1,
                new KernelArgs().pointer(dbias).pointer(scratch).i32(chunks).i32(cols));
    }

    private void require(DeviceFloatBuffer buffer, long needed, String name) {
        if (buffer.context() != context) {
            throw new IllegalArgumentException(name + " belongs to another CUDA context");
        }
        if (buffer.length() < needed) {
            throw new IllegalArgumentException(name + " holds " + buffer.length() + " floats, needs " + needed);
        }
        buffer.ensureOpen();
    }

    private static void checkShape(int rows, int cols) {
        if (rows < 0 || cols <= 0) {
            throw new IllegalArgumentException("shape [" + rows + ", " + cols + "]: rows must be >= 0, cols > 0");
        }
    }

    private static int ceilDiv(int a, int b) {
        return Math.ceilDiv(a, b);
    }

    private static long ceilDiv(long a, long b) {
        return Math.ceilDiv(a, b);
    }
}
