package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import distilbert.tokenizer.Direction;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Padding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.Truncation;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code distilbert tokenize} on real bert-base-uncased, against the tokenizer library it wraps. */
class TokenizeCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final List<String> KEYS = List.of("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "offsets");

    @TempDir
    static Path dir;

    static Path tokenizerJson;
    static Tokenizer tokenizer;

    @BeforeAll
    static void load() throws IOException {
        tokenizerJson = Cli.bertBaseUncased(dir);
        tokenizer = Tokenizer.fromPretrained(tokenizerJson);
    }

    static Cli.Result tokenize(String stdin, String... options) {
        return Cli.run(stdin, args(options));
    }

    static String[] args(String... options) {
        List<String> a = new ArrayList<>(List.of("tokenize", "--tokenizer", tokenizerJson.toString()));
        a.addAll(List.of(options));
        return a.toArray(String[]::new);
    }

    /** The line the command should write for {@code e}, made independently with Jackson's databind. */
    static String expectedLine(Encoding e, boolean overflowing) throws IOException {
        return JSON.writeValueAsString(asMap(e, overflowing));
    }

    private static Map<String, Object> asMap(Encoding e, boolean overflowing) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("input_ids", e.ids());
        m.put("token_type_ids", e.typeIds());
        m.put("attention_mask", e.attentionMask());
        m.put("special_tokens_mask", e.specialTokensMask());
        m.put("offsets", e.codePointOffsets());
        if (overflowing) m.put("overflowing", e.overflowing().stream().map(o -> asMap(o, true)).toList());
        return m;
    }

    static List<String> keys(String line) throws IOException {
        List<String> keys = new ArrayList<>();
        for (Iterator<String> it = JSON.readTree(line).fieldNames(); it.hasNext(); ) keys.add(it.next());
        return keys;
    }

    static String row(String text, String pair) {
        ObjectNode o = JSON.createObjectNode().put("text", text);
        if (pair != null) o.put("text_pair", pair);
        return o.toString();
    }

    // ---- output --------------------------------------------------------------------------------

    @Test
    void defaultOutputIsTheFiveKeysInOrderOneLinePerInput() throws IOException {
        String[][] rows = {{"Hello world!", null}, {"Héllo, wörld 🙂 naïve café", "A second 𝔘nicode sentence."}, {"", null},
            {"  ", "x"}, {"Don't stop—the [MASK] is [SEP] here.", null}};
        StringBuilder in = new StringBuilder();
        for (String[] r : rows) in.append(row(r[0], r[1])).append('\n');
        Cli.Result r = tokenize(in.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.err());
        List<String> lines = r.lines();
        assertEquals(rows.length, lines.size());
        for (int i = 0; i < rows.length; i++) {
            assertEquals(KEYS, keys(lines.get(i)));
            assertEquals(expectedLine(tokenizer.encode(rows[i][0], rows[i][1]), false), lines.get(i), "row " + (i + 1));
        }
        // Offsets are code points: the emoji and the mathematical capital U are one each.
        JsonNode pair = JSON.readTree(lines.get(1));
        assertEquals(101, pair.get("input_ids").get(0).asInt());
        assertTrue(lines.get(0).startsWith("{\"input_ids\":[101,7592,2088,999,102],"), lines.get(0));
    }

    @Test
    void emptyInputIsEmptyOutput() {
        Cli.Result r = tokenize("");
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.out());
        assertEquals("", r.err());
    }

    @Test
    void readsAFileAndWritesAFile() throws IOException {
        Path in = dir.resolve("in.jsonl"), out = dir.resolve("out.jsonl");
        Files.writeString(in, row("first line", null) + "\n" + row("second", "pair") + "\r\n" + row("third", null));
        Cli.Result r = tokenize("", "--input", in.toString(), "--output", out.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.out());
        List<String> lines = Files.readAllLines(out);
        assertEquals(List.of(expectedLine(tokenizer.encode("first line"), false), expectedLine(tokenizer.encode("second", "pair"), false),
                expectedLine(tokenizer.encode("third"), false)), lines);
    }

    @Test
    void otherKeysAreIgnoredAndANullPairIsNoPair() throws IOException {
        Cli.Result r = tokenize("{\"id\": 7, \"text\": \"a b\", \"text_pair\": null, \"label\": [1, {\"x\": 2}]}\n");
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of(expectedLine(tokenizer.encode("a b"), false)), r.lines());
    }

    @Test
    void aByteOrderMarkIsDropped() throws IOException {
        byte[] bom = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
        byte[] row = (row("hi", null) + "\n").getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream in = new ByteArrayOutputStream();
        in.writeBytes(bom);
        in.writeBytes(row);
        Cli.Result r = Cli.run(in.toByteArray(), false, args());
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of(expectedLine(tokenizer.encode("hi"), false)), r.lines());
    }

    @Test
    void overflowingAddsTheWindowsWithTheSameKeys() throws IOException {
        String text = "one two three four five six seven eight nine ten eleven twelve";
        Cli.Result r = tokenize(row(text, null) + "\n" + row("short", null) + "\n", "--max-length", "6", "--stride", "2", "--overflowing");
        assertEquals(0, r.code(), r.err());
        EncodeOptions o = EncodeOptions.DEFAULT.withTruncation(Truncation.longestFirst(6).withStride(2));
        Encoding e = tokenizer.encode(text, null, o);
        assertTrue(e.overflowing().size() >= 1, e.toString());
        assertEquals(List.of(expectedLine(e, true), expectedLine(tokenizer.encode("short", null, o), true)), r.lines());
        JsonNode first = JSON.readTree(r.lines().get(0));
        List<String> withOverflowing = new ArrayList<>(KEYS);
        withOverflowing.add("overflowing");
        assertEquals(withOverflowing, keys(r.lines().get(0)));
        assertEquals(withOverflowing, keys(first.get("overflowing").get(0).toString()));
        assertEquals(0, JSON.readTree(r.lines().get(1)).get("overflowing").size());
    }

    /** A text of 50 tokens (a word in three pieces, punctuation, an emoji that is [UNK]) whose 12th token ends a word. */
    static final String LONG_TEXT = "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, "
            + "and nothing particular to interest me on shore, I thought I would sail about and see the watery part of the world 🙂.";

    /** The line's encoding and its overflowing windows, in order, each as an object of its own. */
    static List<JsonNode> windows(String line) throws IOException {
        JsonNode first = JSON.readTree(line);
        List<JsonNode> out = new ArrayList<>(List.of(first));
        first.get("overflowing").forEach(out::add);
        return out;
    }

    /**
     * Windows made by hand from the un-truncated encoding: tokens [start, start + room) of the text
     * for start = 0, room - stride, 2 (room - stride), ... until one reaches token {@code n}, each
     * between [CLS] and [SEP]; as ids, or as code point offsets.
     */
    static List<List<Object>> slices(Encoding whole, int n, int room, int stride, boolean offsets) {
        List<List<Object>> out = new ArrayList<>();
        for (int start = 0; ; start += room - stride) {
            int stop = Math.min(start + room, n);
            List<Object> w = new ArrayList<>();
            w.add(offsets ? List.of(0, 0) : 101);
            for (int i = start; i < stop; i++) {
                int[] o = whole.codePointOffsets()[1 + i];
                w.add(offsets ? List.of(o[0], o[1]) : whole.ids()[1 + i]);
            }
            w.add(offsets ? List.of(0, 0) : 102);
            out.add(w);
            if (stop == n) return out;
        }
    }

    static List<List<Object>> column(List<JsonNode> windows, String key) {
        return windows.stream().map(w -> JSON.convertValue(w.get(key), new TypeReference<List<Object>>() {})).toList();
    }

    @Test
    void windowsWholeCoverEveryTokenOfTheTextWithTheStride() throws IOException {
        Encoding whole = tokenizer.encode(LONG_TEXT);
        int n = whole.length() - 2; // the text's tokens, without [CLS] and [SEP]
        assertEquals(50, n);
        Cli.Result r = tokenize(row(LONG_TEXT, null) + "\n", "--max-length", "12", "--stride", "3", "--overflowing", "--windows", "whole");
        assertEquals(0, r.code(), r.err());
        List<JsonNode> windows = windows(r.lines().get(0));
        // 10 tokens of the text in a window, 7 new ones in each after the first: 0-9, 7-16, ..., 42-49.
        assertEquals(7, windows.size());
        assertEquals(slices(whole, n, 10, 3, false), column(windows, "input_ids"));
        assertEquals(slices(whole, n, 10, 3, true), column(windows, "offsets"));
        List<Integer> covered = new ArrayList<>();
        for (int k = 0; k < windows.size(); k++) {
            JsonNode ids = windows.get(k).get("input_ids");
            List<Integer> text = new ArrayList<>();
            for (int i = 1; i < ids.size() - 1; i++) text.add(ids.get(i).asInt());
            if (k > 0) {
                assertEquals(covered.subList(covered.size() - 3, covered.size()), text.subList(0, 3), "window " + k + " overlaps by 3");
                text = text.subList(3, text.size());
            }
            covered.addAll(text);
            assertEquals(k == 0 ? windows.size() - 1 : 0, windows.get(k).get("overflowing").size(), "windows are not nested");
        }
        List<Integer> all = new ArrayList<>();
        for (int i = 1; i <= n; i++) all.add(whole.ids()[i]);
        assertEquals(all, covered, "the windows, less their overlaps, are the whole text");
        JsonNode lastOffsets = windows.getLast().get("offsets");
        assertEquals(LONG_TEXT.codePointCount(0, LONG_TEXT.length()), lastOffsets.get(lastOffsets.size() - 2).get(1).asInt(),
                "the last window ends where the text ends");
    }

    @Test
    void windowsDefaultIsTokenizers023sOverTheStartOnly() throws IOException {
        String in = row(LONG_TEXT, null) + "\n";
        Cli.Result r = tokenize(in, "--max-length", "12", "--stride", "3", "--overflowing");
        assertEquals(0, r.code(), r.err());
        // Unchanged: the library's default truncation, which HuggingFaceParityTest holds to tokenizers 0.23.2.
        Encoding e = tokenizer.encode(LONG_TEXT, null, EncodeOptions.DEFAULT.withTruncation(Truncation.longestFirst(12).withStride(3)));
        assertEquals(List.of(expectedLine(e, true)), r.lines());
        assertEquals(r.out(), tokenize(in, "--max-length", "12", "--stride", "3", "--overflowing", "--windows", "tokenizers-0.23").out());
        // tokenizers 0.23 stopped at the text's first 12 tokens (the 12th, "mind", ends a word): windows 0-9 and 7-11, the
        // other 38 tokens lost.
        Encoding whole = tokenizer.encode(LONG_TEXT);
        assertEquals(List.of("mind", "how"), List.of(whole.tokens()).subList(12, 14));
        List<JsonNode> windows = windows(r.lines().get(0));
        assertEquals(slices(whole, 12, 10, 3, false), column(windows, "input_ids"));
        assertEquals(slices(whole, 12, 10, 3, true), column(windows, "offsets"));
    }

    @Test
    void windowsCanMoveATokenBetweenTheSequencesOfAPair() throws IOException {
        // 20 and 11 tokens, 7 left after the special tokens: longest_first gives the longer sequence 4 and the other 3.
        // tokenizers 0.23 compares them cut to --max-length, 10 and 10, and takes the second for the longer.
        String in = row("a b c d e f g h i j k l m n o p q r s t", "one two three four five six seven eight nine ten eleven") + "\n";
        Cli.Result cut = tokenize(in, "--max-length", "10");
        assertEquals(0, cut.code(), cut.err());
        assertEquals("[101,1037,1038,1039,102,2028,2048,2093,2176,102]", JSON.readTree(cut.out()).get("input_ids").toString());
        Cli.Result whole = tokenize(in, "--max-length", "10", "--windows", "whole");
        assertEquals(0, whole.code(), whole.err());
        assertEquals("[101,1037,1038,1039,1040,102,2028,2048,2093,102]", JSON.readTree(whole.out()).get("input_ids").toString());
    }

    @Test
    void maxLengthAloneTruncatesLongestFirstWithoutOverflowingKey() throws IOException {
        String text = "one two three four five six seven eight nine ten";
        Cli.Result r = tokenize(row(text, "and a pair of words") + "\n", "--max-length", "8");
        assertEquals(0, r.code(), r.err());
        Encoding e = tokenizer.encode(text, "and a pair of words", EncodeOptions.DEFAULT.withTruncation(Truncation.longestFirst(8)));
        assertEquals(8, e.length());
        assertEquals(List.of(expectedLine(e, false)), r.lines());
        assertEquals(KEYS, keys(r.lines().get(0)));
    }

    @Test
    void truncationWithoutMaxLengthUsesTheModelMaxLength() throws IOException {
        String text = "word ".repeat(600);
        Cli.Result r = tokenize(row(text, null) + "\n", "--truncation", "longest_first");
        assertEquals(0, r.code(), r.err());
        assertEquals(512, JSON.readTree(r.lines().get(0)).get("input_ids").size());
        Cli.Result untouched = tokenize(row(text, null) + "\n");
        assertEquals(602, JSON.readTree(untouched.lines().get(0)).get("input_ids").size());
    }

    @Test
    void truncationSideLeftKeepsTheEnd() throws IOException {
        String text = "one two three four five six seven eight";
        Cli.Result r = tokenize(row(text, null) + "\n", "--max-length", "5", "--truncation-side", "left", "--overflowing");
        assertEquals(0, r.code(), r.err());
        Encoding e = tokenizer.encode(text, null, EncodeOptions.DEFAULT.withTruncation(Truncation.longestFirst(5).withDirection(Direction.LEFT)));
        assertEquals(List.of(expectedLine(e, true)), r.lines());
        assertEquals(List.of("[CLS]", "six", "seven", "eight", "[SEP]"), List.of(e.tokens()));
    }

    @Test
    void paddingLongestPadsWithinEachBatch() throws IOException {
        List<String> texts = List.of("a", "a b c d e f", "a b", "a b c");
        StringBuilder in = new StringBuilder();
        for (String t : texts) in.append(row(t, null)).append('\n');
        Cli.Result r = tokenize(in.toString(), "--padding", "longest", "--batch-size", "2");
        assertEquals(0, r.code(), r.err());
        EncodeOptions o = EncodeOptions.DEFAULT.withPadding(Padding.longest());
        List<String> want = new ArrayList<>();
        for (Encoding e : tokenizer.encodeBatch(texts.subList(0, 2), null, o)) want.add(expectedLine(e, false));
        for (Encoding e : tokenizer.encodeBatch(texts.subList(2, 4), null, o)) want.add(expectedLine(e, false));
        assertEquals(want, r.lines());
        int[] lengths = r.lines().stream().mapToInt(l -> {
            try {
                return JSON.readTree(l).get("input_ids").size();
            } catch (IOException x) {
                throw new AssertionError(x);
            }
        }).toArray();
        assertEquals(List.of(8, 8, 5, 5), java.util.Arrays.stream(lengths).boxed().toList());
    }

    @Test
    void paddingMaxLengthToAMultipleOnTheLeft() throws IOException {
        Cli.Result r = tokenize(row("hello there", "friend") + "\n", "--padding", "max_length", "--max-length", "10",
                "--pad-to-multiple-of", "4", "--padding-side", "left");
        assertEquals(0, r.code(), r.err());
        Encoding e = tokenizer.encode("hello there", "friend", new EncodeOptions(true, Truncation.longestFirst(10),
                new Padding(Padding.Strategy.MAX_LENGTH, 10, 4, Direction.LEFT)));
        assertEquals(12, e.length());
        assertEquals(0, e.attentionMask()[0]);
        assertEquals(List.of(expectedLine(e, false)), r.lines());
    }

    @Test
    void noSpecialTokens() throws IOException {
        Cli.Result r = tokenize(row("hello", "there") + "\n", "--no-special-tokens");
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of("{\"input_ids\":[7592,2045],\"token_type_ids\":[0,1],\"attention_mask\":[1,1],"
                + "\"special_tokens_mask\":[0,0],\"offsets\":[[0,5],[0,5]]}"), r.lines());
    }

    @Test
    void truncationAndPaddingInTokenizerJsonAreIgnored() throws IOException {
        ObjectNode root = (ObjectNode) JSON.readTree(tokenizerJson.toFile());
        root.set("truncation", JSON.readTree("{\"direction\":\"Right\",\"max_length\":4,\"strategy\":\"LongestFirst\",\"stride\":0}"));
        root.set("padding", JSON.readTree("{\"strategy\":{\"Fixed\":32},\"direction\":\"Right\",\"pad_to_multiple_of\":null,"
                + "\"pad_id\":0,\"pad_type_id\":0,\"pad_token\":\"[PAD]\"}"));
        Path patched = dir.resolve("with-truncation-and-padding.json");
        JSON.writeValue(patched.toFile(), root);
        Cli.Result r = Cli.run(row("one two three four five six", null) + "\n", "tokenize", "--tokenizer", patched.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of(expectedLine(tokenizer.encode("one two three four five six"), false)), r.lines());
    }

    @Test
    void aModelDirectoryIsATokenizerPath() throws IOException {
        Path model = Files.createDirectories(dir.resolve("model"));
        Cli.bertBaseUncased(model);
        Cli.Result r = Cli.run(row("hello", null) + "\n", "tokenize", "--tokenizer", model.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of(expectedLine(tokenizer.encode("hello"), false)), r.lines());
    }

    @Test
    void manyBatchesComeOutInInputOrder() throws IOException {
        StringBuilder in = new StringBuilder();
        List<String> want = new ArrayList<>();
        for (int i = 0; i < 2500; i++) {
            String text = "row " + i + " " + "x".repeat(i % 17);
            in.append(row(text, i % 3 == 0 ? "pair " + i : null)).append('\n');
            want.add(expectedLine(tokenizer.encode(text, i % 3 == 0 ? "pair " + i : null), false));
        }
        Cli.Result r = tokenize(in.toString(), "--batch-size", "1000");
        assertEquals(0, r.code(), r.err());
        assertEquals(want, r.lines());
    }

    // ---- text that is not clean UTF-8 ----------------------------------------------------------

    @Test
    void invalidUtf8BecomesReplacementCharacters() throws IOException {
        ByteArrayOutputStream in = new ByteArrayOutputStream();
        in.writeBytes("{\"text\": \"caf".getBytes(StandardCharsets.UTF_8));
        in.writeBytes(new byte[] {(byte) 0xC3, 0x28}); // a lead byte without its continuation, then '('
        in.writeBytes(" x ".getBytes(StandardCharsets.UTF_8));
        in.writeBytes(new byte[] {(byte) 0xFF}); // never valid in UTF-8
        in.writeBytes(" y ".getBytes(StandardCharsets.UTF_8));
        in.writeBytes(new byte[] {(byte) 0xE2, (byte) 0x82}); // a truncated three-byte sequence: one U+FFFD
        in.writeBytes(" z ".getBytes(StandardCharsets.UTF_8));
        in.writeBytes(new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80}); // an encoded surrogate: three U+FFFD
        in.writeBytes("\", \"text_pair\": \"ok".getBytes(StandardCharsets.UTF_8));
        in.writeBytes(new byte[] {(byte) 0xC0, (byte) 0xAF}); // an overlong '/'
        in.writeBytes("\"}\n".getBytes(StandardCharsets.UTF_8));
        byte[] bytes = in.toByteArray();
        Path file = dir.resolve("invalid-utf8.jsonl");
        Files.write(file, bytes);

        // One U+FFFD per maximal ill-formed subpart, as Unicode, WHATWG and Python's "replace" give;
        // Java's own decoder would give one U+FFFD for all three bytes of the encoded surrogate.
        String text = "caf\uFFFD( x \uFFFD y \uFFFD z \uFFFD\uFFFD\uFFFD", pair = "ok\uFFFD\uFFFD";
        assertEquals("caf\uFFFD( x \uFFFD y \uFFFD z \uFFFD", JSON.readTree(new String(bytes, StandardCharsets.UTF_8)).get("text").asText());

        Cli.Result r = tokenize("", "--input", file.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of(expectedLine(tokenizer.encode(text, pair), false)), r.lines());
        Cli.Result fromStdin = Cli.run(bytes, false, args());
        assertEquals(r.out(), fromStdin.out());
    }

    @Test
    void loneSurrogateEscapesAreReplacementCharacters() throws IOException {
        Cli.Result r = tokenize("{\"text\": \"a\\ud800b \\udc00 c\", \"text_pair\": \"\\ud83d\"}\n");
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of(expectedLine(tokenizer.encode("a\uFFFDb \uFFFD c", "\uFFFD"), false)), r.lines());
        // A proper pair of escapes is one character.
        Cli.Result emoji = tokenize("{\"text\": \"\\ud83d\\ude42!\"}\n");
        assertEquals(List.of(expectedLine(tokenizer.encode("🙂!"), false)), emoji.lines());
    }

    // ---- bad input -----------------------------------------------------------------------------

    /** Runs on a file whose line 3 is {@code bad}; checks lines 1-2 were written and the error names line 3. */
    private static void assertBadLine(String bad, String message) throws IOException {
        Path in = dir.resolve("bad.jsonl");
        Files.writeString(in, row("one", null) + "\n" + row("two", "2") + "\n" + bad + "\n" + row("four", null) + "\n");
        Cli.Result r = tokenize("", "--input", in.toString());
        assertEquals(1, r.code(), bad);
        assertEquals(List.of(expectedLine(tokenizer.encode("one"), false), expectedLine(tokenizer.encode("two", "2"), false)), r.lines(),
                "the lines before the bad one are written");
        assertEquals("distilbert tokenize: " + in + " line 3: " + message + "\n", r.err());
    }

    @Test
    void badLinesAreErrorsNamingFileAndLine() throws IOException {
        assertBadLine("", "blank line; every line must be a JSON object with a \"text\" string");
        assertBadLine("  \t", "blank line; every line must be a JSON object with a \"text\" string");
        assertBadLine("[\"text\"]", "expected a JSON object, found an array");
        assertBadLine("\"text\"", "expected a JSON object, found a string");
        assertBadLine("{\"txt\": \"typo\"}", "missing \"text\"");
        assertBadLine("{\"text\": 3}", "\"text\" must be a string, found a number");
        assertBadLine("{\"text\": null}", "\"text\" must be a string, found null");
        assertBadLine("{\"text\": \"a\", \"text_pair\": [\"b\"]}", "\"text_pair\" must be a string or null, found an array");
        assertBadLine("{\"text\": \"a\"} {\"text\": \"b\"}", "more after the JSON object; put one object per line");
    }

    @Test
    void invalidJsonNamesTheColumn() throws IOException {
        Path in = dir.resolve("bad.jsonl");
        Files.writeString(in, "{\"text\": \"a\"}\n{\"text\": 'single'}\n");
        Cli.Result r = tokenize("", "--input", in.toString());
        assertEquals(1, r.code());
        assertEquals(1, r.lines().size());
        assertTrue(r.err().startsWith("distilbert tokenize: " + in + " line 2: not valid JSON at column 10: Unexpected character ('''"),
                r.err());
        assertEquals(1, r.err().lines().count(), "one line, no stack trace: " + r.err());

        Files.writeString(in, "{\"text\": \"a\", \"text\": \"b\"}\n");
        r = tokenize("", "--input", in.toString());
        assertTrue(r.err().contains(" line 1: not valid JSON") && r.err().contains("Duplicate field 'text'"), r.err());

        Files.writeString(in, "{\"text\": \"unterminated\n");
        r = tokenize("", "--input", in.toString());
        assertTrue(r.err().startsWith("distilbert tokenize: " + in + " line 1: not valid JSON"), r.err());
    }

    @Test
    void stdinIsNamedInErrors() {
        Cli.Result r = tokenize("{\"text\": \"ok\"}\n\n{\"text\": \"never read\"}\n");
        assertEquals(1, r.code());
        assertEquals(1, r.lines().size());
        assertEquals("distilbert tokenize: stdin line 2: blank line; every line must be a JSON object with a \"text\" string\n", r.err());
    }

    @Test
    void aBadLineInALaterBatchKeepsEverythingBefore() throws IOException {
        StringBuilder in = new StringBuilder();
        for (int i = 1; i <= 7; i++) in.append(i == 6 ? "oops" : row("row " + i, null)).append('\n');
        Cli.Result r = tokenize(in.toString(), "--batch-size", "2", "--padding", "longest");
        assertEquals(1, r.code());
        assertEquals(5, r.lines().size());
        // Row 5 was the whole of its (cut short) batch.
        assertEquals(expectedLine(tokenizer.encode("row 5"), false), r.lines().get(4));
        assertTrue(r.err().startsWith("distilbert tokenize: stdin line 6: not valid JSON"), r.err());
    }

    @Test
    void aRowTheTokenizerRefusesIsAnErrorNamingItsLine() throws IOException {
        String in = row("first", "pair") + "\n" + row("second", "pair") + "\n" + row("no pair here, and words enough to need cutting", null) + "\n" + row("fourth", "x") + "\n";
        Cli.Result r = tokenize(in, "--truncation", "only_second", "--max-length", "8");
        assertEquals(1, r.code());
        EncodeOptions o = EncodeOptions.DEFAULT.withTruncation(new Truncation(Truncation.Strategy.ONLY_SECOND, 8, 0, Direction.RIGHT));
        assertEquals(List.of(expectedLine(tokenizer.encode("first", "pair", o), false), expectedLine(tokenizer.encode("second", "pair", o), false)),
                r.lines());
        assertEquals("distilbert tokenize: stdin line 3: truncation only_second needs a pair, but the input has no text_pair\n", r.err());
    }

    // ---- files that cannot be used -------------------------------------------------------------

    @Test
    void aMissingTokenizerIsNamed() {
        Path missing = dir.resolve("no-such-model");
        Cli.Result r = Cli.run(row("x", null) + "\n", "tokenize", "--tokenizer", missing.toString());
        assertEquals(1, r.code());
        assertEquals("distilbert tokenize: " + missing + ": no such file or directory\n", r.err());
        assertEquals("", r.out());
    }

    @Test
    void aCorruptTokenizerIsNamedAndVerboseShowsTheStackTrace() throws IOException {
        Path corrupt = dir.resolve("corrupt-tokenizer.json");
        Files.writeString(corrupt, "{\"model\": ");
        Cli.Result r = Cli.run(row("x", null) + "\n", "tokenize", "--tokenizer", corrupt.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("distilbert tokenize: " + corrupt + ": "), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
        Cli.Result verbose = Cli.run(row("x", null) + "\n", "tokenize", "--tokenizer", corrupt.toString(), "--verbose");
        assertEquals(1, verbose.code());
        assertTrue(verbose.err().contains("distilbert.tokenizer.TokenizerException"), verbose.err());
        assertTrue(verbose.err().contains("\tat "), verbose.err());
    }

    @Test
    void aMissingInputIsNamed() {
        Path missing = dir.resolve("missing.jsonl");
        Cli.Result r = tokenize("", "--input", missing.toString());
        assertEquals(1, r.code());
        assertEquals("distilbert tokenize: " + missing + ": no such file or directory\n", r.err());
    }

    @Test
    void anUnwritableOutputIsNamed() throws IOException {
        Path nowhere = dir.resolve("no-such-dir").resolve("out.jsonl");
        Cli.Result r = tokenize(row("x", null) + "\n", "--output", nowhere.toString());
        assertEquals(1, r.code());
        assertEquals("distilbert tokenize: cannot write " + nowhere + ": no such file or directory\n", r.err());

        Cli.Result toDir = tokenize(row("x", null) + "\n", "--output", dir.toString());
        assertEquals(1, toDir.code());
        assertEquals("distilbert tokenize: cannot write " + dir + ": it is a directory\n", toDir.err());
    }

    @Test
    void theProgressLineIsDrawnOnlyOnATerminal() {
        byte[] in = (row("hello", null) + "\n").repeat(10).getBytes(StandardCharsets.UTF_8);
        Cli.Result quiet = Cli.run(in, false, args());
        assertEquals("", quiet.err());
        Cli.Result shown = Cli.run(in, true, args());
        assertEquals(0, shown.code());
        assertEquals(quiet.out(), shown.out());
        assertTrue(shown.err().startsWith("\rtokenize: 10 rows, "), shown.err());
        assertTrue(shown.err().contains(" rows/s, ") && shown.err().contains(" tokens/s, ") && shown.err().endsWith("\n"), shown.err());
        assertFalse(shown.err().contains("\u001b"), "no terminal escapes");
    }
}
