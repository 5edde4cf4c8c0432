/*
 * A stand-in cuBLAS and cuBLASLt (built twice, as libcublas.so.13 and libcublasLt.so.13) for testing
 * the GPU backend's host side without a GPU, beside fake_cuda.c. It computes the products, on the
 * host (device memory is host memory there), as the cuBLAS documentation defines them: column-major
 * D = alpha * op(A) * op(B) + beta * C (C not read when beta is 0), Lt's bias epilogue adding bias[i]
 * to row i of D, sums in double, the result rounded once to D's type (float, half or bfloat16, to
 * nearest even); under CUBLAS_COMPUTE_32F_FAST_TF32 float32 operands are first rounded to TF32. Written from the documentation, apart from the Java side, it lets the bridge's
 * GEMM tests check the argument passing for real. It also checks what real cuBLAS refuses
 * (CUBLAS_STATUS_INVALID_VALUE) or what would read or write out of bounds on a GPU:
 *   - GemmEx / GemmStridedBatchedEx: sizes >= 0, each leading dimension >= the rows it spans,
 *     known data and compute types;
 *   - Lt: layouts with ld >= rows, A, B, C and D whose shapes agree with transa/transb (op(A) m x k,
 *     op(B) k x n, C and D m x n), the bias epilogue with a bias pointer;
 *   - every matrix, batch and bias it would touch, and the workspace, inside one live allocation of
 *     the fake driver (fake_cuda_range);
 *   - handles and descriptors created before use and destroyed once;
 *   - a cuBLAS or cuBLASLt handle used only while the context of the device it was created on is current
 *     (fake_cuda_current_device), as cuBLAS binds a handle to that device.
 * Products are queued on the handle's stream (cublasSetStream; Lt: the call's stream) and computed when
 * the stream runs (fake_cuda.c), as a GPU computes them after the call returns; the scalars alpha and beta
 * are read at the call (host pointer mode).
 * FAKE_CUDA_LOG (see fake_cuda.c) gets "gemm ..." lines and the reason of each refusal.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_log.h"

typedef unsigned long long CUdeviceptr;
int fake_cuda_range(CUdeviceptr p, size_t bytes);
int fake_cuda_enqueue(void *stream, int (*run)(void *), void *arg);
int fake_cuda_current_device(void);

enum { OK = 0, NOT_INITIALIZED = 1, INVALID_VALUE = 7, EXECUTION_FAILED = 13, NOT_SUPPORTED = 15 };
enum { OP_N = 0, OP_T = 1 };


static int refuse(const char *call, const char *fmt, ...) {
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    logf_("error %s: %s", call, why);
    return INVALID_VALUE;
}

/* cudaDataType: R_32F 0, R_16F 2, R_16BF 14. */
static int type_bytes(int type) {
    switch (type) {
        case 0: return 4;
        case 2: case 14: return 2;
        default: return 0;
    }
}

/* Column-major rows x cols with leading dimension ld, batch times stride elements apart: inside one allocation? */
static int matrix_inside(const char *call, const char *what, const void *p, long long rows, long long cols, long long ld,
                         int type, long long batch, long long stride) {
    if (rows == 0 || cols == 0 || batch == 0) return OK;
    if (!p) return refuse(call, "%s is null", what);
    long long elems = (cols - 1) * ld + rows + (batch - 1) * stride;
    size_t bytes = (size_t) elems * (size_t) type_bytes(type);
    if (!fake_cuda_range((CUdeviceptr) (uintptr_t) p, bytes)) {
        return refuse(call, "%s (%lld x %lld, ld %lld, batch %lld, stride %lld) at %p runs outside its allocation",
                      what, rows, cols, ld, batch, stride, p);
    }
    return OK;
}

/* ---- the arithmetic ---------------------------------------------------------------------------- */

static float bits_to_float(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static uint32_t float_to_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t) (h >> 15) << 31, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    if (exp == 0x1F) return bits_to_float(sign | 0x7F800000u | (man << 13));
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        float v = (float) man / 16777216.0f;
        return sign ? -v : v;
    }
    return bits_to_float(sign | ((exp + 112) << 23) | (man << 13));
}

/* float -> half, round to nearest even (through double: exact for the values a sum produces) */
static uint16_t float_to_half(float f) {
    uint32_t b = float_to_bits(f), sign = (b >> 16) & 0x8000;
    float a = f < 0 ? -f : f;
    if (a != a) return (uint16_t) (sign | 0x7E00);
    if (a >= 65520.0f) return (uint16_t) (sign | 0x7C00); /* rounds to infinity */
    if (a < 6.103515625e-05f) { /* subnormal: units of 2^-24 */
        double units = (double) a * 16777216.0;
        double r = __builtin_nearbyint(units); /* the default rounding mode: to nearest even */
        return (uint16_t) (sign | (uint16_t) r);
    }
    uint32_t ab = float_to_bits(a);
    uint32_t exp = ((ab >> 23) & 0xFF) - 112, man = ab & 0x7FFFFF;
    uint32_t h = (exp << 10) | (man >> 13), rest = man & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++; /* carries into the exponent correctly */
    return (uint16_t) (sign | h);
}

static uint16_t float_to_bf16(float f) {
    uint32_t b = float_to_bits(f);
    if (f != f) return (uint16_t) ((b >> 16) | 0x40);
    b += 0x7FFF + ((b >> 16) & 1);
    return (uint16_t) (b >> 16);
}

/* cudaDataType: R_32F 0, R_16F 2, R_16BF 14. */
static double load(const void *p, int type, size_t i) {
    switch (type) {
        case 0: return ((const float *) p)[i];
        case 2: return half_to_float(((const uint16_t *) p)[i]);
        default: return bits_to_float((uint32_t) ((const uint16_t *) p)[i] << 16);
    }
}

static void store(void *p, int type, size_t i, double v) {
    switch (type) {
        case 0: ((float *) p)[i] = (float) v; break;
        case 2: ((uint16_t *) p)[i] = float_to_half((float) v); break;
        default: ((uint16_t *) p)[i] = float_to_bf16((float) v); break;
    }
}

/* v (a float32) rounded to TF32, as the tensor cores take float32 operands under
 * CUBLAS_COMPUTE_32F_FAST_TF32: 10 explicit mantissa bits, to nearest even. */
static double tf32(double v) {
    uint32_t b = float_to_bits((float) v);
    if ((b & 0x7F800000u) == 0x7F800000u) return v; /* inf, NaN */
    b += 0xFFFu + ((b >> 13) & 1u);
    return bits_to_float(b & ~0x1FFFu);
}

/* D(m x n, ldd) = alpha * op(A) * op(B) + beta * C(ldc) [+ bias[i]], column-major, one batch entry.
 * op(A) and op(B) are first converted to double, op(A) by rows and op(B) by columns, so that the sums
 * run over contiguous memory; under compute type 32F_FAST_TF32 (77) float32 operands are rounded to
 * TF32 first, so that a TF32 backend shows its real error. */
static void product(int tf32_compute, int transa, int transb, long long m, long long n, long long k, float alpha, const void *A, int Atype,
                    long long lda, const void *B, int Btype, long long ldb, float beta, const void *C, int Ctype, long long ldc,
                    void *D, int Dtype, long long ldd, const void *bias) {
    double *a = malloc(sizeof(double) * (size_t) (m * k + 1)), *b = malloc(sizeof(double) * (size_t) (n * k + 1));
    for (long long i = 0; i < m; i++)
        for (long long p = 0; p < k; p++) a[i * k + p] = load(A, Atype, (size_t) (transa == OP_N ? i + p * lda : p + i * lda));
    for (long long j = 0; j < n; j++)
        for (long long p = 0; p < k; p++) b[j * k + p] = load(B, Btype, (size_t) (transb == OP_N ? p + j * ldb : j + p * ldb));
    if (tf32_compute) {
        if (Atype == 0) for (long long i = 0; i < m * k; i++) a[i] = tf32(a[i]);
        if (Btype == 0) for (long long i = 0; i < n * k; i++) b[i] = tf32(b[i]);
    }
    for (long long j = 0; j < n; j++) {
        for (long long i = 0; i < m; i++) {
            const double *ai = a + i * k, *bj = b + j * k;
            /* four partial sums (in double, so their order does not matter at float precision): the
             * loop then runs at the CPU's throughput rather than its addition latency */
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            long long p = 0;
            for (; p + 4 <= k; p += 4) {
                s0 += ai[p] * bj[p];
                s1 += ai[p + 1] * bj[p + 1];
                s2 += ai[p + 2] * bj[p + 2];
                s3 += ai[p + 3] * bj[p + 3];
            }
            for (; p < k; p++) s0 += ai[p] * bj[p];
            double sum = (s0 + s1) + (s2 + s3);
            double v = (double) alpha * sum;
            if (beta != 0) v += (double) beta * load(C, Ctype, (size_t) (i + j * ldc));
            if (bias) v += load(bias, Dtype, (size_t) i);
            store(D, Dtype, (size_t) (i + j * ldd), v);
        }
    }
    free(a);
    free(b);
}

/* ---- handles ---------------------------------------------------------------------------------- */

typedef struct { int magic; void *stream; int device; } Handle;
enum { BLAS = 0xB1A5, LT = 0x1711, DESC = 0xDE5C, LAYOUT = 0x1A70, PREF = 0xF4EF };

static void *make(int magic, size_t size) {
    Handle *h = calloc(1, size);
    h->magic = magic;
    return h;
}

static int is(const void *h, int magic) { return h && ((const Handle *) h)->magic == magic; }

static int destroy(void *h, int magic, const char *call) {
    if (!is(h, magic)) return refuse(call, "not a live handle of this kind (destroyed twice?)");
    ((Handle *) h)->magic = 0;
    free(h);
    return OK;
}

/* ---- cuBLAS ------------------------------------------------------------------------------------ */

/* A cuBLAS or Lt handle used under another device's context than the one it was created under. */
static int wrong_device(const char *call, const void *handle) {
    int device = ((const Handle *) handle)->device, now = fake_cuda_current_device();
    if (device == now) return OK;
    return refuse(call, "a handle created on device %d used while device %d's context is current", device, now);
}

int cublasCreate_v2(void **handle) {
    if (fake_cuda_current_device() < 0) return NOT_INITIALIZED; /* cuBLAS needs a current context */
    Handle *h = make(BLAS, sizeof(Handle));
    h->device = fake_cuda_current_device();
    *handle = h;
    return OK;
}

int cublasDestroy_v2(void *handle) { return destroy(handle, BLAS, "cublasDestroy"); }

int cublasSetStream_v2(void *handle, void *stream) {
    if (!is(handle, BLAS)) return NOT_INITIALIZED;
    ((Handle *) handle)->stream = stream;
    return OK;
}

int cublasSetMathMode(void *handle, int mode) {
    (void) mode;
    return is(handle, BLAS) ? OK : NOT_INITIALIZED;
}

int cublasSetWorkspace_v2(void *handle, void *workspace, size_t bytes) {
    if (!is(handle, BLAS)) return NOT_INITIALIZED;
    if (bytes && !fake_cuda_range((CUdeviceptr) (uintptr_t) workspace, bytes)) {
        return refuse("cublasSetWorkspace", "the workspace (%zu bytes) is not inside one allocation", bytes);
    }
    return OK;
}

int cublasGetProperty(int type, int *value) {
    switch (type) {
        case 0: *value = 13; return OK;
        case 1: *value = 0; return OK;
        case 2: *value = 2; return OK;
        default: return INVALID_VALUE;
    }
}

const char *cublasGetStatusName(int status) {
    switch (status) {
        case OK: return "CUBLAS_STATUS_SUCCESS";
        case NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
        case EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

/* One queued GemmEx, strided-batched GemmEx or Lt matmul: product() over the batch when its stream runs. */
typedef struct {
    int tf32, transa, transb;
    long long m, n, k;
    float alpha;
    const void *A; int Atype; long long lda, strideA;
    const void *B; int Btype; long long ldb, strideB;
    float beta;
    const void *C; int Ctype; long long ldc, strideC;
    void *D; int Dtype; long long ldd, strideD;
    const void *bias;
    int batch;
} Gemm;

static int run_gemm(void *arg) {
    const Gemm *g = arg;
    size_t a = (size_t) type_bytes(g->Atype), b = (size_t) type_bytes(g->Btype), c = (size_t) type_bytes(g->Ctype),
           d = (size_t) type_bytes(g->Dtype);
    for (int i = 0; i < g->batch; i++) {
        product(g->tf32, g->transa, g->transb, g->m, g->n, g->k, g->alpha, (const char *) g->A + (size_t) (i * g->strideA) * a,
                g->Atype, g->lda, (const char *) g->B + (size_t) (i * g->strideB) * b, g->Btype, g->ldb, g->beta,
                (const char *) g->C + (size_t) (i * g->strideC) * c, g->Ctype, g->ldc,
                (char *) g->D + (size_t) (i * g->strideD) * d, g->Dtype, g->ldd, g->bias);
    }
    return 0;
}

static int gemm(const char *call, void *handle, int transa, int transb, int m, int n, int k, const void *alphaPtr,
                const void *A, int Atype, int lda, long long strideA, const void *B, int Btype, int ldb, long long strideB,
                const void *betaPtr, void *C, int Ctype, int ldc, long long strideC, int batch, int computeType) {
    if (!is(handle, BLAS)) return NOT_INITIALIZED;
    if (wrong_device(call, handle)) return INVALID_VALUE;
    if ((transa != OP_N && transa != OP_T) || (transb != OP_N && transb != OP_T)) return refuse(call, "transa/transb");
    if (m < 0 || n < 0 || k < 0 || batch < 0) return refuse(call, "negative size m %d n %d k %d batch %d", m, n, k, batch);
    if (!type_bytes(Atype) || !type_bytes(Btype) || !type_bytes(Ctype)) return refuse(call, "unknown data type");
    if (computeType != 68 && computeType != 77 && computeType != 64) return refuse(call, "compute type %d", computeType);
    long long aRows = transa == OP_N ? m : k, aCols = transa == OP_N ? k : m;
    long long bRows = transb == OP_N ? k : n, bCols = transb == OP_N ? n : k;
    if (lda < (aRows > 1 ? aRows : 1)) return refuse(call, "lda %d < %lld rows of A", lda, aRows);
    if (ldb < (bRows > 1 ? bRows : 1)) return refuse(call, "ldb %d < %lld rows of B", ldb, bRows);
    if (ldc < (m > 1 ? m : 1)) return refuse(call, "ldc %d < m %d", ldc, m);
    int r;
    if (k > 0) {
        if ((r = matrix_inside(call, "A", A, aRows, aCols, lda, Atype, batch, strideA))) return r;
        if ((r = matrix_inside(call, "B", B, bRows, bCols, ldb, Btype, batch, strideB))) return r;
    }
    if ((r = matrix_inside(call, "C", C, m, n, ldc, Ctype, batch, strideC))) return r;
    logf_("gemm %s m %d n %d k %d batch %d", call, m, n, k, batch);
    Gemm *g = malloc(sizeof *g);
    *g = (Gemm){computeType == 77, transa, transb, m, n, k, *(const float *) alphaPtr, A, Atype, lda, strideA, B, Btype, ldb,
                strideB, *(const float *) betaPtr, C, Ctype, ldc, strideC, C, Ctype, ldc, strideC, NULL, batch};
    return fake_cuda_enqueue(((Handle *) handle)->stream, run_gemm, g) ? EXECUTION_FAILED : OK;
}

int cublasGemmEx(void *handle, int transa, int transb, int m, int n, int k, const void *alpha, const void *A, int Atype,
                 int lda, const void *B, int Btype, int ldb, const void *beta, void *C, int Ctype, int ldc, int computeType,
                 int algo) {
    (void) algo;
    return gemm("cublasGemmEx", handle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta, C, Ctype,
                ldc, 0, 1, computeType);
}

int cublasGemmStridedBatchedEx(void *handle, int transa, int transb, int m, int n, int k, const void *alpha, const void *A,
                               int Atype, int lda, long long strideA, const void *B, int Btype, int ldb, long long strideB,
                               const void *beta, void *C, int Ctype, int ldc, long long strideC, int batch, int computeType,
                               int algo) {
    (void) algo;
    return gemm("cublasGemmStridedBatchedEx", handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B, Btype, ldb,
                strideB, beta, C, Ctype, ldc, strideC, batch, computeType);
}

/* ---- cuBLASLt ---------------------------------------------------------------------------------- */

typedef struct { int magic; int compute, scale, transa, transb; unsigned epilogue; const void *bias; } Desc;
typedef struct { int magic; int type; unsigned long long rows, cols; long long ld; } Layout;

int cublasLtCreate(void **handle) {
    if (fake_cuda_current_device() < 0) return NOT_INITIALIZED;
    Handle *h = make(LT, sizeof(Handle));
    h->device = fake_cuda_current_device();
    *handle = h;
    return OK;
}

int cublasLtDestroy(void *handle) { return destroy(handle, LT, "cublasLtDestroy"); }

int cublasLtMatmulDescCreate(void **desc, int computeType, int scaleType) {
    Desc *d = make(DESC, sizeof(Desc));
    d->compute = computeType;
    d->scale = scaleType;
    d->epilogue = 1; /* CUBLASLT_EPILOGUE_DEFAULT */
    *desc = d;
    return OK;
}

int cublasLtMatmulDescDestroy(void *desc) { return destroy(desc, DESC, "cublasLtMatmulDescDestroy"); }

int cublasLtMatmulDescSetAttribute(void *desc, int attribute, const void *buf, size_t size) {
    if (!is(desc, DESC)) return refuse("cublasLtMatmulDescSetAttribute", "not a live descriptor");
    Desc *d = desc;
    switch (attribute) {
        case 3: if (size != 4) return refuse("cublasLtMatmulDescSetAttribute", "TRANSA takes 4 bytes"); d->transa = *(const int *) buf; break;
        case 4: if (size != 4) return refuse("cublasLtMatmulDescSetAttribute", "TRANSB takes 4 bytes"); d->transb = *(const int *) buf; break;
        case 7: if (size != 4) return refuse("cublasLtMatmulDescSetAttribute", "EPILOGUE takes 4 bytes"); d->epilogue = *(const unsigned *) buf; break;
        case 8: if (size != 8) return refuse("cublasLtMatmulDescSetAttribute", "BIAS_POINTER takes 8 bytes"); d->bias = *(const void *const *) buf; break;
        default: return refuse("cublasLtMatmulDescSetAttribute", "attribute %d is not one the bridge sets", attribute);
    }
    return OK;
}

int cublasLtMatrixLayoutCreate(void **layout, int type, unsigned long long rows, unsigned long long cols, long long ld) {
    if (!type_bytes(type)) return refuse("cublasLtMatrixLayoutCreate", "unknown data type %d", type);
    if (ld < (long long) (rows > 1 ? rows : 1)) return refuse("cublasLtMatrixLayoutCreate", "ld %lld < %llu rows", ld, rows);
    Layout *l = make(LAYOUT, sizeof(Layout));
    l->type = type;
    l->rows = rows;
    l->cols = cols;
    l->ld = ld;
    *layout = l;
    return OK;
}

int cublasLtMatrixLayoutDestroy(void *layout) { return destroy(layout, LAYOUT, "cublasLtMatrixLayoutDestroy"); }

int cublasLtMatmulPreferenceCreate(void **pref) {
    *pref = make(PREF, sizeof(Handle));
    return OK;
}

int cublasLtMatmulPreferenceDestroy(void *pref) { return destroy(pref, PREF, "cublasLtMatmulPreferenceDestroy"); }

int cublasLtMatmulPreferenceSetAttribute(void *pref, int attribute, const void *buf, size_t size) {
    (void) buf;
    if (!is(pref, PREF)) return refuse("cublasLtMatmulPreferenceSetAttribute", "not a live preference");
    if (attribute == 1 && size != 8) return refuse("cublasLtMatmulPreferenceSetAttribute", "MAX_WORKSPACE_BYTES takes 8 bytes");
    if (attribute >= 5 && attribute <= 8 && size != 4) return refuse("cublasLtMatmulPreferenceSetAttribute", "alignments take 4 bytes");
    return OK;
}

/* Whether A, B, C and D agree with the descriptor's transposes: op(A) m x k, op(B) k x n, C and D m x n. */
static int shapes(const char *call, const Desc *d, const Layout *a, const Layout *b, const Layout *c, const Layout *dd) {
    unsigned long long m = dd->rows, n = dd->cols;
    unsigned long long aRows = d->transa == OP_N ? a->rows : a->cols, k = d->transa == OP_N ? a->cols : a->rows;
    unsigned long long bRows = d->transb == OP_N ? b->rows : b->cols, bCols = d->transb == OP_N ? b->cols : b->rows;
    if (aRows != m || bRows != k || bCols != n || c->rows != m || c->cols != n) {
        return refuse(call, "shapes disagree: op(A) %llu x %llu, op(B) %llu x %llu, C %llu x %llu, D %llu x %llu", aRows, k,
                      bRows, bCols, c->rows, c->cols, m, n);
    }
    return OK;
}

int cublasLtMatmulAlgoGetHeuristic(void *handle, void *desc, void *A, void *B, void *C, void *D, void *pref, int requested,
                                   void *results, int *returned) {
    const char *call = "cublasLtMatmulAlgoGetHeuristic";
    if (!is(handle, LT) || !is(desc, DESC) || !is(pref, PREF) || !is(A, LAYOUT) || !is(B, LAYOUT) || !is(C, LAYOUT)
            || !is(D, LAYOUT)) {
        return refuse(call, "a handle, descriptor, layout or preference that is not live");
    }
    if (requested < 1) return refuse(call, "requestedAlgoCount %d", requested);
    int r = shapes(call, desc, A, B, C, D);
    if (r) return r;
    memset(results, 0, 96); /* cublasLtMatmulHeuristicResult_t: one, workspace 0, state success */
    ((float *) results)[19] = 1.0f; /* wavesCount, at byte 76 */
    *returned = 1;
    return OK;
}

int cublasLtMatmul(void *handle, void *desc, const void *alpha, const void *A, void *Adesc, const void *B, void *Bdesc,
                   const void *beta, const void *C, void *Cdesc, void *D, void *Ddesc, const void *algo, void *workspace,
                   size_t workspaceBytes, void *stream) {
    (void) algo;
    const char *call = "cublasLtMatmul";
    if (!is(handle, LT) || !is(desc, DESC) || !is(Adesc, LAYOUT) || !is(Bdesc, LAYOUT) || !is(Cdesc, LAYOUT)
            || !is(Ddesc, LAYOUT)) {
        return refuse(call, "a handle, descriptor or layout that is not live");
    }
    if (wrong_device(call, handle)) return INVALID_VALUE;
    const Desc *d = desc;
    const Layout *a = Adesc, *b = Bdesc, *c = Cdesc, *dl = Ddesc;
    int r = shapes(call, d, a, b, c, dl);
    if (r) return r;
    if ((r = matrix_inside(call, "A", A, a->rows, a->cols, a->ld, a->type, 1, 0))) return r;
    if ((r = matrix_inside(call, "B", B, b->rows, b->cols, b->ld, b->type, 1, 0))) return r;
    if ((r = matrix_inside(call, "C", C, c->rows, c->cols, c->ld, c->type, 1, 0))) return r;
    if ((r = matrix_inside(call, "D", D, dl->rows, dl->cols, dl->ld, dl->type, 1, 0))) return r;
    if (d->epilogue == 4) { /* CUBLASLT_EPILOGUE_BIAS: bias[m] in D's type */
        if (!d->bias) return refuse(call, "the bias epilogue without a bias pointer");
        if ((r = matrix_inside(call, "bias", d->bias, dl->rows, 1, dl->rows, dl->type, 1, 0))) return r;
    }
    if (workspaceBytes && !fake_cuda_range((CUdeviceptr) (uintptr_t) workspace, workspaceBytes)) {
        return refuse(call, "the workspace (%zu bytes) is not inside one allocation", workspaceBytes);
    }
    long long k = (long long) (d->transa == OP_N ? a->cols : a->rows);
    logf_("gemm %s m %llu n %llu k %lld epilogue %u", call, dl->rows, dl->cols, k, d->epilogue);
    Gemm *g = malloc(sizeof *g);
    *g = (Gemm){d->compute == 77, d->transa, d->transb, (long long) dl->rows, (long long) dl->cols, k, *(const float *) alpha,
                A, a->type, a->ld, 0, B, b->type, b->ld, 0, *(const float *) beta, C, c->type, c->ld, 0, D, dl->type, dl->ld, 0,
                d->epilogue == 4 ? d->bias : NULL, 1};
    return fake_cuda_enqueue(stream, run_gemm, g) ? EXECUTION_FAILED : OK;
}
