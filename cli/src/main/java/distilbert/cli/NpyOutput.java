package distilbert.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.function.ToIntFunction;

/**
 * Embeddings as one NumPy {@code .npy} file: a float32 array of shape (rows, dim), little-endian, C
 * order, or of bytes ({@code int8} or {@code uint8}: quantized embeddings) ({@code numpy.load} reads
 * it; so does any reader of the format, version 1.0). The rows
 * come in input order, as the lines of JSONL would. The header is written first with a row count of
 * 0 and rewritten with the count after each batch of rows is written: a run stopped at a bad line,
 * or killed, leaves a valid array of the rows written before.
 *
 * <p>The header has a fixed size ({@value #HEADER_BYTES} bytes, magic and length included, padded
 * with spaces as the format allows), so rewriting it never moves the data.
 */
final class NpyOutput implements JsonlLines.Sink {
    /** Magic, version, header length and the padded header dict: a multiple of 64, as the format asks. */
    static final int HEADER_BYTES = 128;

    /** The element types: float32 (rows are float[]), int8 and uint8 (rows are byte[]). */
    enum Dtype {
        FLOAT32("<f4", Float.BYTES), INT8("|i1", 1), UINT8("|u1", 1);

        final String descr;
        final int bytes;

        Dtype(String descr, int bytes) {
            this.descr = descr;
            this.bytes = bytes;
        }
    }

    private final Path file;
    private final int dim;
    private final Dtype dtype;
    private final FileChannel channel;
    private long rows;
    private boolean closed;

    private NpyOutput(Path file, int dim, Dtype dtype, FileChannel channel) {
        this.file = file;
        this.dim = dim;
        this.dtype = dtype;
        this.channel = channel;
    }

    /**
     * Creates (or empties) {@code file} for rows of {@code dim} floats.
     *
     * @throws CliException when it cannot be written
     */
    static NpyOutput create(Path file, int dim) {
        return create(file, dim, Dtype.FLOAT32);
    }

    /**
     * Creates (or empties) {@code file} for rows of {@code dim} values of {@code dtype}.
     *
     * @throws CliException when it cannot be written
     */
    static NpyOutput create(Path file, int dim, Dtype dtype) {
        if (Files.isDirectory(file)) throw new CliException("cannot write " + file + ": it is a directory");
        try {
            FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING);
            NpyOutput out = new NpyOutput(file, dim, dtype, channel);
            out.writeHeader();
            return out;
        } catch (IOException e) {
            throw new CliException("cannot write " + Main.describe(e), e);
        }
    }

    /** The float32 header for {@code rows} rows: magic, version 1.0, its length, the dict padded to {@link #HEADER_BYTES}. */
    static byte[] header(long rows, int dim) {
        return header(rows, dim, Dtype.FLOAT32);
    }

    /** The header for {@code rows} rows of {@code dtype}. */
    static byte[] header(long rows, int dim, Dtype dtype) {
        String dict = "{'descr': '" + dtype.descr + "', 'fortran_order': False, 'shape': (" + rows + ", " + dim + "), }";
        int dictBytes = HEADER_BYTES - 10;
        StringBuilder padded = new StringBuilder(dict);
        while (padded.length() < dictBytes - 1) padded.append(' ');
        padded.append('\n');
        if (padded.length() != dictBytes) throw new IllegalStateException("npy header too long: " + dict);
        ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) dictBytes);
        b.put(padded.toString().getBytes(StandardCharsets.US_ASCII));
        return b.array();
    }

    private void writeHeader() throws IOException {
        ByteBuffer h = ByteBuffer.wrap(header(rows, dim, dtype));
        long at = 0;
        while (h.hasRemaining()) at += channel.write(h, at);
    }

    /**
     * Appends one row per item; each item must be a float[] (float32) or byte[] (int8, uint8) of
     * {@code dim} values (the JSON writer and size hint, for JSONL, are not used).
     */
    @Override
    public <T> void write(List<T> items, JsonlOutput.ObjectWriter<T> object, ToIntFunction<T> bytesHint) {
        ByteBuffer b = ByteBuffer.allocate(items.size() * dim * dtype.bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (T item : items) {
            if (dtype == Dtype.FLOAT32 && item instanceof float[] v && v.length == dim) {
                b.asFloatBuffer().put(v);
                b.position(b.position() + dim * Float.BYTES);
            } else if (dtype != Dtype.FLOAT32 && item instanceof byte[] v && v.length == dim) {
                b.put(v);
            } else {
                throw new IllegalStateException("an npy row must be " + (dtype == Dtype.FLOAT32 ? "float[" : "byte[") + dim
                        + "], got " + describe(item));
            }
        }
        b.flip();
        try {
            while (b.hasRemaining()) channel.write(b, HEADER_BYTES + rows * dim * dtype.bytes + b.position());
            rows += items.size();
            writeHeader(); // after the rows it counts: a run killed now leaves a valid array of them
        } catch (IOException e) {
            throw new CliException("cannot write " + file + ": " + Main.describe(e), e);
        }
    }

    private static String describe(Object item) {
        return item instanceof float[] v ? "float[" + v.length + "]" : item instanceof byte[] v ? "byte[" + v.length + "]"
                : String.valueOf(item);
    }

    /** Rewrites the header with the row count (it already says it), then closes the file. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try (channel) {
            writeHeader();
        } catch (IOException e) {
            throw new CliException("cannot write " + file + ": " + Main.describe(e), e);
        }
    }
}
