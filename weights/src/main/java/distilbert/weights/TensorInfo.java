package distilbert.weights;

import java.util.Arrays;

/**
 * One entry of a safetensors header.
 *
 * @param name  tensor name
 * @param dtype element type
 * @param shape dimensions
 * @param begin first byte, relative to the start of the data section ({@code data_offsets[0]})
 * @param end   one past the last byte ({@code data_offsets[1]})
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {
    public TensorInfo {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public long numel() {
        return NamedTensor.numel(shape);
    }

    public long byteSize() {
        return end - begin;
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && t.name.equals(name) && t.dtype == dtype && Arrays.equals(t.shape, shape)
                && t.begin == begin && t.end == end;
    }

    @Override
    public int hashCode() {
        return name.hashCode();
    }

    @Override
    public String toString() {
        return name + " " + dtype + " " + shapeString() + " [" + begin + ", " + end + ")";
    }
}
