package distilbert.cuda;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import distilbert.kernels.KernelResources;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A launch's arguments against its kernel's parameters as the compiled PTX declares them
 * (kernels-cu's {@code <family>.signatures}): every launch is checked so before cuLaunchKernel, which
 * cannot tell an int from a pointer. Needs no GPU.
 */
final class KernelArgsTest {

    @Test
    void argumentsRecordTheirPtxTypesInOrder() {
        KernelArgs args = new KernelArgs().address(0x1000).array(null).i32(7).f32(1e-12f).i32(-1);
        assertEquals(List.of("u64", "u64", "u32", "f32", "u32"), args.types());
    }

    @Test
    void aMatchingLaunchPasses() {
        // mean_rows(out, inp, cu_seqlens, key_lens, B, C), as misc.cu's PTX declares it
        List<String> meanRows = KernelResources.signatures("misc").get("mean_rows_bf16");
        KernelArgs args = new KernelArgs().address(1).address(2).address(3).array(null).i32(4).i32(768);
        assertDoesNotThrow(() -> args.check("misc/mean_rows_bf16", meanRows));
        // an s32 parameter takes an int too
        assertDoesNotThrow(() -> new KernelArgs().i32(1).check("k", List.of("s32")));
    }

    @Test
    void aLaunchThatDriftedFromItsKernelIsRefusedNamingBoth() {
        List<String> meanRows = KernelResources.signatures("misc").get("mean_rows_bf16");
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> new KernelArgs().address(1).address(2).address(3).i32(4).i32(768).check("misc/mean_rows_bf16", meanRows));
        assertEquals("launch of misc/mean_rows_bf16: the kernel takes 6 parameters (pointer, pointer, pointer, pointer, int, int) "
                + "but the launcher passed 5 (pointer, pointer, pointer, int, int)", missing.getMessage());
        IllegalArgumentException swapped = assertThrows(IllegalArgumentException.class,
                () -> new KernelArgs().address(1).address(2).address(3).i32(4).address(5).i32(768).check("k", meanRows));
        assertEquals("launch of k: the kernel takes 6 parameters (pointer, pointer, pointer, pointer, int, int) "
                + "but the launcher passed 6 (pointer, pointer, pointer, int, pointer, int)", swapped.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new KernelArgs().f32(1).check("k", List.of("u32")));
    }
}
