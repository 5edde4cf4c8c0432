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
        // pool_rows(out, inp, cu_seqlens, key_lens, positions, B, C, mode, skip), as misc.cu's PTX declares it
        List<String> poolRows = KernelResources.signatures("misc").get("pool_rows_bf16");
        KernelArgs args = new KernelArgs().address(1).address(2).address(3).array(null).address(5).i32(4).i32(768).i32(0)
                .i32(0);
        assertDoesNotThrow(() -> args.check("misc/pool_rows_bf16", poolRows));
        // an s32 parameter takes an int too
        assertDoesNotThrow(() -> new KernelArgs().i32(1).check("k", List.of("s32")));
    }

    @Test
    void aLaunchThatDriftedFromItsKernelIsRefusedNamingBoth() {
        List<String> poolRows = KernelResources.signatures("misc").get("pool_rows_bf16");
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> new KernelArgs().address(1).address(2).address(3).address(4).i32(4).i32(768).i32(0).i32(0)
                        .check("misc/pool_rows_bf16", poolRows));
        assertEquals("launch of misc/pool_rows_bf16: the kernel takes 9 parameters (pointer, pointer, pointer, pointer, pointer, "
                + "int, int, int, int) but the launcher passed 8 (pointer, pointer, pointer, pointer, int, int, int, int)",
                missing.getMessage());
        IllegalArgumentException swapped = assertThrows(IllegalArgumentException.class,
                () -> new KernelArgs().address(1).address(2).address(3).address(4).i32(4).address(5).i32(768).i32(0).i32(0)
                        .check("k", poolRows));
        assertEquals("launch of k: the kernel takes 9 parameters (pointer, pointer, pointer, pointer, pointer, int, int, int, int) "
                + "but the launcher passed 9 (pointer, pointer, pointer, pointer, int, pointer, int, int, int)",
                swapped.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new KernelArgs().f32(1).check("k", List.of("u32")));
    }
}
