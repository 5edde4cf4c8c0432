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

    /** A {@code T*} parameter from a device array (a view's address includes its offset); null passes 0. */
    KernelArgs array(DeviceArray array) {
        return address(array == null ? 0 : array.address());
    }

    /** A pointer parameter given as a raw device address (0 for a null pointer). */
    KernelArgs address(long address) {
        args.add(Pointer.to(new long[] {address}));
        return this;
    }

    /** A {@code float} parameter. */
    KernelArgs f32(float value) {
        args.add(Pointer.to(new float[] {value}));
        return this;
    }

    /** An {@code int} parameter. */
    KernelArgs i32(int value) {
        args.add(Pointer.to(new int[] {value}));
        return this;
    }

    Pointer toPointer() {
        return Pointer.to(args.toArray(NativePointerObject[]::new));
    }
}
