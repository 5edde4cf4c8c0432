package distilbert.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Device arrays, the pinned staging path and the arena on a real device: round trips in every
 * type, views, fills, chunked copies larger than the staging buffer, the arena's reuse and growth,
 * and the out-of-memory error.
 */
@Tag("gpu")
final class DeviceMemoryTest {

    private static CudaContext context;

    @BeforeEach
    void openOnce() {
        if (context == null) {
            context = GpuTests.openOrSkip();
        }
    }

    @AfterAll
    static void close() {
        if (context != null) {
            context.close();
        }
    }

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16", "F16"})
    void floatRoundTripRoundsAsTheHostDoes(ElementType type) {
        SplittableRandom r = new SplittableRandom(2);
        // more than one staging chunk of float32
        int n = (int) (HostStaging.MAX_CHUNK_BYTES / 4) * 2 + 1234;
        float[] src = new float[n];
        for (int i = 0; i < n; i++) {
            src[i] = (float) ((r.nextDouble() * 2 - 1) * 1000);
        }
        try (DeviceArray a = context.allocate(type, n, "test")) {
            a.upload(src);
            float[] back = a.downloadFloats();
            for (int i = 0; i < n; i++) {
                if (back[i] != type.round(src[i])) {
                    throw new AssertionError(type + " element " + i + ": " + back[i] + ", expected " + type.round(src[i]));
                }
            }
        }
    }

    @Test
    void intsViewsAndFills() {
        int[] ids = {5, -1, 0, Integer.MAX_VALUE, 42};
        try (DeviceArray a = context.allocate(ElementType.I32, ids.length, "test")) {
            a.uploadInts(ids);
            assertArrayEquals(ids, a.downloadInts());
        }
        try (DeviceArray a = context.allocate(ElementType.BF16, 100, "test")) {
            a.fill(1.5f);
            DeviceArray v = a.view(3, 10);
            v.fill(Float.NaN);
            v.view(2, 3).upload(new float[] {7, 8, 9});
            float[] all = a.downloadFloats();
            assertEquals(1.5f, all[2]);
            assertTrue(Float.isNaN(all[3]) && Float.isNaN(all[4]) && Float.isNaN(all[12]));
            assertEquals(7f, all[5]);
            assertEquals(9f, all[7]);
            assertEquals(1.5f, all[13]);
            a.zero();
            assertEquals(0f, a.downloadFloats()[50]);
        }
    }

    @Test
    void theArenaReusesReleasedMemoryAndGrowsToItsHighWaterMark() {
        try (DeviceArena arena = new DeviceArena(context)) {
            long mark = arena.mark();
            DeviceArray a = arena.allocate(ElementType.F32, 1000, "a");
            DeviceArray b = arena.allocate(ElementType.BF16, 3, "b");
            assertEquals(0, a.address() % 256);
            assertEquals(0, b.address() % 256);
            a.upload(new float[] {1, 2, 3});
            assertEquals(2f, a.downloadFloats()[1]);
            arena.release(mark);
            // the first step overflowed (empty block); the release regrew the block to fit it
            assertTrue(arena.capacityBytes() >= 4096 + 256, "capacity " + arena.capacityBytes());
            long capacity = arena.capacityBytes();
            mark = arena.mark();
            DeviceArray c = arena.allocate(ElementType.F32, 1000, "c");
            DeviceArray d = arena.allocate(ElementType.BF16, 3, "d");
            assertTrue(d.address() > c.address());
            arena.release(mark);
            assertEquals(capacity, arena.capacityBytes(), "a step of the same size allocates nothing");
            // nested marks release in stack order
            long outer = arena.mark();
            arena.allocate(ElementType.F32, 10, "x");
            long inner = arena.mark();
            arena.allocate(ElementType.F32, 10, "y");
            arena.release(inner);
            assertThrows(IllegalStateException.class, () -> arena.release(inner + 1));
            arena.release(outer);
        }
    }

    @Test
    void outOfMemoryNamesWhatAndHowMuch() {
        long[] before = context.memoryInfo();
        GpuOutOfMemoryException e = assertThrows(GpuOutOfMemoryException.class,
                () -> context.allocate(ElementType.F32, before[1], "a test tensor"));
        assertTrue(e.getMessage().startsWith("GPU out of memory: a test tensor needs"), e.getMessage());
        assertEquals(before[1] * 4, e.requestedBytes());
        // the context still works
        try (DeviceArray a = context.allocate(ElementType.F32, 4, "after")) {
            a.upload(new float[] {1, 2, 3, 4});
            assertEquals(4f, a.downloadFloats()[3]);
        }
    }

    @Test
    void timerMeasuresDeviceTime() {
        try (GpuTimer timer = new GpuTimer(context); DeviceArray a = context.allocate(ElementType.F32, 1 << 24, "t")) {
            timer.start();
            a.fill(3f);
            float ms = timer.stop();
            assertTrue(ms >= 0 && ms < 1000, "elapsed " + ms + " ms");
        }
    }
}
