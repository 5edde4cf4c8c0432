package distilbert.tokenizer;

/**
 * How to cut encodings down to {@code maxLength} tokens (special tokens included), as
 * HuggingFace's {@code TruncationParams}. The windows cut off are kept as overflowing encodings,
 * each overlapping the previous one by {@code stride} tokens.
 *
 * <p>{@code wholeSequences}: false (the default) truncates as tokenizers 0.23 does, which stops
 * tokenizing a sequence once it has {@code maxLength} tokens, so that the overflowing windows cover
 * only its start (huggingface/tokenizers#2091); true as tokenizers 0.22 (the version transformers
 * pins), whose windows cover all of every sequence: what question answering with a document
 * stride needs.
 */
public record Truncation(Strategy strategy, int maxLength, int stride, Direction direction, boolean wholeSequences) {
    public enum Strategy {
        /** Take tokens from the longer sequence first (pairs); a single sequence is simply cut. */
        LONGEST_FIRST,
        /** Cut only the first sequence of a pair. */
        ONLY_FIRST,
        /** Cut only the second sequence of a pair; a single sequence is an error. */
        ONLY_SECOND
    }

    public Truncation {
        if (strategy == null) throw new IllegalArgumentException("truncation strategy is required");
        if (direction == null) throw new IllegalArgumentException("truncation direction is required");
        if (maxLength < 0) throw new IllegalArgumentException("max_length must be >= 0, got " + maxLength);
        if (stride < 0) throw new IllegalArgumentException("stride must be >= 0, got " + stride);
    }

    /** tokenizers 0.23's truncation (windows over the start of a long sequence only). */
    public Truncation(Strategy strategy, int maxLength, int stride, Direction direction) {
        this(strategy, maxLength, stride, direction, false);
    }

    public static Truncation longestFirst(int maxLength) {
        return new Truncation(Strategy.LONGEST_FIRST, maxLength, 0, Direction.RIGHT);
    }

    public Truncation withStride(int stride) {
        return new Truncation(strategy, maxLength, stride, direction, wholeSequences);
    }

    public Truncation withDirection(Direction direction) {
        return new Truncation(strategy, maxLength, stride, direction, wholeSequences);
    }

    /** The same truncation with overflowing windows over all of every sequence (tokenizers 0.22), or not. */
    public Truncation withWholeSequences(boolean whole) {
        return new Truncation(strategy, maxLength, stride, direction, whole);
    }
}
