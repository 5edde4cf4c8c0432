package distilbert.model;

import java.util.Objects;

/**
 * The inputs of one forward pass, HF's arguments of {@code DistilBertModel.forward}: a padded batch
 * {@code [B, L]} of token ids or {@code inputs_embeds [B, L, C]}, its attention mask, a head mask
 * and the output switches. Arrays are flat, row-major, and not copied.
 *
 * <p>Build with {@link #ofIds} or {@link #ofEmbeds}, then the {@code with…} methods. Shapes are
 * checked here; values against the model's config (ids in the vocabulary, lengths within
 * {@code max_position_embeddings}, head mask shape) when the model runs.
 *
 * @param batch              B
 * @param length             L
 * @param inputIds           [B·L], or null when {@code inputsEmbeds} is given
 * @param inputsEmbeds       [B·L·C], or null when {@code inputIds} is given
 * @param attentionMask      [B·L] of 0 and 1, or null for all ones
 * @param headMask           [NH] or [n_layers, NH], or null: multiplies each head's attention probabilities
 * @param outputAttentions   null: the config's {@code output_attentions}
 * @param outputHiddenStates null: the config's {@code output_hidden_states}
 * @param maskedPositions    what is computed where the mask is 0 (default {@link MaskedPositions#SKIP})
 * @param dropout            null for inference (eval mode); the dropout stream of a training step
 *                           (a head's {@code backward}), refused by {@code forward}
 */
public record ModelInput(int batch, int length, int[] inputIds, float[] inputsEmbeds, int[] attentionMask,
                         Tensor headMask, Boolean outputAttentions, Boolean outputHiddenStates,
                         MaskedPositions maskedPositions, DropoutRng dropout) {

    public ModelInput {
        if (batch < 0 || length < 0) {
            throw new IllegalArgumentException("batch and length must be >= 0, got [" + batch + ", " + length + "]");
        }
        if ((inputIds == null) == (inputsEmbeds == null)) {
            throw new IllegalArgumentException(inputIds == null
                    ? "give either input_ids or inputs_embeds"
                    : "give either input_ids or inputs_embeds, not both");
        }
        if (inputIds != null && inputIds.length != batch * length) {
            throw new IllegalArgumentException("input_ids has " + inputIds.length + " values, expected B·L = "
                    + batch + "·" + length);
        }
        if (inputsEmbeds != null && (batch * length == 0 ? inputsEmbeds.length != 0
                : inputsEmbeds.length % (batch * length) != 0)) {
            throw new IllegalArgumentException("inputs_embeds has " + inputsEmbeds.length
                    + " values, not a multiple of B·L = " + batch + "·" + length);
        }
        if (attentionMask != null && attentionMask.length != batch * length) {
            throw new IllegalArgumentException("attention_mask has " + attentionMask.length
                    + " values but input_ids is [" + batch + ", " + length + "]");
        }
        maskedPositions = maskedPositions == null ? MaskedPositions.SKIP : maskedPositions;
    }

    /** A padded batch of token ids; {@code attentionMask} may be null (all ones). Rows must be equally long. */
    public static ModelInput ofIds(int[][] inputIds, int[][] attentionMask) {
        Objects.requireNonNull(inputIds, "input_ids");
        int B = inputIds.length;
        int L = B == 0 ? 0 : inputIds[0].length;
        int[] ids = flatten(inputIds, L, "input_ids");
        int[] mask = null;
        if (attentionMask != null) {
            if (attentionMask.length != B) {
                throw new IllegalArgumentException("attention_mask has " + attentionMask.length
                        + " rows but input_ids has " + B);
            }
            for (int b = 0; b < B; b++) {
                if (attentionMask[b].length != L) {
                    throw new IllegalArgumentException("attention_mask row " + b + " has " + attentionMask[b].length
                            + " values but input_ids rows have " + L);
                }
            }
            mask = flatten(attentionMask, L, "attention_mask");
        }
        return new ModelInput(B, L, ids, null, mask, null, null, null, MaskedPositions.SKIP, null);
    }

    /** A single batch of token ids with no padding. */
    public static ModelInput ofIds(int[][] inputIds) {
        return ofIds(inputIds, null);
    }

    /** Flat form: {@code inputIds [B·L]}, {@code attentionMask [B·L]} or null. */
    public static ModelInput ofIds(int batch, int length, int[] inputIds, int[] attentionMask) {
        return new ModelInput(batch, length, Objects.requireNonNull(inputIds, "input_ids"), null, attentionMask,
                null, null, null, MaskedPositions.SKIP, null);
    }

    /** {@code inputs_embeds [B, L, C]} in place of token ids; {@code attentionMask [B·L]} or null. */
    public static ModelInput ofEmbeds(Tensor inputsEmbeds, int[] attentionMask) {
        if (inputsEmbeds.rank() != 3) {
            throw new IllegalArgumentException("inputs_embeds must be [B, L, C], got " + inputsEmbeds);
        }
        return new ModelInput(inputsEmbeds.dim(0), inputsEmbeds.dim(1), null, inputsEmbeds.data(), attentionMask,
                null, null, null, MaskedPositions.SKIP, null);
    }

    /**
     * Multiple-choice inputs {@code [B, NC, L]} flattened to {@code [B·NC, L]}, as
     * DistilBertForMultipleChoice does before running the encoder.
     */
    public static ModelInput ofChoices(int[][][] inputIds, int[][][] attentionMask) {
        int B = inputIds.length;
        int NC = B == 0 ? 0 : inputIds[0].length;
        int[][] ids = new int[B * NC][];
        int[][] mask = attentionMask == null ? null : new int[B * NC][];
        for (int b = 0; b < B; b++) {
            if (inputIds[b].length != NC) {
                throw new IllegalArgumentException("input_ids row " + b + " has " + inputIds[b].length
                        + " choices, row 0 has " + NC);
            }
            if (mask != null && (attentionMask.length != B || attentionMask[b].length != NC)) {
                throw new IllegalArgumentException("attention_mask must be [B, NC, L] like input_ids");
            }
            for (int c = 0; c < NC; c++) {
                ids[b * NC + c] = inputIds[b][c];
                if (mask != null) {
                    mask[b * NC + c] = attentionMask[b][c];
                }
            }
        }
        return ofIds(ids, mask);
    }

    public ModelInput withHeadMask(Tensor headMask) {
        return new ModelInput(batch, length, inputIds, inputsEmbeds, attentionMask, headMask, outputAttentions,
                outputHiddenStates, maskedPositions, dropout);
    }

    public ModelInput withOutputAttentions(boolean on) {
        return new ModelInput(batch, length, inputIds, inputsEmbeds, attentionMask, headMask, on,
                outputHiddenStates, maskedPositions, dropout);
    }

    public ModelInput withOutputHiddenStates(boolean on) {
        return new ModelInput(batch, length, inputIds, inputsEmbeds, attentionMask, headMask, outputAttentions,
                on, maskedPositions, dropout);
    }

    public ModelInput withMaskedPositions(MaskedPositions mode) {
        return new ModelInput(batch, length, inputIds, inputsEmbeds, attentionMask, headMask, outputAttentions,
                outputHiddenStates, mode, dropout);
    }

    /**
     * Training mode: dropout drawn from {@code rng} (HF's {@code model.train()}), for a head's
     * {@code backward}; null is eval mode (no dropout, the gradient of the inference forward).
     */
    public ModelInput withDropout(DropoutRng rng) {
        return new ModelInput(batch, length, inputIds, inputsEmbeds, attentionMask, headMask, outputAttentions,
                outputHiddenStates, maskedPositions, rng);
    }

    /** The mask value at (b, l); 1 when there is no mask. */
    public int mask(int b, int l) {
        return attentionMask == null ? 1 : attentionMask[b * length + l];
    }

    private static int[] flatten(int[][] rows, int L, String what) {
        int[] flat = new int[rows.length * L];
        for (int b = 0; b < rows.length; b++) {
            if (rows[b].length != L) {
                throw new IllegalArgumentException(what + " row " + b + " has " + rows[b].length + " values, row 0 has "
                        + L + ": rows of a padded batch must be equally long");
            }
            System.arraycopy(rows[b], 0, flat, b * L, L);
        }
        return flat;
    }
}
