package distilbert.tokenizer;

import java.util.List;

/**
 * HuggingFace's WordPiece decoder: tokens after the first lose their "##" prefix or gain a
 * leading space; with {@code cleanup}, each token then has the spaces before punctuation and
 * English contractions removed (per token, as HF does it).
 */
record WordPieceDecoder(String prefix, boolean cleanup) {
    String decode(List<String> tokens) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < tokens.size(); i++) {
            String t = tokens.get(i);
            if (i != 0) t = t.startsWith(prefix) ? t.substring(prefix.length()) : " " + t;
            if (cleanup) t = cleanup(t);
            out.append(t);
        }
        return out.toString();
    }

    static String cleanup(String s) {
        return s.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",").replace(" ' ", "'")
                .replace(" n't", "n't").replace(" 'm", "'m").replace(" do not", " don't").replace(" 's", "'s")
                .replace(" 've", "'ve").replace(" 're", "'re");
    }

    /** transformers' {@code clean_up_tokenization}, applied to a whole decoded string. */
    static String cleanUpTokenization(String s) {
        return s.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",").replace(" ' ", "'")
                .replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s").replace(" 've", "'ve").replace(" 're", "'re");
    }
}
