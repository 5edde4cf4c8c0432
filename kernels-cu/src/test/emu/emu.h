// emu.h — CUDA's built-ins for plain C++, so that the kernels of kernels-cu/src/main/cuda run on
// the host, unchanged, inside the stand-in driver (kernels-cu/src/test/fake-cuda): the kernel
// emulator. g++ force-includes this file (-include emu.h) before a kernel source; the CMake
// target kernel-emulator builds one libemu_<family>.so per source, and fake_cuda.c runs a
// launch through it when FAKE_CUDA_EMULATE names their folder.
//
// The model of execution (emu_runtime.cpp):
//   - blocks run one after another; the threads of a block are fibers, switched only at the
//     block's and the warps' synchronisation points (__syncthreads, __syncwarp, the shuffles,
//     the mma), so __shared__ variables are plain statics: one copy, owned by the running block,
//     filled with NaN bytes before each block;
//     between two such points the threads run in a random order, drawn afresh each time, so a
//     read of another thread's write without a barrier between them goes wrong in some passes;
//   - a shuffle or an mma is a warp-wide exchange: the 32 lanes deposit their values, meet, and
//     read their partner's. The emulator refuses what would be undefined on a GPU: a partial
//     mask, a warp op in a warp with fewer than 32 live lanes (some exited, or a partial last
//     warp), lanes of one warp or block waiting at different call sites (divergent barriers),
//     and a misaligned vector access (load8/store8/load_pair/store_pair);
//   - the arithmetic is the host's: IEEE float32 with no contraction to FMA (nvcc contracts),
//     the CUDA headers' host conversions for bf16/f16 (round to nearest even, as the device's),
//     libm's expf/erff/... (within a few ulp of the device's). An mma multiplies 16-bit operands
//     exactly and adds the 16 products and the accumulator in double, rounded once.
//
// What it cannot show: timing, the device's memory model, a race that the random order happens
// not to expose, and a wild pointer (it crashes the process,
// as it would fault the GPU; out-of-allocation writes near an allocation are caught by the
// driver's guard bytes after each launch).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#define DBC_EMULATE 1

// The execution-space and memory-space keywords. The CUDA headers define __device__, __host__,
// __forceinline__ and __align__ for a host compiler already; __global__ is theirs too (empty).
// __shared__ variables are statics; being zero-initialised, they are the library's .bss, which the
// scheduler fills with 0xFF bytes (NaN in f32, bf16 and f16) before each block (the runtime keeps its
// own state in another section): shared memory holds no defined value when a block starts, and a read
// before a write shows. (A section of their own would be neater, but GCC ignores the section
// attribute on the statics of a template.)
#undef __shared__
#define __shared__ static
#undef __launch_bounds__
#define __launch_bounds__(...)

namespace emu {

struct Dim3 {
    unsigned x, y, z;
};

// The running thread's coordinates, set by the scheduler before it resumes a fiber.
extern Dim3 thread_idx, block_idx, block_dim, grid_dim;

[[noreturn]] void fault(int line, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void syncthreads(int line);
void syncwarp(int line);
// The warp-wide exchange under every shuffle: deposits bits, meets the other 31 lanes at line,
// returns lane src's bits.
uint64_t exchange(unsigned mask, uint64_t bits, int src, bool by_xor, int line);
// D = A·B + D for one m16n8k16 tile of 16-bit operands (bf16 when bf16, else f16), warp-wide.
void mma_16816(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], bool bf16, int line);
void check_aligned(const void* p, unsigned bytes, int line);

template <typename V>
V shuffle(unsigned mask, V v, int src, bool by_xor, int line) {
    static_assert(std::is_trivially_copyable_v<V> && sizeof(V) <= 8, "a shuffle moves at most 64 bits");
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(V));
    bits = exchange(mask, bits, src, by_xor, line);
    V out;
    std::memcpy(&out, &bits, sizeof(V));
    return out;
}

}  // namespace emu

// CUDA's integer min and max (device functions in the global namespace).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }

// The explicitly rounded float32 intrinsics (a kernel writes them where the CPU reference's bits
// must be met and nvcc must not contract a multiply and an add into an FMA). The host's arithmetic
// is IEEE round-to-nearest already and this build never contracts; fmaf is the correctly rounded
// fused multiply-add, as on the device.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }

// Atomics. Blocks run one after another and a block's threads switch only at synchronisation
// points, so a plain read-modify-write is atomic here (and the order of a block's adds is the
// random order of its threads, as on a device it is the scheduler's).
inline float atomicAdd(float* p, float v) {
    const float old = *p;
    *p = old + v;
    return old;
}
inline double atomicAdd(double* p, double v) {
    const double old = *p;
    *p = old + v;
    return old;
}
inline int atomicAdd(int* p, int v) {
    const int old = *p;
    *p = old + v;
    return old;
}

#define threadIdx (::emu::thread_idx)
#define blockIdx (::emu::block_idx)
#define blockDim (::emu::block_dim)
#define gridDim (::emu::grid_dim)
#define __syncthreads() ::emu::syncthreads(__LINE__)
#define __syncwarp(...) ::emu::syncwarp(__LINE__)
#define __shfl_xor_sync(mask, v, lane_mask) ::emu::shuffle((mask), (v), (lane_mask), true, __LINE__)
#define __shfl_sync(mask, v, src_lane) ::emu::shuffle((mask), (v), (src_lane), false, __LINE__)
#define DBC_EMU_ALIGNED(p, bytes) ::emu::check_aligned((p), (bytes), __LINE__)

// The entry the driver calls: run kernel fn over the grid with the launch's kernelParams.
namespace emu {

struct Geometry {
    unsigned grid[3], block[3], shared_bytes;
};

using Body = void (*)(void** params);
int run(const char* name, Body body, const Geometry& g, void** params, char* error, int error_size);

template <typename... P, std::size_t... I>
void invoke(void (*fn)(P...), void** params, std::index_sequence<I...>) {
    fn(*static_cast<std::remove_cv_t<P>*>(params[I])...);
}
template <typename... P>
void invoke(void (*fn)(P...), void** params) {
    invoke(fn, params, std::index_sequence_for<P...>{});
}

}  // namespace emu

// One exported entry per kernel: int emu_run_<name>(geometry, kernelParams, error buffer), 0 or -1.
#define EMU_KERNEL(name)                                                                               \
    extern "C" __attribute__((visibility("default"))) int emu_run_##name(                            \
            const ::emu::Geometry* g, void** params, char* error, int error_size) {                  \
        return ::emu::run(#name, [](void** p) { ::emu::invoke(&::name, p); }, *g, params, error,     \
                          error_size);                                                               \
    }
