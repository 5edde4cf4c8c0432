package distilbert.model;

import java.util.Arrays;
import java.util.Objects;

/**
 * The CPU backend's buffer: {@code length} floats of a Java array starting at {@code offset}.
 * Views share the array, so a parameter tensor is a {@code HostBuffer} over the parameter slab.
 */
public record HostBuffer(float[] data, int offset, int len) implements Buffer {

    public HostBuffer {
        Objects.requireNonNull(data, "data");
        Objects.checkFromIndexSize(offset, len, data.length);
    }

    /** A new zeroed buffer of {@code length} floats. */
    public static HostBuffer allocate(long length) {
        return new HostBuffer(new float[checkedLength(length)], 0, (int) length);
    }

    /** A buffer over the whole of {@code data} (not a copy). */
    public static HostBuffer wrap(float[] data) {
        return new HostBuffer(data, 0, data.length);
    }

    @Override
    public long length() {
        return len;
    }

    @Override
    public HostBuffer view(long offset, long length) {
        if (offset < 0 || length < 0 || offset > len - length) {
            throw new IndexOutOfBoundsException("view [" + offset + ", " + offset + " + " + length
                    + ") of a buffer of " + len + " floats");
        }
        return new HostBuffer(data, this.offset + (int) offset, (int) length);
    }

    /** The floats as a new array. */
    public float[] toArray() {
        return Arrays.copyOfRange(data, offset, offset + len);
    }

    static int checkedLength(long length) {
        if (length < 0 || length > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a CPU buffer of " + length + " floats does not fit in one Java array");
        }
        return (int) length;
    }

    @Override
    public String toString() {
        return "HostBuffer[" + len + " floats at " + offset + " of " + data.length + "]";
    }
}
