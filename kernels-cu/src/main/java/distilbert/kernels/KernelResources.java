package distilbert.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * Where the compiled kernels live on the classpath: {@code distilbert/kernels/<name>.fatbin}, one per
 * {@code src/main/cuda/<name>.cu}. Reading them is all this module does at run time; loading them
 * into a GPU context is the bridge's job.
 */
public final class KernelResources {

    /** Classpath folder of the fatbins, no leading slash. */
    public static final String DIRECTORY = "distilbert/kernels/";

    private KernelResources() {}

    /** Classpath path of the fatbin built from {@code <name>.cu}. */
    public static String resourcePath(String name) {
        return DIRECTORY + name + ".fatbin";
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
