package distilbert.spark;

import distilbert.model.Device;
import java.util.List;
import java.util.Locale;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;

/**
 * Which device a task's model runs on. Spark schedules GPUs as the resource {@code gpu}
 * ({@code spark.executor.resource.gpu.amount}, {@code spark.task.resource.gpu.amount}) and tells a
 * task the addresses of its share; the address is the CUDA device number, as the NVIDIA RAPIDS
 * plugin takes it (the discovery script Spark ships lists {@code nvidia-smi}'s indices).
 */
final class TaskDevices {
    private TaskDevices() {
    }

    /** The GPU addresses Spark assigned to the running task; empty outside a task or where Spark schedules none. */
    static List<String> taskGpus() {
        TaskContext task = TaskContext.get();
        if (task == null) {
            return List.of();
        }
        ResourceInformation gpu = task.resourcesJMap().get("gpu");
        return gpu == null ? List.of() : List.of(gpu.addresses());
    }

    /**
     * Checks a device name before any task runs.
     *
     * @throws IllegalArgumentException naming the text and what is accepted
     */
    static void check(String device) {
        String s = device.trim().toLowerCase(Locale.ROOT);
        if (!s.equals("auto") && !s.equals("task")) {
            try {
                Device.parse(s);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(e.getMessage() + ", or task (the GPU Spark assigns the task)");
            }
        }
    }

    /**
     * {@code auto}: the task's first GPU when Spark assigned one, else {@link Device#AUTO} (any usable
     * GPU, else the CPU); {@code task}: the task's first GPU or an error that says how to have Spark
     * assign one; anything else as {@link Device#parse} reads it.
     *
     * @throws IllegalStateException    for {@code task} where Spark assigned no GPU
     * @throws IllegalArgumentException for an address that is not a device number
     */
    static Device resolve(String device, List<String> taskGpus) {
        String s = device.trim().toLowerCase(Locale.ROOT);
        boolean assigned = taskGpus != null && !taskGpus.isEmpty();
        return switch (s) {
            case "auto" -> assigned ? ordinal(taskGpus.getFirst()) : Device.AUTO;
            case "task" -> {
                if (!assigned) {
                    throw new IllegalStateException("device 'task': Spark assigned this task no GPU; set "
                            + "spark.executor.resource.gpu.amount, spark.task.resource.gpu.amount and a discovery script "
                            + "(spark.executor.resource.gpu.discoveryScript), or use auto, cuda or cuda:N");
                }
                yield ordinal(taskGpus.getFirst());
            }
            default -> Device.parse(s);
        };
    }

    private static Device ordinal(String address) {
        String a = address.trim();
        if (a.isEmpty() || a.length() > 4 || !a.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new IllegalArgumentException("Spark assigned the GPU address '" + address + "', which is not a CUDA device "
                    + "number (0, 1, ...): the discovery script must list nvidia-smi's indices");
        }
        return Device.cuda(Integer.parseInt(a));
    }
}
