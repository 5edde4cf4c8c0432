package distilbert.model;

/**
 * The random stream of training-mode dropout (embeddings, attention probabilities, FFN output, the
 * heads' dropouts): a counter-based generator, {@link Philox} 4x32-10, so the CPU and CUDA backends
 * draw the same masks and a step can be replayed from {@code (seed, offset)} alone.
 *
 * <p>The contract, which a CUDA kernel reproduces word for word. A dropout site of {@code n}
 * elements starts at counter {@code offset}; its element {@code i} (0 ≤ i < n, a long):
 * <ul>
 *   <li>key: {@code k0 = (int) seed}, {@code k1 = (int) (seed >>> 32)};</li>
 *   <li>counter: {@code ctr = offset + i / 4} (64-bit, wrapping), {@code c0 = (int) ctr},
 *       {@code c1 = (int) (ctr >>> 32)}, {@code c2 = c3 = 0};</li>
 *   <li>word: output word {@code i % 4} of {@code philox4x32_10(c0, c1, c2, c3; k0, k1)};</li>
 *   <li>uniform: {@code u = (word >>> 8) · 2^-24} as a float, exact, in [0, 1);</li>
 *   <li>kept iff {@code u >= p}; a kept element is multiplied by {@code scale = 1f / (1f - p)} (float
 *       arithmetic), a dropped one becomes {@code 0f}. With p = 0 everything is kept with scale
 *       exactly 1; with p = 1 everything is dropped (scale 0, never infinity).</li>
 * </ul>
 * A site of n elements consumes {@link #blocks(long) ceil(n / 4)} counters; the next site starts at
 * {@link #advance(long) advance(n)}, so consecutive sites never share a counter. The backward pass of
 * a site replays the same (seed, offset) and multiplies the gradient by the same mask and scale.
 *
 * <p>Immutable, so one instance can be shared by threads.
 *
 * @param seed   the Philox key
 * @param offset the first counter of this site
 */
public record DropoutRng(long seed, long offset) {

    /** Counters consumed by a site of {@code n} elements: ceil(n / 4). */
    public static long blocks(long n) {
        if (n < 0) {
            throw new IllegalArgumentException("a dropout site has n >= 0 elements, got " + n);
        }
        return n / 4 + ((n & 3) != 0 ? 1 : 0);
    }

    /** The stream of the site after this one, when this one has {@code n} elements. */
    public DropoutRng advance(long n) {
        return new DropoutRng(seed, offset + blocks(n));
    }

    /** The factor of a kept element: {@code 1f / (1f - p)}, and 0 for p = 1 (nothing is kept then). */
    public static float scale(float p) {
        checkProbability(p);
        return p == 1f ? 0f : 1f / (1f - p);
    }

    /** The uniform in [0, 1) of element {@code i} of this site; one Philox block a call, so loops use {@link #apply}. */
    public float uniform(long i) {
        if (i < 0) {
            throw new IllegalArgumentException("element index must be >= 0, got " + i);
        }
        int[] words = new int[4];
        block(i >>> 2, words);
        return toUniform(words[(int) (i & 3)]);
    }

    /** Whether element {@code i} of this site survives dropout with probability {@code p}. */
    public boolean keep(long i, float p) {
        checkProbability(p);
        return uniform(i) >= p;
    }

    /**
     * Dropout forward: {@code out[outOffset + j] = keep(j) ? in[inOffset + j] · scale(p) : 0} for j in
     * [0, n), j the element index within this site. {@code out} may be {@code in}, at the same offset.
     */
    public void apply(float[] out, int outOffset, float[] in, int inOffset, int n, float p) {
        checkProbability(p);
        if (n < 0) {
            throw new IllegalArgumentException("a dropout site has n >= 0 elements, got " + n);
        }
        float scale = scale(p);
        int[] words = new int[4];
        int blocks = (int) blocks(n);
        for (int b = 0; b < blocks; b++) {
            block(b, words);
            int base = b << 2;
            int count = Math.min(4, n - base);
            for (int w = 0; w < count; w++) {
                int j = base + w;
                out[outOffset + j] = toUniform(words[w]) >= p ? in[inOffset + j] * scale : 0f;
            }
        }
    }

    /**
     * Dropout backward: {@code dIn[dInOffset + j] = keep(j) ? dOut[dOutOffset + j] · scale(p) : 0},
     * the same mask and scale as {@link #apply} drew for this (seed, offset). {@code dIn} may be
     * {@code dOut}, at the same offset.
     */
    public void applyBackward(float[] dIn, int dInOffset, float[] dOut, int dOutOffset, int n, float p) {
        // the gradient of x·mask·scale is mask·scale, the same map
        apply(dIn, dInOffset, dOut, dOutOffset, n, p);
    }

    /** The Philox block of counter {@code offset + b}. */
    private void block(long b, int[] words) {
        long ctr = offset + b;
        Philox.block((int) ctr, (int) (ctr >>> 32), 0, 0, (int) seed, (int) (seed >>> 32), words);
    }

    /** The top 24 bits of a word as a float in [0, 1), exact. */
    private static float toUniform(int word) {
        return (word >>> 8) * 0x1p-24f;
    }

    private static void checkProbability(float p) {
        if (!(p >= 0f && p <= 1f)) {
            throw new IllegalArgumentException("dropout probability must be in [0, 1], got " + p);
        }
    }
}
