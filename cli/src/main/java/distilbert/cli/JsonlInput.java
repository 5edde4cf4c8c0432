package distilbert.cli;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import distilbert.model.ZeroShotClassification;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The rows of a JSONL input, one JSON object per line: {@code {"text": "...", "text_pair": "..."}}
 * ({@code text_pair} absent or null: a single sequence; other keys are ignored), or other
 * {@link Keys} ({@code {"question": "...", "context": "..."}}, {@code {"prompt": "...", "choices": ["...", ...]}}),
 * read in batches so that any input
 * size fits in bounded memory.
 *
 * <p>Bytes that are not UTF-8 become U+FFFD, one per maximal ill-formed subpart, as the Unicode
 * standard recommends ({@link Utf8Lines}); a leading byte order mark is dropped. Lines end at
 * {@code \n} or {@code \r\n}. A line that is blank or not such an object ends the input: {@link #readBatch} returns
 * the rows before it, and the next call throws a {@link CliException} naming the input and the line,
 * so that a command has written everything before the bad line when it stops.
 */
final class JsonlInput implements AutoCloseable {
    /**
     * One input row; {@code line} counts from 1, {@code pair} is null for a single sequence;
     * {@code choices} is null but for {@link Keys#PROMPT_CHOICES} rows (text is then the prompt).
     */
    record Row(long line, String text, String pair, List<String> choices, Map<String, Object> options) {
        Row(long line, String text, String pair) {
            this(line, text, pair, null, Map.of());
        }

        /** The line's value of an option key ({@link Keys#options}): a String or a Boolean; null where absent. */
        Object option(String key) {
            return options.get(key);
        }
    }

    /**
     * The keys a row's two values are read from. {@code required}: both must be there (question
     * answering: as non-empty strings); otherwise the second may be absent or null. {@code choices}:
     * the second is a non-empty list of strings (multiple choice; the prompt and the choices may be
     * empty strings, as HF's tokenizer takes them), or, with {@code commaList}, also one string of
     * comma-separated items (zero-shot's candidate labels, split as HF's pipeline splits them);
     * {@code defaultChoices}, when not null, stand in for an absent second. {@code pairName} names the
     * (first, choice) rows in notes, such as "(prompt, choice)". {@code emptyChoices}: an empty list
     * is a row of no pairs (rerank: no documents, an empty ranking), not an error.
     */
    record Keys(String first, String second, boolean required, boolean choices, List<String> defaultChoices,
                boolean commaList, String pairName, Map<String, Class<?>> options, OptionCheck check, boolean emptyChoices) {
        static final Keys TEXT = new Keys("text", "text_pair", false, false, null, false, null, Map.of(), null, false);
        static final Keys QUESTION_CONTEXT = new Keys("question", "context", true, false, null, false, null, Map.of(), null, false);
        static final Keys PROMPT_CHOICES = new Keys("prompt", "choices", true, true, null, false, "(prompt, choice)", Map.of(),
                null, false);

        /** Zero-shot's per-line options, as HF's pipeline takes them per call. */
        static final String TEMPLATE = "hypothesis_template", MULTI_LABEL = "multi_label";

        /**
         * Zero-shot rows: a text and its candidate labels (a list, or one comma-separated string),
         * {@code defaults} when absent; optionally the line's own hypothesis_template (a string,
         * checked by {@code checkTemplate}) and multi_label (true or false).
         */
        static Keys zeroShot(List<String> defaults, OptionCheck checkTemplate) {
            return new Keys("text", "candidate_labels", false, true, defaults == null ? null : List.copyOf(defaults), true,
                    "(text, hypothesis)", Map.of(TEMPLATE, String.class, MULTI_LABEL, Boolean.class), checkTemplate, false);
        }

        /** Checks a line's option values: null when they are fine, else what is wrong. */
        @FunctionalInterface
        interface OptionCheck {
            String check(Map<String, Object> options);
        }

        /** What every line must hold, for error messages. */
        String expected() {
            if (commaList) {
                return "a \"" + first + "\" string" + (defaultChoices == null ? " and" : ", and optionally,") + " \"" + second
                        + "\" (a list of strings, or one string of comma-separated ones)";
            }
            if (choices) return "a \"" + first + "\" string and a \"" + second + "\" list of strings";
            return required ? "\"" + first + "\" and \"" + second + "\" strings" : "a \"" + first + "\" string";
        }
    }

    private static final JsonFactory JSON = JsonFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    private final String name;
    private final Keys keys;
    private final boolean ownsStream;
    private final long size;
    private final InputStream stream;
    private final Utf8Lines lines;
    private long line;
    private CliException pending;
    private boolean done;

    private JsonlInput(String name, Keys keys, boolean ownsStream, long size, InputStream in) {
        this.name = name;
        this.keys = keys;
        this.ownsStream = ownsStream;
        this.size = size;
        this.stream = in;
        this.lines = new Utf8Lines(in);
    }

    /** Opens {@code file}, or reads {@code stdin} when file is null or "-": rows of {@link Keys#TEXT}. */
    static JsonlInput open(Path file, InputStream stdin) {
        return open(file, stdin, Keys.TEXT);
    }

    /** Opens {@code file}, or reads {@code stdin} when file is null or "-": rows of {@code keys}. */
    static JsonlInput open(Path file, InputStream stdin, Keys keys) {
        if (file == null || file.toString().equals("-")) return new JsonlInput("stdin", keys, false, -1, stdin);
        if (Files.isDirectory(file)) throw new CliException(file + ": is a directory, not a JSONL file");
        try {
            long size = Files.isRegularFile(file) ? Files.size(file) : -1;
            return new JsonlInput(file.toString(), keys, true, size, Files.newInputStream(file));
        } catch (IOException e) {
            throw new CliException(Main.describe(e), e);
        }
    }

    /** Rows of {@code keys} in {@code bytes} (an HTTP request's body), named {@code name} in errors. */
    static JsonlInput of(String name, byte[] bytes, Keys keys) {
        return new JsonlInput(name, keys, false, bytes.length, new java.io.ByteArrayInputStream(bytes));
    }

    /** The file as given on the command line, or "stdin". */
    String name() {
        return name;
    }

    /** The input's size in bytes; -1 when unknown (stdin, a pipe). */
    long size() {
        return size;
    }

    /** Bytes consumed so far (read ahead by up to one buffer). */
    long bytesRead() {
        return lines.bytesRead();
    }

    /**
     * The next rows, at most {@code max}; empty at the end of the input.
     *
     * @throws CliException for the bad line that ended the rows returned by the previous call
     */
    List<Row> readBatch(int max) {
        if (pending != null) {
            CliException e = pending;
            pending = null;
            done = true;
            throw e;
        }
        List<Row> rows = new ArrayList<>(Math.min(max, 1024));
        while (!done && rows.size() < max) {
            String text;
            try {
                text = lines.readLine();
            } catch (IOException e) {
                throw new CliException("cannot read " + name + ": " + Main.describe(e), e);
            }
            if (text == null) {
                done = true;
                break;
            }
            line++;
            if (line == 1 && text.startsWith("\uFEFF")) text = text.substring(1);
            try {
                rows.add(parse(line, text));
            } catch (CliException e) {
                if (rows.isEmpty()) {
                    done = true;
                    throw e;
                }
                pending = e;
                break;
            }
        }
        return rows;
    }

    private Row parse(long n, String text) {
        if (text.isBlank()) throw bad(n, "blank line; every line must be a JSON object with " + keys.expected());
        String first = null, second = null;
        List<String> choices = null;
        Map<String, Object> options = Map.of();
        try (JsonParser p = JSON.createParser(text)) {
            JsonToken t = p.nextToken();
            if (t != JsonToken.START_OBJECT) throw bad(n, "expected a JSON object, found " + describe(t));
            boolean hasFirst = false;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                JsonToken v = p.nextToken();
                if (key.equals(keys.first())) {
                    if (v != JsonToken.VALUE_STRING) throw bad(n, "\"" + key + "\" must be a string, found " + describe(v));
                    first = p.getText();
                    hasFirst = true;
                } else if (key.equals(keys.second()) && keys.commaList() && v == JsonToken.VALUE_STRING) {
                    choices = ZeroShotClassification.parseLabels(p.getText());
                } else if (key.equals(keys.second()) && keys.choices()) {
                    if (v != JsonToken.START_ARRAY) {
                        throw bad(n, "\"" + key + "\" must be a list of strings" + (keys.commaList() ? " or a string" : "")
                                + ", found " + describe(v));
                    }
                    choices = new ArrayList<>();
                    while ((v = p.nextToken()) != JsonToken.END_ARRAY) {
                        if (v != JsonToken.VALUE_STRING) {
                            throw bad(n, "\"" + key + "\" must be a list of strings, but item " + choices.size() + " is " + describe(v));
                        }
                        choices.add(p.getText());
                    }
                } else if (keys.options().containsKey(key)) {
                    Class<?> type = keys.options().get(key);
                    if (v == JsonToken.VALUE_NULL) continue;
                    Object value;
                    if (type == String.class && v == JsonToken.VALUE_STRING) value = p.getText();
                    else if (type == Boolean.class && (v == JsonToken.VALUE_TRUE || v == JsonToken.VALUE_FALSE)) value = v == JsonToken.VALUE_TRUE;
                    else {
                        throw bad(n, "\"" + key + "\" must be " + (type == String.class ? "a string" : "true or false") + ", found "
                                + describe(v));
                    }
                    if (options.isEmpty()) options = new HashMap<>();
                    options.put(key, value);
                } else if (key.equals(keys.second())) {
                    if (v == JsonToken.VALUE_STRING) second = p.getText();
                    else if (keys.required()) throw bad(n, "\"" + key + "\" must be a string, found " + describe(v));
                    else if (v != JsonToken.VALUE_NULL) throw bad(n, "\"" + key + "\" must be a string or null, found " + describe(v));
                } else {
                    p.skipChildren();
                }
            }
            if (p.nextToken() != null) throw bad(n, "more after the JSON object; put one object per line");
            if (!hasFirst) throw bad(n, "missing \"" + keys.first() + "\"");
            if (keys.choices()) {
                if (choices == null && keys.defaultChoices() != null) choices = keys.defaultChoices();
                if (choices == null) {
                    throw bad(n, "missing \"" + keys.second() + "\"" + (keys.commaList() ? " (or give them all with --labels)" : ""));
                }
                if (choices.isEmpty() && !keys.emptyChoices()) throw bad(n, "\"" + keys.second() + "\" is empty; give at least one");
            } else if (keys.required()) {
                if (second == null) throw bad(n, "missing \"" + keys.second() + "\"");
                if (first.isEmpty()) throw bad(n, "\"" + keys.first() + "\" is empty");
                if (second.isEmpty()) throw bad(n, "\"" + keys.second() + "\" is empty");
            }
        } catch (JsonParseException e) {
            var loc = e.getLocation();
            throw bad(n, "not valid JSON" + (loc == null || loc.getColumnNr() < 1 ? "" : " at column " + loc.getColumnNr())
                    + ": " + e.getOriginalMessage());
        } catch (JsonProcessingException e) {
            throw bad(n, "not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new AssertionError("reading a String", e);
        }
        if (!options.isEmpty() && keys.check() != null) {
            String wrong = keys.check().check(options);
            if (wrong != null) throw bad(n, wrong);
        }
        return new Row(n, first, second, choices == null ? null : List.copyOf(choices), Map.copyOf(options));
    }

    private CliException bad(long n, String what) {
        return new CliException(name + " line " + n + ": " + what);
    }

    private static String describe(JsonToken t) {
        if (t == null) return "nothing";
        return switch (t) {
            case START_OBJECT -> "an object";
            case START_ARRAY -> "an array";
            case VALUE_STRING -> "a string";
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "a number";
            case VALUE_TRUE, VALUE_FALSE -> "a boolean";
            case VALUE_NULL -> "null";
            default -> t.asString() == null ? t.name() : t.asString();
        };
    }

    /** Closes a file; stdin is left open for its owner. */
    @Override
    public void close() throws IOException {
        if (ownsStream) stream.close();
    }
}
