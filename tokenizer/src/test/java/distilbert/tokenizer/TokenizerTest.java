package distilbert.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loading, the special-token API, decoding and error handling; parity itself is HuggingFaceParityTest's. */
class TokenizerTest {
    @TempDir
    static Path dir;

    static Path tokenizerJson;
    static Tokenizer tok;

    @BeforeAll
    static void load() throws IOException {
        tokenizerJson = HuggingFaceParityTest.bertBaseUncased(dir);
        tok = Tokenizer.fromPretrained(tokenizerJson);
    }

    /** The vocabulary of tokenizer.json written out as vocab.txt, in id order. */
    static Path vocabTxt(Path where) throws IOException {
        Map<Integer, String> byId = new TreeMap<>();
        tok.vocabulary().asMap().forEach((t, id) -> byId.put(id, t));
        Path p = where.resolve("vocab.txt");
        Files.writeString(p, String.join("\n", byId.values()) + "\n", StandardCharsets.UTF_8);
        return p;
    }

    @Test
    void encodesAKnownSentence() {
        Encoding e = tok.encode("Hello, world! Don't panic.");
        assertArrayEquals(new String[] {"[CLS]", "hello", ",", "world", "!", "don", "'", "t", "panic", ".", "[SEP]"}, e.tokens());
        assertArrayEquals(new int[] {101, 7592, 1010, 2088, 999, 2123, 1005, 1056, 6634, 1012, 102}, e.ids());
        assertArrayEquals(new int[] {0, 5}, e.offsets()[1]);
        assertArrayEquals(new int[] {-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, -1}, e.wordIds());
    }

    @Test
    void windowsCoverTheWholeTextWhereOverflowingStopsEarly() {
        String text = "the quick brown fox jumps over the lazy dog and then it runs far away into the unbelievably dark forest";
        List<String> all = tok.tokenize(text);
        assertTrue(all.size() > 20, "long enough: " + all.size());
        for (int stride : new int[] {0, 1, 3, 5}) {
            List<Encoding> windows = tok.encodeWindows(text, 8, stride);
            // the first window is what truncation gives; the others step by 6 - stride tokens to the end
            assertArrayEquals(tok.encode(text, null, EncodeOptions.DEFAULT.withTruncation(Truncation.longestFirst(8))).tokens(),
                    windows.getFirst().tokens(), "stride " + stride);
            List<String> covered = new ArrayList<>();
            for (int w = 0; w < windows.size(); w++) {
                Encoding e = windows.get(w);
                String[] t = e.tokens();
                assertEquals("[CLS]", t[0]);
                assertEquals("[SEP]", t[t.length - 1]);
                assertTrue(t.length <= 8 && (w == windows.size() - 1 || t.length == 8), Arrays.toString(t));
                assertArrayEquals(new int[] {1, 1}, new int[] {e.specialTokensMask()[0], e.specialTokensMask()[t.length - 1]});
                List<String> inner = Arrays.asList(t).subList(1, t.length - 1);
                if (w > 0) {
                    assertEquals(covered.subList(covered.size() - stride, covered.size()), inner.subList(0, stride),
                            "window " + w + " repeats the last " + stride + " tokens");
                    inner = inner.subList(stride, inner.size());
                }
                covered.addAll(inner);
                assertEquals(text, e.text(0), "offsets index the text");
                int[][] off = e.offsets();
                for (int i = 1; i < t.length - 1; i++) {
                    assertEquals(t[i].replace("##", ""), text.substring(off[i][0], off[i][1]));
                }
            }
            assertEquals(all, covered, "every token, once, in order (stride " + stride + ")");
        }
        // overflowing() stops near max_length (tokenizers 0.23); the windows do not
        Encoding cut = tok.encode(text, null, EncodeOptions.DEFAULT.withTruncation(Truncation.longestFirst(8).withStride(2)));
        assertTrue(1 + cut.overflowing().size() < tok.encodeWindows(text, 8, 2).size());
        assertEquals(1, tok.encodeWindows("short text", 8, 2).size());
        assertArrayEquals(tok.encode("short text").ids(), tok.encodeWindows("short text", 8, 2).getFirst().ids());
        assertNull(tok.encode("x").text(1));
        TokenizerException e = assertThrows(TokenizerException.class, () -> tok.encodeWindows(text, 8, 6));
        assertEquals("stride 6 must be smaller than the 6 tokens a window of 8 has for the text (2 special tokens)", e.getMessage());
        e = assertThrows(TokenizerException.class, () -> tok.encodeWindows(text, 2, 0));
        assertEquals("max_length 2 leaves no room: 2 special tokens are added to each sequence", e.getMessage());
    }

    @Test
    void stringOffsetsAreUtf16AndCodePointOffsetsCountCodePoints() {
        // U+1F970 is two UTF-16 units and one code point.
        Encoding e = tok.encode("\uD83E\uDD70 ok");
        assertEquals("ok", e.tokens()[2]);
        assertArrayEquals(new int[] {3, 5}, e.offsets()[2]);
        assertArrayEquals(new int[] {2, 4}, e.codePointOffsets()[2]);
    }

    @Test
    void vocabTxtAndModelDirectoryEncodeAsTokenizerJsonDoes() throws Exception {
        Path vocabDir = Files.createDirectories(dir.resolve("from-vocab"));
        Tokenizer fromVocab = Tokenizer.fromPretrained(vocabTxt(vocabDir));
        Path modelDir = Files.createDirectories(dir.resolve("model-dir"));
        Files.copy(tokenizerJson, modelDir.resolve("tokenizer.json"));
        Tokenizer fromDir = Tokenizer.fromPretrained(modelDir);
        List<HuggingFaceParityTest.Input> inputs = new ArrayList<>();
        for (var r : HuggingFaceParityTest.readJsonl("/parity/edge-cases.jsonl")) {
            inputs.add(new HuggingFaceParityTest.Input(r.get("id").asText(), r.get("text").asText(),
                    r.hasNonNull("text_pair") ? r.get("text_pair").asText() : null));
        }
        for (var in : inputs) {
            Encoding want = tok.encode(in.text(), in.pair());
            for (Tokenizer other : List.of(fromVocab, fromDir)) {
                Encoding got = other.encode(in.text(), in.pair());
                assertArrayEquals(want.ids(), got.ids(), in.id());
                assertArrayEquals(want.specialTokensMask(), got.specialTokensMask(), in.id());
                assertTrue(Arrays.deepEquals(want.offsets(), got.offsets()), in.id());
            }
        }
    }

    @Test
    void tokenizerConfigSelectsCasingForVocabTxt() throws IOException {
        Path d = Files.createDirectories(dir.resolve("cased"));
        vocabTxt(d);
        Files.writeString(d.resolve("tokenizer_config.json"), "{\"do_lower_case\": false, \"model_max_length\": 256}");
        Tokenizer cased = Tokenizer.fromPretrained(d);
        assertEquals(List.of("[UNK]", "world"), cased.tokenize("Hello world"));
        assertEquals(256, cased.modelMaxLength());
        assertEquals(List.of("hello", "world"), tok.tokenize("Hello world"));
    }

    @Test
    void tokenizerConfigSaysWhetherDecodingCleansUpSpaces() throws IOException {
        assertEquals(false, tok.cleanUpTokenizationSpaces(), "no tokenizer_config.json: transformers 5's default");
        for (String json : new String[] {"{\"clean_up_tokenization_spaces\": true}", "{\"clean_up_tokenization_spaces\": false}", "{}"}) {
            Path d = Files.createDirectories(dir.resolve("cleanup-" + json.length()));
            vocabTxt(d);
            Files.writeString(d.resolve("tokenizer_config.json"), json);
            Path withJson = Files.createDirectories(d.resolve("with-tokenizer-json"));
            Files.copy(tokenizerJson, withJson.resolve("tokenizer.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Files.writeString(withJson.resolve("tokenizer_config.json"), json);
            for (Tokenizer t : List.of(Tokenizer.fromPretrained(d), Tokenizer.fromPretrained(withJson))) {
                assertEquals(json.contains("true"), t.cleanUpTokenizationSpaces(), json);
            }
        }
    }

    @Test
    void specialTokenHelpersFollowTheTemplate() {
        int[] a = {7592, 2088}, b = {2117};
        assertArrayEquals(new int[] {101, 7592, 2088, 102}, tok.buildInputsWithSpecialTokens(a, null));
        assertArrayEquals(new int[] {101, 7592, 2088, 102, 2117, 102}, tok.buildInputsWithSpecialTokens(a, b));
        assertArrayEquals(new int[] {0, 0, 0, 0, 1, 1}, tok.createTokenTypeIdsFromSequences(a, b));
        assertArrayEquals(new int[] {1, 0, 0, 1, 0, 1}, tok.getSpecialTokensMask(a, b, false));
        assertArrayEquals(new int[] {1, 0, 0, 1}, tok.getSpecialTokensMask(new int[] {101, 7592, 2088, 102}, null, true));
        assertEquals(2, tok.numSpecialTokensToAdd(false));
        assertEquals(3, tok.numSpecialTokensToAdd(true));
        assertEquals(0, tok.padTokenId());
        assertEquals(103, tok.maskTokenId());
        assertEquals(100, tok.unkTokenId());
    }

    @Test
    void literalSpecialTokensInTextAreMatchedButNotMasked() {
        Encoding e = tok.encode("the [MASK] sat on [mask]");
        assertEquals(List.of("[CLS]", "the", "[MASK]", "sat", "on", "[", "mask", "]", "[SEP]"), Arrays.asList(e.tokens()));
        assertArrayEquals(new int[] {1, 0, 0, 0, 0, 0, 0, 0, 1}, e.specialTokensMask());
    }

    @Test
    void decodeGluesPiecesAndCleansUp() {
        int[] ids = tok.encode("Unbelievable, isn't it? I'm sure they've gone.").ids();
        // HF's decoder cleans up each token on its own, so " ' " survives; transformers'
        // clean_up_tokenization over the whole string (the third argument) removes it.
        assertEquals("unbelievable, isn ' t it? i ' m sure they ' ve gone.", tok.decode(ids, true));
        assertEquals("[CLS] unbelievable, isn ' t it? i ' m sure they ' ve gone. [SEP]", tok.decode(ids, false));
        assertEquals("unbelievable, isn't it? i'm sure they've gone.", tok.decode(ids, true, true));
        assertEquals("unbelievable", tok.convertTokensToString(List.of("un", "##bel", "##ie", "##va", "##ble")));
        assertThrows(TokenizerException.class, () -> tok.decode(new int[] {30522}, false));
    }

    @Test
    void convertsBetweenTokensAndIds() {
        assertArrayEquals(new int[] {7592, 100}, tok.convertTokensToIds(List.of("hello", "no-such-token")));
        assertEquals(List.of("[CLS]", "hello"), tok.convertIdsToTokens(new int[] {101, 7592}));
        assertEquals(30522, tok.vocabSize());
    }

    @Test
    void longWordsBecomeUnknownPastOneHundredCharacters() {
        assertEquals(1, tok.tokenize("a".repeat(101)).size());
        assertEquals("[UNK]", tok.tokenize("a".repeat(101)).get(0));
        assertTrue(tok.tokenize("a".repeat(100)).size() > 1, "100 characters are still split into pieces");
    }

    @Test
    void batchEncodingEqualsOneByOne() {
        List<String> texts = List.of("first text", "a much longer second text, with punctuation!", "", "日本語のテキスト");
        List<Encoding> batch = tok.encodeBatch(texts);
        for (int i = 0; i < texts.size(); i++) assertArrayEquals(tok.encode(texts.get(i)).ids(), batch.get(i).ids());
        List<Encoding> padded = tok.encodeBatch(texts, null, EncodeOptions.DEFAULT.withPadding(Padding.longest().toMultipleOf(8)));
        int longest = batch.stream().mapToInt(Encoding::length).max().orElseThrow();
        int want = (longest + 7) / 8 * 8;
        for (Encoding e : padded) assertEquals(want, e.length());
        assertArrayEquals(new int[] {1, 1, 0, 0, 0, 0, 0, 0}, Arrays.copyOf(padded.get(2).attentionMask(), 8));
    }

    @Test
    void truncationErrorsNameTheProblem() {
        var onlySecond = EncodeOptions.DEFAULT.withTruncation(new Truncation(Truncation.Strategy.ONLY_SECOND, 8, 0, Direction.RIGHT));
        var e = assertThrows(TokenizerException.class, () -> tok.encode("one two three four five six seven eight", null, onlySecond));
        assertTrue(e.getMessage().contains("only_second needs a pair"), e.getMessage());
        var tiny = EncodeOptions.DEFAULT.withTruncation(Truncation.longestFirst(2));
        e = assertThrows(TokenizerException.class, () -> tok.encode("a b", "c d", tiny));
        assertTrue(e.getMessage().contains("max_length 2 leaves no room"), e.getMessage());
        var stride = EncodeOptions.DEFAULT.withTruncation(Truncation.longestFirst(6).withStride(4));
        e = assertThrows(TokenizerException.class, () -> tok.encode("a b c d e f g h i j", null, stride));
        assertTrue(e.getMessage().contains("stride 4 must be smaller"), e.getMessage());
    }

    @Test
    void wholeSequenceWindowsCoverAllOfTheSecondSequence() {
        String question = "who was it?", context = "one two three four five six seven eight nine ten eleven twelve "
                + "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty twenty-one twenty-two";
        List<String> q = tok.tokenize(question), c = tok.tokenize(context);
        int maxLength = 12, stride = 2, room = maxLength - q.size() - 3, step = room - stride;
        assertTrue(c.size() > 2 * maxLength, "the context is longer than max_length: " + c.size());
        Truncation onlySecond = new Truncation(Truncation.Strategy.ONLY_SECOND, maxLength, stride, Direction.RIGHT);
        Encoding whole = tok.encode(question, context, EncodeOptions.DEFAULT.withTruncation(onlySecond.withWholeSequences(true)));
        List<Encoding> windows = new ArrayList<>(List.of(whole));
        windows.addAll(whole.overflowing());
        // by hand: windows of `room` context tokens starting every `step`, the last reaching the end
        int expected = 1 + (c.size() - room + step - 1) / step;
        assertEquals(expected, windows.size());
        for (int w = 0; w < windows.size(); w++) {
            int from = w * step, to = Math.min(from + room, c.size());
            List<String> want = new ArrayList<>(List.of("[CLS]"));
            want.addAll(q);
            want.add("[SEP]");
            want.addAll(c.subList(from, to));
            want.add("[SEP]");
            assertEquals(want, List.of(windows.get(w).tokens()), "window " + w);
            int[] seq = windows.get(w).sequenceIds();
            assertEquals(1, seq[q.size() + 2]);
            assertEquals(0, seq[1]);
            int[] first = windows.get(w).offsets()[q.size() + 2];
            assertEquals(c.get(from), context.substring(first[0], first[1]), "offsets into the context, window " + w);
        }
        assertEquals(c.getLast(), windows.getLast().tokens()[windows.getLast().length() - 2]);
        // the default (tokenizers 0.23) stops at max_length tokens of the context: fewer windows
        Encoding capped = tok.encode(question, context, EncodeOptions.DEFAULT.withTruncation(onlySecond));
        assertTrue(capped.overflowing().size() + 1 < windows.size(), capped.overflowing().size() + 1 + " windows");
        assertEquals(List.of(whole.tokens()), List.of(capped.tokens()), "the first window is the same");
        assertTrue(onlySecond.withWholeSequences(true).withStride(3).wholeSequences());
        assertEquals(onlySecond, onlySecond.withWholeSequences(false));
    }

    @Test
    void neverSplitKeepsStandaloneTokensWhole() throws IOException {
        Path d = Files.createDirectories(dir.resolve("never-split"));
        vocabTxt(d);
        Files.writeString(d.resolve("tokenizer_config.json"), "{\"never_split\": [\"[foo]\", \"hello\"]}");
        Tokenizer t = Tokenizer.fromPretrained(d);
        // As the Python tokenizer: the token stays whole, and its id is [UNK]'s when not in the vocabulary.
        assertEquals(List.of("[foo]", "hello", "world"), t.tokenize("[foo] hello world"));
        assertEquals(100, t.encode("[foo] hello").ids()[1]);
        assertEquals(List.of("x", "[", "foo", "]"), t.tokenize("x[foo]"));
    }

    // ---- bad input: every error names the file and what is wrong ----------------------------------

    @Test
    void missingFilesAreNamed() {
        Path nowhere = dir.resolve("nowhere");
        var e = assertThrows(TokenizerException.class, () -> Tokenizer.fromPretrained(nowhere));
        assertTrue(e.getMessage().contains(nowhere.toString()) && e.getMessage().contains("no such file"), e.getMessage());
    }

    /** tokenizer.json with its normalizer replaced. */
    private static Tokenizer withNormalizer(String name, String normalizerJson) throws IOException {
        String json = Files.readString(tokenizerJson).replaceFirst(
                "\"normalizer\": *\\{[^}]*\\}", java.util.regex.Matcher.quoteReplacement("\"normalizer\": " + normalizerJson));
        assertTrue(json.contains(normalizerJson), "the normalizer replaced");
        Path p = dir.resolve(name);
        Files.writeString(p, json);
        return Tokenizer.fromPretrained(p);
    }

    @Test
    void sentenceTransformersLowercaseBeforeBertsNormalizerIsRead() throws IOException {
        // what sentence-transformers 6 saves for do_lower_case; tokens as HF tokenizers 0.23 gives them
        assertEquals(List.of("hello", "world", "cafe"), tok.tokenize("Héllo WORLD Café"), "bert-base-uncased strips accents");
        Tokenizer seq = withNormalizer("sequence.json", "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Lowercase\"}, "
                + "{\"type\": \"BertNormalizer\", \"clean_text\": true, \"handle_chinese_chars\": true, "
                + "\"strip_accents\": null, \"lowercase\": false}]}");
        assertEquals(List.of("[UNK]", "world", "[UNK]"), seq.tokenize("Héllo WORLD Café"), "lowercased, accents kept");
        Tokenizer lower = withNormalizer("lowercase.json", "{\"type\": \"Lowercase\"}");
        assertEquals(List.of("[UNK]", "world", "[UNK]"), lower.tokenize("Héllo WORLD Café"));
        var e = assertThrows(TokenizerException.class, () -> withNormalizer("three.json", "{\"type\": \"Sequence\", "
                + "\"normalizers\": [{\"type\": \"Lowercase\"}, {\"type\": \"NFD\"}, {\"type\": \"StripAccents\"}]}"));
        assertTrue(e.getMessage().contains("is a Sequence of 3 normalizers; supported: BertNormalizer, Lowercase, or a Sequence "
                + "of Lowercase then BertNormalizer"), e.getMessage());
    }

    @Test
    void corruptTokenizerJsonIsNamedWithItsLocation() throws IOException {
        Path p = dir.resolve("broken.json");
        Files.writeString(p, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0,, }}}");
        var e = assertThrows(TokenizerException.class, () -> Tokenizer.fromPretrained(p));
        assertTrue(e.getMessage().startsWith(p + ": not valid JSON at line 1"), e.getMessage());

        Path truncated = dir.resolve("truncated.json");
        byte[] full = Files.readAllBytes(tokenizerJson);
        Files.write(truncated, Arrays.copyOf(full, full.length / 2));
        e = assertThrows(TokenizerException.class, () -> Tokenizer.fromPretrained(truncated));
        assertTrue(e.getMessage().startsWith(truncated + ": not valid JSON"), e.getMessage());
    }

    @Test
    void unsupportedOrMissingPartsAreNamed() throws IOException {
        var root = (ObjectNode) HuggingFaceParityTest.JSON.readTree(tokenizerJson.toFile());
        ((ObjectNode) root.get("model")).put("type", "BPE");
        Path bpe = dir.resolve("bpe.json");
        HuggingFaceParityTest.JSON.writeValue(bpe.toFile(), root);
        var e = assertThrows(TokenizerException.class, () -> Tokenizer.fromPretrained(bpe));
        assertEquals(bpe + ": model.type is 'BPE'; DistilBERT uses a WordPiece model", e.getMessage());

        ((ObjectNode) root.get("model")).put("type", "WordPiece");
        ((ObjectNode) root.get("model")).remove("vocab");
        Path noVocab = dir.resolve("novocab.json");
        HuggingFaceParityTest.JSON.writeValue(noVocab.toFile(), root);
        e = assertThrows(TokenizerException.class, () -> Tokenizer.fromPretrained(noVocab));
        assertEquals(noVocab + ": model.vocab missing or empty", e.getMessage());

        Path emptyDir = Files.createDirectories(dir.resolve("empty-dir"));
        e = assertThrows(TokenizerException.class, () -> Tokenizer.fromPretrained(emptyDir));
        assertTrue(e.getMessage().contains("neither tokenizer.json nor vocab.txt"), e.getMessage());
    }

    @Test
    void corruptVocabTxtIsNamedWithItsLine() throws IOException {
        Path bad = dir.resolve("bad-vocab.txt");
        byte[] head = "[PAD]\n[UNK]\n[CLS]\n".getBytes(StandardCharsets.UTF_8);
        byte[] content = Arrays.copyOf(head, head.length + 3);
        content[head.length] = (byte) 0xC3;
        content[head.length + 1] = (byte) 0x28;
        content[head.length + 2] = '\n';
        Files.write(bad, content);
        var e = assertThrows(TokenizerException.class, () -> Tokenizer.fromPretrained(bad));
        assertEquals(bad + ": not a vocabulary: line 4 is not valid UTF-8", e.getMessage());

        Path noSep = dir.resolve("nosep-vocab.txt");
        Files.writeString(noSep, "[PAD]\n[UNK]\n[CLS]\nhello\n");
        e = assertThrows(TokenizerException.class, () -> Tokenizer.fromPretrained(noSep));
        assertEquals(noSep + ": the special token [SEP] is not in the vocabulary", e.getMessage());

        Path empty = dir.resolve("empty-vocab.txt");
        Files.writeString(empty, "");
        e = assertThrows(TokenizerException.class, () -> Tokenizer.fromPretrained(empty));
        assertEquals(empty + ": the vocabulary is empty", e.getMessage());
    }

    @Test
    void loneSurrogatesAreTreatedAsReplacementCharacters() {
        // As HF's bindings do when a JS/JSON string holds one: U+FFFD, which clean text removes.
        assertEquals(tok.tokenize("ab"), tok.tokenize("a\uD800b"));
        assertEquals(tok.tokenize("ab"), tok.tokenize("a\uFFFDb"));
    }
}
