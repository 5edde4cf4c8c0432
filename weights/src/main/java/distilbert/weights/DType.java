package distilbert.weights;

import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Element types of safetensors files (and of torch storages), in the declaration order of the
 * reference implementation's {@code Dtype} enum: increasing alignment. The writer sorts tensors by
 * descending {@link #ordinal()} then name, as {@code safetensors::serialize} does, so every tensor
 * starts aligned to its element size.
 */
public enum DType {
    BOOL(1),
    U8(1),
    I8(1),
    /** FP8 E5M2 (IEEE-like: inf and NaN); read-only here. */
    F8_E5M2(1),
    /** FP8 E4M3 "fn" (no inf; S.1111.111 is NaN); read-only here. */
    F8_E4M3(1),
    I16(2),
    U16(2),
    F16(2),
    BF16(2),
    I32(4),
    U32(4),
    F32(4),
    F64(8),
    I64(8),
    U64(8);

    private final int size;

    DType(int size) {
        this.size = size;
    }

    /** Bytes per element. */
    public int size() {
        return size;
    }

    /** The string in safetensors headers: the constant's name ("F32", "BF16", "F8_E4M3"). */
    public String safetensorsName() {
        return name();
    }

    public boolean isFloatingPoint() {
        return switch (this) {
            case F8_E5M2, F8_E4M3, F16, BF16, F32, F64 -> true;
            default -> false;
        };
    }

    public static Optional<DType> fromSafetensors(String name) {
        for (DType t : values()) if (t.name().equals(name)) return Optional.of(t);
        return Optional.empty();
    }

    public static String choices() {
        return Arrays.stream(values()).map(DType::name).collect(Collectors.joining(", "));
    }
}
