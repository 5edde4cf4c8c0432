package distilbert.weights;

import java.util.List;

/**
 * Named tensors from one checkpoint: a safetensors file, a sharded safetensors set or a
 * pytorch_model.bin. Tensors returned may be views valid only until {@link #close()}.
 */
public interface TensorSource extends AutoCloseable {
    /** Tensor names, in file order. */
    List<String> names();

    boolean contains(String name);

    /** The tensor; {@link CheckpointException} naming the file when absent. */
    NamedTensor tensor(String name);

    /** The file a tensor comes from, for messages ("model-00002-of-00003.safetensors"). */
    String fileOf(String name);

    /** The file (or index) this source was opened from, for messages. */
    String description();

    @Override
    void close();
}
