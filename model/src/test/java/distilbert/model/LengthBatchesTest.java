package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.tokenizer.Encoding;
import distilbert.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The batch planner: sorted by length, within the token budget, every row once; padded inputs built from encodings. */
class LengthBatchesTest {

    @TempDir
    static Path dir;

    @Test
    void batchesAreSortedByLengthAndStayWithinTheTokenBudget() {
        Random random = new Random(5);
        for (int trial = 0; trial < 200; trial++) {
            int[] lengths = new int[random.nextInt(60)];
            for (int i = 0; i < lengths.length; i++) {
                lengths[i] = 1 + random.nextInt(50);
            }
            int budget = 1 + random.nextInt(300);
            List<int[]> batches = LengthBatches.plan(lengths, budget);
            List<Integer> seen = new ArrayList<>();
            int previous = 0;
            for (int[] batch : batches) {
                assertTrue(batch.length > 0);
                long tokens = 0;
                for (int i : batch) {
                    assertTrue(lengths[i] >= previous, "ascending length");
                    previous = lengths[i];
                    tokens += lengths[i];
                    seen.add(i);
                }
                assertTrue(tokens <= budget || batch.length == 1, "within the budget, or one row alone: " + Arrays.toString(batch));
            }
            assertEquals(lengths.length, seen.size(), "every row once");
            assertEquals(lengths.length, seen.stream().distinct().count());
            // greedy: a batch stops only where the next row would not fit
            for (int b = 0; b + 1 < batches.size(); b++) {
                long tokens = Arrays.stream(batches.get(b)).mapToLong(i -> lengths[i]).sum();
                assertTrue(tokens + lengths[batches.get(b + 1)[0]] > budget);
            }
        }
    }

    @Test
    void equalLengthsKeepInputOrderAndALongRowRunsAlone() {
        List<int[]> batches = LengthBatches.plan(new int[] {5, 3, 5, 100, 3}, 10);
        assertEquals(3, batches.size());
        assertArrayEquals(new int[] {1, 4}, batches.get(0));
        assertArrayEquals(new int[] {0, 2}, batches.get(1));
        assertArrayEquals(new int[] {3}, batches.get(2));
        assertEquals(List.of(), LengthBatches.plan(new int[0], 10));
        assertThrows(IllegalArgumentException.class, () -> LengthBatches.plan(new int[] {1}, 0));
    }

    @Test
    void inputPadsTheRowsOnTheRightAndMasksThePads() throws IOException {
        Tokenizer tokenizer = TinyTokenizer.create(dir);
        List<Encoding> encodings = tokenizer.encodeBatch(List.of("the cat sat on the mat", "a dog", "the dog"));
        ModelInput input = LengthBatches.input(encodings, new int[] {1, 0}, 0);
        int L = encodings.get(0).length();
        assertEquals(2, input.batch());
        assertEquals(L, input.length());
        int[] a = encodings.get(1).ids(), b = encodings.get(0).ids();
        int[] ids = new int[2 * L], mask = new int[2 * L];
        System.arraycopy(a, 0, ids, 0, a.length);
        System.arraycopy(b, 0, ids, L, L);
        Arrays.fill(mask, 0, a.length, 1);
        Arrays.fill(mask, L, 2 * L, 1);
        assertArrayEquals(ids, input.inputIds(), "row 0 is encoding 1, padded with id 0; row 1 is encoding 0");
        assertArrayEquals(mask, input.attentionMask());
    }

    @Test
    void forEachRunsEveryRowOnceAndTellsTheListener() throws IOException {
        Tokenizer tokenizer = TinyTokenizer.create(dir);
        List<String> texts = new ArrayList<>();
        Random random = new Random(9);
        for (int i = 0; i < 30; i++) {
            texts.add(String.join(" ", TinyTokenizer.WORDS.subList(0, 1 + random.nextInt(20))));
        }
        List<Encoding> encodings = tokenizer.encodeBatch(texts);
        long allTokens = encodings.stream().mapToLong(Encoding::length).sum();
        int[] seen = new int[texts.size()];
        long[] heard = new long[2];
        LengthBatches.forEach(encodings, 40, 0, (rows, tokens) -> {
            heard[0] += rows;
            heard[1] += tokens;
        }, (rows, input, tokens) -> {
            long sum = 0;
            for (int b = 0; b < rows.length; b++) {
                seen[rows[b]]++;
                sum += encodings.get(rows[b]).length();
                int[] ids = Arrays.copyOfRange(input.inputIds(), b * input.length(), b * input.length() + encodings.get(rows[b]).length());
                assertArrayEquals(encodings.get(rows[b]).ids(), ids);
            }
            assertEquals(sum, tokens);
        });
        int[] once = new int[texts.size()];
        Arrays.fill(once, 1);
        assertArrayEquals(once, seen);
        assertEquals(texts.size(), heard[0]);
        assertEquals(allTokens, heard[1]);
    }
}
