package distilbert.model;

import java.util.Objects;

/** The CPU backend's {@link IndexBuffer}: {@code len} ints of a Java array starting at {@code offset}. */
public record HostIndexBuffer(int[] data, int offset, int len) implements IndexBuffer {

    public HostIndexBuffer {
        Objects.requireNonNull(data, "data");
        Objects.checkFromIndexSize(offset, len, data.length);
    }

    public static HostIndexBuffer wrap(int[] data) {
        return new HostIndexBuffer(data, 0, data.length);
    }

    @Override
    public long length() {
        return len;
    }

    @Override
    public String toString() {
        return "HostIndexBuffer[" + len + " ints at " + offset + " of " + data.length + "]";
    }
}
