package distilbert.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * Scratch memory for the steps of a model (activations of a forward pass): a bump allocator over one
 * device block, released in stack order, so that after the first step of the largest shape nothing
 * is allocated from the driver again.
 *
 * <pre>{@code
 * long mark = arena.mark();
 * try {
 *     DeviceArray x = arena.allocate(ElementType.BF16, T * C, "hidden states");
 *     ...
 * } finally {
 *     arena.release(mark);
 * }
 * }</pre>
 *
 * <p>When a step needs more than the block holds, the extra pieces are allocated from the driver on
 * the spot (overflow); when the arena is next released to empty, the overflow is freed and the block
 * is reallocated at the high-water mark, so the next step of that size fits. Pieces are 256-byte
 * aligned (what cuBLAS and vector loads want). Memory released is reused by later allocations of
 * the same stream, which the stream's order makes safe without synchronizing.
 *
 * <p>Pieces are views: they are not closed one by one, and must not be used after the release that
 * takes them back. Not thread-safe: one thread at a time, as the context.
 */
public final class DeviceArena implements AutoCloseable {

    private static final long ALIGN = 256;
    /** The block grows in steps of this much (2 MiB, the driver's large-page size). */
    private static final long GRANULE = 2L << 20;

    private final CudaContext context;
    private long base;
    private long capacity;
    /** Bytes used of the block. */
    private long top;
    /** Bytes in use, block and overflow together. */
    private long used;
    private long highWater;
    private final List<long[]> overflow = new ArrayList<>(); // {address, bytes}
    private boolean closed;

    /** An empty arena on {@code context}, closed with it if not before. */
    public DeviceArena(CudaContext context) {
        this.context = context;
        context.own(this);
    }

    /** A position to {@link #release} back to. */
    public long mark() {
        ensureOpen();
        return ((long) overflow.size() << 48) | top;
    }

    /** What an activation that does not fit calls for, ending its out-of-memory message. */
    static final String ACTIVATIONS_ADVICE = "Use smaller batches (--batch-tokens) or shorter sequences (--max-length), "
            + "or free other models on this GPU";

    /**
     * {@code length} elements of {@code type}; contents undefined.
     *
     * @param what what the memory is for, for the out-of-memory message
     * @throws GpuOutOfMemoryException when neither the block nor the device has room
     */
    public DeviceArray allocate(ElementType type, long length, String what) {
        ensureOpen();
        if (length < 0) {
            throw new IllegalArgumentException("negative array length " + length + " for " + what);
        }
        long bytes = alignUp(Math.multiplyExact(length, (long) type.bytes()));
        long address;
        if (top + bytes <= capacity) {
            address = base + top;
            top += bytes;
        } else {
            address = context.allocateBytes(bytes, what, ACTIVATIONS_ADVICE);
            overflow.add(new long[] {address, bytes});
        }
        used += bytes;
        highWater = Math.max(highWater, used);
        return new DeviceArray(context, type, address, length, null, false);
    }

    /**
     * Takes back everything allocated since {@code mark}. Released to empty, it frees the overflow and
     * regrows the block to the high-water mark (a regrowth that does not fit is skipped: the next step
     * overflows again and reports the shortage itself).
     */
    public void release(long mark) {
        ensureOpen();
        int keepOverflow = (int) (mark >>> 48);
        long keepTop = mark & ((1L << 48) - 1);
        if (keepOverflow > overflow.size() || keepTop > top) {
            throw new IllegalStateException("release to a mark that is not on the stack (released twice?)");
        }
        while (overflow.size() > keepOverflow) {
            long[] piece = overflow.removeLast();
            context.freeBytes(piece[0], piece[1]);
            used -= piece[1];
        }
        used -= top - keepTop;
        top = keepTop;
        if (top == 0 && overflow.isEmpty() && highWater > capacity) {
            regrow();
        }
    }

    private void regrow() {
        long wanted = (highWater + GRANULE - 1) / GRANULE * GRANULE;
        context.freeBytes(base, capacity);
        base = 0;
        capacity = 0;
        try {
            base = context.allocateBytes(wanted, "the activation arena", ACTIVATIONS_ADVICE);
            capacity = wanted;
        } catch (GpuOutOfMemoryException e) {
            // keep going without a block: each piece is then an overflow allocation
        }
    }

    /** Bytes of the block (what stays allocated between steps). */
    public long capacityBytes() {
        return capacity;
    }

    /** The most bytes in use at once so far. */
    public long highWaterBytes() {
        return highWater;
    }

    private static long alignUp(long bytes) {
        return (bytes + ALIGN - 1) / ALIGN * ALIGN;
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("device arena is closed");
        }
    }

    /** Frees the block and any overflow. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        context.disown(this);
        Teardown failures = new Teardown();
        for (long[] piece : overflow) {
            failures.attempt(() -> context.freeBytes(piece[0], piece[1]));
        }
        overflow.clear();
        long block = base, bytes = capacity;
        base = 0;
        capacity = 0;
        failures.attempt(() -> context.freeBytes(block, bytes));
        failures.rethrow();
    }
}
