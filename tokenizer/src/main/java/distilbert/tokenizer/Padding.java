package distilbert.tokenizer;

/**
 * How to pad encodings: to the longest in the batch or to a fixed {@code length}, then up to a
 * multiple of {@code padToMultipleOf} (0 for none), on the right or the left. Pad tokens have
 * attention mask 0, special-tokens mask 1, type id 0 and offsets (0, 0), as in HuggingFace.
 */
public record Padding(Strategy strategy, int length, int padToMultipleOf, Direction direction) {
    public enum Strategy {
        LONGEST,
        MAX_LENGTH
    }

    public Padding {
        if (strategy == null) throw new IllegalArgumentException("padding strategy is required");
        if (direction == null) throw new IllegalArgumentException("padding direction is required");
        if (strategy == Strategy.MAX_LENGTH && length <= 0) {
            throw new IllegalArgumentException("padding to max_length needs a length > 0, got " + length);
        }
        if (padToMultipleOf < 0) throw new IllegalArgumentException("pad_to_multiple_of must be >= 0, got " + padToMultipleOf);
    }

    public static Padding longest() {
        return new Padding(Strategy.LONGEST, 0, 0, Direction.RIGHT);
    }

    public static Padding maxLength(int length) {
        return new Padding(Strategy.MAX_LENGTH, length, 0, Direction.RIGHT);
    }

    public Padding toMultipleOf(int multiple) {
        return new Padding(strategy, length, multiple, direction);
    }

    public Padding withDirection(Direction direction) {
        return new Padding(strategy, length, padToMultipleOf, direction);
    }
}
