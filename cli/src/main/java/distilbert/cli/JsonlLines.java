package distilbert.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.function.ToIntFunction;

/** Where a command's job writes its lines: the output itself ({@link Sink}), or a chunk's {@link Deferred} lines. */
interface JsonlLines {

    /** One line per item, in order after the lines written before; see {@link JsonlOutput#write}. */
    <T> void write(List<T> items, JsonlOutput.ObjectWriter<T> object, ToIntFunction<T> bytesHint);

    /** A command's output: JSONL ({@link JsonlOutput}) or an embeddings array ({@link NpyOutput}); closing finishes it. */
    interface Sink extends JsonlLines, AutoCloseable {
        @Override
        void close();
    }

    /**
     * Lines kept, not written: a chunk run on one of several GPUs at once records its writes here,
     * and they are written to the output ({@link #writeTo}) once every chunk before it has been.
     */
    final class Deferred implements JsonlLines {
        private final List<Runnable> writes = new ArrayList<>();
        private JsonlLines target;

        @Override
        public synchronized <T> void write(List<T> items, JsonlOutput.ObjectWriter<T> object, ToIntFunction<T> bytesHint) {
            writes.add(() -> target.write(items, object, bytesHint));
        }

        /** Writes what was recorded to {@code out}, in the order it was recorded. */
        synchronized void writeTo(JsonlLines out) {
            target = out;
            for (Runnable w : writes) w.run();
            writes.clear();
        }
    }
}
