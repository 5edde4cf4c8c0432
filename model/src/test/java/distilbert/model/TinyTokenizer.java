package distilbert.model;

import distilbert.tokenizer.BertNormalizer;
import distilbert.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A BERT tokenizer over a 64-token vocabulary, within {@link TestModels}' vocab of 100. */
final class TinyTokenizer {

    private TinyTokenizer() {
    }

    /** Whole words of the vocabulary, in vocabulary order after the special tokens. */
    static final List<String> WORDS = List.of("the", "a", "cat", "dog", "sat", "on", "mat", "and", "ran", "away", "from",
            "big", "small", "red", "blue", "house", "tree", "bird", "sang", "loud", "quiet", "night", "day", "sun", "moon",
            "it", "was", "is", "good", "bad", "very", "not", "movie", "book", "read", "liked", "hated", "who", "wrote",
            "this", "story", "of", "in", "to", ",", ".", "!", "?");

    /** Writes vocab.txt ([PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, the words, then a few suffixes) and loads it. */
    static Tokenizer create(Path dir) throws IOException {
        List<String> vocab = new ArrayList<>(List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"));
        vocab.addAll(WORDS);
        vocab.addAll(List.of("##s", "##ed", "##ing", "##ly"));
        Path file = dir.resolve("vocab.txt");
        Files.write(file, vocab);
        return Tokenizer.fromVocab(file, BertNormalizer.UNCASED);
    }
}
