package distilbert.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The result of encoding one input: token ids with their type ids, tokens, attention and
 * special-tokens masks, word indices and offsets, plus the overflowing windows that truncation
 * cut off. Offsets are {@code [start, end)} String (UTF-16) indices into the text of the token's
 * sequence ({@link #sequenceIds()}: 0 the text, 1 the pair, -1 none), (0, 0) for added special
 * and pad tokens; {@link #codePointOffsets()} gives them in code points, as HuggingFace reports them.
 *
 * <p>Truncation, merging and padding follow HuggingFace's {@code tokenizers::Encoding} step for
 * step, so that overflowing windows come out in the same order.
 */
public final class Encoding {
    private final int[] ids;
    private final int[] typeIds;
    private final String[] tokens;
    private final int[] wordIds;
    private final int[] sequenceIds;
    private final int[] starts;
    private final int[] ends;
    private final int[] specialTokensMask;
    private final int[] attentionMask;
    private final List<Encoding> overflowing;
    private final String[] texts;

    Encoding(int[] ids, int[] typeIds, String[] tokens, int[] wordIds, int[] sequenceIds, int[] starts, int[] ends,
             int[] specialTokensMask, int[] attentionMask, List<Encoding> overflowing, String[] texts) {
        this.ids = ids;
        this.typeIds = typeIds;
        this.tokens = tokens;
        this.wordIds = wordIds;
        this.sequenceIds = sequenceIds;
        this.starts = starts;
        this.ends = ends;
        this.specialTokensMask = specialTokensMask;
        this.attentionMask = attentionMask;
        this.overflowing = List.copyOf(overflowing);
        this.texts = texts;
    }

    static final Encoding EMPTY = new Encoding(new int[0], new int[0], new String[0], new int[0], new int[0], new int[0],
            new int[0], new int[0], new int[0], List.of(), new String[2]);

    public int length() {
        return ids.length;
    }

    public int[] ids() {
        return ids.clone();
    }

    public int[] typeIds() {
        return typeIds.clone();
    }

    public String[] tokens() {
        return tokens.clone();
    }

    /** Index of the word each token came from, per sequence; -1 for special and pad tokens. */
    public int[] wordIds() {
        return wordIds.clone();
    }

    /** 0 for tokens of the text, 1 for tokens of the pair, -1 for special and pad tokens. */
    public int[] sequenceIds() {
        return sequenceIds.clone();
    }

    public int[] specialTokensMask() {
        return specialTokensMask.clone();
    }

    public int[] attentionMask() {
        return attentionMask.clone();
    }

    int wordId(int i) {
        return wordIds[i];
    }

    public int id(int i) {
        return ids[i];
    }

    public int start(int i) {
        return starts[i];
    }

    public int end(int i) {
        return ends[i];
    }

    /** Offsets as {@code [start, end]} String indices, one pair per token. */
    public int[][] offsets() {
        int[][] out = new int[ids.length][];
        for (int i = 0; i < out.length; i++) out[i] = new int[] {starts[i], ends[i]};
        return out;
    }

    /** Offsets as {@code [start, end]} Unicode code point indices, as HuggingFace reports them. */
    public int[][] codePointOffsets() {
        int[][] toCodePoint = new int[2][];
        int[][] out = new int[ids.length][];
        for (int i = 0; i < out.length; i++) {
            int seq = sequenceIds[i];
            if (seq < 0 || texts[seq] == null) {
                out[i] = new int[] {starts[i], ends[i]};
                continue;
            }
            if (toCodePoint[seq] == null) toCodePoint[seq] = codePointIndex(texts[seq]);
            out[i] = new int[] {toCodePoint[seq][starts[i]], toCodePoint[seq][ends[i]]};
        }
        return out;
    }

    /**
     * The text that the offsets of sequence {@code sequenceId} index into: 0 the text, 1 the pair;
     * null where this encoding has no such sequence.
     */
    public String text(int sequenceId) {
        if (sequenceId != 0 && sequenceId != 1) throw new IllegalArgumentException("sequence id must be 0 or 1, got " + sequenceId);
        return texts[sequenceId];
    }

    /** The windows cut off by truncation, each a complete encoding with its own special tokens. */
    public List<Encoding> overflowing() {
        return overflowing;
    }

    /** For each UTF-16 index 0..length, the number of code points before it. */
    private static int[] codePointIndex(String s) {
        int[] idx = new int[s.length() + 1];
        int cp = 0;
        for (int i = 0; i < s.length(); i++) {
            idx[i] = cp;
            if (!(Character.isHighSurrogate(s.charAt(i)) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1)))) cp++;
        }
        idx[s.length()] = cp;
        return idx;
    }

    // ---- the operations of tokenizers::Encoding ----------------------------------------------

    Encoding withTypeIds(int typeId) {
        int[] t = new int[ids.length];
        Arrays.fill(t, typeId);
        return new Encoding(ids, t, tokens, wordIds, sequenceIds, starts, ends, specialTokensMask, attentionMask, overflowing, texts);
    }

    Encoding slice(int from, int to) {
        return new Encoding(Arrays.copyOfRange(ids, from, to), Arrays.copyOfRange(typeIds, from, to),
                Arrays.copyOfRange(tokens, from, to), Arrays.copyOfRange(wordIds, from, to),
                Arrays.copyOfRange(sequenceIds, from, to), Arrays.copyOfRange(starts, from, to),
                Arrays.copyOfRange(ends, from, to), Arrays.copyOfRange(specialTokensMask, from, to),
                Arrays.copyOfRange(attentionMask, from, to), List.of(), texts);
    }

    /** Keeps the first (RIGHT) or last (LEFT) {@code maxLength} tokens; the rest become overflowing windows. */
    Encoding truncate(int maxLength, int stride, Direction direction) {
        int n = ids.length;
        if (maxLength >= n) return this;
        if (maxLength == 0) {
            return new Encoding(EMPTY.ids, EMPTY.typeIds, EMPTY.tokens, EMPTY.wordIds, EMPTY.sequenceIds, EMPTY.starts,
                    EMPTY.ends, EMPTY.specialTokensMask, EMPTY.attentionMask, List.of(this), texts);
        }
        if (stride >= maxLength) {
            throw new TokenizerException("stride " + stride + " must be smaller than the length left for the sequence ("
                    + maxLength + " tokens, after special tokens)");
        }
        int step = maxLength - stride;
        List<int[]> parts = new ArrayList<>();
        if (direction == Direction.RIGHT) {
            for (int start = 0; ; start += step) {
                int stop = Math.min(start + maxLength, n);
                parts.add(new int[] {start, stop});
                if (stop == n) break;
            }
        } else {
            for (int last = n - 1; last >= 0; last -= step) {
                int stop = last + 1;
                int start = Math.max(0, stop - maxLength);
                parts.add(new int[] {start, stop});
                if (start == 0) break;
            }
        }
        List<Encoding> over = new ArrayList<>(parts.size() - 1);
        for (int i = 1; i < parts.size(); i++) over.add(slice(parts.get(i)[0], parts.get(i)[1]));
        Encoding first = slice(parts.get(0)[0], parts.get(0)[1]);
        return first.withOverflowing(over);
    }

    private Encoding withOverflowing(List<Encoding> over) {
        return new Encoding(ids, typeIds, tokens, wordIds, sequenceIds, starts, ends, specialTokensMask, attentionMask, over, texts);
    }

    /** {@code Encoding::merge}: concatenation, overflowing windows combined as HuggingFace combines them. */
    static Encoding merge(List<Encoding> parts) {
        Encoding e = EMPTY;
        for (Encoding p : parts) e = e.mergeWith(p);
        return e;
    }

    private Encoding mergeWith(Encoding pair) {
        List<Encoding> over = new ArrayList<>();
        for (Encoding selfO : overflowing) {
            over.add(selfO.mergeWith(pair));
            for (Encoding otherO : pair.overflowing) over.add(selfO.mergeWith(otherO));
        }
        for (Encoding otherO : pair.overflowing) over.add(this.mergeWith(otherO));
        String[] t = texts.clone();
        for (int s = 0; s < t.length; s++) if (t[s] == null) t[s] = pair.texts[s];
        return new Encoding(concat(ids, pair.ids), concat(typeIds, pair.typeIds), concat(tokens, pair.tokens),
                concat(wordIds, pair.wordIds), concat(sequenceIds, pair.sequenceIds), concat(starts, pair.starts),
                concat(ends, pair.ends), concat(specialTokensMask, pair.specialTokensMask),
                concat(attentionMask, pair.attentionMask), over, t);
    }

    /** Pads to {@code target} tokens (overflowing windows too); longer encodings are left as they are. */
    Encoding pad(int target, int padId, int padTypeId, String padToken, Direction direction) {
        List<Encoding> over = overflowing;
        if (!over.isEmpty()) {
            over = new ArrayList<>(overflowing.size());
            for (Encoding o : overflowing) over.add(o.pad(target, padId, padTypeId, padToken, direction));
        }
        int n = ids.length;
        if (n >= target) return over == overflowing ? this : withOverflowing(over);
        int pad = target - n;
        boolean left = direction == Direction.LEFT;
        String[] padTokens = new String[pad];
        Arrays.fill(padTokens, padToken);
        return new Encoding(padded(ids, pad, padId, left), padded(typeIds, pad, padTypeId, left),
                padded(tokens, padTokens, left), padded(wordIds, pad, -1, left), padded(sequenceIds, pad, -1, left),
                padded(starts, pad, 0, left), padded(ends, pad, 0, left), padded(specialTokensMask, pad, 1, left),
                padded(attentionMask, pad, 0, left), over, texts);
    }

    private static int[] padded(int[] a, int pad, int value, boolean left) {
        int[] out = new int[a.length + pad];
        Arrays.fill(out, value);
        System.arraycopy(a, 0, out, left ? pad : 0, a.length);
        return out;
    }

    private static String[] padded(String[] a, String[] pad, boolean left) {
        return left ? concat(pad, a) : concat(a, pad);
    }

    private static int[] concat(int[] a, int[] b) {
        if (b.length == 0) return a;
        if (a.length == 0) return b;
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static String[] concat(String[] a, String[] b) {
        if (b.length == 0) return a;
        if (a.length == 0) return b;
        String[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Override
    public String toString() {
        return "Encoding" + Arrays.toString(tokens) + (overflowing.isEmpty() ? "" : " +" + overflowing.size() + " overflowing");
    }
}
