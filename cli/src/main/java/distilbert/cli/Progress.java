package distilbert.cli;

import distilbert.model.LengthBatches;
import java.io.PrintStream;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * One updating line on stderr while a command streams rows: rows done, rows/s, tokens/s and,
 * when the input's size is known, the share of its bytes read and an ETA. Only on a terminal:
 * {@link #off()} prints nothing, which is what pipes, files and CI get. Redrawn at most four
 * times a second with a carriage return (no terminal escapes); {@link #close()} leaves the last
 * line standing. Thread-safe: the jobs of several GPUs advance one progress line.
 *
 * <pre>{@code
 * try (Progress progress = io.errIsTerminal() ? Progress.on(err, "tokenize", input.size(), input::bytesRead) : Progress.off()) {
 *     ... progress.advance(batch.size(), tokens); ...
 * }
 * }</pre>
 */
final class Progress implements AutoCloseable, LengthBatches.Listener {
    private static final long REDRAW_NANOS = 250_000_000L;

    private final PrintStream err; // null: off
    private final String label;
    private final long bytesTotal; // < 0: unknown
    private final LongSupplier bytesDone;
    private final LongSupplier clock;
    private final long start;
    private long rows;
    private long tokens;
    private long lastDraw;
    private int lastWidth;
    private boolean drawn;

    Progress(PrintStream err, String label, long bytesTotal, LongSupplier bytesDone, LongSupplier nanoClock) {
        this.err = err;
        this.label = label;
        this.bytesTotal = bytesTotal;
        this.bytesDone = bytesDone;
        this.clock = nanoClock;
        this.start = nanoClock.getAsLong();
        this.lastDraw = start;
    }

    /** A progress line on {@code err}; {@code bytesTotal} < 0 when the input's size is unknown. */
    static Progress on(PrintStream err, String label, long bytesTotal, LongSupplier bytesDone) {
        return new Progress(err, label, bytesTotal, bytesDone, System::nanoTime);
    }

    /** Counts, prints nothing. */
    static Progress off() {
        return new Progress(null, "", -1, () -> 0, () -> 0);
    }

    /** Records {@code rows} more rows holding {@code tokens} more tokens; redraws if it is time. */
    @Override
    public synchronized void advance(long rows, long tokens) {
        this.rows += rows;
        this.tokens += tokens;
        if (err == null) return;
        long now = clock.getAsLong();
        if (now - lastDraw >= REDRAW_NANOS) {
            draw(line(now, false));
            lastDraw = now;
        }
    }

    synchronized long rows() {
        return rows;
    }

    synchronized long tokens() {
        return tokens;
    }

    /** The line as it would be drawn now; {@code finished}: no percentage or ETA, the total time instead. */
    synchronized String line(long now, boolean finished) {
        double seconds = Math.max(1e-9, (now - start) / 1e9);
        StringBuilder s = new StringBuilder(label).append(": ")
                .append(String.format(Locale.ROOT, "%,d", rows)).append(rows == 1 ? " row" : " rows")
                .append(", ").append(rate(rows / seconds)).append(" rows/s")
                .append(", ").append(rate(tokens / seconds)).append(" tokens/s");
        if (finished) {
            s.append(", ").append(duration(seconds));
        } else if (bytesTotal > 0) {
            long done = Math.min(bytesDone.getAsLong(), bytesTotal);
            s.append(", ").append(done * 100 / bytesTotal).append('%');
            if (done > 0 && done < bytesTotal) s.append(", ETA ").append(duration(seconds * (bytesTotal - done) / done));
        }
        return s.toString();
    }

    private void draw(String line) {
        err.print("\r" + line + " ".repeat(Math.max(0, lastWidth - line.length())));
        err.flush();
        lastWidth = line.length();
        drawn = true;
    }

    /** Draws the final line and ends it, if anything was drawn or counted. */
    @Override
    public synchronized void close() {
        if (err == null || (!drawn && rows == 0)) return;
        draw(line(clock.getAsLong(), true));
        err.println();
        err.flush();
    }

    /** 950, 12.3k, 4.56M: three significant digits are plenty for a rate. */
    static String rate(double perSecond) {
        if (perSecond < 1000) return String.format(Locale.ROOT, "%.0f", perSecond);
        if (perSecond < 1e6) return String.format(Locale.ROOT, perSecond < 1e4 ? "%.2fk" : perSecond < 1e5 ? "%.1fk" : "%.0fk", perSecond / 1e3);
        return String.format(Locale.ROOT, perSecond < 1e7 ? "%.2fM" : perSecond < 1e8 ? "%.1fM" : "%.0fM", perSecond / 1e6);
    }

    /** 0:07, 12:34, 1:02:03. */
    static String duration(double seconds) {
        long s = Math.round(seconds);
        if (s < 3600) return String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
        return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    }
}
