package distilbert.tokenizer;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/**
 * Finds added tokens in a text, leftmost-longest and non-overlapping as HuggingFace's
 * AddedVocabulary does with Aho-Corasick, then applies {@code single_word}, {@code lstrip} and
 * {@code rstrip}. There are few added tokens, so a first-character filter and direct comparison
 * are all the speed this needs.
 */
final class AddedTokenMatcher {
    /** A match {@code [start, end)} in the searched text. */
    record Match(AddedToken token, int start, int end) {}

    private final AddedToken[] tokens;
    private final String[] patterns;
    private final BitSet firstChars = new BitSet(0x10000);

    /** @param patterns the text each token is matched as (its content, or its normalized content) */
    AddedTokenMatcher(List<AddedToken> tokens, List<String> patterns) {
        this.tokens = tokens.toArray(AddedToken[]::new);
        this.patterns = patterns.toArray(String[]::new);
        for (String p : this.patterns) if (!p.isEmpty()) firstChars.set(p.charAt(0));
    }

    boolean isEmpty() {
        return tokens.length == 0;
    }

    /** The matches in {@code text[from, to)}, in order. */
    List<Match> find(CharSequence text, int from, int to) {
        List<Match> out = null;
        int startOffset = from;
        int i = from;
        while (i < to) {
            if (!firstChars.get(text.charAt(i))) {
                i++;
                continue;
            }
            int best = -1, bestLen = 0;
            for (int t = 0; t < patterns.length; t++) {
                String p = patterns[t];
                if (p.length() > bestLen && p.length() <= to - i && regionMatches(text, i, p)) {
                    best = t;
                    bestLen = p.length();
                }
            }
            if (best < 0) {
                i++;
                continue;
            }
            AddedToken tok = tokens[best];
            int start = i, stop = i + bestLen;
            if (tok.singleWord()) {
                boolean startOk = start == from || !CharClasses.isWordChar(Character.codePointBefore(text, start));
                boolean stopOk = stop == to || !CharClasses.isWordChar(Character.codePointAt(text, stop));
                if (!startOk || !stopOk) {
                    // Aho-Corasick moves past the whole match, not one character.
                    i = stop;
                    continue;
                }
            }
            if (tok.lstrip()) {
                int s = start;
                while (s > from && CharClasses.isWhitespace(Character.codePointBefore(text, s))) s -= Character.charCount(Character.codePointBefore(text, s));
                start = Math.max(s, startOffset);
            }
            if (tok.rstrip()) {
                while (stop < to && CharClasses.isWhitespace(Character.codePointAt(text, stop))) stop += Character.charCount(Character.codePointAt(text, stop));
            }
            if (out == null) out = new ArrayList<>();
            out.add(new Match(tok, start, stop));
            startOffset = stop;
            i = Math.max(i + bestLen, stop);
        }
        return out == null ? List.of() : out;
    }

    private static boolean regionMatches(CharSequence text, int at, String p) {
        for (int k = 0; k < p.length(); k++) if (text.charAt(at + k) != p.charAt(k)) return false;
        return true;
    }
}
