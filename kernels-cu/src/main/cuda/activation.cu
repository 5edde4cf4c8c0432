// activation.cu — bias + activation, forward and backward, fused.
//
// Where DistilBERT uses it: the FFN's first linear layer (lin1, [T, C] x [C, F] + b) is
// followed by the configured activation ("gelu" in every released checkpoint, "relu",
// "silu" or "gelu_new" are accepted by the HF config), and the classification heads apply
// ReLU after pre_classifier. cuBLAS computes the matrix product without bias; this file adds
// the bias and applies the activation in the same pass, and differentiates both in one pass.
//
// Shapes: inp, out, dout, dinp are [rows, cols] row-major (rows = T tokens, cols = F or C);
// bias, dbias are [cols]. bias may be null (0) in both directions: no bias, z = inp.
//
// Entry points: bias_{gelu,gelu_new,relu,silu}_{forward,backward}_{f32,bf16,f16} and
// bias_grad_reduce_f32 (launched by distilbert.cuda.ActivationKernels). The storage type is
// that of out, inp, bias, dout and dinp; the partials and dbias are float32 always.
//
// Algorithm
//   forward   z = inp[r, c] + bias[c];  out[r, c] = act(z)
//   backward  dinp[r, c] = dout[r, c] * act'(z)       (z recomputed from inp and bias)
//             dbias[c]  += sum_r dinp[r, c]            (float32, fixed summation order)
//   act:  gelu      z * Phi(z),  Phi(z) = 0.5 * erfc(-z / sqrt 2)   (exact, "gelu" in HF)
//         gelu_new  0.5 z (1 + tanh(k0 (z + k1 z^3))), computed as z * sigmoid(2u) with
//                   u = k0 (z + k1 z^3), k0 = sqrt(2/pi), k1 = 0.044715             (HF "gelu_new")
//         relu      max(z, 0); act'(0) = 0, as torch's threshold_backward
//         silu      z * sigmoid(z)
//   Phi through erfc and 1 + tanh through a sigmoid keep full relative precision in the
//   negative tail, where 1 + erf(x) and 1 + tanh(x) would cancel; the values are the same
//   functions torch computes.
//
// Gradient convention (every kernel file): parameter gradients accumulate (dbias +=), so
// that several uses of a parameter and several micro-batches add up; activation gradients
// are written (dinp =). dinp may alias dout and out may alias inp (each element is read
// before it is written, by the same thread).
//
// Determinism: the bias gradient is reduced in a fixed order that depends only on rows and
// cols (never on the device or on timing), so reruns match to the bit. The reduction runs in
// two kernels: each block of bias_*_backward writes one partial sum per column for its chunk
// of BIAS_GRAD_CHUNK_ROWS rows into a scratch buffer of ceil(rows / BIAS_GRAD_CHUNK_ROWS) *
// cols floats; bias_grad_reduce_f32 adds the partials of each column in chunk order and
// accumulates into dbias. No atomics.
//
// Memory traffic (s = bytes per stored element: 4 for f32, 2 for bf16 and f16 storage)
//   forward   reads rows*cols*s + cols*s, writes rows*cols*s             (≈ 2·rows·cols·s)
//   backward  reads 2·rows·cols·s + cols*s, writes rows*cols*s, plus the partials:
//             2 · ceil(rows/256) · cols · 4 bytes (about 1/128 of one f32 tensor)
//   Both are memory bound; the target is the device's copy bandwidth for that many bytes.
//
// Launch geometry
//   bias_<act>_forward_<t>    block 256 threads, grid ceil(rows*cols / 256); one element per
//                             thread, bias index = flat index mod cols.
//   bias_<act>_backward_<t>   block (32, 8), grid (ceil(cols/32), ceil(rows/256)); the 32
//                             lanes of a warp take 32 adjacent columns (coalesced 128-byte
//                             rows for f32), the 8 warps stride over the chunk's 256 rows,
//                             then reduce their 8 partial sums through shared memory.
//   bias_grad_reduce_f32      block 256 threads, grid ceil(cols/256); one column per thread.
//   Limits the launcher checks: rows*cols <= 2^31 * 256 (forward grid), ceil(rows/256) <= 65535.

#include "common.cuh"

namespace dbc {

enum class Act { Gelu, GeluNew, Relu, Silu };

// Rows per chunk of the bias-gradient reduction; the Java launcher sizes the scratch buffer
// from the same constant (ActivationKernels.BIAS_GRAD_CHUNK_ROWS).
constexpr int BIAS_GRAD_CHUNK_ROWS = 256;
constexpr int BWD_BLOCK_X = 32;
constexpr int BWD_BLOCK_Y = 8;

constexpr float SQRT1_2 = 0.70710678118654752440f;      // 1/sqrt(2)
constexpr float INV_SQRT_2PI = 0.39894228040143267794f;  // 1/sqrt(2 pi)
constexpr float GELU_K0 = 0.79788456080286535588f;       // sqrt(2/pi)
constexpr float GELU_K1 = 0.044715f;

// The scalar math is __host__ as well, so that src/test/cuda/activation_math_check.cu can check
// the formulas against double-precision definitions on a machine without a GPU.
__host__ __device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

template <Act A>
__host__ __device__ __forceinline__ float act_forward(float z) {
    if constexpr (A == Act::Gelu) {
        return z * 0.5f * erfcf(-z * SQRT1_2);
    } else if constexpr (A == Act::GeluNew) {
        float u = GELU_K0 * (z + GELU_K1 * z * z * z);
        return z * sigmoid(2.0f * u);
    } else if constexpr (A == Act::Relu) {
        return z > 0.0f ? z : 0.0f;
    } else {
        return z * sigmoid(z);
    }
}

// d act / d z
template <Act A>
__host__ __device__ __forceinline__ float act_derivative(float z) {
    if constexpr (A == Act::Gelu) {
        float cdf = 0.5f * erfcf(-z * SQRT1_2);
        float pdf = INV_SQRT_2PI * expf(-0.5f * z * z);
        return cdf + z * pdf;
    } else if constexpr (A == Act::GeluNew) {
        // d/dz [z s] with s = sigmoid(2u): s + z * 2 s (1 - s) * u'
        float z2 = z * z;
        float u = GELU_K0 * (z + GELU_K1 * z2 * z);
        float du = GELU_K0 * (1.0f + 3.0f * GELU_K1 * z2);
        float s = sigmoid(2.0f * u);
        return s + 2.0f * z * s * (1.0f - s) * du;
    } else if constexpr (A == Act::Relu) {
        return z > 0.0f ? 1.0f : 0.0f;
    } else {
        float s = sigmoid(z);
        return s * (1.0f + z * (1.0f - s));
    }
}

template <Act A, typename T>
__device__ __forceinline__ void bias_act_forward(T* out, const T* inp, const T* bias, int rows, int cols) {
    int64_t n = (int64_t)rows * cols;
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    // 64-bit remainder is a long software sequence; every realistic tensor fits the 32-bit one.
    int c = n <= UINT32_MAX ? (int)((uint32_t)i % (uint32_t)cols) : (int)(i % cols);
    float z = load_f32(inp + i) + (bias ? load_f32(bias + c) : 0.0f);
    store_f32(out + i, act_forward<A>(z));
}

template <Act A, typename T>
__device__ __forceinline__ void bias_act_backward(T* dinp, float* partial, const T* dout, const T* inp,
                                                  const T* bias, int rows, int cols) {
    __shared__ float sums[BWD_BLOCK_Y][BWD_BLOCK_X];
    int c = blockIdx.x * BWD_BLOCK_X + threadIdx.x;
    int r0 = blockIdx.y * BIAS_GRAD_CHUNK_ROWS;
    int r1 = min(r0 + BIAS_GRAD_CHUNK_ROWS, rows);
    float acc = 0.0f;
    if (c < cols) {
        float b = bias ? load_f32(bias + c) : 0.0f;
        for (int r = r0 + threadIdx.y; r < r1; r += BWD_BLOCK_Y) {
            int64_t i = (int64_t)r * cols + c;
            float z = load_f32(inp + i) + b;
            float g = load_f32(dout + i) * act_derivative<A>(z);
            store_f32(dinp + i, g);
            // The bias gradient sums the float32 value, before any rounding to T.
            acc += g;
        }
    }
    sums[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float s = 0.0f;
#pragma unroll
        for (int y = 0; y < BWD_BLOCK_Y; y++) s += sums[y][threadIdx.x];
        partial[(int64_t)blockIdx.y * cols + c] = s;
    }
}

}  // namespace dbc

// Entry points. The host checks (src/test/cuda) define DBC_HOST_CHECK: they use the scalar math
// above, and nothing of this file is then compiled for a device.
#ifndef DBC_HOST_CHECK

using dbc::Act;

// One forward and one backward entry point per (activation, storage type).
#define DBC_BIAS_ACT(NAME, ACT, SUFFIX, T)                                                          \
    extern "C" __global__ void __launch_bounds__(256)                                               \
    bias_##NAME##_forward_##SUFFIX(T* out, const T* inp, const T* bias, int rows, int cols) {       \
        dbc::bias_act_forward<ACT, T>(out, inp, bias, rows, cols);                                  \
    }                                                                                               \
    extern "C" __global__ void __launch_bounds__(dbc::BWD_BLOCK_X * dbc::BWD_BLOCK_Y)               \
    bias_##NAME##_backward_##SUFFIX(T* dinp, float* partial, const T* dout, const T* inp,           \
                                    const T* bias, int rows, int cols) {                            \
        dbc::bias_act_backward<ACT, T>(dinp, partial, dout, inp, bias, rows, cols);                 \
    }

DBC_BIAS_ACT(gelu, Act::Gelu, f32, float)
DBC_BIAS_ACT(gelu_new, Act::GeluNew, f32, float)
DBC_BIAS_ACT(relu, Act::Relu, f32, float)
DBC_BIAS_ACT(silu, Act::Silu, f32, float)
DBC_BIAS_ACT(gelu, Act::Gelu, bf16, __nv_bfloat16)
DBC_BIAS_ACT(gelu_new, Act::GeluNew, bf16, __nv_bfloat16)
DBC_BIAS_ACT(relu, Act::Relu, bf16, __nv_bfloat16)
DBC_BIAS_ACT(silu, Act::Silu, bf16, __nv_bfloat16)
DBC_BIAS_ACT(gelu, Act::Gelu, f16, __half)
DBC_BIAS_ACT(gelu_new, Act::GeluNew, f16, __half)
DBC_BIAS_ACT(relu, Act::Relu, f16, __half)
DBC_BIAS_ACT(silu, Act::Silu, f16, __half)

// dbias[c] += sum over chunks k of partial[k, c], in chunk order. partial is [chunks, cols].
extern "C" __global__ void __launch_bounds__(256)
bias_grad_reduce_f32(float* dbias, const float* partial, int chunks, int cols) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float s = 0.0f;
    for (int k = 0; k < chunks; k++) s += partial[(int64_t)k * cols + c];
    dbias[c] += s;
}

#endif  // DBC_HOST_CHECK
