package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/** Device names as the command line and the library take them: cpu, cuda, cuda:N, auto. */
final class DeviceTest {

    @Test
    void namesParseToTheDevicesAndBack() {
        assertSame(Device.CPU, Device.parse("cpu"));
        assertSame(Device.CUDA, Device.parse("CUDA"));
        assertSame(Device.AUTO, Device.parse(" auto "));
        assertEquals(Device.cuda(1), Device.parse("cuda:1"));
        assertEquals(OptionalInt.of(12), Device.parse("cuda:12").ordinal());
        assertEquals(OptionalInt.empty(), Device.CUDA.ordinal());
        assertEquals(Device.Kind.CUDA, Device.cuda(0).kind());
        assertTrue(Device.cuda(3).isCuda() && Device.CUDA.isCuda());
        assertFalse(Device.AUTO.isCuda());
        for (String name : new String[] {"cpu", "cuda", "cuda:0", "cuda:7", "auto"}) {
            assertEquals(name, Device.parse(name).toString());
            assertEquals(Device.parse(name), Device.parse(Device.parse(name).toString()));
        }
        // cuda:0 names GPU 0 even where the default GPU is another one (the first that can run the kernels)
        assertNotEquals(Device.CUDA, Device.cuda(0));
        assertEquals(Device.cuda(2).hashCode(), Device.parse("cuda:2").hashCode());
    }

    @Test
    void badNamesSayWhatIsAccepted() {
        for (String bad : new String[] {"gpu", "cuda:", "cuda:-1", "cuda:x", "cuda:1:2", "cuda:99999", "tpu", ""}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Device.parse(bad), bad);
            assertEquals("unknown device '" + bad + "': expected cpu, cuda, cuda:N (a GPU number, 0 for the first) or auto",
                    e.getMessage());
        }
        assertEquals("a GPU number is 0 or more, not -1",
                assertThrows(IllegalArgumentException.class, () -> Device.cuda(-1)).getMessage());
    }
}
