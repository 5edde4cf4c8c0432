package distilbert.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A NumPy {@code .npy} file of float32 (rows, dim), little-endian, C order: what {@code embed --format
 * npy} writes and {@code numpy.save} writes for such an array (format versions 1.0 to 3.0). Anything
 * else is an error naming the file and what it holds.
 *
 * @param values [rows · dim] row-major
 */
record NpyInput(Path file, int rows, int dim, float[] values) {

    private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\((\\d+),\\s*(\\d+),?\\s*\\)");

    static NpyInput read(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer head = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
            while (head.hasRemaining() && ch.read(head) >= 0) { }
            head.flip();
            if (head.remaining() < 10 || (head.get(0) & 0xff) != 0x93 || head.get(1) != 'N' || head.get(2) != 'U'
                    || head.get(3) != 'M' || head.get(4) != 'P' || head.get(5) != 'Y') {
                throw new CliException(file + ": not a NumPy .npy file (no \\x93NUMPY magic)");
            }
            int major = head.get(6);
            long headerLength = major == 1 ? head.getShort(8) & 0xffff : head.getInt(8) & 0xffffffffL;
            long dataStart = (major == 1 ? 10 : 12) + headerLength;
            if (major < 1 || major > 3 || headerLength > 1 << 20) {
                throw new CliException(file + ": unsupported .npy version " + major + "." + head.get(7));
            }
            ByteBuffer h = ByteBuffer.allocate((int) headerLength);
            ch.position(major == 1 ? 10 : 12);
            while (h.hasRemaining() && ch.read(h) >= 0) { }
            String dict = new String(h.array(), StandardCharsets.ISO_8859_1);
            if (!dict.matches("(?s).*'descr':\\s*'<f4'.*")) {
                throw new CliException(file + ": holds " + field(dict, "descr") + ", not float32 ('<f4')");
            }
            if (!dict.matches("(?s).*'fortran_order':\\s*False.*")) {
                throw new CliException(file + ": is in Fortran order; save it in C order (numpy.ascontiguousarray)");
            }
            Matcher m = SHAPE.matcher(dict);
            if (!m.find()) throw new CliException(file + ": shape " + field(dict, "shape") + " is not (rows, dim)");
            long rows = Long.parseLong(m.group(1)), dim = Long.parseLong(m.group(2));
            if (rows * dim > Integer.MAX_VALUE - 8) {
                throw new CliException(file + ": " + rows + " × " + dim + " values are more than one array holds here");
            }
            long bytes = rows * dim * Float.BYTES;
            if (ch.size() - dataStart < bytes) {
                throw new CliException(file + ": the header says (" + rows + ", " + dim + ") but the file holds "
                        + Math.max(0, ch.size() - dataStart) + " bytes of data, not " + bytes);
            }
            float[] values = new float[(int) (rows * dim)];
            ByteBuffer data = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            ch.position(dataStart);
            int at = 0;
            while (at < values.length) {
                data.clear();
                data.limit((int) Math.min(data.capacity(), (long) (values.length - at) * Float.BYTES));
                while (data.hasRemaining() && ch.read(data) >= 0) { }
                data.flip();
                int n = data.remaining() / Float.BYTES;
                data.asFloatBuffer().get(values, at, n);
                at += n;
            }
            return new NpyInput(file, (int) rows, (int) dim, values);
        } catch (NoSuchFileException e) {
            throw new CliException(file + ": no such file", e);
        } catch (IOException e) {
            throw new CliException("cannot read " + file + ": " + Main.describe(e), e);
        }
    }

    /** The value of {@code key} in the header dict, as written there: a string, or a tuple in parentheses. */
    private static String field(String dict, String key) {
        Matcher m = Pattern.compile("'" + key + "':\\s*(\\([^)]*\\)|'[^']*'|[^,}]+)").matcher(dict);
        return m.find() ? m.group(1).strip() : "no '" + key + "'";
    }
}
