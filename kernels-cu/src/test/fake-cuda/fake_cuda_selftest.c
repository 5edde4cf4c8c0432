/*
 * The stand-in driver's stream semantics, checked against what the CUDA driver API documents: work on a
 * stream runs later, in order; a copy to pinned host memory lands only once the host waits; a copy to or
 * from pageable memory waits for its stream and is done when the call returns; cuEventSynchronize waits
 * for the work before the event and no more; cuEventElapsedTime on an event not yet reached is
 * CUDA_ERROR_NOT_READY; cuMemFree waits for the device. And its devices (FAKE_CUDA_DEVICES): each has its
 * own context and memory, and another device's memory or stream is refused. Linked against the stand-in libcuda.so.1 (CMake target
 * check-fake-cuda); prints one line per check and exits non-zero when one fails.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
CUresult cuInit(unsigned int);
CUresult cuDevicePrimaryCtxRetain(void **, int);
CUresult cuCtxSetCurrent(void *);
CUresult cuStreamCreate(void **, unsigned int);
CUresult cuStreamSynchronize(void *);
CUresult cuStreamDestroy_v2(void *);
CUresult cuMemAlloc_v2(CUdeviceptr *, size_t);
CUresult cuMemFree_v2(CUdeviceptr);
CUresult cuMemAllocHost_v2(void **, size_t);
CUresult cuMemFreeHost(void *);
CUresult cuMemsetD32Async(CUdeviceptr, unsigned int, size_t, void *);
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr, const void *, size_t, void *);
CUresult cuMemcpyDtoHAsync_v2(void *, CUdeviceptr, size_t, void *);
CUresult cuEventCreate(void **, unsigned int);
CUresult cuEventRecord(void *, void *);
CUresult cuEventSynchronize(void *);
CUresult cuEventElapsedTime(float *, void *, void *);
CUresult cuDeviceGetCount(int *);
CUresult cuDeviceGetAttribute(int *, int, int);
CUresult cuDeviceGet(int *, int);
CUresult cuMemGetInfo_v2(size_t *, size_t *);
CUresult cuDevicePrimaryCtxRelease_v2(int);

static int failures;

static void check(int ok, const char *what) {
    printf("%-78s %s\n", what, ok ? "ok" : "FAILED");
    if (!ok) failures++;
}

int main(void) {
    setenv("FAKE_CUDA_DEVICES", "9.0,8.0,7.5", 1); /* read at the first device query */
    void *ctx, *stream, *e1, *e2;
    CUdeviceptr d;
    unsigned *pinned;
    unsigned pageable[4];
    check(cuInit(0) == 0 && cuDevicePrimaryCtxRetain(&ctx, 0) == 0 && cuCtxSetCurrent(ctx) == 0
              && cuStreamCreate(&stream, 0) == 0 && cuEventCreate(&e1, 0) == 0 && cuEventCreate(&e2, 0) == 0
              && cuMemAlloc_v2(&d, 16) == 0 && cuMemAllocHost_v2((void **) &pinned, 16) == 0,
          "a context, a stream, two events, device and pinned memory");

    memset(pinned, 0, 16);
    cuMemsetD32Async(d, 7, 4, stream);
    cuEventRecord(e1, stream);
    cuMemcpyDtoHAsync_v2(pinned, d, 16, stream);
    check(pinned[0] == 0 && pinned[3] == 0, "a copy into pinned memory has not landed before the host waits");
    float ms;
    check(cuEventElapsedTime(&ms, e1, e1) == 600, "cuEventElapsedTime on an event not yet reached: CUDA_ERROR_NOT_READY");
    cuMemsetD32Async(d, 9, 4, stream);
    cuEventRecord(e2, stream);
    check(cuEventSynchronize(e1) == 0 && pinned[0] == 0, "cuEventSynchronize runs the work before its event, not after");
    check(cuEventSynchronize(e2) == 0 && pinned[0] == 7 && pinned[3] == 7,
          "the work before the second event ran in order: the copy saw the first memset");
    check(cuEventElapsedTime(&ms, e1, e2) == 0, "cuEventElapsedTime once both events are reached");

    cuMemsetD32Async(d, 11, 4, stream);
    memset(pageable, 0, sizeof pageable);
    cuMemcpyDtoHAsync_v2(pageable, d, 16, stream);
    check(pageable[0] == 11 && pageable[3] == 11, "a copy into pageable memory waits for its stream and is done on return");

    for (int i = 0; i < 4; i++) pinned[i] = 5;
    cuMemcpyHtoDAsync_v2(d, pinned, 16, stream);
    for (int i = 0; i < 4; i++) pinned[i] = 6; /* changed before the queued copy ran: the GPU would send 6 */
    check(cuStreamSynchronize(stream) == 0 && cuMemcpyDtoHAsync_v2(pageable, d, 16, stream) == 0 && pageable[0] == 6,
          "a copy out of pinned memory reads it when it runs, not when it is queued");

    cuMemsetD32Async(d, 13, 4, stream);
    CUdeviceptr other;
    cuMemAlloc_v2(&other, 16);
    check(cuMemFree_v2(other) == 0 && cuMemcpyDtoHAsync_v2(pinned, d, 16, stream) == 0 && cuStreamSynchronize(stream) == 0
              && pinned[0] == 13,
          "cuMemFree waits for the device; then the stream goes on");

    int count = 0, major = 0, minor = 0, device;
    check(cuDeviceGetCount(&count) == 0 && count == 3 && cuDeviceGetAttribute(&major, 75, 2) == 0
              && cuDeviceGetAttribute(&minor, 76, 2) == 0 && major == 7 && minor == 5 && cuDeviceGet(&device, 3) == 101,
          "FAKE_CUDA_DEVICES: three devices, the third sm_75, no fourth");
    void *ctx1, *stream1;
    CUdeviceptr d1;
    size_t free0, free1, total;
    cuMemGetInfo_v2(&free0, &total);
    check(cuDevicePrimaryCtxRetain(&ctx1, 1) == 0 && ctx1 != ctx && cuCtxSetCurrent(ctx1) == 0
              && cuStreamCreate(&stream1, 0) == 0 && cuMemAlloc_v2(&d1, 1 << 20) == 0
              && cuMemGetInfo_v2(&free1, &total) == 0 && free1 == total - (1 << 20),
          "device 1: its own primary context, stream and memory count");
    check(cuMemsetD32Async(d, 1, 4, stream1) == 1, "device 0's memory under device 1's context: CUDA_ERROR_INVALID_VALUE");
    check(cuMemsetD32Async(d1, 1, 4, stream) == 400, "device 0's stream under device 1's context: CUDA_ERROR_INVALID_HANDLE");
    check(cuMemFree_v2(d) == 1, "freeing device 0's memory under device 1's context is refused");
    check(cuMemFree_v2(d1) == 0 && cuStreamDestroy_v2(stream1) == 0 && cuCtxSetCurrent(ctx) == 0
              && cuMemGetInfo_v2(&free1, &total) == 0 && free1 == free0 && cuDevicePrimaryCtxRelease_v2(1) == 0,
          "back on device 0, whose free memory device 1 did not change");

    check(cuMemFree_v2(d) == 0 && cuMemFreeHost(pinned) == 0 && cuStreamDestroy_v2(stream) == 0, "everything freed");
    printf("%s\n", failures ? "stand-in driver self-test FAILED" : "stand-in driver self-test passed");
    return failures ? 1 : 0;
}
