package distilbert.model;

/**
 * Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw, "Parallel Random
 * Numbers: As Easy as 1, 2, 3" (SC'11), exactly as D. E. Shaw Research's Random123 library defines it
 * ({@code philox4x32_R(10, ctr, key)}); cuRAND's {@code curand_Philox4x32_10} is the same function.
 *
 * <p>The algorithm: a 128-bit counter (four 32-bit words) goes through ten rounds, each of which
 * multiplies words 0 and 2 by M0, M1 and sets {@code (hi(M1·c2) ^ c1 ^ k0, lo(M1·c2), hi(M0·c0) ^ c3 ^ k1, lo(M0·c0))};
 * the 64-bit key (k0, k1) is bumped by the Weyl constants W0, W1 between rounds.
 *
 * <p>All words are unsigned 32-bit values carried in Java {@code int}s.
 */
public final class Philox {

    private Philox() {
    }

    static final int M0 = 0xD2511F53;
    static final int M1 = 0xCD9E8D57;
    // golden ratio and sqrt(3) - 1, as 32-bit fixed-point fractions
    static final int W0 = 0x9E3779B9;
    static final int W1 = 0xBB67AE85;
    static final int ROUNDS = 10;

    private static final long LOW = 0xFFFF_FFFFL;

    /**
     * One Philox4x32-10 block: the four output words for counter (c0, c1, c2, c3) and key (k0, k1),
     * written to {@code out4[0..3]} (word 0 first, as Random123 orders them). Allocates nothing.
     */
    public static void block(int c0, int c1, int c2, int c3, int k0, int k1, int[] out4) {
        for (int round = 0; round < ROUNDS; round++) {
            if (round > 0) {
                k0 += W0;
                k1 += W1;
            }
            long p0 = (M0 & LOW) * (c0 & LOW);
            long p1 = (M1 & LOW) * (c2 & LOW);
            int y0 = (int) (p1 >>> 32) ^ c1 ^ k0;
            int y2 = (int) (p0 >>> 32) ^ c3 ^ k1;
            c1 = (int) p1;
            c3 = (int) p0;
            c0 = y0;
            c2 = y2;
        }
        out4[0] = c0;
        out4[1] = c1;
        out4[2] = c2;
        out4[3] = c3;
    }
}
