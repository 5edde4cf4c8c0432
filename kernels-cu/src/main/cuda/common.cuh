// common.cuh — helpers shared by every kernel family in kernels-cu.
//
// Storage types: kernels are templates over the element type held in memory (float,
// __nv_bfloat16 or __half); arithmetic is always float32, so kernels read through load_f32 and
// write through store_f32. Parameter gradients are float32 whatever the storage type: they
// accumulate into the float32 gradient slab (DESIGN.md, "Memory layout").
//
// Entry points are extern "C" with a dtype suffix (bias_gelu_forward_f32, _bf16, _f16) so that
// the Java bridge finds them by a stable, unmangled name through cuModuleGetFunction.
//
// The conversions are __host__ as well: the host checks in src/test/cuda emulate the kernels'
// algorithms, roundings included, on a machine without a GPU.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

namespace dbc {

// Plain loads, not __ldg: several kernels run in place (an output aliasing an input), and the
// non-coherent path is only defined for data that no thread writes during the kernel.
__host__ __device__ __forceinline__ float load_f32(const float* p) { return *p; }
__host__ __device__ __forceinline__ float load_f32(const __nv_bfloat16* p) { return __bfloat162float(*p); }
__host__ __device__ __forceinline__ float load_f32(const __half* p) { return __half2float(*p); }

__host__ __device__ __forceinline__ void store_f32(float* p, float v) { *p = v; }
// Round to nearest even, as torch does when it casts float32 to bfloat16 or float16.
__host__ __device__ __forceinline__ void store_f32(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
__host__ __device__ __forceinline__ void store_f32(__half* p, float v) { *p = __float2half_rn(v); }

// v rounded to the storage type T and read back: what a value becomes when torch materialises
// an intermediate tensor of dtype T (round_T<float> is the identity).
template <typename T>
__host__ __device__ __forceinline__ float round_T(float v) {
    T t;
    store_f32(&t, v);
    return load_f32(&t);
}
template <>
__host__ __device__ __forceinline__ float round_T<float>(float v) { return v; }

__host__ __device__ constexpr int ceil_div(int a, int b) { return (a + b - 1) / b; }

// Element i of a [rows, C] tensor of total elements: its row n and column c. The 64-bit
// division is a long software sequence; every realistic tensor fits the 32-bit one.
__device__ __forceinline__ void row_col(int64_t i, int64_t total, int C, int64_t* n, int* c) {
    if (total <= UINT32_MAX) {
        const uint32_t q = (uint32_t)i / (uint32_t)C;
        *n = q;
        *c = (int)((uint32_t)i - q * (uint32_t)C);
    } else {
        *n = i / C;
        *c = (int)(i - *n * C);
    }
}

constexpr int WARP_SIZE = 32;
constexpr unsigned FULL_MASK = 0xffffffffu;

// Butterfly reductions over the 32 lanes of a warp; every lane ends with the result. Callers
// reach them with all 32 lanes (the full mask promises that). Each step is one commutative
// operation on the lane's value and its partner's, so all lanes hold the same bits; the host
// checks reproduce this order with warp_sum_host.
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = WARP_SIZE / 2; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = WARP_SIZE / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

// warp_sum's order of additions, for host emulations: lane values in v, the result of lane 0.
__host__ __forceinline__ float warp_sum_host(const float (&v)[WARP_SIZE]) {
    float x[WARP_SIZE], y[WARP_SIZE];
    for (int l = 0; l < WARP_SIZE; l++) x[l] = v[l];
    for (int o = WARP_SIZE / 2; o > 0; o >>= 1) {
        for (int l = 0; l < WARP_SIZE; l++) y[l] = x[l] + x[l ^ o];
        for (int l = 0; l < WARP_SIZE; l++) x[l] = y[l];
    }
    return x[0];
}

// NaN-first maximum: once NaN, stays NaN (the CPU's Math.max); order-free. __host__ for the host checks.
__host__ __device__ __forceinline__ float nan_max(float m, float x) {
    return (x != x || x > m) ? x : m;
}

// The softmax's statistics over one row by a block of BLOCK threads: the max (NaN first) and the sum
// of expf(x - max), in every thread of the block. Each thread strides the row, then warp butterflies,
// then warp 0's order over the warps' partials (red: BLOCK / WARP_SIZE floats of shared memory, free
// again when it returns). The cross-entropy backward (training.cu) and the top k (misc.cu) share it,
// so their probabilities are the same bits.
template <int BLOCK, typename T>
__device__ __forceinline__ void softmax_row_stats(const T* row, int V, float* red, float* max, float* sum) {
    constexpr int WARPS = BLOCK / WARP_SIZE;
    const int lane = threadIdx.x % WARP_SIZE, warp = threadIdx.x / WARP_SIZE;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < V; j += BLOCK) mx = nan_max(mx, load_f32(row + j));
#pragma unroll
    for (int o = WARP_SIZE / 2; o > 0; o >>= 1) mx = nan_max(mx, __shfl_xor_sync(FULL_MASK, mx, o));
    if (lane == 0) red[warp] = mx;
    __syncthreads();
    mx = red[0];
#pragma unroll
    for (int w = 1; w < WARPS; w++) mx = nan_max(mx, red[w]);
    __syncthreads();  // red is reused below

    float s = 0.0f;
    for (int j = threadIdx.x; j < V; j += BLOCK) s += expf(load_f32(row + j) - mx);
    s = warp_sum(s);
    if (lane == 0) red[warp] = s;
    __syncthreads();
    s = red[0];
#pragma unroll
    for (int w = 1; w < WARPS; w++) s += red[w];
    __syncthreads();
    *max = mx;
    *sum = s;
}

}  // namespace dbc
