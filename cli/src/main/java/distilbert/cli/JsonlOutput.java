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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.ToIntFunction;

/**
 * Writes JSONL: one compact JSON object per item, one line each, in order. A batch is turned into
 * bytes on all cores (JSON text is a good share of the work), then written and flushed, on a thread
 * of its own while the caller goes on (runs the next chunk through the model): {@link #write}
 * returns at once, waiting only for the batch before, and {@link #close} waits for the last one, so
 * that everything before a failing input line is on disk when a command stops. A batch's write
 * error is thrown by the next {@code write} or by {@code close}.
 *
 * <p>Floats go through {@link JsonGenerator#writeNumber(float)}, which writes {@link Float#toString}:
 * the shortest decimal that reads back as the same float32 (JDK 19+), not a double's 17 digits.
 */
final class JsonlOutput implements JsonlLines.Sink {
    /** Writes one item as one JSON object (start and end included). */
    @FunctionalInterface
    interface ObjectWriter<T> {
        void write(JsonGenerator gen, T item) throws IOException;
    }

    private static final JsonFactory JSON = new JsonFactory();

    private final String name;
    private final PrintStream stdout; // null when writing a file
    private final OutputStream stream;
    /** Formats and writes the batches, one at a time, in order. */
    private final ExecutorService writer;
    /** The batch being written, or null. */
    private Future<?> pending;

    private JsonlOutput(String name, PrintStream stdout, OutputStream stream) {
        this.name = name;
        this.stdout = stdout;
        this.stream = new BufferedOutputStream(stream, 1 << 16);
        this.writer = Executors.newSingleThreadExecutor(ReadAhead.daemon("distilbert-output"));
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
     * Starts writing one line per item, in order after the lines of the batches before, and
     * flushing them to the file or stdout; returns once the batch before is written. The items
     * (and what {@code object} reads of them) must not change from now on.
     *
     * @param bytesHint a guess of one line's size, to size its buffer
     * @throws CliException when the batch before could not be written
     */
    @Override
    public <T> void write(List<T> items, ObjectWriter<T> object, ToIntFunction<T> bytesHint) {
        finishPending();
        pending = writer.submit(() -> writeNow(items, object, bytesHint));
    }

    private <T> void writeNow(List<T> items, ObjectWriter<T> object, ToIntFunction<T> bytesHint) {
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

    /** Waits for the batch being written; its error, if any, is thrown here. */
    private void finishPending() {
        if (pending == null) return;
        Future<?> p = pending;
        pending = null;
        ReadAhead.await(p, "interrupted while writing " + name);
    }

    /** A JSON array of {@code v[offset, offset + length)}, each float32 in its shortest round-trip form. */
    static void floats(JsonGenerator gen, float[] v, int offset, int length) throws IOException {
        gen.writeStartArray(v, length);
        for (int i = offset; i < offset + length; i++) gen.writeNumber(v[i]);
        gen.writeEndArray();
    }

    /** One item as a JSON line, its newline included. */
    static <T> byte[] line(T item, ObjectWriter<T> object, int bytesHint) {
        ByteArrayBuilder bytes = new ByteArrayBuilder(Math.max(64, bytesHint));
        try (JsonGenerator gen = JSON.createGenerator(bytes, JsonEncoding.UTF8)) {
            object.write(gen, item);
        } catch (IOException x) {
            throw new UncheckedIOException(x); // never: the bytes go to memory
        }
        bytes.append('\n');
        return bytes.toByteArray();
    }

    /**
     * Waits for the last batch, flushes, closes a file and leaves stdout open for its owner.
     *
     * @throws CliException when the last batch could not be written
     */
    @Override
    public void close() {
        RuntimeException failure = null;
        try {
            finishPending();
        } catch (RuntimeException e) {
            failure = e;
        }
        writer.shutdown();
        try {
            if (stdout == null) stream.close();
            else stream.flush();
        } catch (IOException x) {
            CliException e = new CliException("cannot write " + name + ": " + Main.describe(x), x);
            if (failure == null) failure = e;
            else failure.addSuppressed(e);
        }
        if (failure != null) throw failure;
    }
}
