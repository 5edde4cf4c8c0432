package distilbert.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.cuda.GpuStatus.Reason;
import distilbert.cuda.GpuStatus.Unusable;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** The probe on whatever machine runs the build, and its rules on made-up drivers and devices. */
final class GpuProbeTest {

    private static final CublasLibrary.Availability CUBLAS =
            new CublasLibrary.Availability.Available("13.0.2", "libcublas.so.13, libcublasLt.so.13");

    @Test
    void probeNeverThrowsAndExplainsItself() {
        GpuStatus status = GpuProbe.status();
        assertSame(status, GpuProbe.status(), "probed once, then cached");
        switch (status) {
            case GpuStatus.Usable u -> {
                assertTrue(u.device().supported(), u.describe());
                assertTrue(u.device().totalMemoryBytes() > 0, u.describe());
                assertTrue(u.device().multiprocessors() > 0, u.describe());
                assertFalse(u.device().name().isBlank(), u.describe());
                assertTrue(u.driverVersion() >= GpuProbe.MIN_DRIVER_VERSION, u.describe());
            }
            case Unusable u -> {
                assertFalse(u.detail().isBlank());
                assertTrue(u.describe().startsWith("no usable GPU"), u.describe());
            }
        }
        System.out.println("GPU probe on this machine: " + status.describe());
    }

    /** On a machine without an NVIDIA driver (CI, this build box) the reason must say so. */
    @Test
    void withoutLibcudaTheProbeReportsNoDriver() {
        Assumptions.assumeTrue(System.getProperty("os.name").toLowerCase(Locale.ROOT).contains("linux"),
                "checks the Linux driver library");
        Assumptions.assumeFalse(libcudaLoads(), "libcuda.so.1 is present on this machine");
        Unusable unusable = assertInstanceOf(Unusable.class, GpuProbe.status());
        assertEquals(Reason.NO_DRIVER, unusable.reason(), unusable.describe());
        assertTrue(unusable.detail().contains("libcuda.so.1"), unusable.detail());
    }

    @Test
    void contextRefusesToOpenWithoutAGpuAndSaysWhy() {
        Assumptions.assumeFalse(GpuProbe.status().usable(), "a GPU is usable here");
        IllegalStateException e = assertThrows(IllegalStateException.class, CudaContext::open);
        assertEquals(GpuProbe.status().describe(), e.getMessage());
    }

    @Test
    void driversOlderThanCuda13AreRejectedWithTheVersion() {
        Unusable old = GpuProbe.checkDriver(12080).orElseThrow();
        assertEquals(Reason.DRIVER_TOO_OLD, old.reason());
        assertTrue(old.detail().contains("12.8"), old.detail());
        assertTrue(old.detail().contains("R580"), old.detail());
        assertTrue(GpuProbe.checkDriver(13000).isEmpty());
        assertTrue(GpuProbe.checkDriver(13020).isEmpty());
    }

    @Test
    void devicesBelowSm80AreRejectedAndTheFirstSupportedOneIsTheDefault() {
        DeviceInfo t4 = new DeviceInfo(0, "Tesla T4", 7, 5, 15L << 30, 40);
        DeviceInfo a100 = new DeviceInfo(1, "NVIDIA A100-SXM4-40GB", 8, 0, 40L << 30, 108);
        DeviceInfo h100 = new DeviceInfo(2, "NVIDIA H100 80GB HBM3", 9, 0, 80L << 30, 132);

        Unusable onlyT4 = assertInstanceOf(Unusable.class, GpuProbe.classify(13000, List.of(t4), () -> CUBLAS));
        assertEquals(Reason.UNSUPPORTED_DEVICE, onlyT4.reason());
        assertTrue(onlyT4.detail().contains("Tesla T4 (sm_75"), onlyT4.detail());

        GpuStatus.Usable mixed = assertInstanceOf(GpuStatus.Usable.class,
                GpuProbe.classify(13000, List.of(t4, a100, h100), () -> CUBLAS));
        assertEquals(a100, mixed.device());
        assertEquals(3, mixed.devices().size());
        assertEquals("13.0.2", mixed.cublasVersion());
        assertTrue(mixed.describe().endsWith(", cuBLAS 13.0.2"), mixed.describe());

        assertEquals(Reason.NO_DEVICE,
                assertInstanceOf(Unusable.class, GpuProbe.classify(13000, List.of(), () -> CUBLAS)).reason());
    }

    @Test
    void aGoodDeviceWithoutCublasIsUnusableAndTheReasonNamesTheLibrariesTried() {
        DeviceInfo h100 = new DeviceInfo(0, "NVIDIA H100 80GB HBM3", 9, 0, 80L << 30, 132);
        var none = new CublasLibrary.Availability.Unavailable("none of libcublas.so.13, libcublas.so.12 could be opened");
        Unusable unusable = assertInstanceOf(Unusable.class, GpuProbe.classify(13000, List.of(h100), () -> none));
        assertEquals(Reason.NO_CUBLAS, unusable.reason());
        assertTrue(unusable.detail().contains("libcublas.so.13, libcublas.so.12"), unusable.detail());
        assertTrue(unusable.detail().contains("H100"), unusable.detail());
        assertTrue(unusable.describe().startsWith("no usable GPU (no_cublas): "), unusable.describe());

        // A device problem comes first: cuBLAS would not help an sm_75 card.
        DeviceInfo t4 = new DeviceInfo(0, "Tesla T4", 7, 5, 15L << 30, 40);
        assertEquals(Reason.UNSUPPORTED_DEVICE,
                assertInstanceOf(Unusable.class, GpuProbe.classify(13000, List.of(t4), () -> none)).reason());
    }

    @Test
    void newerArchitecturesRunThroughThePtx() {
        assertTrue(new DeviceInfo(0, "sm_120 card", 12, 0, 1L << 30, 1).supported());
        assertTrue(new DeviceInfo(0, "Jetson Orin", 8, 7, 1L << 30, 1).supported());
        assertEquals(87, new DeviceInfo(0, "Jetson Orin", 8, 7, 1L << 30, 1).sm());
    }

    @Test
    void driverVersionsPrintAsCudaReleases() {
        assertEquals("13.0", GpuProbe.versionString(13000));
        assertEquals("12.8", GpuProbe.versionString(12080));
        assertEquals("11.4", GpuProbe.versionString(11040));
    }

    @Test
    void anUnusableStatusNeedsAReason() {
        assertThrows(IllegalArgumentException.class, () -> new Unusable(Reason.NO_DRIVER, " "));
    }

    @Test
    void aMissingDeviceNumberSaysWhichOnesThereAre() {
        assertEquals("no CUDA device 1: the driver sees one GPU, device 0", CudaContext.noSuchDevice(1, 1, null));
        assertEquals("no CUDA device 4: the driver sees 3 GPUs, devices 0 to 2 (CUDA_VISIBLE_DEVICES=5,6,7 numbers them "
                + "from 0 in its order)", CudaContext.noSuchDevice(4, 3, "5,6,7"));
    }

    @SuppressWarnings("restricted")
    private static boolean libcudaLoads() {
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup.libraryLookup("libcuda.so.1", arena);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
