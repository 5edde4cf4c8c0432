package distilbert.tokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;

/**
 * BERT's tokenizer (DistilBertTokenizer / DistilBertTokenizerFast): added tokens, BERT
 * normalization, BERT pre-tokenization, WordPiece, the [CLS]/[SEP] template, truncation and
 * padding, producing exactly what HuggingFace's tokenizers produce. Thread-safe; batches are
 * encoded on all cores.
 *
 * <pre>{@code
 * Tokenizer tok = Tokenizer.fromPretrained(Path.of("distilbert-base-uncased"));
 * Encoding e = tok.encode("Hello world!", "A second sentence.");
 * }</pre>
 */
public final class Tokenizer {
    private final Vocabulary vocab;
    private final WordPiece wordPiece;
    private final BertNormalizer normalizer; // null: none
    private final boolean bertPreTokenizer; // false: the whole (normalized) text is one word
    private final List<AddedToken> addedTokens;
    private final AddedTokenMatcher rawMatcher;
    private final AddedTokenMatcher normalizedMatcher;
    private final Template template;
    private final WordPieceDecoder decoder; // null: tokens joined by spaces
    private final SpecialTokenNames specialTokens;
    private final int modelMaxLength;
    private final boolean cleanUpTokenizationSpaces;
    private final Set<Integer> specialIds;
    private final Map<Integer, String> addedById;
    private final ThreadLocal<NormalizedText> scratch = ThreadLocal.withInitial(NormalizedText::new);

    /** The names of BERT's special tokens, as tokenizer_config.json / special_tokens_map.json give them. */
    public record SpecialTokenNames(String unk, String sep, String pad, String cls, String mask) {
        public static final SpecialTokenNames BERT = new SpecialTokenNames("[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]");

        List<String> all() {
            return List.of(unk, sep, pad, cls, mask);
        }
    }

    Tokenizer(Vocabulary vocab, WordPiece wordPiece, BertNormalizer normalizer, boolean bertPreTokenizer,
              List<AddedToken> addedTokens, Template template, WordPieceDecoder decoder, SpecialTokenNames specialTokens,
              int modelMaxLength, boolean cleanUpTokenizationSpaces) {
        this.vocab = vocab;
        this.wordPiece = wordPiece;
        this.normalizer = normalizer;
        this.bertPreTokenizer = bertPreTokenizer;
        this.addedTokens = List.copyOf(addedTokens);
        this.template = template;
        this.decoder = decoder;
        this.specialTokens = specialTokens;
        this.modelMaxLength = modelMaxLength;
        this.cleanUpTokenizationSpaces = cleanUpTokenizationSpaces;
        List<AddedToken> raw = new ArrayList<>(), norm = new ArrayList<>();
        List<String> normPatterns = new ArrayList<>();
        for (AddedToken t : addedTokens) {
            if (!t.normalized()) raw.add(t);
            else {
                norm.add(t);
                normPatterns.add(normalizeToString(t.content()));
            }
        }
        this.rawMatcher = new AddedTokenMatcher(raw, raw.stream().map(AddedToken::content).toList());
        this.normalizedMatcher = new AddedTokenMatcher(norm, normPatterns);
        java.util.HashSet<Integer> ids = new java.util.HashSet<>();
        java.util.HashMap<Integer, String> byId = new java.util.HashMap<>();
        for (AddedToken t : addedTokens) {
            byId.put(t.id(), t.content());
            if (t.special()) ids.add(t.id());
        }
        this.specialIds = Set.copyOf(ids);
        this.addedById = Map.copyOf(byId);
    }

    // ---- loading ---------------------------------------------------------------------------------

    /**
     * Loads a tokenizer from a HuggingFace model directory (tokenizer.json, else vocab.txt with
     * tokenizer_config.json), a tokenizer.json file or a vocab.txt file.
     *
     * @throws TokenizerException naming the file and what is wrong with it
     */
    public static Tokenizer fromPretrained(Path path) {
        return TokenizerLoader.load(path);
    }

    /** A BERT tokenizer over a vocab.txt file with the given normalization (HF's BertTokenizerFast defaults: {@link BertNormalizer#UNCASED}). */
    public static Tokenizer fromVocab(Path vocabTxt, BertNormalizer normalizer) {
        return TokenizerLoader.fromVocab(vocabTxt, normalizer, SpecialTokenNames.BERT, 512, List.of(), false);
    }

    /**
     * This tokenizer with the text lowercased first, as sentence-transformers' {@code do_lower_case}
     * puts a {@code Lowercase} normalizer before the tokenizer's own (this one itself when it
     * lowercases already). Accents are stripped only where the tokenizer stripped them before.
     */
    public Tokenizer withLowercase() {
        if (normalizer != null && normalizer.lowercase()) return this;
        BertNormalizer lower = normalizer == null ? BertNormalizer.LOWERCASE_ONLY
                : new BertNormalizer(normalizer.cleanText(), normalizer.handleChineseChars(), normalizer.stripsAccents(), true);
        return new Tokenizer(vocab, wordPiece, lower, bertPreTokenizer, addedTokens, template, decoder, specialTokens,
                modelMaxLength, cleanUpTokenizationSpaces);
    }

    // ---- encoding --------------------------------------------------------------------------------

    public Encoding encode(String text) {
        return encode(text, null, EncodeOptions.DEFAULT);
    }

    public Encoding encode(String text, String pair) {
        return encode(text, pair, EncodeOptions.DEFAULT);
    }

    /**
     * Encodes one text, or a pair when {@code pair} is not null: special tokens, then truncation,
     * then padding (MAX_LENGTH, or LONGEST, which for one input pads nothing), as options say.
     */
    public Encoding encode(String text, String pair, EncodeOptions options) {
        Encoding e = encodeUnpadded(text, pair, options);
        Padding p = options.padding();
        return p == null ? e : pad(List.of(e), p).get(0);
    }

    /** Encodes texts on all cores; results in input order. */
    public List<Encoding> encodeBatch(List<String> texts) {
        return encodeBatch(texts, null, EncodeOptions.DEFAULT);
    }

    /**
     * Encodes texts (with their pairs, when {@code pairs} is not null; a null pair means none) on
     * all cores, in input order; LONGEST padding pads to the longest of this batch.
     */
    public List<Encoding> encodeBatch(List<String> texts, List<String> pairs, EncodeOptions options) {
        if (pairs != null && pairs.size() != texts.size()) {
            throw new IllegalArgumentException("texts and pairs differ in size: " + texts.size() + " vs " + pairs.size());
        }
        List<Encoding> out = IntStream.range(0, texts.size()).parallel()
                .mapToObj(i -> encodeUnpadded(texts.get(i), pairs == null ? null : pairs.get(i), options))
                .toList();
        return options.padding() == null ? out : pad(out, options.padding());
    }

    /**
     * One text cut into windows over its whole length: each window is {@code [CLS]}, at most
     * {@code maxLength} − 2 tokens of the text and {@code [SEP]}; each overlaps the one before it by
     * {@code stride} tokens; the first is what {@code encode} with {@code longest_first} truncation to
     * {@code maxLength} gives. This is the encoding and its overflowing windows as tokenizers up to
     * 0.22 gave them. Since 0.23.1 tokenizers stops tokenizing at {@code max_length} tokens, so that
     * {@link Encoding#overflowing()} covers only the start of a long text (tokenizers issue 2091);
     * pipelines that must see the whole text (token classification with a stride, question
     * answering with a document stride) use this, or for pairs {@link Truncation#withWholeSequences}
     * (which this is, for one text, with its checks).
     *
     * @return the windows in text order; one (the whole text) when it fits
     * @throws TokenizerException when the special tokens leave no room, or {@code stride} is not
     *                            smaller than the room they leave
     */
    public List<Encoding> encodeWindows(String text, int maxLength, int stride) {
        if (text == null) throw new IllegalArgumentException("text must not be null");
        if (stride < 0) throw new IllegalArgumentException("stride must be >= 0, got " + stride);
        int added = template.addedTokens(false);
        int room = maxLength - added;
        if (room <= 0) {
            throw new TokenizerException("max_length " + maxLength + " leaves no room: " + added
                    + " special tokens are added to each sequence");
        }
        if (stride >= room) {
            throw new TokenizerException("stride " + stride + " must be smaller than the " + room + " tokens a window of "
                    + maxLength + " has for the text (" + added + " special tokens)");
        }
        Encoding first = encode(text, null, new EncodeOptions(true,
                Truncation.longestFirst(maxLength).withStride(stride).withWholeSequences(true), null));
        List<Encoding> out = new ArrayList<>(1 + first.overflowing().size());
        out.add(first);
        out.addAll(first.overflowing());
        return out;
    }

    /** The tokens of a text without special tokens, as {@code tokenizer.tokenize(text)}. */
    public List<String> tokenize(String text) {
        return Arrays.asList(encodeSequence(text, 0).tokens());
    }

    private Encoding encodeUnpadded(String text, String pair, EncodeOptions options) {
        if (text == null) throw new IllegalArgumentException("text must not be null");
        Encoding a = encodeSequence(text, 0);
        Encoding b = pair == null ? null : encodeSequence(pair, 1);
        Truncation t = options.truncation();
        if (t != null) {
            int added = options.addSpecialTokens() ? template.addedTokens(b != null) : 0;
            if (added > t.maxLength()) {
                throw new TokenizerException("max_length " + t.maxLength() + " leaves no room: " + added
                        + " special tokens are added to each " + (b == null ? "sequence" : "pair"));
            }
            // tokenizers 0.23 stops tokenizing a sequence once it has max_length tokens (special
            // tokens not counted off), finishing the word it is in, and only then truncates:
            // overflowing windows cover only that much of each sequence, and longest_first
            // compares the capped lengths. tokenizers 0.22 (wholeSequences) tokenizes all of it.
            if (!t.wholeSequences()) {
                a = capAtMaxLength(a, t);
                b = b == null ? null : capAtMaxLength(b, t);
            }
            Encoding[] cut = truncate(a, b, t, t.maxLength() - added);
            a = cut[0];
            b = cut[1];
        }
        return template.apply(a, b, options.addSpecialTokens());
    }

    private static Encoding capAtMaxLength(Encoding e, Truncation t) {
        int n = e.length(), max = t.maxLength();
        if (n <= max || max == 0) return e;
        if (t.direction() == Direction.RIGHT) {
            int end = max;
            while (end < n && e.wordId(end) == e.wordId(max - 1)) end++;
            return e.slice(0, end);
        }
        int start = n - max;
        while (start > 0 && e.wordId(start - 1) == e.wordId(n - max)) start--;
        return e.slice(start, n);
    }

    /** {@code truncate_encodings}: cut a (and b) to {@code maxLength} tokens in all. */
    private static Encoding[] truncate(Encoding a, Encoding b, Truncation t, int maxLength) {
        int stride = t.stride();
        Direction dir = t.direction();
        if (maxLength == 0) {
            return new Encoding[] {a.truncate(0, stride, dir), b == null ? null : b.truncate(0, stride, dir)};
        }
        int total = a.length() + (b == null ? 0 : b.length());
        if (total <= maxLength) return new Encoding[] {a, b};
        int toRemove = total - maxLength;
        switch (t.strategy()) {
            case LONGEST_FIRST -> {
                if (b == null) return new Encoding[] {a.truncate(total - toRemove, stride, dir), null};
                int n1 = a.length(), n2 = b.length();
                boolean swap = n1 > n2;
                if (swap) {
                    int x = n1;
                    n1 = n2;
                    n2 = x;
                }
                n2 = n1 > maxLength ? n1 : Math.max(n1, maxLength - n1);
                if (n1 + n2 > maxLength) {
                    n1 = maxLength / 2;
                    n2 = n1 + maxLength % 2;
                }
                if (swap) {
                    int x = n1;
                    n1 = n2;
                    n2 = x;
                }
                return new Encoding[] {a.truncate(n1, stride, dir), b.truncate(n2, stride, dir)};
            }
            case ONLY_FIRST, ONLY_SECOND -> {
                boolean first = t.strategy() == Truncation.Strategy.ONLY_FIRST;
                if (!first && b == null) {
                    throw new TokenizerException("truncation only_second needs a pair, but the input has no text_pair");
                }
                Encoding target = first ? a : b;
                if (target.length() <= toRemove) {
                    throw new TokenizerException("truncation " + (first ? "only_first" : "only_second") + " cannot reach max_length "
                            + t.maxLength() + ": the " + (first ? "first" : "second") + " sequence has " + target.length()
                            + " tokens but " + toRemove + " must go; use longest_first");
                }
                Encoding cut = target.truncate(target.length() - toRemove, stride, dir);
                return first ? new Encoding[] {cut, b} : new Encoding[] {a, cut};
            }
        }
        throw new AssertionError(t.strategy());
    }

    /** {@code pad_encodings}: pad every encoding (and its overflowing windows) to one length. */
    public List<Encoding> pad(List<Encoding> encodings, Padding padding) {
        if (encodings.isEmpty()) return encodings;
        int length = padding.strategy() == Padding.Strategy.MAX_LENGTH ? padding.length()
                : encodings.stream().mapToInt(Encoding::length).max().orElse(0);
        int m = padding.padToMultipleOf();
        if (m > 0 && length % m > 0) length += m - length % m;
        String padToken = specialTokens.pad();
        int padId = tokenToId(padToken);
        if (padId < 0) throw new TokenizerException("padding needs the pad token '" + padToken + "', which is not in the vocabulary");
        int target = length;
        return encodings.stream().map(e -> e.pad(target, padId, 0, padToken, padding.direction())).toList();
    }

    /** One sequence: added tokens, then normalization, pre-tokenization and WordPiece of the text between them. */
    private Encoding encodeSequence(String text, int sequenceId) {
        Builder b = new Builder(text, sequenceId, Math.max(8, text.length() / 3));
        int pos = 0;
        for (AddedTokenMatcher.Match m : rawMatcher.isEmpty() ? List.<AddedTokenMatcher.Match>of() : rawMatcher.find(text, 0, text.length())) {
            encodePlain(text, pos, m.start(), b);
            b.add(m.token().id(), m.token().content(), m.start(), m.end(), b.nextWord++);
            pos = m.end();
        }
        encodePlain(text, pos, text.length(), b);
        return b.build();
    }

    private void encodePlain(String text, int from, int to, Builder b) {
        if (from >= to) return;
        NormalizedText n = scratch.get();
        n.clear();
        if (normalizer != null) normalizer.normalize(text, from, to, n);
        else for (int i = from; i < to; ) {
            int c = text.codePointAt(i), next = i + Character.charCount(c);
            n.add(c, i, next);
            i = next;
        }
        if (normalizedMatcher.isEmpty()) {
            preTokenize(n, 0, n.size, b);
            return;
        }
        // Normalized added tokens are matched in the normalized text: search it as a string.
        StringBuilder s = new StringBuilder(n.size);
        int[] cpAt = new int[n.size * 2 + 1];
        for (int i = 0; i < n.size; i++) {
            cpAt[s.length()] = i;
            s.appendCodePoint(n.cps[i]);
        }
        cpAt[s.length()] = n.size;
        int pos = 0;
        for (AddedTokenMatcher.Match m : normalizedMatcher.find(s, 0, s.length())) {
            int ms = cpAt[m.start()], me = cpAt[m.end()];
            preTokenize(n, pos, ms, b);
            b.add(m.token().id(), m.token().content(), n.start[ms], n.end[me - 1], b.nextWord++);
            pos = me;
        }
        preTokenize(n, pos, n.size, b);
    }

    /** BertPreTokenizer: split on whitespace (dropped) and around each punctuation character (kept). */
    private void preTokenize(NormalizedText n, int from, int to, Builder b) {
        if (!bertPreTokenizer) {
            if (from < to) word(n, from, to, b);
            return;
        }
        int i = from;
        while (i < to) {
            int c = n.cps[i];
            if (CharClasses.isWhitespace(c)) {
                i++;
            } else if (CharClasses.isPunctuation(c)) {
                word(n, i, i + 1, b);
                i++;
            } else {
                int j = i + 1;
                while (j < to && !CharClasses.isWhitespace(n.cps[j]) && !CharClasses.isPunctuation(n.cps[j])) j++;
                word(n, i, j, b);
                i = j;
            }
        }
    }

    private void word(NormalizedText n, int from, int to, Builder b) {
        int w = b.nextWord++;
        wordPiece.tokenize(n, from, to, (id, s, e) -> b.add(id, vocab.token(id), n.start[s], n.end[e - 1], w));
    }

    /** Collects the tokens of one sequence. */
    private static final class Builder {
        final String text;
        final int sequenceId;
        int[] ids, words, starts, ends;
        String[] tokens;
        int size;
        int nextWord;

        Builder(String text, int sequenceId, int capacity) {
            this.text = text;
            this.sequenceId = sequenceId;
            ids = new int[capacity];
            words = new int[capacity];
            starts = new int[capacity];
            ends = new int[capacity];
            tokens = new String[capacity];
        }

        void add(int id, String token, int start, int end, int word) {
            if (size == ids.length) {
                int n = size * 2;
                ids = Arrays.copyOf(ids, n);
                words = Arrays.copyOf(words, n);
                starts = Arrays.copyOf(starts, n);
                ends = Arrays.copyOf(ends, n);
                tokens = Arrays.copyOf(tokens, n);
            }
            ids[size] = id;
            tokens[size] = token;
            starts[size] = start;
            ends[size] = end;
            words[size] = word;
            size++;
        }

        Encoding build() {
            int[] type = new int[size], seq = new int[size], zeros = new int[size], ones = new int[size];
            Arrays.fill(type, sequenceId);
            Arrays.fill(seq, sequenceId);
            Arrays.fill(ones, 1);
            String[] texts = new String[2];
            texts[sequenceId] = text;
            return new Encoding(Arrays.copyOf(ids, size), type, Arrays.copyOf(tokens, size), Arrays.copyOf(words, size), seq,
                    Arrays.copyOf(starts, size), Arrays.copyOf(ends, size), zeros, ones, List.of(), texts);
        }
    }

    private String normalizeToString(String s) {
        if (normalizer == null) return s;
        NormalizedText n = new NormalizedText();
        normalizer.normalize(s, 0, s.length(), n);
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < n.size; i++) out.appendCodePoint(n.cps[i]);
        return out.toString();
    }

    // ---- ids, tokens and special tokens ------------------------------------------------------------

    /** The id of a token (added tokens included), or -1. */
    public int tokenToId(String token) {
        for (AddedToken t : addedTokens) if (t.content().equals(token)) return t.id();
        return vocab.id(token);
    }

    /** The token of an id (added tokens first), or null. */
    public String idToToken(int id) {
        String added = addedById.get(id);
        return added != null ? added : vocab.token(id);
    }

    /** Ids of tokens; unknown tokens get the unknown token's id, as in HF. */
    public int[] convertTokensToIds(List<String> tokens) {
        int unk = tokenToId(specialTokens.unk());
        return tokens.stream().mapToInt(t -> {
            int id = tokenToId(t);
            return id >= 0 ? id : unk;
        }).toArray();
    }

    public List<String> convertIdsToTokens(int[] ids) {
        List<String> out = new ArrayList<>(ids.length);
        for (int id : ids) out.add(checkedToken(id));
        return out;
    }

    /** {@code [CLS] a [SEP]} or {@code [CLS] a [SEP] b [SEP]} (b may be null). */
    public int[] buildInputsWithSpecialTokens(int[] a, int[] b) {
        return template.applyIds(a, b)[0];
    }

    /** 0 for the first sequence and its special tokens, 1 for the second (b may be null). */
    public int[] createTokenTypeIdsFromSequences(int[] a, int[] b) {
        return template.applyIds(a, b)[1];
    }

    /**
     * 1 where a special token is or would be added, 0 for sequence tokens. With
     * {@code alreadyHasSpecialTokens}, {@code a} is a full sequence and b must be null.
     */
    public int[] getSpecialTokensMask(int[] a, int[] b, boolean alreadyHasSpecialTokens) {
        if (alreadyHasSpecialTokens) {
            if (b != null) throw new IllegalArgumentException("with alreadyHasSpecialTokens, pass the whole sequence as a and no b");
            return Arrays.stream(a).map(id -> specialIds.contains(id) ? 1 : 0).toArray();
        }
        return template.applyIds(a, b)[2];
    }

    /** How many special tokens encoding adds to one sequence or a pair. */
    public int numSpecialTokensToAdd(boolean pair) {
        return template.addedTokens(pair);
    }

    // ---- decoding --------------------------------------------------------------------------------

    /** The text of ids as HuggingFace's tokenizers decode it (the WordPiece decoder, its cleanup included). */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        List<String> tokens = new ArrayList<>(ids.length);
        for (int id : ids) {
            String t = checkedToken(id);
            if (skipSpecialTokens && specialIds.contains(id)) continue;
            tokens.add(t);
        }
        return convertTokensToString(tokens);
    }

    /** {@link #decode(int[], boolean)}, then transformers' {@code clean_up_tokenization} when asked. */
    public String decode(int[] ids, boolean skipSpecialTokens, boolean cleanUpTokenizationSpaces) {
        String s = decode(ids, skipSpecialTokens);
        return cleanUpTokenizationSpaces ? WordPieceDecoder.cleanUpTokenization(s) : s;
    }

    /** Joins tokens into text with the tokenizer's decoder ("##" pieces glued to the previous token). */
    public String convertTokensToString(List<String> tokens) {
        return decoder != null ? decoder.decode(tokens) : String.join(" ", tokens);
    }

    private String checkedToken(int id) {
        String t = idToToken(id);
        if (t == null) throw new TokenizerException("token id " + id + " is not in the vocabulary (size " + vocabSize() + ")");
        return t;
    }

    // ---- properties ----------------------------------------------------------------------------------

    public int vocabSize() {
        int max = vocab.size();
        for (AddedToken t : addedTokens) max = Math.max(max, t.id() + 1);
        return max;
    }

    public Vocabulary vocabulary() {
        return vocab;
    }

    public List<AddedToken> addedTokens() {
        return addedTokens;
    }

    public SpecialTokenNames specialTokens() {
        return specialTokens;
    }

    /** The longest input the model accepts, from tokenizer_config.json's model_max_length (512 for DistilBERT). */
    public int modelMaxLength() {
        return modelMaxLength;
    }

    /**
     * Whether transformers' {@code decode} cleans up the spaces before punctuation and contractions
     * ({@link #decode(int[], boolean, boolean)}): tokenizer_config.json's {@code clean_up_tokenization_spaces},
     * false when it does not say (transformers 5's default; transformers 4 writes the key when it saves).
     */
    public boolean cleanUpTokenizationSpaces() {
        return cleanUpTokenizationSpaces;
    }

    public BertNormalizer normalizer() {
        return normalizer;
    }

    public int padTokenId() {
        return tokenToId(specialTokens.pad());
    }

    public int clsTokenId() {
        return tokenToId(specialTokens.cls());
    }

    public int sepTokenId() {
        return tokenToId(specialTokens.sep());
    }

    public int maskTokenId() {
        return tokenToId(specialTokens.mask());
    }

    public int unkTokenId() {
        return tokenToId(specialTokens.unk());
    }

    @Override
    public String toString() {
        return "Tokenizer[vocab=" + vocab.size() + ", normalizer=" + normalizer + ", added=" + addedTokens.size() + "]";
    }
}
