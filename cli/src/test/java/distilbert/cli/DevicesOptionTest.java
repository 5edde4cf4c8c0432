package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import distilbert.model.Device;
import java.util.List;
import org.junit.jupiter.api.Test;

/** --device's values: one device, a list of GPUs, every GPU. */
final class DevicesOptionTest {

    @Test
    void oneDeviceAListOrEveryGpu() {
        assertEquals(List.of(Device.AUTO), RunOptions.Devices.parse("auto").devices());
        assertEquals(List.of(Device.CPU), RunOptions.Devices.parse("cpu").devices());
        assertEquals(List.of(Device.CUDA), RunOptions.Devices.parse("cuda").devices());
        assertEquals(List.of(Device.cuda(3)), RunOptions.Devices.parse("cuda:3").devices());
        assertEquals(List.of(Device.cuda(0), Device.cuda(1)), RunOptions.Devices.parse("cuda:0,1").devices());
        assertEquals(List.of(Device.cuda(2), Device.cuda(0), Device.cuda(5)), RunOptions.Devices.parse("cuda:2,cuda:0, 5").devices());
        RunOptions.Devices all = RunOptions.Devices.parse("CUDA:ALL");
        assertEquals(List.of(), all.devices(), "every GPU: resolved when the model is loaded");
        assertEquals("cuda:all", all.toString());
        assertEquals("cuda:0,1", RunOptions.Devices.parse("cuda:0,1").toString());
    }

    @Test
    void listsNameGpusByNumberOnceOrMore() {
        // a GPU named twice: two copies of the model on it
        assertEquals(List.of(Device.cuda(0), Device.cuda(0)), RunOptions.Devices.parse("cuda:0,0").devices());
        assertEquals(List.of(Device.cuda(0), Device.cuda(1), Device.cuda(0)), RunOptions.Devices.parse("cuda:0,1,0").devices());
        for (String bad : new String[] {"cuda,cuda:1", "cpu,cuda:0", "cuda:0,auto", "0,1"}) {
            String message = assertThrows(IllegalArgumentException.class, () -> RunOptions.Devices.parse(bad), bad).getMessage();
            assertEquals(true, message.startsWith("a list of devices takes GPUs by number (cuda:0,1 or cuda:0,cuda:1), not '"),
                    message);
        }
        assertEquals("unknown device 'x': expected cpu, cuda, cuda:N (a GPU number, 0 for the first) or auto",
                assertThrows(IllegalArgumentException.class, () -> RunOptions.Devices.parse("cuda:0,x")).getMessage());
        assertEquals("unknown device '': expected cpu, cuda, cuda:N (a GPU number, 0 for the first) or auto",
                assertThrows(IllegalArgumentException.class, () -> RunOptions.Devices.parse("cuda:0,")).getMessage());
    }
}
