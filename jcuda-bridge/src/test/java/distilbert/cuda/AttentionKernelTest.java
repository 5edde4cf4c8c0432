package distilbert.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The attention kernel choice and the tensor-core kernel's preconditions (no GPU needed). */
final class AttentionKernelTest {

    @Test
    void parsesTheNamesAndRejectsOthers() {
        assertEquals(AttentionKernel.AUTO, AttentionKernel.parse("auto"));
        assertEquals(AttentionKernel.SIMT, AttentionKernel.parse(" SIMT "));
        assertEquals(AttentionKernel.TENSOR_CORES, AttentionKernel.parse("tensor-cores"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AttentionKernel.parse("mma"));
        assertTrue(e.getMessage().contains("'mma'") && e.getMessage().contains("tensor-cores"), e.getMessage());
    }

    @Test
    void theSystemPropertySetsTheDefault() {
        String before = System.getProperty(AttentionKernel.PROPERTY);
        try {
            System.clearProperty(AttentionKernel.PROPERTY);
            assertEquals(AttentionKernel.AUTO, AttentionKernel.fromSystemProperty());
            System.setProperty(AttentionKernel.PROPERTY, "simt");
            assertEquals(AttentionKernel.SIMT, AttentionKernel.fromSystemProperty());
            System.setProperty(AttentionKernel.PROPERTY, "fast");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    AttentionKernel::fromSystemProperty);
            assertTrue(e.getMessage().startsWith("-Ddistilbert.attention=fast: "), e.getMessage());
        } finally {
            if (before == null) {
                System.clearProperty(AttentionKernel.PROPERTY);
            } else {
                System.setProperty(AttentionKernel.PROPERTY, before);
            }
        }
    }

    @Test
    void tensorCoresTakeBf16AndF16HeadSizesInStepsOf8UpTo128() {
        long aligned = 0x7f0000000000L;
        for (ElementType t : new ElementType[] {ElementType.BF16, ElementType.F16}) {
            for (int HS : new int[] {8, 16, 32, 40, 64, 72, 120, 128}) {
                assertNull(InferenceKernels.tensorCoresUnusable(t, HS, 3 * 12 * HS, aligned, aligned), t + " HS " + HS);
            }
            assertTrue(InferenceKernels.tensorCoresUnusable(t, 136, 3 * 136, aligned, aligned).contains("head size 136"));
            assertTrue(InferenceKernels.tensorCoresUnusable(t, 20, 3 * 20, aligned, aligned).contains("head size 20"));
            assertTrue(InferenceKernels.tensorCoresUnusable(t, 64, 100, aligned, aligned).contains("row stride 100"));
            assertTrue(InferenceKernels.tensorCoresUnusable(t, 64, 192, aligned + 8, aligned).contains("alignment"));
            assertTrue(InferenceKernels.tensorCoresUnusable(t, 64, 192, aligned, aligned + 2).contains("alignment"));
            assertNull(InferenceKernels.tensorCoresUnusable(t, 64, 192, aligned + 16, aligned + 4));
        }
        assertTrue(InferenceKernels.tensorCoresUnusable(ElementType.F32, 64, 192, aligned, aligned).contains("F32"));
    }

    @Test
    void headSizeVariantsOfTheSimtKernel() {
        assertEquals(32, InferenceKernels.headSizeVariant(8));
        assertEquals(64, InferenceKernels.headSizeVariant(48));
        assertEquals(256, InferenceKernels.headSizeVariant(200));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> InferenceKernels.headSizeVariant(300));
        assertTrue(e.getMessage().contains("300") && e.getMessage().contains("256"), e.getMessage());
    }
}
