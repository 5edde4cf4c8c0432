package distilbert.tokenizer;

import java.util.Collections;
import java.util.Map;

/**
 * Token strings and their ids, as HuggingFace's WordPiece model holds them: a map from token to
 * id (for duplicate strings the later id wins, as in HF) and its inverse.
 */
public final class Vocabulary {
    private final Map<String, Integer> ids;
    private final String[] tokens;

    Vocabulary(Map<String, Integer> ids) {
        this.ids = Map.copyOf(ids);
        int max = ids.values().stream().mapToInt(Integer::intValue).max().orElse(-1);
        this.tokens = new String[max + 1];
        ids.forEach((t, id) -> tokens[id] = t);
    }

    /** The id of {@code token}, or -1. */
    public int id(String token) {
        Integer id = ids.get(token);
        return id == null ? -1 : id;
    }

    /** The token with this id, or null. */
    public String token(int id) {
        return id >= 0 && id < tokens.length ? tokens[id] : null;
    }

    /** One more than the largest id. */
    public int size() {
        return tokens.length;
    }

    public Map<String, Integer> asMap() {
        return Collections.unmodifiableMap(ids);
    }

    @Override
    public String toString() {
        return "Vocabulary[" + ids.size() + " tokens]";
    }
}
