package distilbert.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads tokenizers from HuggingFace files: tokenizer.json (its normalizer, pre-tokenizer, model,
 * post-processor, decoder and added tokens, as written), vocab.txt with tokenizer_config.json,
 * or a model directory holding them. Every error names the file and the field.
 */
final class TokenizerLoader {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TokenizerLoader() {}

    static Tokenizer load(Path path) {
        if (Files.isDirectory(path)) {
            Path config = path.resolve("tokenizer_config.json");
            JsonNode cfg = Files.isRegularFile(config) ? readJson(config) : null;
            if (Files.isRegularFile(path.resolve("tokenizer.json"))) return fromTokenizerJson(path.resolve("tokenizer.json"), cfg, config);
            if (Files.isRegularFile(path.resolve("vocab.txt"))) return fromVocabWithConfig(path.resolve("vocab.txt"), cfg, config);
            throw new TokenizerException(path + ": not a tokenizer directory: it has neither tokenizer.json nor vocab.txt");
        }
        if (!Files.exists(path)) throw new TokenizerException(path + ": no such file or directory");
        if (path.getFileName().toString().endsWith(".json")) return fromTokenizerJson(path, null, null);
        return fromVocabWithConfig(path, null, null);
    }

    // ---- tokenizer.json ----------------------------------------------------------------------

    static Tokenizer fromTokenizerJson(Path file, JsonNode cfg, Path cfgFile) {
        JsonNode root = readJson(file);
        if (!root.isObject()) throw bad(file, "", "the top level must be a JSON object");
        JsonNode model = root.get("model");
        if (model == null || !model.isObject()) throw bad(file, "model", "missing: a tokenizer.json must have a model");
        String modelType = text(model, "type", null, file, "model.type");
        if (modelType != null && !modelType.equals("WordPiece")) {
            throw bad(file, "model.type", "is '" + modelType + "'; DistilBERT uses a WordPiece model");
        }
        JsonNode vocabNode = model.get("vocab");
        if (vocabNode == null || !vocabNode.isObject() || vocabNode.isEmpty()) throw bad(file, "model.vocab", "missing or empty");
        Map<String, Integer> ids = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = vocabNode.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().canConvertToInt() || e.getValue().asInt() < 0) {
                throw bad(file, "model.vocab", "token '" + e.getKey() + "' has id " + e.getValue() + "; ids are integers >= 0");
            }
            ids.put(e.getKey(), e.getValue().asInt());
        }
        Vocabulary vocab = new Vocabulary(ids);
        String unk = text(model, "unk_token", "[UNK]", file, "model.unk_token");
        String prefix = text(model, "continuing_subword_prefix", "##", file, "model.continuing_subword_prefix");
        int maxChars = integer(model, "max_input_chars_per_word", 100, file, "model.max_input_chars_per_word");
        WordPiece wp = new WordPiece(vocab, unk, prefix, maxChars);

        BertNormalizer normalizer = normalizer(root.get("normalizer"), file);
        boolean bertPre = preTokenizer(root.get("pre_tokenizer"), file);

        List<AddedToken> added = new ArrayList<>();
        JsonNode addedNode = root.get("added_tokens");
        if (addedNode != null && !addedNode.isNull()) {
            if (!addedNode.isArray()) throw bad(file, "added_tokens", "must be a list");
            for (int i = 0; i < addedNode.size(); i++) {
                JsonNode t = addedNode.get(i);
                String where = "added_tokens[" + i + "]";
                added.add(new AddedToken(integer(t, "id", -1, file, where + ".id"), requiredText(t, "content", file, where),
                        bool(t, "single_word", false), bool(t, "lstrip", false), bool(t, "rstrip", false),
                        bool(t, "normalized", true), bool(t, "special", false)));
            }
        }
        Template template = postProcessor(root.get("post_processor"), file);
        WordPieceDecoder decoder = decoder(root.get("decoder"), file);
        Tokenizer.SpecialTokenNames names = specialNames(cfg, cfgFile, unk);
        return new Tokenizer(vocab, wp, normalizer, bertPre, added, template, decoder, names, modelMaxLength(cfg),
                cleanUpTokenizationSpaces(cfg));
    }

    private static BertNormalizer normalizer(JsonNode n, Path file) {
        if (n == null || n.isNull()) return null;
        String type = requiredText(n, "type", file, "normalizer");
        if (type.equals("Lowercase")) return BertNormalizer.LOWERCASE_ONLY;
        if (type.equals("Sequence") && n.path("normalizers").isArray()) {
            // sentence-transformers' do_lower_case writes [Lowercase, BertNormalizer]: lowercasing first, then
            // BERT's cleaning with its accent setting (the lowercasing and the mapping commute code point by code point)
            JsonNode list = n.get("normalizers");
            if (list.size() == 1) return normalizer(list.get(0), file);
            if (list.size() == 2 && "Lowercase".equals(list.get(0).path("type").asText())
                    && "BertNormalizer".equals(list.get(1).path("type").asText())) {
                BertNormalizer bert = normalizer(list.get(1), file);
                return new BertNormalizer(bert.cleanText(), bert.handleChineseChars(), bert.stripsAccents(), true);
            }
            throw bad(file, "normalizer", "is a Sequence of " + list.size() + " normalizers; supported: BertNormalizer, "
                    + "Lowercase, or a Sequence of Lowercase then BertNormalizer");
        }
        if (!type.equals("BertNormalizer")) {
            throw bad(file, "normalizer.type", "is '" + type + "'; supported: BertNormalizer, Lowercase (or none)");
        }
        JsonNode strip = n.get("strip_accents");
        if (strip != null && !strip.isNull() && !strip.isBoolean()) throw bad(file, "normalizer.strip_accents", "must be true, false or null");
        return new BertNormalizer(bool(n, "clean_text", true), bool(n, "handle_chinese_chars", true),
                strip == null || strip.isNull() ? null : strip.asBoolean(), bool(n, "lowercase", true));
    }

    private static boolean preTokenizer(JsonNode n, Path file) {
        if (n == null || n.isNull()) return false;
        String type = requiredText(n, "type", file, "pre_tokenizer");
        if (!type.equals("BertPreTokenizer")) {
            throw bad(file, "pre_tokenizer.type", "is '" + type + "'; supported: BertPreTokenizer (or none)");
        }
        return true;
    }

    private static Template postProcessor(JsonNode n, Path file) {
        if (n == null || n.isNull()) return Template.NONE;
        String type = requiredText(n, "type", file, "post_processor");
        switch (type) {
            case "BertProcessing" -> {
                return Template.bert(pairToken(n.get("cls"), file, "post_processor.cls"), pairToken(n.get("sep"), file, "post_processor.sep"));
            }
            case "TemplateProcessing" -> {
                Map<String, Template.SpecialTokens> specials = new LinkedHashMap<>();
                JsonNode st = n.get("special_tokens");
                if (st != null && st.isObject()) {
                    for (Iterator<Map.Entry<String, JsonNode>> it = st.fields(); it.hasNext(); ) {
                        Map.Entry<String, JsonNode> e = it.next();
                        String where = "post_processor.special_tokens." + e.getKey();
                        JsonNode idsNode = e.getValue().get("ids"), toksNode = e.getValue().get("tokens");
                        if (idsNode == null || !idsNode.isArray() || toksNode == null || !toksNode.isArray() || idsNode.size() != toksNode.size()) {
                            throw bad(file, where, "needs lists 'ids' and 'tokens' of the same length");
                        }
                        int[] sIds = new int[idsNode.size()];
                        String[] sToks = new String[toksNode.size()];
                        for (int i = 0; i < sIds.length; i++) {
                            sIds[i] = idsNode.get(i).asInt();
                            sToks[i] = toksNode.get(i).asText();
                        }
                        specials.put(e.getKey(), new Template.SpecialTokens(e.getKey(), sIds, sToks));
                    }
                }
                return new Template(pieces(n.get("single"), specials, file, "post_processor.single"),
                        pieces(n.get("pair"), specials, file, "post_processor.pair"));
            }
            default -> throw bad(file, "post_processor.type", "is '" + type + "'; supported: TemplateProcessing, BertProcessing (or none)");
        }
    }

    private static List<Template.Piece> pieces(JsonNode list, Map<String, Template.SpecialTokens> specials, Path file, String where) {
        if (list == null || !list.isArray()) throw bad(file, where, "must be a list of template pieces");
        List<Template.Piece> out = new ArrayList<>();
        for (JsonNode p : list) {
            if (p.has("Sequence")) {
                String id = p.get("Sequence").path("id").asText();
                int seq = switch (id) {
                    case "A" -> 0;
                    case "B" -> 1;
                    default -> throw bad(file, where, "sequence id '" + id + "' is not A or B");
                };
                out.add(new Template.Piece(seq, null, p.get("Sequence").path("type_id").asInt(0)));
            } else if (p.has("SpecialToken")) {
                String id = p.get("SpecialToken").path("id").asText();
                Template.SpecialTokens s = specials.get(id);
                if (s == null) throw bad(file, where, "special token '" + id + "' is not in post_processor.special_tokens");
                out.add(new Template.Piece(-1, s, p.get("SpecialToken").path("type_id").asInt(0)));
            } else {
                throw bad(file, where, "piece " + p + " is neither a Sequence nor a SpecialToken");
            }
        }
        return out;
    }

    private static Template.SpecialTokens pairToken(JsonNode n, Path file, String where) {
        if (n == null || !n.isArray() || n.size() != 2) throw bad(file, where, "must be [token, id]");
        return new Template.SpecialTokens(n.get(0).asText(), new int[] {n.get(1).asInt()}, new String[] {n.get(0).asText()});
    }

    private static WordPieceDecoder decoder(JsonNode n, Path file) {
        if (n == null || n.isNull()) return null;
        String type = requiredText(n, "type", file, "decoder");
        if (!type.equals("WordPiece")) throw bad(file, "decoder.type", "is '" + type + "'; supported: WordPiece (or none)");
        return new WordPieceDecoder(text(n, "prefix", "##", file, "decoder.prefix"), bool(n, "cleanup", true));
    }

    // ---- vocab.txt -----------------------------------------------------------------------------

    private static Tokenizer fromVocabWithConfig(Path vocabFile, JsonNode cfg, Path cfgFile) {
        BertNormalizer normalizer = BertNormalizer.UNCASED;
        if (cfg != null) {
            boolean lower = cfg.path("do_lower_case").asBoolean(true);
            JsonNode strip = cfg.get("strip_accents");
            normalizer = new BertNormalizer(true, cfg.path("tokenize_chinese_chars").asBoolean(true),
                    strip == null || strip.isNull() ? null : strip.asBoolean(), lower);
        }
        List<String> neverSplit = new ArrayList<>();
        if (cfg != null && cfg.path("never_split").isArray()) cfg.get("never_split").forEach(t -> neverSplit.add(t.asText()));
        return fromVocab(vocabFile, normalizer, specialNames(cfg, cfgFile, "[UNK]"), modelMaxLength(cfg), neverSplit,
                cleanUpTokenizationSpaces(cfg));
    }

    /**
     * A BERT tokenizer as HF's BertTokenizerFast builds one from a vocab.txt: the special tokens
     * as non-normalized added tokens, BERT normalization and pre-tokenization, the [CLS]/[SEP]
     * template and the WordPiece decoder. {@code neverSplit} tokens are kept whole when they
     * stand alone (HF's never_split), matched as single-word added tokens.
     */
    static Tokenizer fromVocab(Path vocabFile, BertNormalizer normalizer, Tokenizer.SpecialTokenNames names, int modelMaxLength,
                               List<String> neverSplit, boolean cleanUpTokenizationSpaces) {
        Map<String, Integer> ids = readVocabTxt(vocabFile);
        Vocabulary vocab = new Vocabulary(ids);
        List<AddedToken> added = new ArrayList<>();
        for (String s : List.of(names.pad(), names.unk(), names.cls(), names.sep(), names.mask())) {
            int id = vocab.id(s);
            if (id >= 0) added.add(AddedToken.special(id, s));
        }
        for (String s : List.of(names.unk(), names.cls(), names.sep())) {
            if (vocab.id(s) < 0) throw new TokenizerException(vocabFile + ": the special token " + s + " is not in the vocabulary");
        }
        int unkId = vocab.id(names.unk());
        for (String s : neverSplit) {
            if (added.stream().noneMatch(t -> t.content().equals(s))) {
                int id = vocab.id(s);
                added.add(new AddedToken(id >= 0 ? id : unkId, s, true, false, false, false, false));
            }
        }
        int cls = vocab.id(names.cls()), sep = vocab.id(names.sep());
        Template template = Template.bert(new Template.SpecialTokens(names.cls(), new int[] {cls}, new String[] {names.cls()}),
                new Template.SpecialTokens(names.sep(), new int[] {sep}, new String[] {names.sep()}));
        return new Tokenizer(vocab, new WordPiece(vocab, names.unk(), "##", 100), normalizer, true, added, template,
                new WordPieceDecoder("##", true), names, modelMaxLength, cleanUpTokenizationSpaces);
    }

    /** vocab.txt: one token per line, the line number its id; trailing whitespace trimmed, as HF's Rust reader does. */
    static Map<String, Integer> readVocabTxt(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new TokenizerException(file + ": vocabulary file not found");
        } catch (IOException e) {
            throw new TokenizerException(file + ": cannot read vocabulary: " + e.getMessage(), e);
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            int line = 1 + (int) countNewlinesBeforeInvalidUtf8(bytes);
            throw new TokenizerException(file + ": not a vocabulary: line " + line + " is not valid UTF-8");
        }
        if (text.indexOf('\0') >= 0) throw new TokenizerException(file + ": not a vocabulary: it contains NUL bytes (a binary file?)");
        Map<String, Integer> ids = new LinkedHashMap<>();
        int id = 0, start = 0;
        while (start < text.length()) {
            int nl = text.indexOf('\n', start);
            int end = nl < 0 ? text.length() : nl;
            ids.put(trimEnd(text.substring(start, end)), id++);
            start = end + 1;
        }
        if (ids.isEmpty()) throw new TokenizerException(file + ": the vocabulary is empty");
        return ids;
    }

    private static long countNewlinesBeforeInvalidUtf8(byte[] b) {
        var dec = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT);
        int lo = 0, hi = b.length;
        // The longest valid prefix, found by bisection; lines are counted up to it.
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            try {
                dec.reset();
                dec.decode(ByteBuffer.wrap(b, 0, mid));
                lo = mid;
            } catch (CharacterCodingException e) {
                hi = mid - 1;
            }
        }
        long n = 0;
        for (int i = 0; i < lo; i++) if (b[i] == '\n') n++;
        return n;
    }

    private static String trimEnd(String s) {
        int e = s.length();
        while (e > 0 && CharClasses.isWhitespace(s.codePointBefore(e))) e -= Character.charCount(s.codePointBefore(e));
        return s.substring(0, e);
    }

    // ---- tokenizer_config.json ------------------------------------------------------------------

    private static Tokenizer.SpecialTokenNames specialNames(JsonNode cfg, Path cfgFile, String unkDefault) {
        Tokenizer.SpecialTokenNames d = Tokenizer.SpecialTokenNames.BERT;
        if (cfg == null) return new Tokenizer.SpecialTokenNames(unkDefault, d.sep(), d.pad(), d.cls(), d.mask());
        return new Tokenizer.SpecialTokenNames(special(cfg, "unk_token", unkDefault, cfgFile), special(cfg, "sep_token", d.sep(), cfgFile),
                special(cfg, "pad_token", d.pad(), cfgFile), special(cfg, "cls_token", d.cls(), cfgFile),
                special(cfg, "mask_token", d.mask(), cfgFile));
    }

    /** A special token in tokenizer_config.json is a string or an AddedToken object with "content". */
    private static String special(JsonNode cfg, String key, String fallback, Path cfgFile) {
        JsonNode n = cfg.get(key);
        if (n == null || n.isNull()) return fallback;
        if (n.isTextual()) return n.asText();
        if (n.isObject() && n.path("content").isTextual()) return n.get("content").asText();
        throw bad(cfgFile, key, "must be a string or an object with 'content'");
    }

    private static int modelMaxLength(JsonNode cfg) {
        if (cfg == null || !cfg.path("model_max_length").isNumber()) return 512;
        double v = cfg.get("model_max_length").asDouble();
        return v >= Integer.MAX_VALUE ? Integer.MAX_VALUE : (int) v; // HF writes 1e30 for "no limit"
    }

    /** transformers' clean_up_tokenization_spaces; false when absent, as transformers 5 takes it. */
    private static boolean cleanUpTokenizationSpaces(JsonNode cfg) {
        return cfg != null && cfg.path("clean_up_tokenization_spaces").asBoolean(false);
    }

    // ---- JSON helpers ---------------------------------------------------------------------------

    static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (JsonProcessingException e) {
            var loc = e.getLocation();
            throw new TokenizerException(file + ": not valid JSON" + (loc == null ? "" : " at line " + loc.getLineNr() + ", column " + loc.getColumnNr())
                    + ": " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            if (!Files.exists(file)) throw new TokenizerException(file + ": file not found", e);
            throw new TokenizerException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static TokenizerException bad(Path file, String field, String what) {
        return new TokenizerException(file + ": " + (field.isEmpty() ? "" : field + " ") + what);
    }

    private static String text(JsonNode n, String key, String fallback, Path file, String where) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) return fallback;
        if (!v.isTextual()) throw bad(file, where, "must be a string, got " + v);
        return v.asText();
    }

    private static String requiredText(JsonNode n, String key, Path file, String where) {
        String s = n == null ? null : text(n, key, null, file, where + "." + key);
        if (s == null) throw bad(file, where + "." + key, "is missing");
        return s;
    }

    private static int integer(JsonNode n, String key, int fallback, Path file, String where) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            if (fallback < 0) throw bad(file, where, "is missing");
            return fallback;
        }
        if (!v.canConvertToInt()) throw bad(file, where, "must be an integer, got " + v);
        return v.asInt();
    }

    private static boolean bool(JsonNode n, String key, boolean fallback) {
        JsonNode v = n.get(key);
        return v == null || v.isNull() ? fallback : v.asBoolean();
    }
}
