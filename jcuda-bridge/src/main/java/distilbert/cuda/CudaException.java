package distilbert.cuda;

/**
 * A CUDA driver call that returned an error. The message names the call (with the arguments that
 * matter for diagnosis) and the {@code CUresult} by name and number, e.g.
 * {@code cuMemAlloc(4294967296 bytes) failed: CUDA_ERROR_OUT_OF_MEMORY (2)}.
 *
 * <p>Errors from kernels are asynchronous: a bad launch usually surfaces at the next synchronizing
 * call ({@code cuStreamSynchronize}, a download), which is then the call named here. Some errors
 * (CUDA_ERROR_ILLEGAL_ADDRESS and friends) are sticky: the context is unusable afterwards and the
 * process must start a new one.
 */
public final class CudaException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String call;
    private final int result;
    private final String resultName;

    public CudaException(String call, int result, String resultName) {
        this(call, result, resultName, null);
    }

    /** With {@code hint}, a sentence that says what usually causes this error here. */
    public CudaException(String call, int result, String resultName, String hint) {
        super(call + " failed: " + resultName + " (" + result + ")" + (hint == null ? "" : ". " + hint));
        this.call = call;
        this.result = result;
        this.resultName = resultName;
    }

    /** The driver call, e.g. {@code cuModuleLoadData(distilbert/kernels/activation.fatbin)}. */
    public String call() {
        return call;
    }

    /** The numeric {@code CUresult}. */
    public int result() {
        return result;
    }

    /** The {@code CUresult} name, e.g. {@code CUDA_ERROR_OUT_OF_MEMORY}. */
    public String resultName() {
        return resultName;
    }
}
