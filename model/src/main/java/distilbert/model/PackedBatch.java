package distilbert.model;

import java.util.Arrays;

/**
 * A padded batch {@code [B, L]} turned into the packed form the model runs on: the tokens of each
 * row concatenated, row after row, each keeping its position id (its index in the row, as HF's
 * {@code arange(L)} position ids ignore the mask), with {@code cu_seqlens} offsets.
 *
 * <p>With {@link MaskedPositions#SKIP} only tokens whose mask is 1 are packed. With
 * {@link MaskedPositions#COMPUTE} the masked tokens of a row follow its unmasked ones, and
 * {@link #keyLens} says how many of a row's tokens are keys (the unmasked ones); the rest are
 * queries only.
 *
 * @param batch       B
 * @param length      L
 * @param tokens      T, the packed token count
 * @param tokenIds    [T] token ids, or null when the input is {@code inputs_embeds}
 * @param positionIds [T] index of each packed token in its row
 * @param sourceIndex [T] {@code b·L + position} of each packed token: where it came from and goes back to
 * @param cuSeqlens   [B + 1] offsets: row b is packed tokens {@code [cuSeqlens[b], cuSeqlens[b+1])}
 * @param keyLens     [B] keys per row (COMPUTE), or null when every packed token is a key (SKIP)
 * @param packedIndex [B·L] the packed token of each {@code b·L + position}, or −1 where none
 */
public record PackedBatch(int batch, int length, int tokens, int[] tokenIds, int[] positionIds, int[] sourceIndex,
                          int[] cuSeqlens, int[] keyLens, int[] packedIndex) {

    /**
     * Packs a batch. Inputs are trusted (validated by the caller).
     *
     * @param inputIds      [B·L] or null (the caller packs {@code inputs_embeds} with {@link #sourceIndex})
     * @param attentionMask [B·L] of 0/1, or null for all ones
     */
    public static PackedBatch pack(int B, int L, int[] inputIds, int[] attentionMask, MaskedPositions mode) {
        int[] packedIndex = new int[B * L];
        Arrays.fill(packedIndex, -1);
        int[] cu = new int[B + 1];
        int[] keyLens = mode == MaskedPositions.COMPUTE ? new int[B] : null;
        int total = 0;
        for (int b = 0; b < B; b++) {
            int unmasked = 0;
            for (int l = 0; l < L; l++) {
                if (attentionMask == null || attentionMask[b * L + l] != 0) {
                    unmasked++;
                }
            }
            if (keyLens != null) {
                keyLens[b] = unmasked;
                total += L;
            } else {
                total += unmasked;
            }
            cu[b + 1] = total;
        }
        int[] ids = inputIds == null ? null : new int[total];
        int[] pos = new int[total];
        int[] src = new int[total];
        int t = 0;
        for (int b = 0; b < B; b++) {
            // unmasked tokens first (the keys), then, in COMPUTE mode, the masked ones
            for (int pass = 0; pass < (keyLens == null ? 1 : 2); pass++) {
                boolean wantMasked = pass == 1;
                for (int l = 0; l < L; l++) {
                    int i = b * L + l;
                    boolean masked = attentionMask != null && attentionMask[i] == 0;
                    if (masked != wantMasked) {
                        continue;
                    }
                    if (ids != null) {
                        ids[t] = inputIds[i];
                    }
                    pos[t] = l;
                    src[t] = i;
                    packedIndex[i] = t;
                    t++;
                }
            }
        }
        return new PackedBatch(B, L, total, ids, pos, src, cu, keyLens, packedIndex);
    }

    /** Number of tokens of row b in the packed batch. */
    public int seqLen(int b) {
        return cuSeqlens[b + 1] - cuSeqlens[b];
    }

    /** Keys of row b (see {@link Ops#attentionForward}); 0 for a COMPUTE row that is entirely masked. */
    public int keys(int b) {
        return keyLens == null ? seqLen(b) : keyLens[b];
    }

    /** Gathers rows of an unpacked {@code [B·L, width]} array into packed order {@code [T, width]}. */
    public float[] gather(float[] unpacked, int width) {
        float[] out = new float[tokens * width];
        for (int t = 0; t < tokens; t++) {
            System.arraycopy(unpacked, sourceIndex[t] * width, out, t * width, width);
        }
        return out;
    }

    /**
     * Scatters packed rows {@code [T, width]} back to {@code [B·L, width]}; positions with no packed
     * token get {@code fill} (a row of {@code width} values) or zeros when {@code fill} is null.
     */
    public float[] scatter(float[] packed, int width, float[] fill) {
        float[] out = new float[batch * length * width];
        for (int i = 0; i < batch * length; i++) {
            int t = packedIndex[i];
            if (t >= 0) {
                System.arraycopy(packed, t * width, out, i * width, width);
            } else if (fill != null) {
                System.arraycopy(fill, 0, out, i * width, width);
            }
        }
        return out;
    }

    /** Whether some position has no packed token (SKIP mode with padding). */
    public boolean hasUnpackedPositions() {
        return tokens < batch * length;
    }

    /**
     * Where each sequence's probabilities start in the packed probabilities of
     * {@link Ops#attentionForward}: {@code offsets[b] = NH · Σ_{b'<b} len_b'·keys_b'}; the last entry
     * is the total. A row with 0 keys but some tokens attends to all of them.
     *
     * @param keyLens null when every token is a key
     */
    public static long[] probsOffsets(int[] cuSeqlens, int[] keyLens, int NH) {
        int n = cuSeqlens.length - 1;
        long[] offsets = new long[n + 1];
        for (int b = 0; b < n; b++) {
            long len = cuSeqlens[b + 1] - cuSeqlens[b];
            long keys = keyLens == null || keyLens[b] == 0 ? len : keyLens[b];
            offsets[b + 1] = offsets[b] + NH * len * keys;
        }
        return offsets;
    }

    /** {@link #probsOffsets(int[], int[], int)} for this batch. */
    public long[] probsOffsets(int NH) {
        return probsOffsets(cuSeqlens, keyLens, NH);
    }

    /**
     * Packed attention probabilities to HF's {@code [B, NH, L, L]}: zero for keys that are masked,
     * and, in SKIP mode, whole zero rows for queries that are masked.
     */
    public float[] scatterAttentions(float[] probs, int NH) {
        int L = length;
        float[] out = new float[batch * NH * L * L];
        long[] offsets = probsOffsets(NH);
        for (int b = 0; b < batch; b++) {
            int start = cuSeqlens[b], len = seqLen(b);
            int keys = keyLens == null || keyLens[b] == 0 ? len : keyLens[b];
            for (int h = 0; h < NH; h++) {
                long base = offsets[b] + (long) h * len * keys;
                for (int i = 0; i < len; i++) {
                    int qi = positionIds[start + i];
                    int row = ((b * NH + h) * L + qi) * L;
                    for (int j = 0; j < keys; j++) {
                        out[row + positionIds[start + j]] = probs[(int) (base + (long) i * keys + j)];
                    }
                }
            }
        }
        return out;
    }
}
