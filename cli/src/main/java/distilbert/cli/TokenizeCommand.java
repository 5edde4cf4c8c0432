package distilbert.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import distilbert.cli.JsonlInput.Row;
import distilbert.tokenizer.Direction;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Padding;
import distilbert.tokenizer.Tokenizer;
import distilbert.tokenizer.TokenizerException;
import distilbert.tokenizer.Truncation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code distilbert tokenize}: JSONL text in, token ids, masks and offsets out, one line per input
 * line in input order, exactly as HuggingFace's tokenizers encode them. Rows are read, encoded (on
 * all cores) and written {@code --batch-size} at a time, so memory stays bounded for any input.
 */
@Command(name = "tokenize", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, sortOptions = false,
        usageHelpWidth = 100,
        description = {
            "Tokenize JSONL text with a BERT WordPiece tokenizer, token for token as HuggingFace's tokenizers do.",
            "",
            "Input: one JSON object per line, {\"text\": \"...\", \"text_pair\": \"...\"}; text_pair is optional "
                    + "(absent or null: a single sequence), other keys are ignored. Bytes that are not UTF-8 become U+FFFD. "
                    + "A blank or malformed line stops the command with an error naming the line, after the lines before it "
                    + "have been written.",
            "Output: one line per input line, in input order: "
                    + "{\"input_ids\": [...], \"token_type_ids\": [...], \"attention_mask\": [...], "
                    + "\"special_tokens_mask\": [...], \"offsets\": [[start, end], ...]}; offsets count Unicode code points "
                    + "of text (or text_pair, for its tokens), end exclusive, [0, 0] for [CLS], [SEP] and [PAD].",
            "Truncation and padding are off unless asked for here, whatever the tokenizer.json says.",
            ""},
        footer = {"",
            "Examples:",
            "  distilbert tokenize --tokenizer models/distilbert-base-uncased --input in.jsonl --output out.jsonl",
            "  echo '{\"text\": \"Hello world!\"}' | distilbert tokenize --tokenizer vocab.txt",
            "  distilbert tokenize --tokenizer tokenizer.json --max-length 128 --padding max_length < in.jsonl",
            "  distilbert tokenize --tokenizer tokenizer.json --max-length 384 --stride 128 --overflowing < qa.jsonl",
            "  distilbert tokenize --tokenizer tokenizer.json --max-length 512 --stride 128 --overflowing --windows whole < docs.jsonl",
            "",
            "Exit codes: 0 done, 1 failed (unreadable tokenizer or input, bad input line, unwritable output), 2 usage error."})
final class TokenizeCommand implements Callable<Integer>, Main.Verbose {
    static final int DEFAULT_BATCH_SIZE = 1024;

    /** --truncation: HF's names, and none. */
    enum TruncationChoice {
        LONGEST_FIRST, ONLY_FIRST, ONLY_SECOND, NONE;

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** --padding: HF's names, and none. */
    enum PaddingChoice {
        LONGEST, MAX_LENGTH, NONE;

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** --truncation-side, --padding-side. */
    enum Side {
        LEFT, RIGHT;

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }

        Direction direction() {
            return this == LEFT ? Direction.LEFT : Direction.RIGHT;
        }
    }

    /** --windows: the release of HF's tokenizers whose truncation to match: 0.23's windows cover only the start of a long sequence. */
    enum WindowsChoice {
        TOKENIZERS_0_23("tokenizers-0.23"), WHOLE("whole");

        private final String label;

        WindowsChoice(String label) {
            this.label = label;
        }

        @Override
        public String toString() {
            return label;
        }
    }

    /** Parses the lower-case names that toString gives, and lists them when a value is none of them. */
    static <E extends Enum<E>> E choice(E[] values, String s) {
        for (E e : values) if (e.toString().equals(s)) return e;
        throw new CommandLine.TypeConversionException("expected one of "
                + java.util.Arrays.stream(values).map(Object::toString).collect(java.util.stream.Collectors.joining(", ")) + ", got '" + s + "'");
    }

    static final class TruncationConverter implements CommandLine.ITypeConverter<TruncationChoice> {
        @Override
        public TruncationChoice convert(String s) {
            return choice(TruncationChoice.values(), s);
        }
    }

    static final class PaddingConverter implements CommandLine.ITypeConverter<PaddingChoice> {
        @Override
        public PaddingChoice convert(String s) {
            return choice(PaddingChoice.values(), s);
        }
    }

    static final class SideConverter implements CommandLine.ITypeConverter<Side> {
        @Override
        public Side convert(String s) {
            return choice(Side.values(), s);
        }
    }

    static final class WindowsConverter implements CommandLine.ITypeConverter<WindowsChoice> {
        @Override
        public WindowsChoice convert(String s) {
            return choice(WindowsChoice.values(), s);
        }
    }

    @ParentCommand
    private Main main;

    @Spec
    private CommandSpec spec;

    @Option(names = "--tokenizer", required = true, paramLabel = "PATH",
            description = "A tokenizer.json, a vocab.txt, or a model directory holding one of them "
                    + "(with tokenizer_config.json, when present, for model_max_length and casing).")
    private Path tokenizerPath;

    @Option(names = "--input", paramLabel = "FILE", description = "JSONL to read. Default (or -): stdin.")
    private Path input;

    @Option(names = "--output", paramLabel = "FILE", description = "JSONL to write. Default (or -): stdout.")
    private Path output;

    @Option(names = "--max-length", paramLabel = "N",
            description = "Truncate to N tokens, special tokens included (and pad to N with --padding max_length). "
                    + "Given without --truncation, it turns on longest_first truncation, as HF's tokenizer(..., max_length=N) "
                    + "does when it does not pad; here it does so with padding too (--truncation none keeps long rows whole).")
    private Integer maxLength;

    @Option(names = "--truncation", paramLabel = "STRATEGY", converter = TruncationConverter.class,
            description = "${COMPLETION-CANDIDATES}. longest_first cuts the longer sequence of a pair first; only_first "
                    + "and only_second cut one of them (a row they cannot bring down to the length is an error). "
                    + "Default: none, or longest_first when --max-length is given. Without --max-length, the length is the "
                    + "tokenizer's model_max_length (512 when tokenizer_config.json does not say).")
    private TruncationChoice truncation;

    @Option(names = "--stride", paramLabel = "N",
            description = "Tokens by which the windows that truncation cuts off overlap (see --overflowing). Needs truncation. Default: 0.")
    private Integer stride;

    @Option(names = "--truncation-side", paramLabel = "SIDE", converter = SideConverter.class,
            description = "${COMPLETION-CANDIDATES}. right (default) cuts the end off and keeps the start; left keeps the end. Needs truncation.")
    private Side truncationSide;

    @Option(names = "--windows", paramLabel = "KIND", converter = WindowsConverter.class,
            description = "${COMPLETION-CANDIDATES}: the release of HF's tokenizers whose truncation to match; it decides how "
                    + "much of a long sequence the windows cut off (--overflowing) cover. tokenizers-0.23 (default) matches the "
                    + "current release, 0.23, token for token, bug included: it stops tokenizing a sequence at the truncation "
                    + "length (finishing the word), so the windows cover only about that many of its tokens (from the start, or "
                    + "the end with --truncation-side left) and the rest is lost (huggingface/tokenizers#2091); longest_first "
                    + "also compares a pair's sequences by those cut lengths, which can shift a token of the first window from "
                    + "one to the other. whole tokenizes all of every sequence, as tokenizers 0.22 did, so the windows cover all "
                    + "of it, as ner and qa read long texts. Needs truncation.")
    private WindowsChoice windows;

    @Option(names = "--padding", paramLabel = "STRATEGY", converter = PaddingConverter.class,
            description = "${COMPLETION-CANDIDATES}. longest pads every row to the longest row of its batch of --batch-size rows; "
                    + "max_length pads to --max-length. Pads have attention_mask 0. Default: none.")
    private PaddingChoice padding;

    @Option(names = "--pad-to-multiple-of", paramLabel = "N", description = "Round the padded length up to a multiple of N. Needs --padding.")
    private Integer padToMultipleOf;

    @Option(names = "--padding-side", paramLabel = "SIDE", converter = SideConverter.class,
            description = "${COMPLETION-CANDIDATES}: the side pads go on. Default: right. Needs --padding.")
    private Side paddingSide;

    @Option(names = "--no-special-tokens", description = "Do not add [CLS] and [SEP].")
    private boolean noSpecialTokens;

    @Option(names = "--overflowing",
            description = "Add an \"overflowing\" key after offsets: the windows that truncation cut off, in HF's order, "
                    + "each an object with the same keys (so with its own \"overflowing\").")
    private boolean overflowing;

    @Option(names = "--batch-size", paramLabel = "N", defaultValue = "" + DEFAULT_BATCH_SIZE,
            description = "Rows read, encoded on all cores and written at a time; also the group that --padding longest "
                    + "pads within. Default: ${DEFAULT-VALUE}.")
    private int batchSize;

    @Option(names = "--verbose", description = "Print the stack trace of an error.")
    private boolean verbose;

    @Override
    public boolean verbose() {
        return verbose;
    }

    int batchSize() {
        return batchSize;
    }

    @Override
    public Integer call() throws IOException {
        Main.Io io = main.io();
        checkOptions();
        Tokenizer tokenizer = Tokenizer.fromPretrained(tokenizerPath);
        EncodeOptions options = encodeOptions(tokenizer.modelMaxLength());
        try (JsonlInput in = JsonlInput.open(input, io.in());
             JsonlOutput out = JsonlOutput.open(output, io.out());
             Progress progress = io.errIsTerminal() ? Progress.on(io.err(), "tokenize", in.size(), in::bytesRead) : Progress.off()) {
            for (List<Row> batch; !(batch = in.readBatch(batchSize)).isEmpty(); ) {
                List<Encoding> encodings = encode(tokenizer, batch, options, in.name(), out);
                write(out, encodings);
                progress.advance(batch.size(), encodings.stream().mapToLong(TokenizeCommand::tokens).sum());
            }
        }
        return Main.OK;
    }

    /** The checks that need no tokenizer: a usage error before anything is loaded. */
    void checkOptions() {
        if (batchSize < 1) throw usage("--batch-size must be at least 1, got " + batchSize);
        if (maxLength != null && maxLength < 1) throw usage("--max-length must be at least 1, got " + maxLength);
        if (stride != null && stride < 0) throw usage("--stride must be 0 or more, got " + stride);
        if (padToMultipleOf != null && padToMultipleOf < 1) throw usage("--pad-to-multiple-of must be at least 1, got " + padToMultipleOf);
        TruncationChoice t = truncationChoice();
        PaddingChoice p = padding == null ? PaddingChoice.NONE : padding;
        if (t == TruncationChoice.NONE) {
            if (stride != null) throw usage("--stride needs truncation (--max-length or --truncation)");
            if (truncationSide != null) throw usage("--truncation-side needs truncation (--max-length or --truncation)");
            if (windows != null) throw usage("--windows needs truncation (--max-length or --truncation)");
            if (maxLength != null && p != PaddingChoice.MAX_LENGTH) {
                throw usage("--max-length has no effect with --truncation none unless --padding max_length");
            }
        }
        if (p == PaddingChoice.MAX_LENGTH && maxLength == null) throw usage("--padding max_length needs --max-length");
        if (p == PaddingChoice.NONE) {
            if (padToMultipleOf != null) throw usage("--pad-to-multiple-of needs --padding longest or max_length");
            if (paddingSide != null) throw usage("--padding-side needs --padding longest or max_length");
        }
        if (stride != null && maxLength != null && stride >= maxLength) {
            throw usage("--stride " + stride + " must be smaller than --max-length " + maxLength);
        }
        if (input != null && output != null && !input.toString().equals("-") && !output.toString().equals("-")) {
            try {
                if (Files.exists(output) && Files.isSameFile(input, output)) throw usage("--input and --output are the same file");
            } catch (IOException e) {
                // One of them cannot be looked at: opening it says why.
            }
        }
    }

    private TruncationChoice truncationChoice() {
        if (truncation != null) return truncation;
        return maxLength != null ? TruncationChoice.LONGEST_FIRST : TruncationChoice.NONE;
    }

    /** The options as the tokenizer takes them; {@code modelMaxLength} when truncation has no --max-length. */
    EncodeOptions encodeOptions(int modelMaxLength) {
        Truncation t = null;
        TruncationChoice tc = truncationChoice();
        if (tc != TruncationChoice.NONE) {
            int length = maxLength != null ? maxLength : modelMaxLength;
            int s = stride == null ? 0 : stride;
            if (s >= length) throw usage("--stride " + s + " must be smaller than the tokenizer's model_max_length " + length);
            Truncation.Strategy strategy = switch (tc) {
                case LONGEST_FIRST -> Truncation.Strategy.LONGEST_FIRST;
                case ONLY_FIRST -> Truncation.Strategy.ONLY_FIRST;
                case ONLY_SECOND -> Truncation.Strategy.ONLY_SECOND;
                case NONE -> throw new AssertionError();
            };
            t = new Truncation(strategy, length, s, truncationSide == null ? Direction.RIGHT : truncationSide.direction(),
                    windows == WindowsChoice.WHOLE);
        }
        Padding p = null;
        if (padding != null && padding != PaddingChoice.NONE) {
            Direction side = paddingSide == null ? Direction.RIGHT : paddingSide.direction();
            int multiple = padToMultipleOf == null ? 0 : padToMultipleOf;
            p = padding == PaddingChoice.LONGEST ? new Padding(Padding.Strategy.LONGEST, 0, multiple, side)
                    : new Padding(Padding.Strategy.MAX_LENGTH, maxLength, multiple, side);
        }
        return new EncodeOptions(!noSpecialTokens, t, p);
    }

    /**
     * Encodes one batch. When a row cannot be encoded (a truncation that cannot reach the length),
     * the rows before it are encoded and written, as for a malformed line, and the error names the line.
     */
    private List<Encoding> encode(Tokenizer tokenizer, List<Row> batch, EncodeOptions options, String inputName, JsonlOutput out) {
        try {
            return tokenizer.encodeBatch(batch.stream().map(Row::text).toList(), batch.stream().map(Row::pair).toList(), options);
        } catch (TokenizerException e) {
            // encodeBatch does not say which row failed: find the first, one row at a time.
            EncodeOptions unpadded = options.withPadding(null);
            for (int i = 0; i < batch.size(); i++) {
                Row r = batch.get(i);
                try {
                    tokenizer.encode(r.text(), r.pair(), unpadded);
                } catch (TokenizerException rowError) {
                    if (i > 0) {
                        List<Row> before = batch.subList(0, i);
                        write(out, tokenizer.encodeBatch(before.stream().map(Row::text).toList(), before.stream().map(Row::pair).toList(), options));
                    }
                    throw new CliException(inputName + " line " + r.line() + ": " + rowError.getMessage(), rowError);
                }
            }
            throw e;
        }
    }

    /** Real (not pad) tokens, overflowing windows included: what tokens/s counts. */
    private static long tokens(Encoding e) {
        long n = 0;
        for (int m : e.attentionMask()) n += m;
        for (Encoding o : e.overflowing()) n += tokens(o);
        return n;
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    /** One encoding as a JSON object: the five keys in HF's order (and {@code overflowing} when asked). */
    private void object(JsonGenerator gen, Encoding e) throws IOException {
        gen.writeStartObject();
        array(gen, "input_ids", e.ids());
        array(gen, "token_type_ids", e.typeIds());
        array(gen, "attention_mask", e.attentionMask());
        array(gen, "special_tokens_mask", e.specialTokensMask());
        gen.writeArrayFieldStart("offsets");
        for (int[] o : e.codePointOffsets()) gen.writeArray(o, 0, 2);
        gen.writeEndArray();
        if (overflowing) {
            gen.writeArrayFieldStart("overflowing");
            for (Encoding o : e.overflowing()) object(gen, o);
            gen.writeEndArray();
        }
        gen.writeEndObject();
    }

    private static void array(JsonGenerator gen, String key, int[] values) throws IOException {
        gen.writeFieldName(key);
        gen.writeArray(values, 0, values.length);
    }

    private void write(JsonlOutput out, List<Encoding> encodings) {
        out.write(encodings, this::object, e -> 32 * e.length() + 128);
    }
}
