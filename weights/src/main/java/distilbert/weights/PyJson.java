package distilbert.weights;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * Writes JSON the way Python's {@code json.dumps(obj, indent=2, sort_keys=True)} does, which is how
 * transformers writes config.json and model.safetensors.index.json: two-space indent, {@code ", "}
 * replaced by {@code ","} at line ends, {@code ": "} between key and value, keys sorted (integer
 * keys numerically, as Python sorts them before turning them into strings), non-ASCII escaped as
 * {@code \\uXXXX} (ensure_ascii), floats in Python's shortest {@code repr}. A file that HF wrote
 * comes back byte for byte.
 */
final class PyJson {
    private PyJson() {}

    static String dumps(Object value) {
        StringBuilder out = new StringBuilder();
        write(out, value, 0);
        return out.toString();
    }

    private static void write(StringBuilder out, Object v, int depth) {
        switch (v) {
            case null -> out.append("null");
            case String s -> string(out, s, true);
            case Boolean b -> out.append(b ? "true" : "false");
            case Double d -> out.append(floatRepr(d));
            case Float f -> out.append(floatRepr(f.doubleValue()));
            case BigDecimal d -> out.append(floatRepr(d.doubleValue()));
            case Number n -> out.append(n.toString()); // Integer, Long, BigInteger
            case Map<?, ?> m -> object(out, m, depth);
            case Collection<?> c -> array(out, c, depth);
            case Object[] a -> array(out, List.of(a), depth);
            default -> throw new IllegalArgumentException("cannot write " + v.getClass().getName() + " as JSON");
        }
    }

    private static void object(StringBuilder out, Map<?, ?> m, int depth) {
        if (m.isEmpty()) {
            out.append("{}");
            return;
        }
        List<Map.Entry<?, ?>> entries = new ArrayList<>(m.entrySet());
        boolean allInts = entries.stream().allMatch(e -> e.getKey() instanceof Integer || e.getKey() instanceof Long);
        if (allInts) {
            entries.sort((a, b) -> Long.compare(((Number) a.getKey()).longValue(), ((Number) b.getKey()).longValue()));
        } else {
            entries.sort((a, b) -> String.valueOf(a.getKey()).compareTo(String.valueOf(b.getKey())));
        }
        out.append("{\n");
        for (int i = 0; i < entries.size(); i++) {
            indent(out, depth + 1);
            string(out, String.valueOf(entries.get(i).getKey()), true);
            out.append(": ");
            write(out, entries.get(i).getValue(), depth + 1);
            out.append(i + 1 < entries.size() ? ",\n" : "\n");
        }
        indent(out, depth);
        out.append('}');
    }

    private static void array(StringBuilder out, Collection<?> c, int depth) {
        if (c.isEmpty()) {
            out.append("[]");
            return;
        }
        out.append("[\n");
        int i = 0;
        for (Object item : c) {
            indent(out, depth + 1);
            write(out, item, depth + 1);
            out.append(++i < c.size() ? ",\n" : "\n");
        }
        indent(out, depth);
        out.append(']');
    }

    private static void indent(StringBuilder out, int depth) {
        out.append("  ".repeat(depth));
    }

    /**
     * A JSON string literal: quote, backslash and control characters escaped, and with
     * {@code asciiOnly} every character above 0x7e as {@code \\uXXXX} (Python's json.dumps,
     * ensure_ascii); without it, the rest raw (serde_json, for the safetensors header).
     */
    static void string(StringBuilder out, String s, boolean asciiOnly) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20 || asciiOnly && c > 0x7e) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
                }
            }
        }
        out.append('"');
    }

    /** Python's {@code repr(float)}: shortest round-trip digits; exponent form below 1e-4 and from 1e16. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) return "NaN";
        if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
        if (d == 0) return (1 / d < 0) ? "-0.0" : "0.0";
        String sign = d < 0 ? "-" : "";
        // Double.toString gives the shortest digits that round-trip (JDK 19+), as Python's repr does.
        BigDecimal bd = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
        String digits = bd.unscaledValue().toString();
        int decpt = digits.length() - bd.scale(); // value = 0.DIGITS × 10^decpt
        if (decpt > -4 && decpt <= 16) {
            if (decpt <= 0) return sign + "0." + "0".repeat(-decpt) + digits;
            if (decpt >= digits.length()) return sign + digits + "0".repeat(decpt - digits.length()) + ".0";
            return sign + digits.substring(0, decpt) + "." + digits.substring(decpt);
        }
        int exp = decpt - 1;
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        return sign + mantissa + "e" + (exp < 0 ? "-" : "+") + String.format("%02d", Math.abs(exp));
    }
}
