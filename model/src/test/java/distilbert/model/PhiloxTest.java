package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;

/**
 * Philox4x32-10 against Random123's published known answers. The vectors are the three
 * {@code philox4x32 10} lines of the {@code kat_vectors} file of the Random123 distribution, as
 * quoted in DEShawResearch/Random123-Boost, {@code libs/random/test/test_philox.cpp}
 * ({@code test_kat_philox4x32}): counter (4 words), key (2 words), expected output (4 words).
 */
class PhiloxTest {

    @Test
    void zeroCounterAndKey() {
        kat(new int[] {0x00000000, 0x00000000, 0x00000000, 0x00000000}, new int[] {0x00000000, 0x00000000},
                new int[] {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
    }

    @Test
    void allOnesCounterAndKey() {
        kat(new int[] {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, new int[] {0xffffffff, 0xffffffff},
                new int[] {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
    }

    @Test
    void piDigitsCounterAndKey() {
        kat(new int[] {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, new int[] {0xa4093822, 0x299f31d0},
                new int[] {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
    }

    private static void kat(int[] ctr, int[] key, int[] expected) {
        int[] out = new int[4];
        Philox.block(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1], out);
        assertArrayEquals(expected, out, () -> "got " + hex(out) + ", expected " + hex(expected));
    }

    private static String hex(int[] words) {
        StringBuilder s = new StringBuilder();
        for (int w : words) {
            s.append(String.format("%08x ", w));
        }
        return s.toString().trim();
    }
}
