package distilbert.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The row-major → column-major mapping that {@link Cublas} hands to cuBLAS, run on the CPU: the
 * plan's arguments go into a column-major GEMM written from the BLAS definition
 * ({@link GemmReference#columnMajor}), and the result must be the row-major definition's. Inputs
 * carry NaN in every element a correct plan never reads (padding beyond the row length), and the
 * output's padding must stay NaN.
 */
final class GemmPlanTest {

    @ParameterizedTest(name = "N={0} K={1} M={2}")
    @CsvSource({"1, 1, 1", "3, 5, 7", "7, 3, 5", "16, 768, 24", "31, 100, 9", "128, 64, 3"})
    void linearPlanComputesTheLinearLayer(int N, int K, int M) {
        Random random = new Random(N * 1_000_003L + K * 1009L + M);
        double[] inp = gaussian(random, N * K);
        double[] weight = gaussian(random, M * K);
        double[] expected = GemmReference.linear(inp, weight, null, N, K, M);

        GemmPlan p = GemmPlan.linear(N, K, M);
        assertTrue(p.swapped(), "cuBLAS's A is the weight");
        double[] out = new double[N * M];
        Arrays.fill(out, Double.NaN);
        // As Cublas.linear calls it: A = weight, B = inp, C = out.
        GemmReference.columnMajor(p.transA(), p.transB(), p.m(), p.n(), p.k(), 1,
                weight, 0, p.lda(), inp, 0, p.ldb(), 0, out, 0, p.ldc());
        assertClose(expected, out, "linear N=" + N + " K=" + K + " M=" + M);
    }

    @Test
    void linearPlanIsTheDocumentedCall() {
        GemmPlan p = GemmPlan.linear(128, 768, 3072);
        // D(M×N, ld M) = op_T(weight as K×M, ld K) · op_N(inp as K×N, ld K)
        assertEquals(new GemmPlan(true, false, 3072, 128, 768, 768, 768, 3072, true), p);
        // cuBLASLt layouts describe the matrices as stored, before op.
        assertEquals(768, p.aRows());
        assertEquals(3072, p.aCols());
        assertEquals(768, p.bRows());
        assertEquals(128, p.bCols());
    }

    @ParameterizedTest(name = "transA={0} transB={1}")
    @CsvSource({"false, false", "false, true", "true, false", "true, true"})
    void rowMajorPlanComputesTheRowMajorProductWithPaddedRows(boolean transA, boolean transB) {
        int m = 5;
        int n = 7;
        int k = 3;
        int batch = 3;
        // Row lengths of A, B, C as stored, each padded by a few elements that must never be read.
        int lda = (transA ? m : k) + 2;
        int ldb = (transB ? k : n) + 3;
        int ldc = n + 1;
        int aRows = transA ? k : m;
        int bRows = transB ? n : k;
        long strideA = (long) aRows * lda + 4;
        long strideB = (long) bRows * ldb + 1;
        long strideC = (long) m * ldc + 2;
        Random random = new Random(17);
        double[] a = paddedRowMajor(random, batch, aRows, transA ? m : k, lda, strideA);
        double[] b = paddedRowMajor(random, batch, bRows, transB ? k : n, ldb, strideB);
        double alpha = 0.75;

        double[] expected = new double[(int) strideC * batch];
        double[] actual = new double[expected.length];
        Arrays.fill(expected, Double.NaN);
        Arrays.fill(actual, Double.NaN);
        GemmPlan p = GemmPlan.rowMajor(transA, transB, m, n, k, lda, ldb, ldc);
        assertTrue(p.swapped());
        for (int i = 0; i < batch; i++) {
            GemmReference.rowMajor(transA, transB, m, n, k, alpha, a, (int) (i * strideA), lda,
                    b, (int) (i * strideB), ldb, 0, expected, (int) (i * strideC), ldc);
            // As Cublas.gemmStridedBatchedRowMajor calls it: cuBLAS's A is our B, with B's stride.
            GemmReference.columnMajor(p.transA(), p.transB(), p.m(), p.n(), p.k(), alpha,
                    b, (int) (i * strideB), p.lda(), a, (int) (i * strideA), p.ldb(), 0,
                    actual, (int) (i * strideC), p.ldc());
        }
        assertClose(expected, actual, "row-major transA=" + transA + " transB=" + transB);
    }

    @Test
    void columnMajorPlanPassesTheArgumentsThrough() {
        GemmPlan p = GemmPlan.columnMajor(true, false, 4, 6, 9, 9, 9, 4);
        assertEquals(new GemmPlan(true, false, 4, 6, 9, 9, 9, 4, false), p);
        assertFalse(p.swapped());
    }

    @Test
    void leadingDimensionsAreCheckedAndNamedAsTheCallerKnowsThem() {
        IllegalArgumentException colMajor = assertThrows(IllegalArgumentException.class,
                () -> GemmPlan.columnMajor(false, false, 8, 4, 3, 7, 3, 8));
        assertTrue(colMajor.getMessage().startsWith("lda 7 is less than the 8 rows of A"), colMajor.getMessage());

        // Row-major B of k×n = 3×4 needs a row stride of at least 4.
        IllegalArgumentException rowMajor = assertThrows(IllegalArgumentException.class,
                () -> GemmPlan.rowMajor(false, false, 8, 4, 3, 3, 3, 4));
        assertTrue(rowMajor.getMessage().startsWith("ldb 3 is less than the 4 elements in a row of B"),
                rowMajor.getMessage());

        IllegalArgumentException ldc = assertThrows(IllegalArgumentException.class,
                () -> GemmPlan.rowMajor(false, false, 8, 4, 3, 3, 4, 3));
        assertTrue(ldc.getMessage().startsWith("ldc 3"), ldc.getMessage());

        assertThrows(IllegalArgumentException.class, () -> GemmPlan.linear(0, 4, 4));
        assertThrows(IllegalArgumentException.class, () -> GemmPlan.linear(4, 4, -1));
    }

    /** {@code batch} row-major rows×cols matrices with row stride ld, stride apart; padding is NaN. */
    private static double[] paddedRowMajor(Random random, int batch, int rows, int cols, int ld, long stride) {
        double[] x = new double[(int) stride * batch];
        Arrays.fill(x, Double.NaN);
        for (int i = 0; i < batch; i++) {
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    x[(int) (i * stride) + r * ld + c] = random.nextGaussian();
                }
            }
        }
        return x;
    }

    private static double[] gaussian(Random random, int n) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = random.nextGaussian();
        }
        return x;
    }

    /** Same NaN pattern, and values equal up to summation order (the two sum in the same order anyway). */
    private static void assertClose(double[] expected, double[] actual, String what) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            if (Double.isNaN(expected[i]) || Double.isNaN(actual[i])) {
                assertTrue(Double.isNaN(expected[i]) && Double.isNaN(actual[i]),
                        what + ": element " + i + " expected " + expected[i] + ", got " + actual[i]);
            } else {
                assertEquals(expected[i], actual[i], 1e-12 * (1 + Math.abs(expected[i])), what + ": element " + i);
            }
        }
    }
}
