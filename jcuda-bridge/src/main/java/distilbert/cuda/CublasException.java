package distilbert.cuda;

/**
 * A cuBLAS or cuBLASLt call that returned a {@code cublasStatus_t} other than success. Shaped like
 * {@link CudaException} (which is final, hence a sibling): the message names the call with the
 * arguments that matter and the status by name and number, e.g.
 * {@code cublasLtMatmul(linear N=128 K=768 M=3072 bf16 fp32) failed: CUBLAS_STATUS_NOT_SUPPORTED (15)}.
 *
 * <p>cuBLAS launches its kernels asynchronously: a fault inside one surfaces at the next
 * synchronizing driver call, as a {@link CudaException}, not here.
 */
public final class CublasException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String call;
    private final int status;
    private final String statusName;

    public CublasException(String call, int status, String statusName) {
        super(call + " failed: " + statusName + " (" + status + ")" + hint(status));
        this.call = call;
        this.status = status;
        this.statusName = statusName;
    }

    /** The call, e.g. {@code cublasGemmEx(linear N=7 K=5 M=3 f32 tf32)}. */
    public String call() {
        return call;
    }

    /** The numeric {@code cublasStatus_t}. */
    public int status() {
        return status;
    }

    /** The status name, e.g. {@code CUBLAS_STATUS_INVALID_VALUE}. */
    public String statusName() {
        return statusName;
    }

    /**
     * The {@code cublasStatus_t} names of cublas_api.h (CUDA 12 and 13 agree); null for a number not
     * in the table. {@link CublasLibrary#statusName} asks the library for anything newer.
     */
    static String knownStatusName(int status) {
        return switch (status) {
            case 0 -> "CUBLAS_STATUS_SUCCESS";
            case 1 -> "CUBLAS_STATUS_NOT_INITIALIZED";
            case 3 -> "CUBLAS_STATUS_ALLOC_FAILED";
            case 7 -> "CUBLAS_STATUS_INVALID_VALUE";
            case 8 -> "CUBLAS_STATUS_ARCH_MISMATCH";
            case 11 -> "CUBLAS_STATUS_MAPPING_ERROR";
            case 13 -> "CUBLAS_STATUS_EXECUTION_FAILED";
            case 14 -> "CUBLAS_STATUS_INTERNAL_ERROR";
            case 15 -> "CUBLAS_STATUS_NOT_SUPPORTED";
            case 16 -> "CUBLAS_STATUS_LICENSE_ERROR";
            default -> null;
        };
    }

    /** What usually causes the status here, as a sentence after the message; empty when nothing useful. */
    private static String hint(int status) {
        return switch (status) {
            case 1 -> ". The CUDA context is not current on this thread, or cuBLAS could not set up its resources";
            case 3 -> ". Device memory is exhausted";
            case 7 -> ". An argument is out of range or the type combination is not one cuBLAS offers";
            case 8 -> ". The device lacks a feature this call needs";
            case 13 -> ". A kernel failed to launch; an earlier asynchronous error may be the cause";
            default -> "";
        };
    }
}
