package distilbert.weights.onnx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parts of an ONNX model a checkpoint conversion needs: the graph's initializers (named
 * tensors) and its nodes (op type, name, inputs, outputs, float attributes), read straight from
 * the protobuf wire format. No generated code: ONNX's schema is stable and we read six messages
 * of it (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto).
 */
public final class OnnxModel {
    /** An initializer: a constant tensor of the graph, as float32 (FLOAT/DOUBLE/FLOAT16) or int64 (INT64/INT32). */
    public record Initializer(String name, long[] dims, int dataType, float[] floats, long[] longs) {
        public long numel() {
            long n = 1;
            for (long d : dims) n *= d;
            return n;
        }
    }

    /** A node of the graph. {@code floatAttributes} holds attributes of type FLOAT (epsilon, alpha, …). */
    public record Node(String name, String opType, List<String> inputs, List<String> outputs, Map<String, Float> floatAttributes,
                       Initializer tensorAttribute) {}

    // TensorProto.DataType
    static final int FLOAT = 1, INT32 = 6, INT64 = 7, FLOAT16 = 10, DOUBLE = 11, BFLOAT16 = 16;

    private final Path file;
    private final String producer;
    private final Map<String, Initializer> initializers = new LinkedHashMap<>();
    private final List<Node> nodes = new ArrayList<>();
    private final List<String> inputs = new ArrayList<>();
    private final List<String> outputs = new ArrayList<>();

    private OnnxModel(Path file, String producer) {
        this.file = file;
        this.producer = producer;
    }

    /**
     * Reads an ONNX model file.
     *
     * @throws OnnxFormatException naming the file and what is malformed
     */
    public static OnnxModel read(Path file) {
        ByteBuffer buf;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            if (ch.size() > Integer.MAX_VALUE) throw new OnnxFormatException(file + ": larger than 2 GiB; external-data ONNX models are not supported");
            buf = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new OnnxFormatException(file + ": cannot read: " + e.getMessage(), e);
        }
        try {
            Wire model = new Wire(buf, 0, buf.limit());
            String producer = "";
            Wire graph = null;
            while (model.more()) {
                int tag = model.tag();
                switch (tag >>> 3) {
                    case 2 -> producer = model.string(tag);
                    case 7 -> graph = model.message(tag);
                    default -> model.skip(tag);
                }
            }
            if (graph == null) throw new OnnxFormatException(file + ": not an ONNX model: no graph");
            OnnxModel m = new OnnxModel(file, producer);
            m.readGraph(graph);
            return m;
        } catch (IndexOutOfBoundsException | java.nio.BufferUnderflowException | IllegalArgumentException e) {
            throw new OnnxFormatException(file + ": not an ONNX model or truncated (" + e.getClass().getSimpleName() + ")", e);
        }
    }

    private void readGraph(Wire g) {
        while (g.more()) {
            int tag = g.tag();
            switch (tag >>> 3) {
                case 1 -> nodes.add(readNode(g.message(tag)));
                case 5 -> {
                    Initializer t = readTensor(g.message(tag));
                    initializers.put(t.name(), t);
                }
                case 11 -> inputs.add(valueInfoName(g.message(tag)));
                case 12 -> outputs.add(valueInfoName(g.message(tag)));
                default -> g.skip(tag);
            }
        }
    }

    private static String valueInfoName(Wire w) {
        String name = "";
        while (w.more()) {
            int tag = w.tag();
            if (tag >>> 3 == 1) name = w.string(tag);
            else w.skip(tag);
        }
        return name;
    }

    private Node readNode(Wire w) {
        List<String> in = new ArrayList<>(), out = new ArrayList<>();
        String name = "", op = "";
        Map<String, Float> attrs = new LinkedHashMap<>();
        Initializer tensorAttr = null;
        while (w.more()) {
            int tag = w.tag();
            switch (tag >>> 3) {
                case 1 -> in.add(w.string(tag));
                case 2 -> out.add(w.string(tag));
                case 3 -> name = w.string(tag);
                case 4 -> op = w.string(tag);
                case 5 -> {
                    Wire a = w.message(tag);
                    String an = "";
                    Float f = null;
                    Initializer t = null;
                    while (a.more()) {
                        int at = a.tag();
                        switch (at >>> 3) {
                            case 1 -> an = a.string(at);
                            case 2 -> f = a.fixed32Float(at);
                            case 5 -> t = readTensor(a.message(at));
                            default -> a.skip(at);
                        }
                    }
                    if (f != null) attrs.put(an, f);
                    if (t != null && an.equals("value")) tensorAttr = t;
                }
                default -> w.skip(tag);
            }
        }
        return new Node(name, op, List.copyOf(in), List.copyOf(out), attrs, tensorAttr);
    }

    private Initializer readTensor(Wire w) {
        List<Long> dims = new ArrayList<>();
        int type = 0;
        String name = "";
        int rawFrom = -1, rawTo = -1;
        List<Float> floatData = new ArrayList<>();
        List<Long> longData = new ArrayList<>();
        boolean external = false;
        while (w.more()) {
            int tag = w.tag();
            switch (tag >>> 3) {
                case 1 -> w.varints(tag, dims);
                case 2 -> type = (int) w.varint();
                case 4 -> w.floats(tag, floatData);
                case 5, 7 -> w.varints(tag, longData);
                case 8 -> name = w.string(tag);
                case 9 -> {
                    int[] r = w.bytesRange(tag);
                    rawFrom = r[0];
                    rawTo = r[1];
                }
                case 14 -> external = w.varint() == 1;
                default -> w.skip(tag);
            }
        }
        if (external) throw new OnnxFormatException(file + ": tensor '" + name + "' uses external data, which is not supported");
        long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
        long numel = 1;
        for (long d : shape) numel *= d;
        if (numel > Integer.MAX_VALUE) throw new OnnxFormatException(file + ": tensor '" + name + "' has " + numel + " elements");
        int n = (int) numel;
        ByteBuffer raw = rawFrom < 0 ? null : w.buf.slice(rawFrom, rawTo - rawFrom).order(ByteOrder.LITTLE_ENDIAN);
        switch (type) {
            case FLOAT, DOUBLE, FLOAT16, BFLOAT16 -> {
                float[] f = new float[n];
                if (raw != null) {
                    int width = type == DOUBLE ? 8 : type == FLOAT ? 4 : 2;
                    if (raw.remaining() != (long) n * width) throw sizeMismatch(name, shape, raw.remaining(), (long) n * width);
                    for (int i = 0; i < n; i++) {
                        f[i] = switch (type) {
                            case FLOAT -> raw.getFloat(4 * i);
                            case DOUBLE -> (float) raw.getDouble(8 * i);
                            case FLOAT16 -> Float.float16ToFloat(raw.getShort(2 * i));
                            default -> Float.intBitsToFloat((raw.getShort(2 * i) & 0xFFFF) << 16);
                        };
                    }
                } else {
                    if (type != FLOAT) throw new OnnxFormatException(file + ": tensor '" + name + "' of type " + type + " has no raw_data");
                    if (floatData.size() != n) throw sizeMismatch(name, shape, floatData.size() * 4L, (long) n * 4);
                    for (int i = 0; i < n; i++) f[i] = floatData.get(i);
                }
                return new Initializer(name, shape, type, f, null);
            }
            case INT64, INT32 -> {
                long[] l = new long[n];
                if (raw != null) {
                    int width = type == INT64 ? 8 : 4;
                    if (raw.remaining() != (long) n * width) throw sizeMismatch(name, shape, raw.remaining(), (long) n * width);
                    for (int i = 0; i < n; i++) l[i] = type == INT64 ? raw.getLong(8 * i) : raw.getInt(4 * i);
                } else {
                    if (longData.size() != n) throw sizeMismatch(name, shape, longData.size() * 8L, (long) n * 8);
                    for (int i = 0; i < n; i++) l[i] = longData.get(i);
                }
                return new Initializer(name, shape, type, null, l);
            }
            default -> {
                return new Initializer(name, shape, type, null, null);
            }
        }
    }

    private OnnxFormatException sizeMismatch(String name, long[] shape, long have, long want) {
        return new OnnxFormatException(file + ": tensor '" + name + "' of shape " + java.util.Arrays.toString(shape) + " has " + have
                + " bytes of data, expected " + want);
    }

    public Path file() {
        return file;
    }

    public String producer() {
        return producer;
    }

    public Map<String, Initializer> initializers() {
        return initializers;
    }

    public List<Node> nodes() {
        return nodes;
    }

    public List<String> inputs() {
        return inputs;
    }

    public List<String> outputs() {
        return outputs;
    }

    /** Protobuf wire format over a byte range. */
    private static final class Wire {
        final ByteBuffer buf;
        int pos;
        final int end;

        Wire(ByteBuffer buf, int pos, int end) {
            if (end > buf.limit() || pos > end) throw new IndexOutOfBoundsException("length past the end of the file");
            this.buf = buf;
            this.pos = pos;
            this.end = end;
        }

        boolean more() {
            return pos < end;
        }

        int tag() {
            long t = varint();
            if (t >>> 3 == 0) throw new IllegalArgumentException("field number 0");
            return (int) t;
        }

        long varint() {
            long r = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos >= end) throw new IndexOutOfBoundsException("varint past the end");
                byte b = buf.get(pos++);
                r |= (long) (b & 0x7F) << shift;
                if (b >= 0) return r;
            }
            throw new IllegalArgumentException("varint longer than 10 bytes");
        }

        int[] bytesRange(int tag) {
            expect(tag, 2);
            long n = varint();
            if (n < 0 || n > end - pos) throw new IndexOutOfBoundsException("length-delimited field past the end");
            int from = pos;
            pos += (int) n;
            return new int[] {from, pos};
        }

        Wire message(int tag) {
            int[] r = bytesRange(tag);
            return new Wire(buf, r[0], r[1]);
        }

        String string(int tag) {
            int[] r = bytesRange(tag);
            byte[] b = new byte[r[1] - r[0]];
            buf.get(r[0], b);
            return new String(b, StandardCharsets.UTF_8);
        }

        float fixed32Float(int tag) {
            expect(tag, 5);
            float f = buf.getFloat(pos);
            pos += 4;
            return f;
        }

        /** A repeated varint field, packed or not. */
        void varints(int tag, List<Long> out) {
            if ((tag & 7) == 0) {
                out.add(varint());
                return;
            }
            Wire packed = message(tag);
            while (packed.more()) out.add(packed.varint());
        }

        /** A repeated float field, packed or not. */
        void floats(int tag, List<Float> out) {
            if ((tag & 7) == 5) {
                out.add(fixed32Float(tag));
                return;
            }
            int[] r = bytesRange(tag);
            for (int p = r[0]; p + 4 <= r[1]; p += 4) out.add(buf.getFloat(p));
        }

        void skip(int tag) {
            switch (tag & 7) {
                case 0 -> varint();
                case 1 -> pos += 8;
                case 2 -> bytesRange(tag);
                case 5 -> pos += 4;
                default -> throw new IllegalArgumentException("unsupported wire type " + (tag & 7));
            }
            if (pos > end) throw new IndexOutOfBoundsException("field past the end");
        }

        private static void expect(int tag, int wireType) {
            if ((tag & 7) != wireType) throw new IllegalArgumentException("field " + (tag >>> 3) + " has wire type " + (tag & 7));
        }
    }
}
