package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.model.TokenClassification.Aggregation;
import distilbert.model.TokenClassification.Entity;
import distilbert.tokenizer.BertNormalizer;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import distilbert.weights.Activation;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The token-classification pipeline against its definition: scores are the softmax, computed here
 * in double, of the logits {@link DistilBertForTokenClassification#forward} gives for the row alone;
 * and HF's postprocessing (special tokens, subwords, the unknown token, every aggregation,
 * ignore_labels, B-/I- grouping, windows merged) on logits made by hand, whose expected entities
 * are worked out by hand in the comments.
 */
class TokenClassificationTest {

    static final List<String> NER = List.of("O", "B-PER", "I-PER", "B-LOC", "I-LOC");

    @TempDir
    static Path dir;

    static Tokenizer tokenizer;
    static DistilBert db;
    static TokenClassification ner;

    @BeforeAll
    static void load() throws IOException {
        tokenizer = TinyTokenizer.create(dir);
        db = TestModels.model(config(NER), Head.TOKEN_CLASSIFICATION, 31);
        ner = new TokenClassification(db, tokenizer);
    }

    @AfterAll
    static void close() {
        db.close();
    }

    static DistilBertConfig config(List<String> labels) {
        return TestModels.config(Activation.GELU, false, labels.size()).toBuilder().labels(labels).build();
    }

    static final List<String> TEXTS = List.of("the cat sat on the mat.", "a dog", "who wrote this story ?",
            "the big dogs sang loudly in the night", "", "Big red house and small blue tree and the bird sang loud in the night",
            "the zzyzx dog ran away from the moon!");

    // ---- scores against the model ------------------------------------------------------------

    /** Softmax in double of the row's logits from the head's own forward, [L][NL]. */
    static double[][] expectedScores(Encoding e) {
        float[] logits = db.as(DistilBertForTokenClassification.class).forward(ModelInput.ofIds(new int[][] {e.ids()}))
                .logits().data();                                                    // (1, L, NL)
        int NL = NER.size();
        double[][] out = new double[e.length()][NL];
        for (int t = 0; t < e.length(); t++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int j = 0; j < NL; j++) max = Math.max(max, logits[t * NL + j]);
            for (int j = 0; j < NL; j++) sum += out[t][j] = Math.exp(logits[t * NL + j] - max);
            for (int j = 0; j < NL; j++) out[t][j] /= sum;
        }
        return out;
    }

    @Test
    void everyTokenScoresTheSoftmaxOfItsLogits() {
        TokenClassification all = ner.withIgnoreLabels(List.of());
        List<List<Entity>> got = all.classify(TEXTS);
        List<String> seen = new ArrayList<>();
        for (int r = 0; r < TEXTS.size(); r++) {
            Encoding e = tokenizer.encode(TEXTS.get(r));
            double[][] want = expectedScores(e);
            List<Entity> entities = got.get(r);
            assertEquals(e.length() - 2, entities.size(), "every token but [CLS] and [SEP]: " + TEXTS.get(r));
            for (int k = 0; k < entities.size(); k++) {
                Entity x = entities.get(k);
                int t = k + 1;
                String at = "row " + r + " token " + t;
                assertEquals(t, x.index(), at);
                assertFalse(x.isGroup());
                int best = 0;
                for (int j = 1; j < NER.size(); j++) if (want[t][j] > want[t][best]) best = j;
                assertEquals(NER.get(best), x.label(), at);
                assertEquals(want[t][best], x.score(), 1e-6, at);
                String token = e.tokens()[t];
                assertEquals(token.equals("[UNK]") ? TEXTS.get(r).substring(e.start(t), e.end(t)) : token, x.word(), at);
                assertEquals(e.codePointOffsets()[t][0], x.start(), at);
                assertEquals(e.codePointOffsets()[t][1], x.end(), at);
                seen.add(x.label());
            }
        }
        assertTrue(seen.stream().distinct().count() >= 3, "the random model predicts several labels: " + seen);
        // "O" is ignored by default; nothing else changes
        List<List<Entity>> withoutO = ner.classify(TEXTS);
        for (int r = 0; r < TEXTS.size(); r++) {
            assertEquals(got.get(r).stream().filter(x -> !x.label().equals("O")).toList(), withoutO.get(r));
        }
        // batching changes nothing, on the CPU to the bit
        for (int batchTokens : new int[] {1, 9, 100_000}) {
            assertEquals(got, all.withBatchTokens(batchTokens).classify(TEXTS), "batch tokens " + batchTokens);
        }
        assertEquals(got.get(3), all.classify(TEXTS.get(3)));
        assertEquals(List.of(), all.classify(List.of()));
    }

    // ---- postprocessing on logits made by hand ----------------------------------------------------

    /**
     * Logits [L, 5] whose softmax gives each non-special token probability p to its label and
     * (1 − p) / 4 to each other label: spec "B-PER .7" per non-special token, in order. Special
     * tokens get B-PER .99, which must never show.
     */
    static float[] logits(Encoding e, List<String> labels, String... spec) {
        int NL = labels.size();
        float[] out = new float[e.length() * NL];
        int k = 0;
        for (int t = 0; t < e.length(); t++) {
            String label;
            double p;
            if (e.specialTokensMask()[t] == 1) {
                label = labels.get(1);
                p = 0.99;
            } else {
                String[] s = spec[k++].split(" ");
                label = s[0];
                p = Double.parseDouble(s[1]);
            }
            for (int j = 0; j < NL; j++) {
                out[t * NL + j] = (float) Math.log(labels.get(j).equals(label) ? p : (1 - p) / (NL - 1));
            }
        }
        assertEquals(spec.length, k, "one spec per non-special token: " + List.of(e.tokens()));
        return out;
    }

    static Entity token(String label, double score, int index, String word, int start, int end) {
        return new Entity(label, (float) score, index, word, start, end);
    }

    static Entity group(String label, double score, String word, int start, int end) {
        return new Entity(label, (float) score, Entity.NO_INDEX, word, start, end);
    }

    /** Labels, indices, words and offsets exactly; scores to 1e-6 (the logits are float32 logarithms). */
    static void assertEntities(List<Entity> want, List<Entity> got, String what) {
        assertEquals(want.size(), got.size(), what + ": " + got);
        for (int i = 0; i < want.size(); i++) {
            Entity w = want.get(i), g = got.get(i);
            assertEquals(new Entity(w.label(), 0, w.index(), w.word(), w.start(), w.end()),
                    new Entity(g.label(), 0, g.index(), g.word(), g.start(), g.end()), what + " entity " + i);
            assertEquals(w.score(), g.score(), 1e-6, what + " entity " + i + " score");
        }
    }

    static final String T1 = "the big dogs sang loudly in the night.";
    //  [CLS] the big dog ##s sang loud ##ly in  the night .  [SEP]
    //  0     1   2   3   4   5    6    7    8   9   10    11 12
    //  offsets: the 0-3 big 4-7 dog 8-11 ##s 11-12 sang 13-17 loud 18-22 ##ly 22-24 in 25-27 the 28-31 night 32-37 . 37-38
    static final String[] T1_SPEC = {"O .9", "B-PER .7", "I-PER .6", "B-LOC .8", "O .8", "I-LOC .55", "I-LOC .65", "O .95",
        "B-PER .4", "B-PER .45", "I-PER .5"};

    static List<Entity> t1(TokenClassification tc) {
        Encoding e = tokenizer.encode(T1);
        assertEquals(List.of("[CLS]", "the", "big", "dog", "##s", "sang", "loud", "##ly", "in", "the", "night", ".", "[SEP]"),
                List.of(e.tokens()));
        return tc.entities(e, logits(e, NER, T1_SPEC));
    }

    @Test
    void noneGivesEveryTokenWithItsIndexAndDropsSpecialTokens() {
        assertEntities(List.of(
                token("B-PER", .7, 2, "big", 4, 7), token("I-PER", .6, 3, "dog", 8, 11), token("B-LOC", .8, 4, "##s", 11, 12),
                token("I-LOC", .55, 6, "loud", 18, 22), token("I-LOC", .65, 7, "##ly", 22, 24), token("B-PER", .4, 9, "the", 28, 31),
                token("B-PER", .45, 10, "night", 32, 37), token("I-PER", .5, 11, ".", 37, 38)), t1(ner), "none");
        // nothing ignored: the O tokens too, but never [CLS] (0) or [SEP] (12), though their logits say B-PER .99
        assertEntities(List.of(
                token("O", .9, 1, "the", 0, 3), token("B-PER", .7, 2, "big", 4, 7), token("I-PER", .6, 3, "dog", 8, 11),
                token("B-LOC", .8, 4, "##s", 11, 12), token("O", .8, 5, "sang", 13, 17), token("I-LOC", .55, 6, "loud", 18, 22),
                token("I-LOC", .65, 7, "##ly", 22, 24), token("O", .95, 8, "in", 25, 27), token("B-PER", .4, 9, "the", 28, 31),
                token("B-PER", .45, 10, "night", 32, 37), token("I-PER", .5, 11, ".", 37, 38)),
                t1(ner.withIgnoreLabels(List.of())), "none, nothing ignored");
        // ignore_labels matches a token's whole label: "PER" drops nothing, "B-PER" drops the B-PER tokens
        assertEquals(11, t1(ner.withIgnoreLabels(List.of("PER"))).size());
        assertEntities(List.of(
                token("I-PER", .6, 3, "dog", 8, 11), token("B-LOC", .8, 4, "##s", 11, 12), token("I-LOC", .55, 6, "loud", 18, 22),
                token("I-LOC", .65, 7, "##ly", 22, 24), token("I-PER", .5, 11, ".", 37, 38)),
                t1(ner.withIgnoreLabels(List.of("O", "B-PER"))), "none, O and B-PER ignored");
    }

    @Test
    void simpleGroupsAdjacentTokensOfATagUntilAB() {
        // tokens: the O | big B-PER, dog I-PER | ##s B-LOC (a B starts a group, even inside a word) | sang O |
        // loud I-LOC, ##ly I-LOC (an I may start a group) | in O | the B-PER | night B-PER (B again), . I-PER
        // words joined by the decoder: "big dog", "##s" (a group's first token keeps its ##), "loudly", "night." (no space before .)
        List<Entity> per = List.of(group("PER", (.7 + .6) / 2, "big dog", 4, 11), group("LOC", .8, "##s", 11, 12),
                group("LOC", (.55 + .65) / 2, "loudly", 18, 24), group("PER", .4, "the", 28, 31),
                group("PER", (.45 + .5) / 2, "night.", 32, 38));
        TokenClassification simple = ner.withAggregation(Aggregation.SIMPLE);
        assertEntities(per, t1(simple), "simple");
        assertEntities(List.of(group("O", .9, "the", 0, 3), per.get(0), per.get(1), group("O", .8, "sang", 13, 17), per.get(2),
                group("O", .95, "in", 25, 27), per.get(3), per.get(4)), t1(simple.withIgnoreLabels(List.of())), "simple, all");
        // a group's label is its tag: ignoring "PER" drops PER groups
        assertEntities(List.of(per.get(1), per.get(2)), t1(simple.withIgnoreLabels(List.of("O", "PER"))), "simple, O and PER ignored");
    }

    @Test
    void firstAverageAndMaxAgreeOnWordsButNotOnTheirLabels() {
        // words: the | big | dog ##s | sang | loud ##ly | in | the | night | .   ("." is no subword: its text is as long as its token)
        // dogs:   first: dog's I-PER .6      max: ##s's B-LOC .8 (0.8 > 0.6)
        //         average: O (.1 + .05)/2 = .075, B-PER .075, I-PER (.6 + .05)/2 = .325, B-LOC (.1 + .8)/2 = .45, I-LOC .075 → B-LOC .45
        // loudly: first: I-LOC .55           max: I-LOC .65           average: I-LOC (.55 + .65)/2 = .6
        List<Entity> tail = List.of(group("PER", .4, "the", 28, 31), group("PER", (.45 + .5) / 2, "night.", 32, 38));
        List<Entity> first = new ArrayList<>(List.of(group("PER", (.7 + .6) / 2, "big dogs", 4, 12),
                group("LOC", .55, "loudly", 18, 24)));
        first.addAll(tail);
        assertEntities(first, t1(ner.withAggregation(Aggregation.FIRST)), "first: big (B-PER) and dogs (I-PER) are one PER");
        List<Entity> max = new ArrayList<>(List.of(group("PER", .7, "big", 4, 7), group("LOC", .8, "dogs", 8, 12),
                group("LOC", .65, "loudly", 18, 24)));
        max.addAll(tail);
        assertEntities(max, t1(ner.withAggregation(Aggregation.MAX)), "max: dogs is B-LOC, which ends big's PER");
        List<Entity> average = new ArrayList<>(List.of(group("PER", .7, "big", 4, 7), group("LOC", .45, "dogs", 8, 12),
                group("LOC", .6, "loudly", 18, 24)));
        average.addAll(tail);
        assertEntities(average, t1(ner.withAggregation(Aggregation.AVERAGE)), "average");
        // O words are groups like any other until ignored
        List<Entity> all = t1(ner.withAggregation(Aggregation.FIRST).withIgnoreLabels(List.of()));
        assertEquals(List.of("O", "PER", "O", "LOC", "O", "PER", "PER"), all.stream().map(Entity::label).toList());
        assertEquals(List.of("the", "big dogs", "sang", "loudly", "in", "the", "night."), all.stream().map(Entity::word).toList());
    }

    @Test
    void tiesGoToTheFirstAsNumpyAndPythonBreakThem() {
        Encoding e = tokenizer.encode(T1);
        // MAX: dog (I-PER .6) and ##s (B-LOC .6) tie: Python's max keeps the first, dog
        String[] spec = T1_SPEC.clone();
        spec[3] = "B-LOC .6";
        List<Entity> max = ner.withAggregation(Aggregation.MAX).entities(e, logits(e, NER, spec));
        assertEntities(group("PER", (.7 + .6) / 2, "big dogs", 4, 12), max.getFirst(), "max, tied");
        // argmax: "the" with B-LOC and I-PER equally likely (and above the rest) is I-PER, the lower id
        float[] logits = logits(e, NER, T1_SPEC);
        float[] tied = {-3, -2, 1.5f, 1.5f, -1};
        System.arraycopy(tied, 0, logits, NER.size(), NER.size());
        assertEquals("I-PER", ner.entities(e, logits).getFirst().label());
    }

    @Test
    void aSubwordIsATokenLongerOrShorterThanItsTextNotOneWithHashes() {
        // HF compares the token's length with its text's. "Do\u0301g" (o + a combining acute: 4 code points) becomes
        // "dog" (3): HF takes it for a subword, so FIRST makes "big" and "dog" one word.
        String text = "the big Do\u0301g ran";
        Encoding e = tokenizer.encode(text);
        assertEquals(List.of("[CLS]", "the", "big", "dog", "ran", "[SEP]"), List.of(e.tokens()));
        float[] logits = logits(e, NER, "O .9", "B-PER .7", "B-LOC .8", "O .9");
        assertEntities(List.of(group("PER", .7, "big dog", 4, 12)), ner.withAggregation(Aggregation.FIRST).entities(e, logits),
                "first: big Dóg is one word");
        assertEntities(List.of(group("PER", .7, "big", 4, 7), group("LOC", .8, "dog", 8, 12)),
                ner.withAggregation(Aggregation.SIMPLE).entities(e, logits), "simple: two tokens, two groups");
    }

    static void assertEntities(Entity want, Entity got, String what) {
        assertEntities(List.of(want), List.of(got), what);
    }

    @Test
    void theUnknownTokenIsItsOwnTextAndNeverASubword() {
        // [CLS] the [UNK] dog ##s [SEP]: "Zzyzx" (4-9) is no word of the vocabulary; its word is the text, case kept
        String text = "the Zzyzx dogs";
        Encoding e = tokenizer.encode(text);
        assertEquals(List.of("[CLS]", "the", "[UNK]", "dog", "##s", "[SEP]"), List.of(e.tokens()));
        float[] logits = logits(e, NER, "O .9", "B-LOC .7", "I-LOC .6", "I-LOC .5");
        assertEntities(List.of(token("B-LOC", .7, 2, "Zzyzx", 4, 9), token("I-LOC", .6, 3, "dog", 10, 13),
                token("I-LOC", .5, 4, "##s", 13, 14)), ner.entities(e, logits), "none");
        // first: words the | Zzyzx | dogs; Zzyzx (B-LOC) and dogs (I-LOC) make one LOC
        assertEntities(List.of(group("LOC", (.7 + .6) / 2, "Zzyzx dogs", 4, 14)),
                ner.withAggregation(Aggregation.FIRST).entities(e, logits), "first");
        // simple: Zzyzx, dog, ##s all LOC
        assertEntities(List.of(group("LOC", (.7 + .6 + .5) / 3, "Zzyzx dogs", 4, 14)),
                ner.withAggregation(Aggregation.SIMPLE).entities(e, logits), "simple");
    }

    @Test
    void offsetsCountCodePointsAfterCharactersOutsideTheBmp() throws IOException {
        // A vocabulary with "##🙂" (U+1F642: two UTF-16 units, one code point). "🙂" alone is unknown.
        Path vocab = Files.createDirectories(dir.resolve("emoji")).resolve("vocab.txt");
        List<String> words = new ArrayList<>(List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"));
        words.addAll(TinyTokenizer.WORDS);
        words.add("##\uD83D\uDE42");
        Files.write(vocab, words);
        Tokenizer tok = Tokenizer.fromVocab(vocab, BertNormalizer.UNCASED);
        String text = "\uD83D\uDE42 the dog\uD83D\uDE42 sang";
        //  [CLS] [UNK] the dog ##🙂 sang [SEP]     UTF-16: 🙂 0-2 the 3-6 dog 7-10 ##🙂 10-12 sang 13-17
        //                                          code points: 🙂 0-1 the 2-5 dog 6-9 ##🙂 9-10 sang 11-15
        Encoding e = tok.encode(text);
        assertEquals(List.of("[CLS]", "[UNK]", "the", "dog", "##\uD83D\uDE42", "sang", "[SEP]"), List.of(e.tokens()));
        try (DistilBert model = TestModels.model(config(NER), Head.TOKEN_CLASSIFICATION, 32)) {
            TokenClassification tc = new TokenClassification(model, tok);
            float[] logits = logits(e, NER, "B-PER .9", "O .8", "B-LOC .7", "I-LOC .6", "O .9");
            List<Entity> none = tc.entities(e, logits);
            assertEntities(List.of(token("B-PER", .9, 1, "\uD83D\uDE42", 0, 1), token("B-LOC", .7, 3, "dog", 6, 9),
                    token("I-LOC", .6, 4, "##\uD83D\uDE42", 9, 10)), none, "none");
            // "##🙂" is a subword (3 code points against the 1 it covers): dog🙂 is one word
            List<Entity> first = tc.withAggregation(Aggregation.FIRST).entities(e, logits);
            assertEntities(List.of(group("PER", .9, "\uD83D\uDE42", 0, 1), group("LOC", .7, "dog\uD83D\uDE42", 6, 10)), first, "first");
            assertEquals("dog\uD83D\uDE42", first.get(1).in(text));
            assertEquals("\uD83D\uDE42", first.get(0).in(text));
            assertEquals("dog", none.get(1).in(text));
            // and through the model: the same offsets
            List<Entity> run = tc.withIgnoreLabels(List.of()).classify(text);
            assertEquals(List.of(0, 2, 6, 9, 11), run.stream().map(Entity::start).toList());
            assertEquals(List.of(1, 5, 9, 10, 15), run.stream().map(Entity::end).toList());
        }
    }

    @Test
    void labelsWithoutPrefixesGroupAsIAndOthersKeepTheirTail() {
        // PER PER: both "I" of tag PER, one group; "B-X-Y" is tag X-Y, group "X-Y"; "E-LOC" is its own tag "E-LOC",
        // whose group label is what follows the first "-": "LOC"
        List<String> labels = List.of("O", "PER", "B-X-Y", "E-LOC");
        try (DistilBert model = TestModels.model(config(labels), Head.TOKEN_CLASSIFICATION, 33)) {
            TokenClassification tc = new TokenClassification(model, tokenizer).withAggregation(Aggregation.SIMPLE);
            Encoding e = tokenizer.encode("the big dog sang loud in the night");
            float[] logits = logits(e, labels, "O .9", "PER .8", "PER .6", "B-X-Y .7", "E-LOC .5", "E-LOC .7", "O .9", "PER .9");
            assertEntities(List.of(group("PER", .7, "big dog", 4, 11), group("X-Y", .7, "sang", 12, 16),
                    group("LOC", .6, "loud in", 17, 24), group("PER", .9, "night", 29, 34)), tc.entities(e, logits), "simple");
            assertEquals(labels, tc.labels());
        }
    }

    @Test
    void ignoredLabelsDefaultToOAndTheSettingsHaveHfsDefaults() {
        assertEquals(List.of("O"), ner.ignoreLabels());
        assertEquals(Aggregation.NONE, ner.aggregation());
        assertEquals(null, ner.stride());
        assertEquals(64, ner.maxLength(), "max_position_embeddings 64, below the tokenizer's 512");
        assertEquals(NER, ner.labels());
        assertEquals(List.of("none", "simple", "first", "average", "max"), List.of(Aggregation.values()).stream().map(Aggregation::toString).toList());
        Encoding e = tokenizer.encode("a dog");
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> ner.entities(e, new float[3]));
        assertEquals("logits hold 3 values, but the window's 4 tokens need 20 (5 labels each)", x.getMessage());
    }

    // ---- long texts: cut, or windows merged ---------------------------------------------------------

    static final String LONG = ("the big dog sat on the mat and the small cat ran away from the red house in the night , "
            + "who wrote this story of the blue tree and the bird ? it was a very good book . ").repeat(3).strip();

    @Test
    void longTextsAreCutToTheMaxLength() {
        TokenClassification all = ner.withIgnoreLabels(List.of());
        Encoding cut = tokenizer.encode(LONG, null, new EncodeOptions(true, Truncation.longestFirst(64), null));
        assertFalse(cut.overflowing().isEmpty());
        List<Entity> got = all.classify(LONG);
        assertEquals(62, got.size(), "the 62 tokens that fit between [CLS] and [SEP]");
        assertEquals(all.entities(cut, db.as(DistilBertForTokenClassification.class)
                .forward(ModelInput.ofIds(new int[][] {cut.ids()})).logits().data()), got);
        assertEquals(20 - 2, all.withMaxLength(20).classify(LONG).size());
        assertThrows(IllegalArgumentException.class, () -> ner.withMaxLength(65));
        assertThrows(IllegalArgumentException.class, () -> ner.withMaxLength(1));
        assertEquals(List.of(), ner.withMaxLength(2).withIgnoreLabels(List.of()).classify(LONG), "room for [CLS] and [SEP] only");
        Encoding whole = tokenizer.encode(LONG);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ner.classifyEncodings(List.of(tokenizer.encode("a dog"), whole)));
        assertEquals("row 1 is " + whole.length() + " tokens long, more than max_position_embeddings = 64; truncate it", e.getMessage());
    }

    @Test
    void overlappingEntitiesOfWindowsKeepTheLongerThenTheHigherScore() {
        Entity a = group("PER", .9, "a", 0, 5), b = group("LOC", .8, "b", 10, 15), b2 = group("LOC", .85, "b2", 10, 15),
                b3 = group("LOC", .85, "b3", 10, 15), c = group("PER", .7, "c", 12, 20), d = group("LOC", .6, "d", 20, 25),
                e = group("PER", .5, "e", 30, 35);
        // sorted by start: a, then b b2 b3 (their order kept), c, d, e
        // b2 starts inside b, as long, higher: b2; b3 as long, as high: b2 stays; c starts inside b2 and is longer: c;
        // d starts at c's end (not inside): kept; e kept
        assertEquals(List.of(a, c, d, e), TokenClassification.mergeOverlapping(List.of(e, d, b, c, a, b2, b3)));
        assertEquals(List.of(b2), TokenClassification.mergeOverlapping(List.of(b, b2, b3)), "equal scores: the earlier stays");
        assertEquals(List.of(a), TokenClassification.mergeOverlapping(List.of(a)));
        assertEquals(List.of(), TokenClassification.mergeOverlapping(List.of()));
        // a shorter entity starting inside a longer one goes; one starting before it does not meet it
        Entity inner = group("PER", .99, "inner", 2, 4), before = group("LOC", .1, "before", 0, 3);
        assertEquals(List.of(a), TokenClassification.mergeOverlapping(List.of(a, inner)));
        assertEquals(List.of(before, group("PER", .5, "x", 3, 9)),
                TokenClassification.mergeOverlapping(List.of(group("PER", .5, "x", 3, 9), before)));
    }

    @Test
    void aStrideRunsWindowsOverTheWholeTextAndMergesThem() {
        TokenClassification simple = ner.withAggregation(Aggregation.SIMPLE).withIgnoreLabels(List.of()).withMaxLength(24);
        DistilBertForTokenClassification head = db.as(DistilBertForTokenClassification.class);
        int textCodePoints = LONG.codePointCount(0, LONG.length());
        for (Aggregation a : List.of(Aggregation.SIMPLE, Aggregation.FIRST, Aggregation.AVERAGE, Aggregation.MAX)) {
            for (int stride : new int[] {0, 5, 16}) {
                TokenClassification tc = simple.withAggregation(a).withStride(stride);
                List<Encoding> windows = tokenizer.encodeWindows(LONG, 24, stride);
                assertTrue(windows.size() >= 4, windows.size() + " windows");
                List<Entity> want = new ArrayList<>();
                for (Encoding w : windows) {
                    want.addAll(tc.entities(w, head.forward(ModelInput.ofIds(new int[][] {w.ids()})).logits().data()));
                }
                want = TokenClassification.mergeOverlapping(want);
                List<Entity> got = tc.classify(LONG);
                assertEquals(want, got, a + " stride " + stride);
                assertEquals(textCodePoints, got.getLast().end(), "the last window reaches the end of the text");
                for (int i = 0; i + 1 < got.size(); i++) {
                    assertTrue(got.get(i).end() <= got.get(i + 1).start(), "no overlap left: " + got);
                }
                // several texts, batched with each other's windows: the same
                assertEquals(List.of(tc.classify("a dog"), got, tc.classify("the cat")),
                        tc.withBatchTokens(30).classify(List.of("a dog", LONG, "the cat")));
            }
        }
        // without a stride the text is cut
        assertTrue(simple.classify(LONG).getLast().end() < textCodePoints / 2);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ner.withStride(4).classify(LONG));
        assertTrue(e.getMessage().startsWith("a stride needs an aggregation other than none"), e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> simple.withStride(22).classify("a dog"));
        assertEquals("stride 22 must be smaller than the 22 tokens a window of 24 has for the text", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ner.withStride(-1));
        assertEquals(null, simple.withStride(3).withStride(null).stride());
    }

    @Test
    void theListenerCountsRowsOnceWhateverTheirWindows() {
        TokenClassification tc = ner.withAggregation(Aggregation.FIRST).withMaxLength(16).withStride(4).withBatchTokens(16);
        List<String> texts = List.of(LONG, "a dog", LONG, "the cat sat");
        List<Encoding> encodings = tc.encode(texts);
        long[] heard = new long[3];
        List<List<Entity>> got = tc.classifyEncodings(encodings, (rows, tokens) -> {
            heard[0] += rows;
            heard[1] += tokens;
            heard[2]++;
        });
        assertEquals(texts.size(), got.size());
        assertEquals(texts.size(), heard[0]);
        long windowTokens = 0;
        for (String t : texts) for (Encoding w : tokenizer.encodeWindows(t, 16, 4)) windowTokens += w.length();
        assertEquals(windowTokens, heard[1], "every window's tokens");
        assertTrue(heard[2] > 4, "many batches of 16 tokens");
    }

    // ---- what it refuses --------------------------------------------------------------------------

    @Test
    void pairsAndOtherModelsAreRefused() {
        Encoding pair = tokenizer.encode("a dog", "the cat");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ner.classifyEncodings(List.of(tokenizer.encode("a dog"), pair)));
        assertEquals("row 1 is a text pair; token classification takes single texts", e.getMessage());
        try (DistilBert other = TestModels.model(config(NER), Head.SEQUENCE_CLASSIFICATION, 34)) {
            IllegalStateException x = assertThrows(IllegalStateException.class, () -> new TokenClassification(other, tokenizer));
            assertTrue(x.getMessage().startsWith("the model is a DistilBertForSequenceClassification, not a DistilBertForTokenClassification"),
                    x.getMessage());
        }
        DistilBertConfig small = config(NER).toBuilder().vocabSize(40).build();
        try (DistilBert m = TestModels.model(small, Head.TOKEN_CLASSIFICATION, 35)) {
            IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> new TokenClassification(m, tokenizer));
            assertEquals("the tokenizer has " + tokenizer.vocabSize() + " tokens but the model's vocab_size is 40", x.getMessage());
        }
    }
}
