package distilbert.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jcuda.driver.CUresult;
import org.junit.jupiter.api.Test;

/** The parts of the bridge that need no GPU: addresses, error messages, names. */
final class BridgeBasicsTest {

    @Test
    void rawAddressesRoundTripThroughJCudaPointers() {
        long address = 0x7F12_3456_7000L;
        DevicePointer p = DevicePointer.of(address);
        assertEquals(address, p.address());
        assertEquals(address, DevicePointer.addressOf(p));
        assertEquals(address + 12, p.plusBytes(12).address());
        // JCuda's own offset arithmetic is honoured too.
        assertEquals(address + 64, DevicePointer.addressOf(p.withByteOffset(64)));
    }

    @Test
    void errorsNameTheCallAndTheResult() {
        CudaException e = assertThrows(CudaException.class,
                () -> CudaCalls.check(CUresult.CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc(4096 bytes)"));
        assertEquals("cuMemAlloc(4096 bytes) failed: CUDA_ERROR_OUT_OF_MEMORY (2)", e.getMessage());
        assertEquals("cuMemAlloc(4096 bytes)", e.call());
        assertEquals(2, e.result());
        assertEquals("CUDA_ERROR_OUT_OF_MEMORY", e.resultName());
        CudaCalls.check(CUresult.CUDA_SUCCESS, "cuInit");
    }

    @Test
    void activationsUseHuggingFaceNames() {
        assertEquals(Activation.GELU, Activation.fromHfName("gelu"));
        assertEquals(Activation.GELU_NEW, Activation.fromHfName("gelu_new"));
        assertEquals(Activation.RELU, Activation.fromHfName("relu"));
        assertEquals(Activation.SILU, Activation.fromHfName("silu"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Activation.fromHfName("tanh"));
        assertTrue(e.getMessage().contains("gelu, gelu_new, relu, silu"), e.getMessage());
    }

    @Test
    void scratchCoversOnePartialPerColumnAndChunk() {
        assertEquals(768, ActivationKernels.backwardScratchLength(1, 768));
        assertEquals(768, ActivationKernels.backwardScratchLength(256, 768));
        assertEquals(2 * 768, ActivationKernels.backwardScratchLength(257, 768));
        assertEquals(0, ActivationKernels.backwardScratchLength(0, 768));
    }
}
