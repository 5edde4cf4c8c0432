package distilbert.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where the compiled kernels live on the classpath: {@code distilbert/kernels/<name>.fatbin}, one per
 * {@code src/main/cuda/<name>.cu}, and beside it {@code <name>.signatures}, the parameter types of
 * each of its kernels as the compiled PTX declares them. Reading them is all this module does at run
 * time; loading them into a GPU context is the bridge's job.
 */
public final class KernelResources {

    /** Classpath folder of the fatbins, no leading slash. */
    public static final String DIRECTORY = "distilbert/kernels/";

    private KernelResources() {}

    /** Classpath path of the fatbin built from {@code <name>.cu}. */
    public static String resourcePath(String name) {
        return DIRECTORY + name + ".fatbin";
    }

    /** Classpath path of the parameter list of the kernels built from {@code <name>.cu}. */
    public static String signaturesPath(String name) {
        return DIRECTORY + name + ".signatures";
    }

    /**
     * The parameter types of every kernel built from {@code <name>.cu}, by kernel name, as the PTX
     * declares them: {@code u64} a pointer, {@code u32} an int, {@code f32} a float, in order.
     *
     * @throws IllegalStateException if the file is not on the classpath or a line is not {@code name type,type,...}
     */
    public static Map<String, List<String>> signatures(String name) {
        String path = signaturesPath(name);
        String text;
        try (InputStream in = KernelResources.class.getClassLoader().getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException("kernel file " + path + " is not on the classpath: "
                        + "the kernels-cu jar is missing, or was built without " + name + ".cu");
            }
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read kernel file " + path, e);
        }
        return parseSignatures(path, text);
    }

    /** {@link #signatures}' parse of a file's text ({@code what} names it in errors). */
    static Map<String, List<String>> parseSignatures(String what, String text) {
        Map<String, List<String>> out = new LinkedHashMap<>();
        int n = 0;
        for (String line : text.split("\n")) {
            n++;
            if (line.isBlank()) {
                continue;
            }
            String[] parts = line.strip().split(" ", -1);
            List<String> types = parts.length == 2 ? Arrays.asList(parts[1].split(",", -1)) : List.of();
            if (parts.length > 2 || parts.length == 2 && parts[1].isEmpty()
                    || !types.stream().allMatch(t -> t.equals("u64") || t.equals("u32") || t.equals("s32") || t.equals("f32"))) {
                throw new IllegalStateException(what + " line " + n + ": expected 'kernel type,type,...' with types u64, u32, "
                        + "s32 or f32, got '" + line + "'");
            }
            out.put(parts[0], List.copyOf(types));
        }
        return out;
    }

    /**
     * The bytes of the fatbin built from {@code <name>.cu}.
     *
     * @throws IllegalStateException if it is not on the classpath, or is not a fatbin
     */
    public static byte[] read(String name) {
        String path = resourcePath(name);
        byte[] bytes;
        try (InputStream in = KernelResources.class.getClassLoader().getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException("kernel file " + path + " is not on the classpath: "
                        + "the kernels-cu jar is missing, or was built without " + name + ".cu");
            }
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read kernel file " + path, e);
        }
        if (!Fatbin.hasMagic(bytes)) {
            throw new IllegalStateException("kernel file " + path + " is not a CUDA fatbin (wrong magic number)");
        }
        return bytes;
    }
}
