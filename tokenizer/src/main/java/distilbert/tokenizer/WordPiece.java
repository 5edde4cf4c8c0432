package distilbert.tokenizer;

import java.util.Arrays;

/**
 * WordPiece, greedy longest-match-first, as HuggingFace's {@code models::wordpiece} does it: a
 * word longer than {@code maxInputCharsPerWord} code points, or one with any piece missing from
 * the vocabulary, becomes a single unknown token spanning the whole word; pieces after the first
 * are looked up with the continuing-subword prefix ("##").
 *
 * <p>The longest vocabulary entry that is a prefix of the rest of the word is what HF finds by
 * shrinking the candidate from the right; we find it in one pass over a trie of code points,
 * without building a string per candidate. Two roots: one over every token (the first piece),
 * one over the tokens that start with the prefix, prefix removed (later pieces).
 */
final class WordPiece {
    final Vocabulary vocab;
    final int unkId;
    final String unkToken;
    final String continuingSubwordPrefix;
    final int maxInputCharsPerWord;

    private final CodePointTrie trie;
    private final int firstRoot;
    private final int nextRoot;

    WordPiece(Vocabulary vocab, String unkToken, String continuingSubwordPrefix, int maxInputCharsPerWord) {
        this.vocab = vocab;
        this.unkToken = unkToken;
        this.unkId = vocab.id(unkToken);
        this.continuingSubwordPrefix = continuingSubwordPrefix;
        this.maxInputCharsPerWord = maxInputCharsPerWord;
        this.trie = new CodePointTrie(vocab.size() * 4);
        this.firstRoot = trie.newNode();
        this.nextRoot = trie.newNode();
        vocab.asMap().forEach((token, id) -> {
            trie.insert(firstRoot, token, 0, id);
            if (!continuingSubwordPrefix.isEmpty() && token.startsWith(continuingSubwordPrefix)) {
                trie.insert(nextRoot, token, continuingSubwordPrefix.length(), id);
            }
        });
    }

    /**
     * Splits the word {@code n.cps[from, to)} into pieces and hands each to {@code sink} with its
     * code point range in {@code n}.
     *
     * @throws TokenizerException if a piece is unknown and the vocabulary has no unknown token
     */
    void tokenize(NormalizedText n, int from, int to, PieceSink sink) {
        if (to - from > maxInputCharsPerWord) {
            unknown(from, to, sink);
            return;
        }
        int pieces = 0;
        int[] pieceEnd = null, pieceId = null;
        int start = from;
        while (start < to) {
            int node = start == from ? firstRoot : nextRoot;
            int bestEnd = -1, bestId = -1;
            for (int i = start; i < to; i++) {
                node = trie.child(node, n.cps[i]);
                if (node < 0) break;
                int id = trie.value(node);
                if (id >= 0) {
                    bestEnd = i + 1;
                    bestId = id;
                }
            }
            if (bestEnd < 0) {
                unknown(from, to, sink);
                return;
            }
            if (bestEnd == to && start == from) {
                sink.piece(bestId, from, to);
                return;
            }
            if (pieceEnd == null) {
                pieceEnd = new int[to - from];
                pieceId = new int[to - from];
            }
            pieceEnd[pieces] = bestEnd;
            pieceId[pieces] = bestId;
            pieces++;
            start = bestEnd;
        }
        // Emit only once the whole word is known to split: an unknown later piece makes it [UNK].
        int s = from;
        for (int p = 0; p < pieces; p++) {
            sink.piece(pieceId[p], s, pieceEnd[p]);
            s = pieceEnd[p];
        }
    }

    private void unknown(int from, int to, PieceSink sink) {
        if (unkId < 0) {
            throw new TokenizerException("the vocabulary has no unknown token '" + unkToken + "' but a word needs it");
        }
        sink.piece(unkId, from, to);
    }

    @FunctionalInterface
    interface PieceSink {
        void piece(int id, int from, int to);
    }

    /**
     * A trie over code points in flat arrays: edges in an open-addressing table keyed by
     * (node, code point), values per node (-1 for none).
     */
    static final class CodePointTrie {
        private long[] keys;
        private int[] children;
        private int edges;
        private int[] values = new int[1024];
        private int nodes;

        CodePointTrie(int expectedEdges) {
            int cap = Integer.highestOneBit(Math.max(16, expectedEdges * 2) - 1) << 1;
            keys = new long[cap];
            Arrays.fill(keys, -1L);
            children = new int[cap];
        }

        int newNode() {
            if (nodes == values.length) values = Arrays.copyOf(values, nodes * 2);
            values[nodes] = -1;
            return nodes++;
        }

        void insert(int root, String s, int from, int value) {
            int node = root;
            for (int i = from; i < s.length(); ) {
                int c = s.codePointAt(i);
                i += Character.charCount(c);
                int next = child(node, c);
                if (next < 0) {
                    next = newNode();
                    put(node, c, next);
                }
                node = next;
            }
            if (node != root) values[node] = value;
        }

        int value(int node) {
            return values[node];
        }

        int child(int node, int c) {
            long key = ((long) node << 21) | c;
            int mask = keys.length - 1;
            for (int i = mix(key) & mask; ; i = (i + 1) & mask) {
                long k = keys[i];
                if (k == key) return children[i];
                if (k == -1L) return -1;
            }
        }

        private void put(int node, int c, int child) {
            if ((edges + 1) * 2 > keys.length) grow();
            long key = ((long) node << 21) | c;
            int mask = keys.length - 1;
            int i = mix(key) & mask;
            while (keys[i] != -1L) i = (i + 1) & mask;
            keys[i] = key;
            children[i] = child;
            edges++;
        }

        private void grow() {
            long[] oldKeys = keys;
            int[] oldChildren = children;
            keys = new long[oldKeys.length * 2];
            Arrays.fill(keys, -1L);
            children = new int[keys.length];
            int mask = keys.length - 1;
            for (int j = 0; j < oldKeys.length; j++) {
                if (oldKeys[j] == -1L) continue;
                int i = mix(oldKeys[j]) & mask;
                while (keys[i] != -1L) i = (i + 1) & mask;
                keys[i] = oldKeys[j];
                children[i] = oldChildren[j];
            }
        }

        private static int mix(long key) {
            // The low bits of a product depend only on the low bits of the key: fold the high half in.
            long h = key * 0x9E3779B97F4A7C15L;
            return (int) (h >>> 32) ^ (int) h;
        }
    }
}
