package distilbert.model;

/**
 * The random stream of training-mode dropout: a counter-based generator (Philox 4x32-10) keyed by
 * {@code seed}, with {@code offset} the first counter of this forward pass, so the CPU and CUDA
 * backends draw the same masks and a step can be replayed. Reserved: training arrives with the
 * backward pass; a forward given one is rejected for now.
 */
public record DropoutRng(long seed, long offset) {
}
