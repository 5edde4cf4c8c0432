package distilbert.weights;

import distilbert.weights.RestrictedUnpickler.StorageRef;
import distilbert.weights.RestrictedUnpickler.TensorRef;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * A {@code pytorch_model.bin} as {@code torch.save} writes it since PyTorch 1.6: a zip holding
 * {@code <top>/data.pkl} (the pickled state dict), {@code <top>/data/<key>} (one raw little-endian
 * file per storage), {@code <top>/version} and {@code <top>/byteorder}; the top folder's name varies.
 * The pickle is read by {@link RestrictedUnpickler}, which never executes code and refuses every
 * global but the few a state dict needs.
 *
 * <p>Tensors are materialised on the heap on demand (storages are read once and cached); strided
 * views (a storage offset, transposed strides) are gathered into contiguous row-major copies.
 */
public final class PytorchBinFile implements TensorSource {
    public static final String FILE_NAME = "pytorch_model.bin";
    /** data.pkl of a state dict is kilobytes; anything near this is not one. */
    private static final long MAX_PICKLE_BYTES = 256L << 20;

    private final String fileName;
    private final ZipFile zip;
    private final String prefix; // "archive/" or "" …
    private final Map<String, TensorRef> tensors;
    private final Map<String, MemorySegment> storages = new HashMap<>();

    private PytorchBinFile(String fileName, ZipFile zip, String prefix, Map<String, TensorRef> tensors) {
        this.fileName = fileName;
        this.zip = zip;
        this.prefix = prefix;
        this.tensors = tensors;
    }

    public static PytorchBinFile open(Path path) throws IOException {
        String file = SafetensorsFile.displayName(path);
        if (!Files.exists(path)) throw new CheckpointException(path + ": no such file");
        checkMagic(path, file);
        ZipFile zip;
        try {
            zip = new ZipFile(path.toFile());
        } catch (ZipException e) {
            throw new CheckpointException(file + ": not a readable zip archive (" + e.getMessage() + "): corrupt or truncated", e);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(path + ": no such file", e);
        }
        try {
            String prefix = findPrefix(zip, file);
            ZipEntry bo = zip.getEntry(prefix + "byteorder");
            if (bo != null) {
                String order = new String(read(zip, bo, file, 16), StandardCharsets.US_ASCII).strip();
                if (!order.equals("little")) {
                    throw new CheckpointException(file + ": byteorder is '" + order + "'; only little-endian checkpoints are supported");
                }
            }
            ZipEntry pkl = zip.getEntry(prefix + "data.pkl");
            Object root = RestrictedUnpickler.load(file, read(zip, pkl, file, MAX_PICKLE_BYTES));
            if (!(root instanceof Map<?, ?> dict)) {
                throw new CheckpointException(file + ": holds " + RestrictedUnpickler.describe(root) + ", not a state dict (a dict of tensors)");
            }
            Map<String, TensorRef> tensors = new LinkedHashMap<>();
            for (var e : dict.entrySet()) {
                if (!(e.getKey() instanceof String name)) {
                    throw new CheckpointException(file + ": state dict key " + RestrictedUnpickler.describe(e.getKey()) + " is not a string");
                }
                if (!(e.getValue() instanceof TensorRef t)) {
                    throw new CheckpointException(file + ": entry '" + name + "' is " + RestrictedUnpickler.describe(e.getValue())
                            + ", not a tensor (expected a flat state dict {name: tensor})");
                }
                checkView(file, name, t);
                ZipEntry se = zip.getEntry(prefix + "data/" + t.storage().key());
                if (se == null) {
                    throw new CheckpointException(file + ": tensor '" + name + "' refers to storage '" + t.storage().key()
                            + "', but the archive has no " + prefix + "data/" + t.storage().key());
                }
                long need = t.storage().numel() * t.storage().dtype().size();
                if (se.getSize() >= 0 && se.getSize() < need) {
                    throw new CheckpointException(file + ": storage " + t.storage().key() + " of tensor '" + name + "' holds "
                            + se.getSize() + " bytes but its " + t.storage().numel() + " " + t.storage().dtype() + " elements need " + need);
                }
                tensors.put(name, t);
            }
            return new PytorchBinFile(file, zip, prefix, Collections.unmodifiableMap(tensors));
        } catch (RuntimeException | IOException e) {
            zip.close();
            throw e;
        }
    }

    /** A clear message for the formats that are not a zip: empty, legacy torch.save pickles, anything else. */
    private static void checkMagic(Path path, String file) throws IOException {
        byte[] head = new byte[4];
        int n;
        try (InputStream s = Files.newInputStream(path)) {
            n = s.readNBytes(head, 0, 4);
        }
        if (n == 0) throw new CheckpointException(file + ": file is empty (0 bytes)");
        if (n == 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return;
        if ((head[0] & 0xFF) == 0x80) {
            throw new CheckpointException(file + ": is a bare pickle, the legacy torch.save format of PyTorch < 1.6, which is not "
                    + "supported; re-save it with a newer torch (or convert it to model.safetensors)");
        }
        throw new CheckpointException(file + ": not a zip archive (torch.save format of PyTorch >= 1.6) nor a pickle: corrupt, or not a checkpoint");
    }

    /** The folder holding data.pkl: torch names it after the file ("archive", "pytorch_model", …). */
    private static String findPrefix(ZipFile zip, String file) {
        List<String> found = new ArrayList<>();
        zip.stream().map(ZipEntry::getName).forEach(n -> {
            if (n.equals("data.pkl")) found.add("");
            else if (n.endsWith("/data.pkl") && n.indexOf('/') == n.length() - "/data.pkl".length()) {
                found.add(n.substring(0, n.length() - "data.pkl".length()));
            }
        });
        if (found.isEmpty()) throw new CheckpointException(file + ": zip archive has no data.pkl: not a torch.save checkpoint");
        if (found.size() > 1) throw new CheckpointException(file + ": zip archive has several data.pkl files " + found + ": not one torch.save checkpoint");
        return found.get(0);
    }

    /** The view must stay inside its storage. */
    private static void checkView(String file, String name, TensorRef t) {
        String where = file + ": tensor '" + name + "'";
        if (t.offset() < 0) throw new CheckpointException(where + " has a negative storage offset " + t.offset());
        long numel = 1, last = t.offset();
        try {
            Math.multiplyExact(t.storage().numel(), (long) t.storage().dtype().size());
            for (int i = 0; i < t.size().length; i++) {
                if (t.size()[i] < 0 || t.stride()[i] < 0) {
                    throw new CheckpointException(where + " has size " + java.util.Arrays.toString(t.size()) + " and stride "
                            + java.util.Arrays.toString(t.stride()) + " (negative)");
                }
                numel = Math.multiplyExact(numel, t.size()[i]);
                if (t.size()[i] > 0) last = Math.addExact(last, Math.multiplyExact(t.size()[i] - 1, t.stride()[i]));
            }
        } catch (ArithmeticException e) {
            throw new CheckpointException(where + " has a size, stride or storage that overflows 64 bits");
        }
        if (numel > 0 && last >= t.storage().numel()) {
            throw new CheckpointException(where + " (size " + java.util.Arrays.toString(t.size()) + ", stride "
                    + java.util.Arrays.toString(t.stride()) + ", offset " + t.offset() + ") reaches element " + last
                    + " of a storage of " + t.storage().numel());
        }
    }

    private static byte[] read(ZipFile zip, ZipEntry e, String file, long limit) throws IOException {
        if (e.getSize() > limit) throw new CheckpointException(file + ": " + e.getName() + " is " + e.getSize() + " bytes, more than expected");
        try (InputStream s = zip.getInputStream(e)) {
            byte[] b = s.readNBytes((int) Math.min(limit, Integer.MAX_VALUE - 8) + 1);
            if (b.length > limit) throw new CheckpointException(file + ": " + e.getName() + " is larger than expected");
            return b;
        } catch (ZipException ex) {
            throw new CheckpointException(file + ": cannot read " + e.getName() + " (" + ex.getMessage() + "): corrupt or truncated", ex);
        }
    }

    private synchronized MemorySegment storage(StorageRef s, String tensor) {
        MemorySegment seg = storages.get(s.key());
        if (seg != null) return seg;
        ZipEntry e = zip.getEntry(prefix + "data/" + s.key());
        long bytes = s.numel() * s.dtype().size();
        seg = Arena.ofAuto().allocate(Math.max(bytes, 1), 8).asSlice(0, bytes);
        try (InputStream in = zip.getInputStream(e)) {
            byte[] buf = new byte[1 << 20];
            long off = 0;
            while (off < bytes) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, bytes - off));
                if (n < 0) throw new CheckpointException(fileName + ": storage " + s.key() + " of tensor '" + tensor + "' is truncated");
                MemorySegment.copy(buf, 0, seg, ValueLayout.JAVA_BYTE, off, n);
                off += n;
            }
        } catch (IOException ex) {
            throw new CheckpointException(fileName + ": cannot read storage " + s.key() + " of tensor '" + tensor + "': " + ex.getMessage(), ex);
        }
        storages.put(s.key(), seg);
        return seg;
    }

    @Override
    public List<String> names() {
        return List.copyOf(tensors.keySet());
    }

    @Override
    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** True when two names are views of the same storage (torch keeps tied weights that way). */
    public boolean sharesStorage(String a, String b) {
        TensorRef x = tensors.get(a), y = tensors.get(b);
        return x != null && y != null && x.storage().key().equals(y.storage().key());
    }

    @Override
    public NamedTensor tensor(String name) {
        TensorRef t = tensors.get(name);
        if (t == null) throw new CheckpointException(fileName + ": no tensor '" + name + "'");
        MemorySegment storage = storage(t.storage(), name);
        int es = t.storage().dtype().size();
        long numel = NamedTensor.numel(t.size());
        if (isContiguous(t.size(), t.stride())) {
            return new NamedTensor(name, t.storage().dtype(), t.size(), storage.asSlice(t.offset() * es, numel * es));
        }
        // Strided view: gather into a contiguous row-major copy.
        MemorySegment out = Arena.ofAuto().allocate(Math.max(numel * es, 1), 8).asSlice(0, numel * es);
        long[] size = t.size(), stride = t.stride();
        int rank = size.length;
        long[] idx = new long[rank];
        for (long i = 0; i < numel; i++) {
            long src = t.offset();
            for (int d = 0; d < rank; d++) src += idx[d] * stride[d];
            MemorySegment.copy(storage, src * es, out, i * es, es);
            for (int d = rank - 1; d >= 0; d--) {
                if (++idx[d] < size[d]) break;
                idx[d] = 0;
            }
        }
        return new NamedTensor(name, t.storage().dtype(), size, out);
    }

    /** Row-major contiguous, ignoring the strides of size-1 dimensions (as torch's is_contiguous does). */
    static boolean isContiguous(long[] size, long[] stride) {
        long expected = 1;
        for (int d = size.length - 1; d >= 0; d--) {
            if (size[d] == 1) continue;
            if (stride[d] != expected) return false;
            expected *= size[d];
        }
        return true;
    }

    @Override
    public String fileOf(String name) {
        return fileName;
    }

    @Override
    public String description() {
        return fileName;
    }

    @Override
    public void close() {
        try {
            zip.close();
        } catch (IOException e) {
            // nothing left to read; closing a read-only zip cannot lose data
        }
    }
}
