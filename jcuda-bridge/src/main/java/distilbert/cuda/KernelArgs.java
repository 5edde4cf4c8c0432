package distilbert.cuda;

import java.util.ArrayList;
import java.util.List;
import jcuda.NativePointerObject;
import jcuda.Pointer;

/**
 * The argument list of one launch, in the kernel's parameter order. cuLaunchKernel takes an array
 * of pointers, one per parameter, each pointing at the parameter's value; JCuda builds that array
 * from a Pointer to Pointers. This is the only place that packs them.
 */
final class KernelArgs {

    private final List<NativePointerObject> args = new ArrayList<>();
    /** The PTX type of each argument, in order: u64 (a pointer), u32 (an int), f32 (a float). */
    private final List<String> types = new ArrayList<>();

    /** A {@code T*} parameter from a device array (a view's address includes its offset); null passes 0. */
    KernelArgs array(DeviceArray array) {
        return address(array == null ? 0 : array.address());
    }

    /** A pointer parameter given as a raw device address (0 for a null pointer). */
    KernelArgs address(long address) {
        args.add(Pointer.to(new long[] {address}));
        types.add("u64");
        return this;
    }

    /** A {@code float} parameter. */
    KernelArgs f32(float value) {
        args.add(Pointer.to(new float[] {value}));
        types.add("f32");
        return this;
    }

    /** An {@code int} parameter. */
    KernelArgs i32(int value) {
        args.add(Pointer.to(new int[] {value}));
        types.add("u32");
        return this;
    }

    /**
     * A 64-bit integer (a seed, a counter) as two {@code unsigned} parameters, the low half first: the
     * kernel takes {@code unsigned lo, unsigned hi} and joins them ({@code philox.cuh}'s {@code u64_of}).
     * Not one {@code unsigned long long}: PTX types that {@code u64}, as it types a pointer, so neither
     * this check nor the stand-in driver (which checks every pointer against its allocations) could tell
     * the two apart.
     */
    KernelArgs i64(long value) {
        return i32((int) value).i32((int) (value >>> 32));
    }

    /** The arguments' PTX types, in order. */
    List<String> types() {
        return List.copyOf(types);
    }

    /**
     * Refuses a launch whose arguments do not match the kernel's parameters in number, order and
     * size: cuLaunchKernel cannot tell, and would read past an argument or take an int for a pointer.
     * An {@code s32} parameter takes an int as {@code u32} does.
     *
     * @throws IllegalArgumentException naming the kernel, what it takes and what it was given
     */
    void check(String kernel, List<String> parameters) {
        boolean same = parameters.size() == types.size();
        for (int i = 0; same && i < types.size(); i++) {
            String p = parameters.get(i).equals("s32") ? "u32" : parameters.get(i);
            same = p.equals(types.get(i));
        }
        if (!same) {
            throw new IllegalArgumentException("launch of " + kernel + ": the kernel takes " + parameters.size()
                    + " parameters (" + describe(parameters) + ") but the launcher passed " + types.size() + " ("
                    + describe(types) + ")");
        }
    }

    private static String describe(List<String> types) {
        return String.join(", ", types.stream().map(t -> switch (t) {
            case "u64" -> "pointer";
            case "u32", "s32" -> "int";
            case "f32" -> "float";
            default -> t;
        }).toList());
    }

    Pointer toPointer() {
        return Pointer.to(args.toArray(NativePointerObject[]::new));
    }
}
