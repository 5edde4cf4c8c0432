package distilbert.kernels;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The table of contents of a CUDA fatbin: which cubins (ELF machine code) and PTX it holds, and for
 * which architectures. Used to check at build time that every shipped kernel file holds what
 * CMakeLists.txt promises, and at run time to say which targets a file offers when the driver finds
 * none for the device.
 *
 * <p>NVIDIA does not document the container; this is the layout nvcc 13.0 writes (checked against
 * its output), all fields little-endian:
 *
 * <pre>
 * file header (16 bytes)   u32 magic 0xBA55ED50 | u16 version (1) | u16 header size | u64 size of entries
 * entry header             u16 kind (1 PTX, 2 ELF) | u16 version | u32 header size | u64 payload size
 *                          | u32 compressed size (0: stored as is) | u32 | u16 minor | u16 major
 *                          | u32 architecture (e.g. 90) | ...        payload follows the header
 * </pre>
 */
public record Fatbin(List<Entry> entries) {

    public static final int MAGIC = 0xBA55ED50;

    private static final int FILE_HEADER_BYTES = 16;
    private static final int ENTRY_HEADER_MIN_BYTES = 32;
    private static final int KIND_PTX = 1;
    private static final int KIND_ELF = 2;

    public enum Kind { PTX, CUBIN }

    /** One payload: a cubin for {@code sm_<arch>} or PTX for {@code compute_<arch>}. */
    public record Entry(Kind kind, int arch, long payloadOffset, long payloadBytes, boolean compressed) {
        /** The nvcc name of the target: {@code sm_90} for a cubin, {@code compute_90} for PTX. */
        public String target() {
            return (kind == Kind.PTX ? "compute_" : "sm_") + arch;
        }
    }

    public Fatbin {
        entries = List.copyOf(entries);
    }

    /** Whether {@code bytes} starts with the fatbin magic number. */
    public static boolean hasMagic(byte[] bytes) {
        return bytes.length >= 4 && ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getInt(0) == MAGIC;
    }

    /**
     * Reads the table of contents.
     *
     * @throws IllegalArgumentException if {@code bytes} is not a well-formed fatbin; the message says
     *     what and at which offset
     */
    public static Fatbin parse(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < FILE_HEADER_BYTES) {
            throw malformed(0, "only " + bytes.length + " bytes, shorter than the 16-byte header");
        }
        if (b.getInt(0) != MAGIC) {
            throw malformed(0, String.format("magic is 0x%08X, expected 0x%08X", b.getInt(0), MAGIC));
        }
        int version = Short.toUnsignedInt(b.getShort(4));
        int headerBytes = Short.toUnsignedInt(b.getShort(6));
        long entriesBytes = b.getLong(8);
        if (version != 1) {
            throw malformed(4, "version " + version + ", expected 1");
        }
        if (headerBytes < FILE_HEADER_BYTES || entriesBytes < 0 || headerBytes + entriesBytes > bytes.length) {
            throw malformed(6, "header of " + headerBytes + " bytes and entries of " + entriesBytes
                    + " bytes do not fit in " + bytes.length + " bytes");
        }
        long end = headerBytes + entriesBytes;
        List<Entry> entries = new ArrayList<>();
        long at = headerBytes;
        while (at < end) {
            if (at + ENTRY_HEADER_MIN_BYTES > end) {
                throw malformed(at, "entry header runs past the end of the entries");
            }
            int p = Math.toIntExact(at);
            int kind = Short.toUnsignedInt(b.getShort(p));
            long entryHeaderBytes = Integer.toUnsignedLong(b.getInt(p + 4));
            long payloadBytes = b.getLong(p + 8);
            long compressedBytes = Integer.toUnsignedLong(b.getInt(p + 16));
            int arch = b.getInt(p + 28);
            if (entryHeaderBytes < ENTRY_HEADER_MIN_BYTES || payloadBytes < 0
                    || at + entryHeaderBytes + payloadBytes > end) {
                throw malformed(at, "entry of " + entryHeaderBytes + " + " + payloadBytes
                        + " bytes runs past the end of the entries");
            }
            Kind k = switch (kind) {
                case KIND_PTX -> Kind.PTX;
                case KIND_ELF -> Kind.CUBIN;
                default -> throw malformed(at, "unknown entry kind " + kind);
            };
            long payloadOffset = at + entryHeaderBytes;
            boolean compressed = compressedBytes != 0;
            if (k == Kind.CUBIN && !compressed && !isElf(bytes, Math.toIntExact(payloadOffset), payloadBytes)) {
                throw malformed(payloadOffset, "cubin for sm_" + arch + " does not start with an ELF header");
            }
            entries.add(new Entry(k, arch, payloadOffset, payloadBytes, compressed));
            at = payloadOffset + payloadBytes;
        }
        return new Fatbin(entries);
    }

    /** The targets held, sorted: e.g. {@code [compute_90, sm_80, sm_86, sm_89, sm_90]}. */
    public Set<String> targets() {
        Set<String> targets = new TreeSet<>();
        for (Entry e : entries) {
            targets.add(e.target());
        }
        return targets;
    }

    public boolean hasCubin(int arch) {
        return entries.stream().anyMatch(e -> e.kind() == Kind.CUBIN && e.arch() == arch);
    }

    private static boolean isElf(byte[] bytes, int offset, long length) {
        return length >= 4 && bytes[offset] == 0x7F && bytes[offset + 1] == 'E'
                && bytes[offset + 2] == 'L' && bytes[offset + 3] == 'F';
    }

    private static IllegalArgumentException malformed(long offset, String what) {
        return new IllegalArgumentException("not a valid CUDA fatbin (at byte " + offset + "): " + what);
    }
}
