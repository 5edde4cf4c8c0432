package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.tokenizer.Direction;
import distilbert.tokenizer.EncodeOptions;
import distilbert.tokenizer.Padding;
import distilbert.tokenizer.Truncation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The command line of {@code distilbert tokenize}: defaults, usage errors, help and version. */
class OptionsTest {
    @TempDir
    static Path dir;

    /** The options as parsed and resolved, without running anything (model_max_length 512). */
    static TokenizeCommand parse(String... args) {
        TokenizeCommand cmd = new TokenizeCommand();
        List<String> all = new ArrayList<>(List.of("--tokenizer", "unused"));
        all.addAll(List.of(args));
        new CommandLine(cmd).parseArgs(all.toArray(String[]::new));
        cmd.checkOptions();
        return cmd;
    }

    @Test
    void defaultsAreSpecialTokensNoTruncationNoPaddingBatchesOf1024() {
        TokenizeCommand cmd = parse();
        assertEquals(new EncodeOptions(true, null, null), cmd.encodeOptions(512));
        assertEquals(1024, cmd.batchSize());
    }

    @Test
    void maxLengthAloneMeansLongestFirstOnTheRight() {
        assertEquals(new Truncation(Truncation.Strategy.LONGEST_FIRST, 64, 0, Direction.RIGHT), parse("--max-length", "64").encodeOptions(512).truncation());
        assertNull(parse("--max-length", "64").encodeOptions(512).padding());
    }

    @Test
    void truncationWithoutMaxLengthTakesTheModelMaxLength() {
        assertEquals(new Truncation(Truncation.Strategy.ONLY_SECOND, 300, 0, Direction.RIGHT),
                parse("--truncation", "only_second").encodeOptions(300).truncation());
        assertEquals(new Truncation(Truncation.Strategy.ONLY_FIRST, 32, 4, Direction.LEFT),
                parse("--truncation", "only_first", "--max-length", "32", "--stride", "4", "--truncation-side", "left").encodeOptions(512).truncation());
        assertNull(parse("--truncation", "none").encodeOptions(512).truncation());
    }

    @Test
    void windowsAreTokenizers023sUnlessWholeIsAsked() {
        Truncation t023 = new Truncation(Truncation.Strategy.LONGEST_FIRST, 64, 8, Direction.RIGHT, false);
        assertEquals(t023, parse("--max-length", "64", "--stride", "8").encodeOptions(512).truncation());
        assertEquals(t023, parse("--max-length", "64", "--stride", "8", "--windows", "tokenizers-0.23").encodeOptions(512).truncation());
        assertEquals(t023.withWholeSequences(true), parse("--max-length", "64", "--stride", "8", "--windows", "whole").encodeOptions(512).truncation());
        assertEquals(new Truncation(Truncation.Strategy.ONLY_SECOND, 300, 0, Direction.RIGHT, true),
                parse("--truncation", "only_second", "--windows", "whole").encodeOptions(300).truncation());
    }

    @Test
    void paddingOptions() {
        assertEquals(new Padding(Padding.Strategy.LONGEST, 0, 0, Direction.RIGHT), parse("--padding", "longest").encodeOptions(512).padding());
        EncodeOptions o = parse("--padding", "max_length", "--max-length", "50", "--pad-to-multiple-of", "8", "--padding-side", "left")
                .encodeOptions(512);
        assertEquals(new Padding(Padding.Strategy.MAX_LENGTH, 50, 8, Direction.LEFT), o.padding());
        assertEquals(Truncation.longestFirst(50), o.truncation());
        EncodeOptions padOnly = parse("--padding", "max_length", "--max-length", "50", "--truncation", "none").encodeOptions(512);
        assertNull(padOnly.truncation());
        assertNull(parse("--padding", "none").encodeOptions(512).padding());
    }

    @Test
    void noSpecialTokens() {
        assertEquals(new EncodeOptions(false, null, null), parse("--no-special-tokens").encodeOptions(512));
    }

    private static void assertUsageError(String message, String... args) {
        Cli.assertUsageError("tokenize", message, args);
    }

    @Test
    void usageErrorsExitWith2AndSayWhatIsWrong() {
        String tok = "--tokenizer=whatever.json";
        assertUsageError("Missing required option: '--tokenizer=PATH'");
        assertUsageError("--padding max_length needs --max-length", tok, "--padding", "max_length");
        assertUsageError("--stride needs truncation (--max-length or --truncation)", tok, "--stride", "4");
        assertUsageError("--stride needs truncation (--max-length or --truncation)", tok, "--stride", "4", "--truncation", "none",
                "--padding", "max_length", "--max-length", "8");
        assertUsageError("--truncation-side needs truncation (--max-length or --truncation)", tok, "--truncation-side", "left");
        assertUsageError("--windows needs truncation (--max-length or --truncation)", tok, "--windows", "whole");
        assertUsageError("--windows needs truncation (--max-length or --truncation)", tok, "--windows", "tokenizers-0.23",
                "--truncation", "none", "--padding", "max_length", "--max-length", "8");
        assertUsageError("--max-length has no effect with --truncation none unless --padding max_length", tok, "--max-length", "8",
                "--truncation", "none");
        assertUsageError("--pad-to-multiple-of needs --padding longest or max_length", tok, "--pad-to-multiple-of", "8");
        assertUsageError("--padding-side needs --padding longest or max_length", tok, "--padding-side", "left");
        assertUsageError("--batch-size must be at least 1, got 0", tok, "--batch-size", "0");
        assertUsageError("--max-length must be at least 1, got 0", tok, "--max-length", "0");
        assertUsageError("--stride must be 0 or more, got -1", tok, "--max-length", "8", "--stride", "-1");
        assertUsageError("--pad-to-multiple-of must be at least 1, got 0", tok, "--padding", "longest", "--pad-to-multiple-of", "0");
        assertUsageError("--stride 8 must be smaller than --max-length 8", tok, "--max-length", "8", "--stride", "8");
        assertUsageError("Invalid value for option '--truncation': expected one of longest_first, only_first, only_second, none, "
                + "got 'longest'", tok, "--truncation", "longest");
        assertUsageError("Invalid value for option '--padding': expected one of longest, max_length, none, got 'LONGEST'",
                tok, "--padding", "LONGEST");
        assertUsageError("Invalid value for option '--padding-side': expected one of left, right, got 'top'",
                tok, "--padding", "longest", "--padding-side", "top");
        assertUsageError("Invalid value for option '--windows': expected one of tokenizers-0.23, whole, got '0.22'",
                tok, "--max-length", "8", "--windows", "0.22");
        assertUsageError("Invalid value for option '--max-length': 'ten' is not an int", tok, "--max-length", "ten");
        assertUsageError("Unknown options: '--max_length', '8'", tok, "--max_length", "8");
        assertTrue(Cli.run("", "tokenize", tok, "--max_length", "8").err().contains("\nDid you mean: --max-length?\n"));
        assertUsageError("Unmatched argument at index 2: 'extra'", tok, "extra");
    }

    @Test
    void theSameFileForInputAndOutputIsAUsageError() throws IOException {
        Path f = Files.writeString(dir.resolve("same.jsonl"), "{\"text\": \"x\"}\n");
        assertUsageError("--input and --output are the same file", "--tokenizer", "t.json", "--input", f.toString(), "--output",
                dir.resolve(".").resolve("same.jsonl").toString());
        assertEquals("{\"text\": \"x\"}\n", Files.readString(f), "the input is untouched");
    }

    @Test
    void noCommandIsAUsageError() {
        Cli.Result r = Cli.run("");
        assertEquals(2, r.code());
        assertEquals(List.of("distilbert: missing a command (tokenize, embed, search, score, zero-shot, fill-mask, ner, qa, multiple-choice, rerank, train, info, convert, bench)", "Try 'distilbert --help' for more information."), r.err().lines().toList());
        Cli.Result unknown = Cli.run("", "tokenise");
        assertEquals(2, unknown.code());
        assertTrue(unknown.err().startsWith("distilbert: Unmatched argument at index 0: 'tokenise'\nDid you mean: tokenize"), unknown.err());
    }

    @Test
    void helpAndVersionOnEveryCommand() {
        for (String[] args : List.of(new String[] {"--help"}, new String[] {"-h"}, new String[] {"tokenize", "--help"},
                new String[] {"tokenize", "-h"})) {
            Cli.Result r = Cli.run("", args);
            assertEquals(0, r.code(), String.join(" ", args));
            assertEquals("", r.err());
            assertTrue(r.out().startsWith("Usage: distilbert"), r.out());
        }
        Cli.Result help = Cli.run("", "tokenize", "--help");
        String words = help.out().replaceAll("\\s+", " ");
        for (String option : List.of("--tokenizer", "--input", "--output", "--max-length", "--truncation", "--stride", "--truncation-side",
                "--windows", "--padding", "--pad-to-multiple-of", "--padding-side", "--no-special-tokens", "--overflowing", "--batch-size", "--verbose")) {
            assertTrue(help.out().contains(option), option);
        }
        assertTrue(words.contains("Default: 1024."), "the default batch size is documented");
        assertTrue(words.contains("it turns on longest_first truncation"), "the --max-length default is documented");
        assertTrue(words.contains("tokenizers-0.23 (default) matches the current release") && words.contains("huggingface/tokenizers#2091"),
                "--windows says which is the default and why there are two");
        for (String[] args : List.of(new String[] {"--version"}, new String[] {"tokenize", "--version"}, new String[] {"tokenize", "-V"})) {
            Cli.Result r = Cli.run("", args);
            assertEquals(0, r.code());
            assertTrue(r.out().matches("(?s)distilbert \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?\nJava .*"), r.out());
        }
    }
}
