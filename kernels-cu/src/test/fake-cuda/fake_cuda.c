/*
 * A stand-in CUDA driver (libcuda.so.1) for testing the GPU backend's host side on a machine
 * without a GPU: device memory is host memory, copies and memsets are done, kernels are not run.
 * What it checks is what the real driver would refuse or what would corrupt memory on a GPU:
 *   - every copy, memset and free stays inside one live allocation (CUDA_ERROR_INVALID_VALUE);
 *   - launch geometry within the limits of an sm_90 device (block <= 1024 threads, grid y/z <=
 *     65535, static-size shared memory <= 48 KiB), a known function, kernel parameters given;
 *   - a module is a fatbin (its magic number), and is unloaded at most once;
 *   - work queued on the null (default) stream, or on a stream that is not live: distilbert-cuda
 *     queues everything on its context's own stream (this also checks that JCuda hands the stream
 *     handle back, which it fails to do for modules: see KernelModule);
 *   - the context-bound calls (memory, copies, modules, streams, events, launches) are refused on a
 *     thread where no context was made current (CUDA_ERROR_INVALID_CONTEXT), as the driver's;
 *   - device memory is counted, so cuMemGetInfo tells leaks, and a request beyond the total
 *     (see total_memory: 8 GiB unless FAKE_CUDA_MEMORY_FILE or FAKE_CUDA_MEMORY says less) is
 *     CUDA_ERROR_OUT_OF_MEMORY.
 * Devices: one sm_90 device, or those FAKE_CUDA_DEVICES lists (compute capabilities, e.g. "9.0,8.0,7.5": three
 * devices, ordinals 0, 1, 2), each with its own primary context and memory (of the same size). Memory,
 * streams, modules and functions belong to the device whose context was current when they were made, and
 * using one under another device's context is refused (a pointer of device 0 in a launch on device 1
 * faults on a GPU without peer access; a stream or function of another context is an invalid handle).
 * FAKE_CUDA_LOG=FILE appends one line per device allocation and free ("alloc BYTES", "free BYTES"), per
 * copy between host and device ("htod BYTES", "dtoh BYTES"), per
 * launch ("launch NAME gx gy gz bx by bz shared checked|unchecked",
 * checked when FAKE_CUDA_SIGNATURES let it check the pointer parameters, below) and per
 * refused call ("error CALL: why"), for the tests to read. The cuBLAS stand-in (fake_cublas.c) asks
 * fake_cuda_range() whether its matrices lie inside allocations.
 *
 * With FAKE_CUDA_EMULATE=DIR (the kernel emulator's folder, <build>/emu: libemu_<family>.so, see
 * kernels-cu/src/test/emu) kernels do run: each launch runs its kernel's host-compiled code, thread by
 * thread, when its stream runs (below; a kernel with no emulation is CUDA_ERROR_NOT_FOUND at
 * cuModuleGetFunction; a fault the emulator finds is CUDA_ERROR_LAUNCH_FAILED, its reason logged). Every
 * allocation has 256 guard bytes on each side, checked after each emulated launch: a write outside an
 * allocation fails that launch, naming the kernel and the allocation. Fresh allocations are then filled
 * with 0xFF bytes: NaN in float32, bf16 and f16, so a value read before any write shows.
 *
 * Streams are asynchronous, as the driver's: copies to or from pinned host memory (cuMemAllocHost), copies
 * between device buffers, memsets, emulated launches and the cuBLAS stand-in's GEMMs are queued on their
 * stream and done, in order, only when the host waits: cuStreamSynchronize, cuEventSynchronize (up to the
 * event), cuCtxSynchronize, a copy to or from pageable host memory (which waits for its stream first, as
 * the driver's does), cuMemFree and cuMemFreeHost (which wait for the device). So a host that reads a
 * pinned buffer before waiting for the copy into it, or overwrites one before the copy out of it ran,
 * sees what it would see on a GPU: stale or changed data. A kernel's failure is reported by the wait that
 * runs it, as the driver reports asynchronous errors. cuEventElapsedTime on an event not yet reached is
 * CUDA_ERROR_NOT_READY.
 *
 * Only the calls distilbert-cuda makes are here; JCuda's natives bind the others lazily, so a call
 * of one would stop the JVM with "undefined symbol", naming it. Built by CMakeLists.txt (target
 * fake-cuda) into <build>/fake-cuda/; model/pom.xml's fake-gpu test execution puts that folder on
 * LD_LIBRARY_PATH.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_log.h"
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

enum {
    SUCCESS = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_INITIALIZED = 3, INVALID_DEVICE = 101,
    INVALID_IMAGE = 200, INVALID_CONTEXT = 201, INVALID_HANDLE = 400, NOT_FOUND = 500, LAUNCH_OUT_OF_RESOURCES = 701,
    NOT_READY = 600, LAUNCH_FAILED = 719, NOT_SUPPORTED = 801
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int initialized;

/* ---- the log ---------------------------------------------------------------------------------- */


static _Thread_local char last_refusal[700];

static CUresult refuse(CUresult code, const char *call, const char *why) {
    snprintf(last_refusal, sizeof last_refusal, "%s: %s", call, why);
    logf_("error %s: %s", call, why);
    return code;
}

/* ---- the current context ------------------------------------------------------------------------
 * As the driver: a thread calls the context-bound API (memory, copies, modules, streams, events,
 * launches) only with a context current on it (cuCtxSetCurrent), else CUDA_ERROR_INVALID_CONTEXT.
 * A backend shared by several threads must make its context current on each. */

#define MAX_DEVICES 8
static int primary_context[MAX_DEVICES]; /* their addresses are the context handles */
static _Thread_local void *current;

/* The devices' compute capabilities (major * 10 + minor), from FAKE_CUDA_DEVICES; their count. */
static int device_sm[MAX_DEVICES];
static int device_count(void) {
    static int count = -1;
    if (count >= 0) return count;
    const char *s = getenv("FAKE_CUDA_DEVICES");
    int n = 0;
    if (s && *s) {
        for (const char *at = s; *at && n < MAX_DEVICES;) {
            char *end;
            long major = strtol(at, &end, 10), minor = 0;
            if (end == at) break;
            if (*end == '.') minor = strtol(end + 1, &end, 10);
            device_sm[n++] = (int) (major * 10 + minor);
            at = *end == ',' ? end + 1 : end;
            if (*end != ',') break;
        }
    }
    if (n == 0) device_sm[n++] = 90;
    count = n;
    return count;
}

/* The device of the current context, or -1 when none is current. */
static int current_device(void) {
    if (!current) return -1;
    return (int) ((int *) current - primary_context);
}

/* For the cuBLAS stand-in: the current context's device, or -1. */
int fake_cuda_current_device(void) { return current_device(); }

static CUresult need_context(const char *call) {
    if (current) return SUCCESS;
    return refuse(INVALID_CONTEXT, call, "no context is current on this thread (cuCtxSetCurrent first)");
}

/* distilbert-cuda queues all its work on its context's own stream (never the legacy default stream,
 * which would serialise it with every other user of the device): a null or dead stream is refused. */
static CUresult own_stream(const char *call, void *stream);

/* The stream queues (defined with the streams below). enqueue takes arg (malloc'd) and frees it after run;
 * drain(stream) runs a stream's queued work, drain(NULL) every stream's; both return the first failure. */
typedef CUresult (*WorkFn)(void *arg);
static CUresult enqueue(void *stream, WorkFn run, void *arg);
static CUresult drain(void *stream);
static int pinned(const void *p, size_t bytes);

/* ---- device memory ---------------------------------------------------------------------------- */

typedef struct Allocation { uintptr_t base; size_t bytes; int device; struct Allocation *next; } Allocation;

/* Guard bytes on each side of every allocation (checked after each emulated launch), and their value. */
#define GUARD 256
#define GUARD_BYTE 0x5C

/* An allocation's bytes rounded up to the 256-byte granule the driver hands out: the tail guard follows. */
static size_t padded(size_t bytes) { return (bytes + 255) & ~(size_t) 255; }

static int emulating(void) {
    const char *dir = getenv("FAKE_CUDA_EMULATE");
    return dir && *dir;
}

/* The first guard byte of a that is not GUARD_BYTE, as an offset from a->base (negative: before it), or 0
 * when both guards are whole. The tail guard runs from bytes to the 256-byte rounding plus GUARD. */
static long long broken_guard(const Allocation *a) {
    const unsigned char *base = (const unsigned char *) a->base;
    for (long long i = -GUARD; i < 0; i++) {
        if (base[i] != GUARD_BYTE) return i;
    }
    for (size_t i = a->bytes; i < padded(a->bytes) + GUARD; i++) {
        if (base[i] != GUARD_BYTE) return (long long) i;
    }
    return 0;
}
static Allocation *allocations;
static size_t allocated[MAX_DEVICES];

/* The device's memory: the number in the file FAKE_CUDA_MEMORY_FILE names, read at each call (so a test
 * can shrink the device while the process runs), else FAKE_CUDA_MEMORY, else 8 GiB. */
static size_t total_memory(void) {
    const char *file = getenv("FAKE_CUDA_MEMORY_FILE");
    if (file && *file) {
        FILE *f = fopen(file, "r");
        if (f) {
            unsigned long long n = 0;
            int got = fscanf(f, "%llu", &n);
            fclose(f);
            if (got == 1) return (size_t) n;
        }
    }
    const char *s = getenv("FAKE_CUDA_MEMORY");
    return s && *s ? (size_t) strtoull(s, NULL, 10) : (size_t) 8 << 30;
}

/* The live allocation holding [p, p + bytes), on any device, or NULL. Callers hold the lock. */
static Allocation *holding(uintptr_t p, size_t bytes) {
    for (Allocation *a = allocations; a; a = a->next) {
        if (p >= a->base && p - a->base <= a->bytes && bytes <= a->bytes - (p - a->base)) return a;
    }
    return NULL;
}

/* The device of the live allocation holding [p, p + bytes), or -1. */
static int range_device(CUdeviceptr p, size_t bytes) {
    pthread_mutex_lock(&lock);
    Allocation *a = holding((uintptr_t) p, bytes);
    int device = a ? a->device : -1;
    pthread_mutex_unlock(&lock);
    return device;
}

/* For the cuBLAS stand-in: 1 when [p, p + bytes) lies inside one live allocation of the current context's device. */
int fake_cuda_range(CUdeviceptr p, size_t bytes) {
    int device = range_device(p, bytes);
    return device >= 0 && device == current_device();
}

static CUresult check_range(const char *call, CUdeviceptr p, size_t bytes) {
    int device = range_device(p, bytes);
    if (device >= 0 && device == current_device()) return SUCCESS;
    char why[200];
    if (device >= 0) {
        snprintf(why, sizeof why, "[0x%llx, +%zu bytes) is memory of device %d, but the current context is device %d's",
                 p, bytes, device, current_device());
    } else {
        snprintf(why, sizeof why, "[0x%llx, +%zu bytes) is not inside one live allocation", p, bytes);
    }
    return refuse(INVALID_VALUE, call, why);
}

CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytes) {
    if (need_context("cuMemAlloc")) return INVALID_CONTEXT;
    if (!dptr || bytes == 0) return refuse(INVALID_VALUE, "cuMemAlloc", "null pointer or 0 bytes");
    pthread_mutex_lock(&lock);
    int device = current_device();
    if (bytes > total_memory() - allocated[device]) {
        pthread_mutex_unlock(&lock);
        return OUT_OF_MEMORY;
    }
    size_t rounded = padded(bytes);
    unsigned char *block = aligned_alloc(256, GUARD + rounded + GUARD);
    if (!block) {
        pthread_mutex_unlock(&lock);
        return OUT_OF_MEMORY;
    }
    unsigned char *p = block + GUARD;
    memset(block, GUARD_BYTE, GUARD + rounded + GUARD);
    /* device memory is not zeroed: neither is this (NaN under emulation, so that a read before a write shows) */
    memset(p, emulating() ? 0xFF : 0xA5, bytes);
    Allocation *a = malloc(sizeof *a);
    a->base = (uintptr_t) p;
    a->bytes = bytes;
    a->device = device;
    a->next = allocations;
    allocations = a;
    allocated[device] += bytes;
    *dptr = (CUdeviceptr) (uintptr_t) p;
    pthread_mutex_unlock(&lock);
    logf_("alloc %zu", bytes);
    return SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr dptr) {
    if (need_context("cuMemFree")) return INVALID_CONTEXT;
    CUresult pending = drain(NULL); /* as the driver: the device finishes its work before memory is freed */
    if (pending != SUCCESS) return pending;
    pthread_mutex_lock(&lock);
    for (Allocation **at = &allocations; *at; at = &(*at)->next) {
        if ((*at)->base == (uintptr_t) dptr) {
            Allocation *a = *at;
            if (a->device != current_device()) break; /* refused below */
            *at = a->next;
            allocated[a->device] -= a->bytes;
            size_t bytes = a->bytes;
            free((void *) (a->base - GUARD));
            free(a);
            pthread_mutex_unlock(&lock);
            logf_("free %zu", bytes);
            return SUCCESS;
        }
    }
    pthread_mutex_unlock(&lock);
    return refuse(INVALID_VALUE, "cuMemFree", "not the start of a live allocation of the current context's device "
                                             "(freed twice, an offset, or another device's)");
}

CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total) {
    if (need_context("cuMemGetInfo")) return INVALID_CONTEXT;
    pthread_mutex_lock(&lock);
    *free_bytes = total_memory() - allocated[current_device()];
    *total = total_memory();
    pthread_mutex_unlock(&lock);
    return SUCCESS;
}

/* Pinned host memory (cuMemAllocHost): copies to and from it are asynchronous. */
typedef struct Pinned { uintptr_t base; size_t bytes; struct Pinned *next; } Pinned;
static Pinned *pinned_list;

static int pinned(const void *p, size_t bytes) {
    pthread_mutex_lock(&lock);
    int found = 0;
    for (Pinned *a = pinned_list; a && !found; a = a->next) {
        found = (uintptr_t) p >= a->base && (uintptr_t) p - a->base + bytes <= a->bytes;
    }
    pthread_mutex_unlock(&lock);
    return found;
}

CUresult cuMemAllocHost_v2(void **p, size_t bytes) {
    if (need_context("cuMemAllocHost")) return INVALID_CONTEXT;
    *p = malloc(bytes ? bytes : 1);
    if (!*p) return OUT_OF_MEMORY;
    Pinned *a = malloc(sizeof *a);
    a->base = (uintptr_t) *p;
    a->bytes = bytes ? bytes : 1;
    pthread_mutex_lock(&lock);
    a->next = pinned_list;
    pinned_list = a;
    pthread_mutex_unlock(&lock);
    return SUCCESS;
}

CUresult cuMemFreeHost(void *p) {
    CUresult r = drain(NULL); /* the driver waits for the device before it frees pinned memory */
    pthread_mutex_lock(&lock);
    for (Pinned **at = &pinned_list; *at; at = &(*at)->next) {
        if ((*at)->base == (uintptr_t) p) {
            Pinned *a = *at;
            *at = a->next;
            free(a);
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    free(p);
    return r;
}

typedef struct { void *dst; const void *src; size_t bytes; } Copy;

static CUresult do_copy(void *arg) {
    Copy *c = arg;
    memmove(c->dst, c->src, c->bytes);
    return SUCCESS;
}

/* A copy on stream: queued when host is pinned (or for device to device), else done at once after the
 * stream's queued work, as the driver does for pageable host memory. */
static CUresult copy_on(void *stream, void *dst, const void *src, size_t bytes, const void *host) {
    if (host && !pinned(host, bytes)) {
        CUresult r = drain(stream);
        memmove(dst, src, bytes);
        return r;
    }
    Copy *c = malloc(sizeof *c);
    c->dst = dst;
    c->src = src;
    c->bytes = bytes;
    return enqueue(stream, do_copy, c);
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t bytes, void *stream) {
    if (need_context("cuMemcpyHtoDAsync")) return INVALID_CONTEXT;
    if (own_stream("cuMemcpyHtoDAsync", stream)) return INVALID_HANDLE;
    CUresult r = check_range("cuMemcpyHtoDAsync", dst, bytes);
    if (r != SUCCESS) return r;
    logf_("htod %zu", bytes);
    return copy_on(stream, (void *) (uintptr_t) dst, src, bytes, src);
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t bytes, void *stream) {
    if (need_context("cuMemcpyDtoHAsync")) return INVALID_CONTEXT;
    if (own_stream("cuMemcpyDtoHAsync", stream)) return INVALID_HANDLE;
    CUresult r = check_range("cuMemcpyDtoHAsync", src, bytes);
    if (r != SUCCESS) return r;
    logf_("dtoh %zu", bytes);
    return copy_on(stream, dst, (const void *) (uintptr_t) src, bytes, dst);
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, void *stream) {
    if (need_context("cuMemcpyDtoDAsync")) return INVALID_CONTEXT;
    if (own_stream("cuMemcpyDtoDAsync", stream)) return INVALID_HANDLE;
    CUresult r = check_range("cuMemcpyDtoDAsync (destination)", dst, bytes);
    if (r == SUCCESS) r = check_range("cuMemcpyDtoDAsync (source)", src, bytes);
    if (r != SUCCESS) return r;
    return copy_on(stream, (void *) (uintptr_t) dst, (const void *) (uintptr_t) src, bytes, NULL);
}

typedef struct { char *dst; unsigned int v; size_t n, width; } Fill;

static CUresult do_fill(void *arg) {
    Fill *f = arg;
    for (size_t i = 0; i < f->n; i++) memcpy(f->dst + i * f->width, &f->v, f->width); /* little-endian */
    return SUCCESS;
}

/* n elements of width bytes (1, 2 or 4), each the low bytes of v, as cuMemsetD8/D16/D32Async. */
static CUresult fill(const char *call, CUdeviceptr dst, unsigned int v, size_t n, size_t width, void *stream) {
    if (need_context(call)) return INVALID_CONTEXT;
    if (own_stream(call, stream)) return INVALID_HANDLE;
    if (dst % width) return refuse(INVALID_VALUE, call, "destination not aligned to the element");
    CUresult r = check_range(call, dst, width * n);
    if (r != SUCCESS) return r;
    Fill *f = malloc(sizeof *f);
    f->dst = (char *) (uintptr_t) dst;
    f->v = v;
    f->n = n;
    f->width = width;
    return enqueue(stream, do_fill, f);
}

CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, void *stream) {
    return fill("cuMemsetD8Async", dst, v, n, 1, stream);
}

CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short v, size_t n, void *stream) {
    return fill("cuMemsetD16Async", dst, v, n, 2, stream);
}

CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned int v, size_t n, void *stream) {
    return fill("cuMemsetD32Async", dst, v, n, 4, stream);
}

/* ---- driver, device, context, stream, events -------------------------------------------------- */

CUresult cuInit(unsigned int flags) {
    if (flags != 0) return refuse(INVALID_VALUE, "cuInit", "flags must be 0");
    initialized = 1;
    return SUCCESS;
}

CUresult cuDriverGetVersion(int *version) {
    *version = 13000;
    return SUCCESS;
}

CUresult cuDeviceGetCount(int *count) {
    if (!initialized) return NOT_INITIALIZED;
    *count = device_count();
    return SUCCESS;
}

CUresult cuDeviceGet(int *device, int ordinal) {
    if (!initialized) return NOT_INITIALIZED;
    if (ordinal < 0 || ordinal >= device_count()) return INVALID_DEVICE;
    *device = ordinal;
    return SUCCESS;
}

static int valid_device(int device) { return device >= 0 && device < device_count(); }

CUresult cuDeviceGetName(char *name, int len, int device) {
    if (!valid_device(device)) return INVALID_DEVICE;
    snprintf(name, (size_t) len, "%s", emulating() ? "distilbert-cuda fake GPU (kernels emulated on the host)" : "distilbert-cuda fake GPU (no kernels run)");
    return SUCCESS;
}

CUresult cuDeviceGetAttribute(int *value, int attribute, int device) {
    if (!valid_device(device)) return INVALID_DEVICE;
    switch (attribute) {
        case 1: *value = 1024; break;        /* max threads per block */
        case 2: case 3: *value = 1024; break; /* max block x, y */
        case 4: *value = 64; break;          /* max block z */
        case 5: *value = 2147483647; break;  /* max grid x */
        case 6: case 7: *value = 65535; break; /* max grid y, z */
        case 8: *value = 49152; break;       /* shared memory per block */
        case 10: *value = 32; break;         /* warp size */
        case 16: *value = 132; break;        /* multiprocessors */
        case 75: *value = device_sm[device] / 10; break; /* compute capability major */
        case 76: *value = device_sm[device] % 10; break; /* minor */
        default: *value = 0;
    }
    return SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, int device) {
    if (!valid_device(device)) return INVALID_DEVICE;
    *bytes = total_memory();
    return SUCCESS;
}

static int retained[MAX_DEVICES];

CUresult cuDevicePrimaryCtxRetain(void **context, int device) {
    if (!valid_device(device)) return INVALID_DEVICE;
    pthread_mutex_lock(&lock);
    retained[device]++;
    pthread_mutex_unlock(&lock);
    *context = &primary_context[device];
    return SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(int device) {
    if (!valid_device(device)) return INVALID_DEVICE;
    pthread_mutex_lock(&lock);
    int was = retained[device];
    if (was > 0) retained[device]--;
    pthread_mutex_unlock(&lock);
    if (was == 0) return refuse(INVALID_CONTEXT, "cuDevicePrimaryCtxRelease", "released more often than retained");
    return SUCCESS;
}

CUresult cuCtxSetCurrent(void *context) {
    int device = context ? (int) ((int *) context - primary_context) : -1;
    if (context && (device < 0 || device >= device_count() || (int *) context != &primary_context[device])) {
        return refuse(INVALID_CONTEXT, "cuCtxSetCurrent", "not a primary context");
    }
    if (context && retained[device] == 0) return refuse(INVALID_CONTEXT, "cuCtxSetCurrent", "the primary context is not retained");
    current = context;
    return SUCCESS;
}

CUresult cuCtxSynchronize(void) {
    if (need_context("cuCtxSynchronize")) return INVALID_CONTEXT;
    return drain(NULL);
}

typedef struct { int magic; int device; } Handle; /* device: the current context's when it was made */
enum { STREAM = 0x57AE, EVENT = 0xE7E7, MODULE = 0x30D1, FUNCTION = 0xF7C7 };

static void *handle(int magic, size_t size) {
    Handle *h = calloc(1, size);
    h->magic = magic;
    h->device = current_device();
    return h;
}

static int is(void *h, int magic) { return h && ((Handle *) h)->magic == magic; }

/* A handle made under device's context, used under the current one: refused when they differ. */
static CUresult other_device(const char *call, const char *what, int device) {
    if (device == current_device()) return SUCCESS;
    char why[160];
    snprintf(why, sizeof why, "a %s of device %d used while device %d's context is current", what, device, current_device());
    return refuse(INVALID_HANDLE, call, why);
}

static CUresult release(void *h, int magic, const char *call) {
    if (!is(h, magic)) return refuse(INVALID_HANDLE, call, "not a live handle of this kind (destroyed twice?)");
    ((Handle *) h)->magic = 0;
    free(h);
    return SUCCESS;
}

/* A stream: its queue of work not yet done, in order. queued counts what was ever queued on it, done what
 * has run; an event recorded on it is reached when done passes the count at its recording. */
typedef struct Work { WorkFn run; void *arg; struct Work *next; } Work;
typedef struct Stream {
    int magic, device;
    Work *head, *tail;
    unsigned long long queued, done;
    struct Stream *next_stream;
} Stream;
typedef struct { int magic, device; Stream *stream; unsigned long long at; int recorded; } Event;

static Stream *streams;                                    /* the live ones */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER; /* one drain at a time: work runs in order */

CUresult cuStreamCreate(void **stream, unsigned int flags) {
    if (need_context("cuStreamCreate")) return INVALID_CONTEXT;
    (void) flags;
    Stream *s = handle(STREAM, sizeof(Stream));
    pthread_mutex_lock(&queue_lock);
    s->next_stream = streams;
    streams = s;
    pthread_mutex_unlock(&queue_lock);
    *stream = s;
    return SUCCESS;
}

static CUresult own_stream(const char *call, void *stream) {
    if (!is(stream, STREAM)) return refuse(INVALID_HANDLE, call, stream ? "not a live stream" : "the null (default) stream");
    return other_device(call, "stream", ((Handle *) stream)->device);
}

static CUresult enqueue(void *stream, WorkFn run, void *arg) {
    Work *w = malloc(sizeof *w);
    w->run = run;
    w->arg = arg;
    w->next = NULL;
    pthread_mutex_lock(&queue_lock);
    Stream *s = stream;
    if (s->tail) s->tail->next = w; else s->head = w;
    s->tail = w;
    s->queued++;
    pthread_mutex_unlock(&queue_lock);
    return SUCCESS;
}

/* Runs s's queued work up to and including its until-th item ever queued; the first failure. */
static CUresult drain_until(Stream *s, unsigned long long until) {
    CUresult first = SUCCESS;
    pthread_mutex_lock(&run_lock);
    for (;;) {
        pthread_mutex_lock(&queue_lock);
        Work *w = s->done < until ? s->head : NULL;
        if (w) {
            s->head = w->next;
            if (!s->head) s->tail = NULL;
        }
        pthread_mutex_unlock(&queue_lock);
        if (!w) break;
        CUresult r = w->run(w->arg);
        if (first == SUCCESS) first = r;
        free(w->arg);
        free(w);
        pthread_mutex_lock(&queue_lock);
        s->done++;
        pthread_mutex_unlock(&queue_lock);
    }
    pthread_mutex_unlock(&run_lock);
    return first;
}

static CUresult drain(void *stream) {
    if (stream) return drain_until(stream, ~0ull);
    CUresult first = SUCCESS;
    pthread_mutex_lock(&queue_lock);
    Stream *list[64];
    int n = 0;
    for (Stream *s = streams; s && n < 64; s = s->next_stream) list[n++] = s;
    pthread_mutex_unlock(&queue_lock);
    for (int i = 0; i < n; i++) {
        CUresult r = drain_until(list[i], ~0ull);
        if (first == SUCCESS) first = r;
    }
    return first;
}

/* For the cuBLAS stand-in: work on stream (queued, as a GEMM is), or done at once after every stream's
 * work on the null stream. 0, or a CUresult. */
int fake_cuda_enqueue(void *stream, int (*run)(void *), void *arg) {
    if (!stream) {
        CUresult r = drain(NULL);
        int q = run(arg);
        free(arg);
        return r != SUCCESS ? (int) r : q;
    }
    if (!is(stream, STREAM)) {
        free(arg);
        return refuse(INVALID_HANDLE, "cuBLAS", "its stream is not a live stream");
    }
    if (other_device("cuBLAS", "stream", ((Stream *) stream)->device)) {
        free(arg);
        return INVALID_HANDLE;
    }
    return enqueue(stream, (WorkFn) run, arg);
}

CUresult cuStreamDestroy_v2(void *stream) {
    if (!is(stream, STREAM)) return refuse(INVALID_HANDLE, "cuStreamDestroy", "not a live handle of this kind (destroyed twice?)");
    CUresult r = drain(stream); /* the driver lets queued work finish */
    pthread_mutex_lock(&queue_lock);
    for (Stream **at = &streams; *at; at = &(*at)->next_stream) {
        if (*at == stream) {
            *at = ((Stream *) stream)->next_stream;
            break;
        }
    }
    pthread_mutex_unlock(&queue_lock);
    CUresult q = release(stream, STREAM, "cuStreamDestroy");
    return r != SUCCESS ? r : q;
}

CUresult cuStreamSynchronize(void *stream) {
    if (need_context("cuStreamSynchronize")) return INVALID_CONTEXT;
    if (own_stream("cuStreamSynchronize", stream)) return INVALID_HANDLE;
    return drain(stream);
}

CUresult cuEventCreate(void **event, unsigned int flags) {
    if (need_context("cuEventCreate")) return INVALID_CONTEXT;
    (void) flags;
    *event = handle(EVENT, sizeof(Event));
    return SUCCESS;
}

CUresult cuEventDestroy_v2(void *event) { return release(event, EVENT, "cuEventDestroy"); }

CUresult cuEventRecord(void *event, void *stream) {
    if (need_context("cuEventRecord")) return INVALID_CONTEXT;
    if (!is(event, EVENT)) return refuse(INVALID_HANDLE, "cuEventRecord", "not an event");
    if (own_stream("cuEventRecord", stream)) return INVALID_HANDLE;
    if (other_device("cuEventRecord", "event", ((Handle *) event)->device)) return INVALID_HANDLE;
    Event *e = event;
    pthread_mutex_lock(&queue_lock);
    e->stream = stream;
    e->at = ((Stream *) stream)->queued;
    e->recorded = 1;
    pthread_mutex_unlock(&queue_lock);
    return SUCCESS;
}

/* Waits for the work queued before the event was recorded, and no more (an event never recorded is
 * complete, as the driver's). */
CUresult cuEventSynchronize(void *event) {
    if (!is(event, EVENT)) return refuse(INVALID_HANDLE, "cuEventSynchronize", "not an event");
    Event *e = event;
    if (!e->recorded || !is(e->stream, STREAM)) return SUCCESS;
    return drain_until(e->stream, e->at);
}

static int reached(Event *e) {
    if (!e->recorded || !is(e->stream, STREAM)) return e->recorded;
    pthread_mutex_lock(&queue_lock);
    int r = e->stream->done >= e->at;
    pthread_mutex_unlock(&queue_lock);
    return r;
}

CUresult cuEventElapsedTime(float *ms, void *start, void *end) {
    if (!is(start, EVENT) || !is(end, EVENT)) return refuse(INVALID_HANDLE, "cuEventElapsedTime", "not an event");
    if (!reached(start) || !reached(end)) {
        return refuse(NOT_READY, "cuEventElapsedTime", "an event not yet reached (wait for it first)");
    }
    *ms = 0.001f;
    return SUCCESS;
}

/* ---- modules and launches --------------------------------------------------------------------- */

/* With FAKE_CUDA_SIGNATURES=DIR (kernels-cu's distilbert/kernels folder, every <family>.signatures there), a
 * function knows its parameter types, and a launch checks that each pointer parameter is null or
 * points into a live allocation (a stale arena pointer, a host address or an offset past the end
 * would fault on a GPU). */
typedef int (*EmuRun)(const void *geometry, void **params, char *error, int error_size);
typedef struct { int magic, device; char name[128]; char types[64]; unsigned char sizes[64]; int ntypes; EmuRun emu; } Function;

/* ---- the kernel emulator (FAKE_CUDA_EMULATE) ------------------------------------------------------ */

static void *emu_libs[32];
static int emu_lib_count = -1;
static pthread_mutex_t emu_lock = PTHREAD_MUTEX_INITIALIZER;

/* emu_run_<name> from one of DIR's libemu_*.so (opened once, each in a namespace of its own), or NULL. */
static EmuRun find_emulation(const char *name) {
    pthread_mutex_lock(&emu_lock);
    if (emu_lib_count < 0) {
        emu_lib_count = 0;
        const char *dir = getenv("FAKE_CUDA_EMULATE");
        DIR *d = opendir(dir);
        for (struct dirent *e; d && (e = readdir(d)) != NULL && emu_lib_count < 32;) {
            size_t len = strlen(e->d_name);
            if (strncmp(e->d_name, "libemu_", 7) != 0 || len < 4 || strcmp(e->d_name + len - 3, ".so") != 0) continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (lib) {
                emu_libs[emu_lib_count++] = lib;
            } else {
                logf_("error dlopen: %s", dlerror());
            }
        }
        if (d) closedir(d);
    }
    char symbol[160];
    snprintf(symbol, sizeof symbol, "emu_run_%s", name);
    EmuRun run = NULL;
    for (int i = 0; i < emu_lib_count && !run; i++) run = (EmuRun) dlsym(emu_libs[i], symbol);
    pthread_mutex_unlock(&emu_lock);
    return run;
}

/* After an emulated launch: a guard byte changed is a write outside an allocation. */
static CUresult check_guards(const char *kernel) {
    pthread_mutex_lock(&lock);
    for (Allocation *a = allocations; a; a = a->next) {
        long long at = broken_guard(a);
        if (at == 0) continue;
        char why[300];
        snprintf(why, sizeof why, "%s wrote outside an allocation: byte %lld of the allocation of %zu bytes at 0x%llx",
                 kernel, at, a->bytes, (unsigned long long) a->base);
        /* mended, so that the next launch reports its own writes */
        unsigned char *base = (unsigned char *) a->base;
        memset(base - GUARD, GUARD_BYTE, GUARD);
        memset(base + a->bytes, GUARD_BYTE, padded(a->bytes) + GUARD - a->bytes);
        pthread_mutex_unlock(&lock);
        return refuse(LAUNCH_FAILED, "cuLaunchKernel", why);
    }
    pthread_mutex_unlock(&lock);
    return SUCCESS;
}

static void find_signature(Function *f) {
    const char *dir = getenv("FAKE_CUDA_SIGNATURES");
    f->ntypes = -1;
    if (!dir || !*dir) return;
    DIR *d = opendir(dir);
    if (!d) return;
    char path[1024], line[1024];
    size_t n = strlen(f->name);
    for (struct dirent *e; f->ntypes < 0 && (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len < 11 || strcmp(e->d_name + len - 11, ".signatures") != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *in = fopen(path, "r");
        if (!in) continue;
        while (fgets(line, sizeof line, in)) {
            if (strncmp(line, f->name, n) == 0 && line[n] == ' ') {
                f->ntypes = 0;
                char *save = NULL;
                for (char *t = strtok_r(line + n + 1, ",\n", &save); t && f->ntypes < (int) sizeof f->types;
                     t = strtok_r(NULL, ",\n", &save)) {
                    f->types[f->ntypes] = strcmp(t, "u64") == 0 ? 'p' : 's';
                    f->sizes[f->ntypes++] = strstr(t, "64") ? 8 : strstr(t, "16") ? 2 : strstr(t, "8") ? 1 : 4;
                }
                break;
            }
        }
        fclose(in);
    }
    closedir(d);
}

/* What distilbert-cuda loads is a fatbin; the driver's cuModuleLoadData takes one as it takes a cubin or PTX. */
CUresult cuModuleLoadData(void **module, const void *image) {
    if (need_context("cuModuleLoadData")) return INVALID_CONTEXT;
    if (!image || *(const uint32_t *) image != 0xBA55ED50u) {
        return refuse(INVALID_IMAGE, "cuModuleLoadData", "not a fatbin (magic number)");
    }
    *module = handle(MODULE, sizeof(Handle));
    return SUCCESS;
}

CUresult cuModuleLoadFatBinary(void **module, const void *image) { return cuModuleLoadData(module, image); }

CUresult cuModuleUnload(void *module) {
    CUresult r = drain(NULL);
    CUresult q = release(module, MODULE, "cuModuleUnload");
    return r != SUCCESS ? r : q;
}

CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
    if (need_context("cuModuleGetFunction")) return INVALID_CONTEXT;
    if (!is(module, MODULE)) return refuse(INVALID_HANDLE, "cuModuleGetFunction", "not a live module");
    if (other_device("cuModuleGetFunction", "module", ((Handle *) module)->device)) return INVALID_HANDLE;
    Function *f = handle(FUNCTION, sizeof(Function));
    snprintf(f->name, sizeof f->name, "%s", name);
    find_signature(f);
    if (emulating()) {
        if (f->ntypes < 0) {
            char why[300];
            snprintf(why, sizeof why, "%s: the emulator needs the kernel's parameter sizes (FAKE_CUDA_SIGNATURES)", name);
            free(f);
            return refuse(NOT_FOUND, "cuModuleGetFunction", why);
        }
        f->emu = find_emulation(name);
        if (!f->emu) {
            char why[300];
            snprintf(why, sizeof why, "%s: no such kernel in the emulator's libraries (%s)", name, getenv("FAKE_CUDA_EMULATE"));
            free(f);
            return refuse(NOT_FOUND, "cuModuleGetFunction", why);
        }
    }
    *function = f; /* a few per kernel family, kept for the process: as the driver's */
    return SUCCESS;
}

typedef struct { unsigned grid[3], block[3], shared_bytes; } Geometry;
typedef struct { EmuRun fn; char name[128]; Geometry geometry; void *params[64]; unsigned char data[64 * 8]; } Launch;

static CUresult run_launch(void *arg) {
    Launch *l = arg;
    char error[600];
    CUresult r = l->fn(&l->geometry, l->params, error, sizeof error) != 0 ? refuse(LAUNCH_FAILED, "cuLaunchKernel", error)
                                                                         : check_guards(l->name);
    /* the driver's status says only "launch failed", and at the next wait: the reason goes to stderr too */
    if (r != SUCCESS) fprintf(stderr, "fake-cuda: kernel emulator: %s\n", last_refusal);
    return r;
}

CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void *stream, void **params, void **extra) {
    if (need_context("cuLaunchKernel")) return INVALID_CONTEXT;
    if (!is(function, FUNCTION)) return refuse(INVALID_HANDLE, "cuLaunchKernel", "not a function");
    if (other_device("cuLaunchKernel", "function", ((Handle *) function)->device)) return INVALID_HANDLE;
    const char *name = ((Function *) function)->name;
    char why[400];
    if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || gx > 2147483647u || gy > 65535 || gz > 65535
            || bx > 1024 || by > 1024 || bz > 64 || (unsigned long long) bx * by * bz > 1024) {
        snprintf(why, sizeof why, "%s: grid (%u, %u, %u), block (%u, %u, %u) out of the device's limits", name, gx, gy, gz,
                 bx, by, bz);
        return refuse(INVALID_VALUE, "cuLaunchKernel", why);
    }
    if (shared > 49152) {
        snprintf(why, sizeof why, "%s: %u bytes of dynamic shared memory without raising the limit", name, shared);
        return refuse(LAUNCH_OUT_OF_RESOURCES, "cuLaunchKernel", why);
    }
    if (!params || extra) return refuse(INVALID_VALUE, "cuLaunchKernel", "parameters must come as kernelParams");
    if (own_stream("cuLaunchKernel", stream)) return INVALID_HANDLE;
    const Function *fn = function;
    for (int i = 0; i < fn->ntypes; i++) {
        if (fn->types[i] != 'p') continue;
        CUdeviceptr p = *(const CUdeviceptr *) params[i];
        int device = p == 0 ? current_device() : range_device(p, 1);
        if (device < 0) {
            snprintf(why, sizeof why, "%s: pointer parameter %d (0x%llx) is not inside a live allocation", name, i, p);
            return refuse(INVALID_VALUE, "cuLaunchKernel", why);
        }
        if (device != current_device()) {
            snprintf(why, sizeof why, "%s: pointer parameter %d (0x%llx) is memory of device %d, launched on device %d",
                     name, i, p, device, current_device());
            return refuse(INVALID_VALUE, "cuLaunchKernel", why);
        }
    }
    if (fn->ntypes >= 0) {
        logf_("launch %s %u %u %u %u %u %u %u checked", name, gx, gy, gz, bx, by, bz, shared);
    } else {
        logf_("launch %s %u %u %u %u %u %u %u unchecked", name, gx, gy, gz, bx, by, bz, shared);
    }
    if (fn->emu) {
        /* the parameters' values are taken now, as the driver takes them; the kernel runs when the stream does */
        Launch *l = malloc(sizeof *l);
        l->fn = fn->emu;
        snprintf(l->name, sizeof l->name, "%s", name);
        l->geometry = (Geometry){{gx, gy, gz}, {bx, by, bz}, shared};
        size_t at = 0;
        for (int i = 0; i < fn->ntypes; i++) {
            memcpy(l->data + at, params[i], fn->sizes[i]);
            l->params[i] = l->data + at;
            at += 8;
        }
        return enqueue(stream, run_launch, l);
    }
    return SUCCESS;
}

/* ---- errors ------------------------------------------------------------------------------------ */

CUresult cuGetErrorName(CUresult error, const char **name) {
    switch (error) {
        case SUCCESS: *name = "CUDA_SUCCESS"; break;
        case INVALID_VALUE: *name = "CUDA_ERROR_INVALID_VALUE"; break;
        case OUT_OF_MEMORY: *name = "CUDA_ERROR_OUT_OF_MEMORY"; break;
        case NOT_INITIALIZED: *name = "CUDA_ERROR_NOT_INITIALIZED"; break;
        case INVALID_DEVICE: *name = "CUDA_ERROR_INVALID_DEVICE"; break;
        case INVALID_IMAGE: *name = "CUDA_ERROR_INVALID_IMAGE"; break;
        case INVALID_CONTEXT: *name = "CUDA_ERROR_INVALID_CONTEXT"; break;
        case INVALID_HANDLE: *name = "CUDA_ERROR_INVALID_HANDLE"; break;
        case NOT_FOUND: *name = "CUDA_ERROR_NOT_FOUND"; break;
        case LAUNCH_OUT_OF_RESOURCES: *name = "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"; break;
        case LAUNCH_FAILED: *name = "CUDA_ERROR_LAUNCH_FAILED"; break;
        case NOT_READY: *name = "CUDA_ERROR_NOT_READY"; break;
        case NOT_SUPPORTED: *name = "CUDA_ERROR_NOT_SUPPORTED"; break;
        default: *name = NULL; return INVALID_VALUE;
    }
    return SUCCESS;
}

CUresult cuGetErrorString(CUresult error, const char **text) { return cuGetErrorName(error, text); }
