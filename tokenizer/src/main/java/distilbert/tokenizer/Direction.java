package distilbert.tokenizer;

/** The side that truncation cuts from, or that padding adds to. */
public enum Direction {
    RIGHT,
    LEFT
}
