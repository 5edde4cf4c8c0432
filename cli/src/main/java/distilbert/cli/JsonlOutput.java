package distilbert.cli;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Writes JSONL: one compact JSON object per item, one line each, in order. A batch is turned into
 * bytes on all cores (JSON text is a good share of the work), then written and flushed, so that
 * everything before a failing input line is on disk when a command stops.
 *
 * <p>Floats go through {@link JsonGenerator#writeNumber(float)}, which writes {@link Float#toString}:
 * the shortest decimal that reads back as the same float32 (JDK 19+), not a double's 17 digits.
 */
final class JsonlOutput implements AutoCloseable {
    /** Writes one item as one JSON object (start and end included). */
    @FunctionalInterface
    interface ObjectWriter<T> {
        void write(JsonGenerator gen, T item) throws IOException;
    }

    private static final JsonFactory JSON = new JsonFactory();

    private final String name;
    private final PrintStream stdout; // null when writing a file
    private final OutputStream stream;

    private JsonlOutput(String name, PrintStream stdout, OutputStream stream) {
        this.name = name;
        this.stdout = stdout;
        this.stream = new BufferedOutputStream(stream, 1 << 16);
    }

    /** Opens (creates or empties) {@code file}, or writes to {@code stdout} when file is null or "-". */
    static JsonlOutput open(Path file, PrintStream stdout) {
        if (file == null || file.toString().equals("-")) return new JsonlOutput("stdout", stdout, stdout);
        if (Files.isDirectory(file)) throw new CliException("cannot write " + file + ": it is a directory");
        try {
            return new JsonlOutput(file.toString(), null, Files.newOutputStream(file));
        } catch (IOException e) {
            throw new CliException("cannot write " + Main.describe(e), e);
        }
    }

    /**
     * Writes one line per item, in order, and flushes them to the file or stdout.
     *
     * @param bytesHint a guess of one line's size, to size its buffer
     */
    <T> void write(List<T> items, ObjectWriter<T> object, java.util.function.ToIntFunction<T> bytesHint) {
        List<byte[]> lines = items.parallelStream().map(item -> line(item, object, bytesHint.applyAsInt(item))).toList();
        try {
            for (byte[] line : lines) stream.write(line);
            stream.flush();
        } catch (IOException x) {
            throw new CliException("cannot write " + name + ": " + Main.describe(x), x);
        }
        // PrintStream swallows write errors: ask it.
        if (stdout != null && stdout.checkError()) throw new CliException("cannot write stdout (closed by the reader?)");
    }

    /** A JSON array of {@code v[offset, offset + length)}, each float32 in its shortest round-trip form. */
    static void floats(JsonGenerator gen, float[] v, int offset, int length) throws IOException {
        gen.writeStartArray(v, length);
        for (int i = offset; i < offset + length; i++) gen.writeNumber(v[i]);
        gen.writeEndArray();
    }

    private static <T> byte[] line(T item, ObjectWriter<T> object, int bytesHint) {
        ByteArrayBuilder bytes = new ByteArrayBuilder(Math.max(64, bytesHint));
        try (JsonGenerator gen = JSON.createGenerator(bytes, JsonEncoding.UTF8)) {
            object.write(gen, item);
        } catch (IOException x) {
            throw new UncheckedIOException(x); // never: the bytes go to memory
        }
        bytes.append('\n');
        return bytes.toByteArray();
    }

    /** Flushes; closes a file, leaves stdout open for its owner. */
    @Override
    public void close() {
        try {
            if (stdout == null) stream.close();
            else stream.flush();
        } catch (IOException x) {
            throw new CliException("cannot write " + name + ": " + Main.describe(x), x);
        }
    }
}
