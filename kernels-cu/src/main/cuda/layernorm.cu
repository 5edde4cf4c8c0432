// layernorm.cu — LayerNorm over the model dimension, alone and fused with what precedes it in
// DistilBERT (embedding sum, residual add), plus the two embedding sums without the norm.
//
// Where DistilBERT uses it: Embeddings (word + position embedding, LayerNorm, dropout), and in
// every TransformerBlock sa_layer_norm(attention output + x) and output_layer_norm(FFN output +
// x). cuBLAS computes the linear layers without bias; residual_layernorm_forward adds the
// linear layer's bias, the residual and normalises in one pass.
//
// Shapes: inp, residual, sum, out are [N, C] row-major (N tokens, C model dim); weight, bias,
// ln_bias, bias of the linear layer are [C]; mean, rstd are [N]; token_ids, position_ids are
// [N] (int32); wte is [V, C], wpe is [max_position, C].
//
// Entry points (T = f32 float, bf16 __nv_bfloat16, f16 __half; arithmetic in float32):
//   layernorm_forward_<t>(T* out, float* mean, float* rstd, const T* inp, const T* weight,
//       const T* bias, int N, int C, float eps)
//   residual_layernorm_forward_<t>(T* out, T* sum, float* mean, float* rstd, const T* inp,
//       const T* bias, const T* residual, const T* weight, const T* ln_bias, int N, int C,
//       float eps)
//   embedding_layernorm_forward_<t>(T* out, const int* token_ids, const int* position_ids,
//       const T* wte, const T* wpe, const T* weight, const T* bias, int N, int C, float eps)
//   embedding_forward_<t>(T* out, const int* token_ids, const int* position_ids, const T* wte,
//       const T* wpe, int N, int C)
//   position_embedding_forward_<t>(T* out, const T* inp, const int* position_ids,
//       const T* wpe, int N, int C)
//   Nullable: mean, rstd, sum (not written when 0); bias of residual_layernorm_forward (no
//   linear bias). Everything else must be valid.
//
// Algorithm (one warp per row; the row x is inp, or the fused sum below)
//   pass 1  mean = (sum_c x[c]) / C
//   pass 2  var  = (sum_c (x[c] - mean)^2) / C              biased, as torch's LayerNorm;
//           rstd = 1 / sqrtf(var + eps)                      two passes: no E[x^2] - E[x]^2
//                                                            cancellation; 1/sqrtf, not rsqrtf
//                                                            (correctly rounded, 1e-5 parity)
//   pass 3  out[c] = (x[c] - mean) * rstd * weight[c] + bias[c]
//   Lane l handles c = l, l + 32, ... in every pass; the lane sums meet in warp_sum
//   (__shfl_xor_sync butterfly), so every lane holds the same mean and rstd. mean and rstd are
//   written in float32 whatever T: they are what the backward reads (training.cu's
//   layernorm_backward), and torch's autocast keeps layer norm in float32 too; a bf16 mean would
//   move x - mean by |mean|·2^-9.
//   Fused rows, computed afresh in each pass from the inputs (not stored in between):
//     residual_layernorm  x[c] = round_T(round_T(inp[c] + bias[c]) + residual[c])
//                         (the linear layer's output is a tensor of dtype T in torch, then the
//                         residual add rounds again; for f32 round_T is the identity)
//     embedding_layernorm x[c] = round_T(wte[token_ids[n], c] + wpe[position_ids[n], c])
//   sum (residual_layernorm) receives x, written in pass 3.
//
// In place: out may alias inp (layernorm_forward) or inp or residual (residual_layernorm;
// sum may alias them too). Every element c is read and written by the same lane only, and in
// pass 3 the lane reads all inputs of element c before it writes c; passes 1 and 2 only read.
// position_embedding_forward: out may alias inp (one thread per element, read then write).
//
// Memory traffic (s = bytes per stored element: 4 for f32, 2 for bf16/f16)
//   layernorm            reads N*C*s (x3 passes; passes 2 and 3 hit L1/L2: 8 rows of C*s bytes
//                        per block), writes N*C*s  -> about 2·N·C·s from DRAM
//   residual_layernorm   reads 2·N·C·s, writes N·C·s (+ N·C·s for sum)
//   embedding_layernorm  reads 2·N·C·s (rows of wte and wpe), writes N·C·s
//   embedding, position_embedding   reads 2·N·C·s, writes N·C·s
//   All memory bound; the target is the device's copy bandwidth for those bytes.
//
// Launch geometry (the launcher uses exactly this; no dynamic shared memory)
//   layernorm_forward, residual_layernorm_forward, embedding_layernorm_forward:
//       block 256 threads (8 warps), grid ceil(N / 8); warp w of block b normalises row
//       n = 8b + w; warps past N return (no block barrier in these kernels).
//   embedding_forward, position_embedding_forward:
//       block 256 threads, grid ceil(N*C / 256); one element per thread.
//   Limits the launcher checks: N*C <= 2^31 * 256 (element grid).
//
// Forward only (inference); no gradient convention applies yet.

#include "common.cuh"

namespace dbc {

constexpr int LN_BLOCK = 256;
constexpr int LN_ROWS_PER_BLOCK = LN_BLOCK / WARP_SIZE;
constexpr int ELEMENT_BLOCK = 256;

// The scalar steps are __host__ as well: src/test/cuda/layernorm_math_check.cu runs the warp
// algorithm on the host with them and compares with a double-precision LayerNorm.
__host__ __device__ __forceinline__ float ln_mean(float sum, int C) { return sum / (float)C; }
__host__ __device__ __forceinline__ float ln_rstd(float sum_sq_dev, int C, float eps) {
    return 1.0f / sqrtf(sum_sq_dev / (float)C + eps);
}
__host__ __device__ __forceinline__ float ln_apply(float x, float mean, float rstd, float w, float b) {
    return (x - mean) * rstd * w + b;
}
// The row element of residual_layernorm: the linear layer's output (with its bias) as a tensor of
// dtype T, plus the residual, rounded again.
template <typename T>
__host__ __device__ __forceinline__ float residual_element(float inp, float bias, float residual) {
    return round_T<T>(round_T<T>(inp + bias) + residual);
}

// LayerNorm of one row by one warp. x(c) yields the row's element c (recomputed in each pass);
// emit(c, xc, mean, rstd) writes the results of element c, called right after x(c) in pass 3.
// All 32 lanes reach both warp_sum calls (the loops only skip their bodies).
template <typename T, typename X, typename Emit>
__device__ __forceinline__ void layernorm_warp(float* mean_out, float* rstd_out, int64_t n, int C, float eps, int lane,
                                               const X& x, const Emit& emit) {
    float s = 0.0f;
    for (int c = lane; c < C; c += WARP_SIZE) s += x(c);
    const float mean = ln_mean(warp_sum(s), C);
    float sq = 0.0f;
    for (int c = lane; c < C; c += WARP_SIZE) {
        float d = x(c) - mean;
        sq += d * d;
    }
    const float rstd = ln_rstd(warp_sum(sq), C, eps);
    for (int c = lane; c < C; c += WARP_SIZE) {
        float xc = x(c);
        emit(c, xc, mean, rstd);
    }
    if (lane == 0) {
        if (mean_out) mean_out[n] = mean;
        if (rstd_out) rstd_out[n] = rstd;
    }
}

template <typename T>
__device__ __forceinline__ void layernorm_forward(T* out, float* mean, float* rstd, const T* inp, const T* weight,
                                                  const T* bias, int N, int C, float eps) {
    const int lane = threadIdx.x % WARP_SIZE;
    const int64_t n = (int64_t)blockIdx.x * LN_ROWS_PER_BLOCK + threadIdx.x / WARP_SIZE;
    if (n >= N) return;  // the whole warp: no lane of it is needed by a shuffle
    const T* in_row = inp + n * C;
    T* out_row = out + n * C;
    layernorm_warp<T>(mean, rstd, n, C, eps, lane, [&](int c) { return load_f32(in_row + c); },
                      [&](int c, float xc, float m, float r) {
                          store_f32(out_row + c, ln_apply(xc, m, r, load_f32(weight + c), load_f32(bias + c)));
                      });
}

template <typename T>
__device__ __forceinline__ void residual_layernorm_forward(T* out, T* sum, float* mean, float* rstd, const T* inp,
                                                           const T* bias, const T* residual, const T* weight,
                                                           const T* ln_bias, int N, int C, float eps) {
    const int lane = threadIdx.x % WARP_SIZE;
    const int64_t n = (int64_t)blockIdx.x * LN_ROWS_PER_BLOCK + threadIdx.x / WARP_SIZE;
    if (n >= N) return;
    const T* in_row = inp + n * C;
    const T* res_row = residual + n * C;
    T* out_row = out + n * C;
    T* sum_row = sum ? sum + n * C : nullptr;
    layernorm_warp<T>(
        mean, rstd, n, C, eps, lane,
        [&](int c) {
            return residual_element<T>(load_f32(in_row + c), bias ? load_f32(bias + c) : 0.0f, load_f32(res_row + c));
        },
        [&](int c, float xc, float m, float r) {
            if (sum_row) store_f32(sum_row + c, xc);
            store_f32(out_row + c, ln_apply(xc, m, r, load_f32(weight + c), load_f32(ln_bias + c)));
        });
}

template <typename T>
__device__ __forceinline__ void embedding_layernorm_forward(T* out, const int* token_ids, const int* position_ids,
                                                            const T* wte, const T* wpe, const T* weight,
                                                            const T* bias, int N, int C, float eps) {
    const int lane = threadIdx.x % WARP_SIZE;
    const int64_t n = (int64_t)blockIdx.x * LN_ROWS_PER_BLOCK + threadIdx.x / WARP_SIZE;
    if (n >= N) return;
    const T* tok_row = wte + (int64_t)token_ids[n] * C;
    const T* pos_row = wpe + (int64_t)position_ids[n] * C;
    T* out_row = out + n * C;
    layernorm_warp<T>(
        (float*)nullptr, (float*)nullptr, n, C, eps, lane,
        [&](int c) { return round_T<T>(load_f32(tok_row + c) + load_f32(pos_row + c)); },
        [&](int c, float xc, float m, float r) {
            store_f32(out_row + c, ln_apply(xc, m, r, load_f32(weight + c), load_f32(bias + c)));
        });
}

template <typename T>
__device__ __forceinline__ void embedding_forward(T* out, const int* token_ids, const int* position_ids, const T* wte,
                                                  const T* wpe, int N, int C) {
    const int64_t total = (int64_t)N * C;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int64_t n;
    int c;
    row_col(i, total, C, &n, &c);
    float e = load_f32(wte + (int64_t)token_ids[n] * C + c) + load_f32(wpe + (int64_t)position_ids[n] * C + c);
    store_f32(out + i, e);
}

template <typename T>
__device__ __forceinline__ void position_embedding_forward(T* out, const T* inp, const int* position_ids, const T* wpe,
                                                           int N, int C) {
    const int64_t total = (int64_t)N * C;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int64_t n;
    int c;
    row_col(i, total, C, &n, &c);
    store_f32(out + i, load_f32(inp + i) + load_f32(wpe + (int64_t)position_ids[n] * C + c));
}

}  // namespace dbc

// Entry points. The host checks (src/test/cuda) define DBC_HOST_CHECK: they use the scalar math
// above, and nothing of this file is then compiled for a device.
#ifndef DBC_HOST_CHECK

#define DBC_LAYERNORM(SUFFIX, T)                                                                                   \
    extern "C" __global__ void __launch_bounds__(dbc::LN_BLOCK)                                                    \
    layernorm_forward_##SUFFIX(T* out, float* mean, float* rstd, const T* inp, const T* weight, const T* bias,     \
                               int N, int C, float eps) {                                                          \
        dbc::layernorm_forward<T>(out, mean, rstd, inp, weight, bias, N, C, eps);                                  \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(dbc::LN_BLOCK)                                                    \
    residual_layernorm_forward_##SUFFIX(T* out, T* sum, float* mean, float* rstd, const T* inp, const T* bias,     \
                                        const T* residual, const T* weight, const T* ln_bias, int N, int C,        \
                                        float eps) {                                                               \
        dbc::residual_layernorm_forward<T>(out, sum, mean, rstd, inp, bias, residual, weight, ln_bias, N, C, eps); \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(dbc::LN_BLOCK)                                                    \
    embedding_layernorm_forward_##SUFFIX(T* out, const int* token_ids, const int* position_ids, const T* wte,      \
                                         const T* wpe, const T* weight, const T* bias, int N, int C, float eps) {  \
        dbc::embedding_layernorm_forward<T>(out, token_ids, position_ids, wte, wpe, weight, bias, N, C, eps);      \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(dbc::ELEMENT_BLOCK)                                               \
    embedding_forward_##SUFFIX(T* out, const int* token_ids, const int* position_ids, const T* wte, const T* wpe,  \
                               int N, int C) {                                                                     \
        dbc::embedding_forward<T>(out, token_ids, position_ids, wte, wpe, N, C);                                   \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(dbc::ELEMENT_BLOCK)                                               \
    position_embedding_forward_##SUFFIX(T* out, const T* inp, const int* position_ids, const T* wpe, int N,        \
                                        int C) {                                                                   \
        dbc::position_embedding_forward<T>(out, inp, position_ids, wpe, N, C);                                     \
    }

DBC_LAYERNORM(f32, float)
DBC_LAYERNORM(bf16, __nv_bfloat16)
DBC_LAYERNORM(f16, __half)

#endif  // DBC_HOST_CHECK
