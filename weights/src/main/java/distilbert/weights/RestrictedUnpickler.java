package distilbert.weights;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the pickle a {@code torch.save(state_dict)} writes ({@code data.pkl}) without executing
 * anything. It implements only the opcodes such a pickle uses (protocols 2-5, binary forms) and
 * resolves only an allowlist of globals, each to a Java stand-in: {@code collections.OrderedDict}
 * (a map), {@code torch._utils._rebuild_tensor_v2} and friends (a {@link TensorRef}), the
 * {@code torch.*Storage} classes and {@code torch.<dtype>} (element types). Any other global is
 * refused when it is named, before anything could call it.
 *
 * <p>Pickle values become: None → {@link #NONE}, bool → Boolean, int → Long (or BigInteger),
 * float → Double, str → String, bytes → byte[], tuple → {@link Tuple}, list → ArrayList,
 * dict/OrderedDict → LinkedHashMap.
 */
final class RestrictedUnpickler {
    /** Python None (the stack cannot hold Java null in messages clearly). */
    static final Object NONE = new Object() {
        @Override
        public String toString() {
            return "None";
        }
    };
    private static final Object MARK = new Object();

    record Tuple(List<Object> items) {
        Object get(int i) {
            return items.get(i);
        }

        int size() {
            return items.size();
        }
    }

    /** A resolved, allowlisted global. */
    record Global(String module, String name) {
        String qualified() {
            return module + "." + name;
        }
    }

    /** {@code ('storage', torch.FloatStorage, key, location, numel)}: a storage file archive/data/{key}. */
    record StorageRef(String key, DType dtype, String location, long numel) {}

    /** A tensor as _rebuild_tensor_v2 describes it: a strided view of a storage. */
    record TensorRef(StorageRef storage, long offset, long[] size, long[] stride) {}

    private static final Map<String, DType> STORAGES = Map.ofEntries(
            Map.entry("FloatStorage", DType.F32), Map.entry("HalfStorage", DType.F16),
            Map.entry("BFloat16Storage", DType.BF16), Map.entry("DoubleStorage", DType.F64),
            Map.entry("LongStorage", DType.I64), Map.entry("IntStorage", DType.I32),
            Map.entry("ShortStorage", DType.I16), Map.entry("CharStorage", DType.I8),
            Map.entry("ByteStorage", DType.U8), Map.entry("BoolStorage", DType.BOOL));

    private static final Map<String, DType> TORCH_DTYPES = Map.ofEntries(
            Map.entry("float32", DType.F32), Map.entry("float", DType.F32), Map.entry("float16", DType.F16),
            Map.entry("half", DType.F16), Map.entry("bfloat16", DType.BF16), Map.entry("float64", DType.F64),
            Map.entry("double", DType.F64), Map.entry("int64", DType.I64), Map.entry("long", DType.I64),
            Map.entry("int32", DType.I32), Map.entry("int", DType.I32), Map.entry("int16", DType.I16),
            Map.entry("short", DType.I16), Map.entry("int8", DType.I8), Map.entry("uint8", DType.U8),
            Map.entry("bool", DType.BOOL));

    private static final java.util.Set<String> CALLABLES = java.util.Set.of(
            "collections.OrderedDict",
            "torch._utils._rebuild_tensor_v2",
            "torch._utils._rebuild_tensor",
            "torch._utils._rebuild_parameter",
            "torch._utils._rebuild_parameter_with_state",
            "torch._tensor._rebuild_from_type_v2");

    private static final java.util.Set<String> TENSOR_TYPES = java.util.Set.of(
            "torch.Tensor", "torch.nn.parameter.Parameter");

    private final String file;
    private final byte[] in;
    private int pos;
    private final List<Object> stack = new ArrayList<>();
    private final Map<Long, Object> memo = new HashMap<>();

    private RestrictedUnpickler(String file, byte[] in) {
        this.file = file;
        this.in = in;
    }

    /** Unpickles {@code pickle}; {@code file} names the source in errors. */
    static Object load(String file, byte[] pickle) {
        return new RestrictedUnpickler(file, pickle).run();
    }

    static DType storageDType(Global g) {
        return g.module().equals("torch") ? STORAGES.get(g.name()) : null;
    }

    private Object run() {
        while (true) {
            if (pos >= in.length) throw malformed("ends without a STOP opcode (truncated)");
            int at = pos;
            int op = in[pos++] & 0xFF;
            switch (op) {
                case 0x80 -> { // PROTO
                    int proto = u8();
                    if (proto > 5) throw malformed("pickle protocol " + proto + " is newer than 5");
                }
                case 0x95 -> bytes(8); // FRAME: a length hint only
                case '.' -> { // STOP
                    return pop(at, op);
                }
                case '(' -> stack.add(MARK);
                case '0' -> pop(at, op); // POP
                case '1' -> popMark(at, op); // POP_MARK
                case '2' -> push(peek(at, op)); // DUP
                case 'N' -> push(NONE);
                case 0x88 -> push(Boolean.TRUE);
                case 0x89 -> push(Boolean.FALSE);
                case 'J' -> push(le(4, true));
                case 'K' -> push((long) u8());
                case 'M' -> push(le(2, false));
                case 0x8a -> push(longN(u8())); // LONG1
                case 0x8b -> { // LONG4
                    long n = le(4, true);
                    if (n < 0 || n > 64) throw malformed("integer of " + n + " bytes at byte " + at + " is too large for a state dict");
                    push(longN((int) n));
                }
                case 'G' -> { // BINFLOAT: big-endian double
                    long bits = 0;
                    for (byte b : bytes(8)) bits = (bits << 8) | (b & 0xFF);
                    push(Double.longBitsToDouble(bits));
                }
                case 'X' -> push(utf8(bytes(len32())));
                case 0x8c -> push(utf8(bytes(u8()))); // SHORT_BINUNICODE
                case 0x8d -> push(utf8(bytes(len64()))); // BINUNICODE8
                case 'T' -> push(new String(bytes(len32()), StandardCharsets.ISO_8859_1)); // BINSTRING
                case 'U' -> push(new String(bytes(u8()), StandardCharsets.ISO_8859_1)); // SHORT_BINSTRING
                case 'B' -> push(bytes(len32())); // BINBYTES
                case 'C' -> push(bytes(u8())); // SHORT_BINBYTES
                case 0x8e -> push(bytes(len64())); // BINBYTES8
                case ')' -> push(new Tuple(List.of()));
                case 't' -> push(new Tuple(popMark(at, op)));
                case 0x85 -> push(tupleOf(at, op, 1));
                case 0x86 -> push(tupleOf(at, op, 2));
                case 0x87 -> push(tupleOf(at, op, 3));
                case ']' -> push(new ArrayList<>());
                case 'l' -> push(new ArrayList<>(popMark(at, op)));
                case 'a' -> { // APPEND
                    Object v = pop(at, op);
                    list(peek(at, op), at, op).add(v);
                }
                case 'e' -> { // APPENDS
                    List<Object> items = popMark(at, op);
                    list(peek(at, op), at, op).addAll(items);
                }
                case '}' -> push(new LinkedHashMap<>());
                case 'd' -> push(dictOf(popMark(at, op), at, op));
                case 's' -> { // SETITEM
                    Object v = pop(at, op);
                    Object k = pop(at, op);
                    map(peek(at, op), at, op).put(k, v);
                }
                case 'u' -> { // SETITEMS
                    List<Object> kv = popMark(at, op);
                    map(peek(at, op), at, op).putAll(dictOf(kv, at, op));
                }
                case 'q' -> memo.put((long) u8(), peek(at, op)); // BINPUT
                case 'r' -> memo.put(le(4, false), peek(at, op)); // LONG_BINPUT
                case 0x94 -> memo.put((long) memo.size(), peek(at, op)); // MEMOIZE
                case 'h' -> push(memoGet(u8(), at));
                case 'j' -> push(memoGet(le(4, false), at));
                case 'c' -> push(global(line(), line())); // GLOBAL "module\nname\n"
                case 0x93 -> { // STACK_GLOBAL
                    Object name = pop(at, op), module = pop(at, op);
                    if (!(module instanceof String m) || !(name instanceof String n)) {
                        throw malformed("STACK_GLOBAL at byte " + at + " needs two strings");
                    }
                    push(global(m, n));
                }
                case 'R' -> { // REDUCE
                    Object args = pop(at, op);
                    Object callable = pop(at, op);
                    if (!(args instanceof Tuple t)) throw malformed("REDUCE at byte " + at + " without an argument tuple");
                    push(call(callable, t, at));
                }
                case 'b' -> { // BUILD: only OrderedDict's instance state (the state dict's _metadata) reaches here
                    Object state = pop(at, op);
                    Object target = peek(at, op);
                    if (!(target instanceof Map<?, ?>)) {
                        throw malformed("BUILD at byte " + at + " on " + describe(target) + " (only dict state is supported)");
                    }
                    if (!(state instanceof Map<?, ?>) && !(state instanceof Tuple) && state != NONE) {
                        throw malformed("BUILD at byte " + at + " with state " + describe(state));
                    }
                }
                case 'Q' -> push(persistentLoad(pop(at, op), at)); // BINPERSID
                default -> throw new CheckpointException(file + ": unsupported pickle opcode 0x" + Integer.toHexString(op)
                        + (op >= 0x20 && op < 0x7f ? " ('" + (char) op + "')" : "") + " at byte " + at
                        + " of data.pkl (only what torch.save writes for a state dict is supported)");
            }
        }
    }

    private Object global(String module, String name) {
        String q = module + "." + name;
        if (CALLABLES.contains(q) || TENSOR_TYPES.contains(q)) return new Global(module, name);
        if (module.equals("torch") && (STORAGES.containsKey(name) || TORCH_DTYPES.containsKey(name))) return new Global(module, name);
        throw new CheckpointException(file + ": refusing to load global '" + q + "' (only state-dict tensors are allowed)");
    }

    private Object call(Object callable, Tuple args, int at) {
        if (!(callable instanceof Global g) || !CALLABLES.contains(g.qualified())) {
            throw malformed("REDUCE at byte " + at + " calls " + describe(callable) + ", which is not callable here");
        }
        return switch (g.qualified()) {
            case "collections.OrderedDict" -> {
                LinkedHashMap<Object, Object> m = new LinkedHashMap<>();
                if (args.size() == 1 && args.get(0) instanceof List<?> pairs) {
                    for (Object p : pairs) {
                        if (!(p instanceof Tuple kv) || kv.size() != 2) throw malformed("OrderedDict at byte " + at + " from a non-pair");
                        m.put(kv.get(0), kv.get(1));
                    }
                } else if (args.size() != 0) {
                    throw malformed("OrderedDict at byte " + at + " with unexpected arguments");
                }
                yield m;
            }
            case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor" -> rebuildTensor(args, at);
            case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state" -> {
                if (args.size() < 1 || !(args.get(0) instanceof TensorRef t)) throw malformed("_rebuild_parameter at byte " + at + " without a tensor");
                yield t;
            }
            case "torch._tensor._rebuild_from_type_v2" -> {
                // (func, type, args, state): only plain tensors and Parameters, rebuilt by an allowlisted func
                if (args.size() < 3 || !(args.get(1) instanceof Global type) || !TENSOR_TYPES.contains(type.qualified())
                        || !(args.get(2) instanceof Tuple inner)) {
                    throw malformed("_rebuild_from_type_v2 at byte " + at + " for an unsupported tensor type");
                }
                yield call(args.get(0), inner, at);
            }
            default -> throw malformed("cannot call " + g.qualified());
        };
    }

    /** _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
    private TensorRef rebuildTensor(Tuple a, int at) {
        if (a.size() < 4 || !(a.get(0) instanceof StorageRef s) || !(a.get(1) instanceof Long offset)
                || !(a.get(2) instanceof Tuple size) || !(a.get(3) instanceof Tuple stride) || size.size() != stride.size()) {
            throw malformed("_rebuild_tensor_v2 at byte " + at + " with arguments " + describe(a)
                    + " (expected storage, offset, size tuple, stride tuple)");
        }
        return new TensorRef(s, offset, longs(size, at), longs(stride, at));
    }

    private long[] longs(Tuple t, int at) {
        long[] out = new long[t.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(t.get(i) instanceof Long v)) throw malformed("tensor size/stride at byte " + at + " holds " + describe(t.get(i)));
            out[i] = v;
        }
        return out;
    }

    private Object persistentLoad(Object pid, int at) {
        if (!(pid instanceof Tuple t) || t.size() < 5 || !"storage".equals(t.get(0))) {
            throw malformed("persistent id at byte " + at + " is " + describe(pid) + ", not ('storage', type, key, location, numel)");
        }
        DType dtype = null;
        if (t.get(1) instanceof Global g) {
            dtype = storageDType(g);
            if (dtype == null && g.module().equals("torch")) dtype = TORCH_DTYPES.get(g.name());
        }
        if (dtype == null) throw malformed("persistent id at byte " + at + " has storage type " + describe(t.get(1)));
        if (!(t.get(2) instanceof String key) || !(t.get(4) instanceof Long numel) || numel < 0) {
            throw malformed("persistent id at byte " + at + " is " + describe(pid));
        }
        String location = t.get(3) instanceof String l ? l : "?";
        return new StorageRef(key, dtype, location, numel);
    }

    // ---------------------------------------------------------------------------------------------
    // stack and input helpers; every failure is a CheckpointException naming the file

    private CheckpointException malformed(String what) {
        return new CheckpointException(file + ": data.pkl is malformed or not a state dict: " + what);
    }

    private void push(Object o) {
        stack.add(o);
    }

    private Object pop(int at, int op) {
        if (stack.isEmpty() || stack.getLast() == MARK) throw malformed("stack underflow at byte " + at + " (opcode 0x" + Integer.toHexString(op) + ")");
        return stack.removeLast();
    }

    private Object peek(int at, int op) {
        if (stack.isEmpty() || stack.getLast() == MARK) throw malformed("stack underflow at byte " + at + " (opcode 0x" + Integer.toHexString(op) + ")");
        return stack.getLast();
    }

    private List<Object> popMark(int at, int op) {
        int m = stack.lastIndexOf(MARK);
        if (m < 0) throw malformed("no MARK before byte " + at + " (opcode 0x" + Integer.toHexString(op) + ")");
        List<Object> items = new ArrayList<>(stack.subList(m + 1, stack.size()));
        stack.subList(m, stack.size()).clear();
        return items;
    }

    private Tuple tupleOf(int at, int op, int n) {
        Object[] items = new Object[n];
        for (int i = n - 1; i >= 0; i--) items[i] = pop(at, op);
        return new Tuple(Arrays.asList(items));
    }

    private LinkedHashMap<Object, Object> dictOf(List<Object> kv, int at, int op) {
        if (kv.size() % 2 != 0) throw malformed("odd number of items for a dict at byte " + at);
        LinkedHashMap<Object, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.size(); i += 2) m.put(kv.get(i), kv.get(i + 1));
        return m;
    }

    @SuppressWarnings("unchecked")
    private List<Object> list(Object o, int at, int op) {
        if (o instanceof ArrayList<?> l) return (List<Object>) l;
        throw malformed("append at byte " + at + " to " + describe(o));
    }

    @SuppressWarnings("unchecked")
    private Map<Object, Object> map(Object o, int at, int op) {
        if (o instanceof LinkedHashMap<?, ?> m) return (Map<Object, Object>) m;
        throw malformed("setitem at byte " + at + " on " + describe(o));
    }

    private Object memoGet(long key, int at) {
        Object v = memo.get(key);
        if (v == null) throw malformed("memo key " + key + " read at byte " + at + " was never stored");
        return v;
    }

    private int u8() {
        need(1);
        return in[pos++] & 0xFF;
    }

    private long le(int n, boolean signed) {
        need(n);
        long v = 0;
        for (int i = n - 1; i >= 0; i--) v = (v << 8) | (in[pos + i] & 0xFF);
        pos += n;
        if (signed && n < 8 && (v & (1L << (8 * n - 1))) != 0) v -= 1L << (8 * n);
        return v;
    }

    private int len32() {
        long n = le(4, false);
        if (n > in.length - pos) throw malformed("a string of " + n + " bytes runs past the end of data.pkl");
        return (int) n;
    }

    private int len64() {
        long n = le(8, false);
        if (n < 0 || n > in.length - pos) throw malformed("a string of " + Long.toUnsignedString(n) + " bytes runs past the end of data.pkl");
        return (int) n;
    }

    private Object longN(int n) {
        byte[] b = bytes(n);
        if (n == 0) return 0L;
        byte[] be = new byte[n];
        for (int i = 0; i < n; i++) be[i] = b[n - 1 - i];
        BigInteger v = new BigInteger(be);
        return v.bitLength() < 64 ? (Object) v.longValue() : v;
    }

    private byte[] bytes(int n) {
        need(n);
        byte[] b = Arrays.copyOfRange(in, pos, pos + n);
        pos += n;
        return b;
    }

    private String line() {
        int start = pos;
        while (pos < in.length && in[pos] != '\n') pos++;
        if (pos >= in.length) throw malformed("GLOBAL name runs past the end of data.pkl");
        String s = new String(in, start, pos - start, StandardCharsets.UTF_8);
        pos++;
        return s;
    }

    private void need(int n) {
        if (n < 0 || n > in.length - pos) throw malformed("truncated at byte " + pos + " (needs " + n + " more bytes)");
    }

    private static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    static String describe(Object o) {
        return switch (o) {
            case null -> "null";
            case Global g -> "global " + g.qualified();
            case Tuple t -> "tuple of " + t.size();
            case String s -> "'" + (s.length() > 40 ? s.substring(0, 40) + "…" : s) + "'";
            case Map<?, ?> m -> "dict of " + m.size();
            case List<?> l -> "list of " + l.size();
            default -> o == NONE ? "None" : o.getClass().getSimpleName() + " " + o;
        };
    }
}
