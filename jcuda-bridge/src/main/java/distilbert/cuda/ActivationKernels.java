package distilbert.cuda;

/**
 * Launchers for {@code activation.cu}: bias + activation, forward and backward, in the storage type
 * of the arrays (float32, bfloat16 or float16; the bias gradient and its scratch are always float32).
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

    /** out[r, c] = act(inp[r, c] + bias[c]); bias may be null (no bias); out may be inp. */
    public void forward(Activation act, DeviceArray out, DeviceArray inp, DeviceArray bias,
                        int rows, int cols) {
        checkShape(rows, cols);
        long n = (long) rows * cols;
        require(out, n, "out");
        require(inp, n, "inp");
        if (bias != null) {
            require(bias, cols, "bias");
        }
        if (n == 0) {
            return;
        }
        long blocks = ceilDiv(n, FORWARD_BLOCK);
        if (blocks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(rows + " x " + cols + " elements exceed one launch's grid");
        }
        KernelModule.Kernel kernel = module.kernel("bias_" + act.hfName() + "_forward_" + floatType(out, inp, bias).suffix());
        context.launch(kernel, (int) blocks, 1, FORWARD_BLOCK, 1,
                new KernelArgs().array(out).array(inp).array(bias).i32(rows).i32(cols));
    }

    /**
     * dinp[r, c] = dout[r, c] · act'(inp[r, c] + bias[c]);  dbias[c] += Σ_r dinp[r, c].
     *
     * @param scratch at least {@link #backwardScratchLength}(rows, cols) floats, overwritten; must not
     *     overlap the other arguments
     */
    public void backward(Activation act, DeviceArray dinp, DeviceArray dbias, DeviceArray dout,
                         DeviceArray inp, DeviceArray bias, int rows, int cols,
                         DeviceArray scratch) {
        checkShape(rows, cols);
        long n = (long) rows * cols;
        require(dinp, n, "dinp");
        if (dbias != null) {
            require(dbias, cols, "dbias");
        }
        require(dout, n, "dout");
        require(inp, n, "inp");
        if (bias != null) {
            require(bias, cols, "bias");
        }
        require(scratch, backwardScratchLength(rows, cols), "scratch");
        if (dbias != null && dbias.type() != ElementType.F32 || scratch.type() != ElementType.F32) {
            throw new IllegalArgumentException("dbias and scratch are float32 (the gradient slab's type), got "
                    + (dbias == null ? "none" : dbias.type()) + " and " + scratch.type());
        }
        if (n == 0) {
            return;
        }
        int chunks = ceilDiv(rows, BIAS_GRAD_CHUNK_ROWS);
        if (chunks > MAX_GRID_Y) {
            throw new IllegalArgumentException(rows + " rows exceed the backward grid (at most "
                    + (long) MAX_GRID_Y * BIAS_GRAD_CHUNK_ROWS + ")");
        }
        KernelModule.Kernel backward = module.kernel("bias_" + act.hfName() + "_backward_" + floatType(dinp, dout, inp, bias).suffix());
        context.launch(backward, ceilDiv(cols, BACKWARD_BLOCK_X), chunks, BACKWARD_BLOCK_X, BACKWARD_BLOCK_Y,
                new KernelArgs().array(dinp).array(scratch).array(dout).array(inp).array(bias)
                        .i32(rows).i32(cols));
        if (dbias == null) {
            return; // the partials are written and not needed: no bias gradient asked for
        }
        KernelModule.Kernel reduce = module.kernel("bias_grad_reduce_f32");
        context.launch(reduce, ceilDiv(cols, REDUCE_BLOCK), 1, REDUCE_BLOCK, 1,
                new KernelArgs().array(dbias).array(scratch).i32(chunks).i32(cols));
    }

    /** The storage type shared by {@code arrays} (nulls skipped). */
    private static ElementType floatType(DeviceArray... arrays) {
        ElementType type = null;
        for (DeviceArray a : arrays) {
            if (a == null) {
                continue;
            }
            if (!a.type().isFloat() || type != null && a.type() != type) {
                throw new IllegalArgumentException("bias + activation needs float arrays of one type, got " + a.type()
                        + (type == null ? "" : " and " + type));
            }
            type = a.type();
        }
        return type;
    }

    private void require(DeviceArray buffer, long needed, String name) {
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
