package distilbert.tokenizer;

/**
 * How to cut encodings down to {@code maxLength} tokens (special tokens included), as
 * HuggingFace's {@code TruncationParams}. The windows cut off are kept as overflowing encodings,
 * each overlapping the previous one by {@code stride} tokens.
 */
public record Truncation(Strategy strategy, int maxLength, int stride, Direction direction) {
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

    public static Truncation longestFirst(int maxLength) {
        return new Truncation(Strategy.LONGEST_FIRST, maxLength, 0, Direction.RIGHT);
    }

    public Truncation withStride(int stride) {
        return new Truncation(strategy, maxLength, stride, direction);
    }

    public Truncation withDirection(Direction direction) {
        return new Truncation(strategy, maxLength, stride, direction);
    }
}
