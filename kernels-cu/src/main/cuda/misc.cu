// misc.cu — row gather, mean pooling, softmax top-k and the per-element losses of the heads.
//
// Where DistilBERT uses it: gather_rows picks the rows that a head reads (the [CLS] token of
// each sequence for the classification heads and CLS pooling, the masked positions for the MLM
// head) out of the packed [T, C] hidden states, or zero rows for padding. pool_rows is
// sentence-transformers' mean, mean_sqrt_len_tokens, weightedmean and max pooling on the packed
// hidden states (cls and lasttoken are gather_rows), so that only [B, C] leaves the device. softmax_top_k is the
// fill-mask pipeline's postprocessing (probs = softmax(logits); probs.topk(k)) on the device,
// so that only [N, k] probabilities and ids leave it, not [N, V] logits; softmax_gather is its
// targets' variant (probs = softmax(logits)[..., targets]), so that only [N, K] leaves it. The losses are the heads' loss
// functions before their reduction (the mean over non-ignored rows is taken by the caller):
// cross entropy (MLM, sequence and token classification, QA start/end), MSE (regression,
// num_labels == 1), BCE with logits (multi-label classification).
//
// Entry points (T = f32 float, bf16 __nv_bfloat16, f16 __half; arithmetic in float32):
//   gather_rows_<t>(T* out, const T* inp, const int* rows, int N, int C)
//       out[n, :] = inp[rows[n], :], or 0 where rows[n] < 0.         out [N, C], rows [N]
//   pool_rows_<t>(T* out, const T* inp, const int* cu_seqlens, const int* key_lens,
//       const int* positions, int B, int C, int mode, int skip)
//       out[b, :] pools the rows x_r = inp[cu_seqlens[b] + r, :], r in [0, n_b), of sequence b whose
//       position p_r = positions[cu_seqlens[b] + r] (the token's index in its unpacked row) is at
//       least skip; n_b = key_lens[b] (the unmasked tokens lead each packed sequence) or, when
//       key_lens is null, cu_seqlens[b + 1] - cu_seqlens[b]; skip drops a prompt's leading tokens
//       (sentence-transformers' include_prompt false). mode 0 mean: sum x_r / count; 1 mean_sqrt_len:
//       sum x_r / sqrt(count); 2 weightedmean: sum (p_r+1) x_r / sum (p_r+1) (sentence-transformers'
//       weights, 1 + the index in the padded row); each 0 where no row is left
//       (sentence-transformers divides by the mask's sum clamped to 1e-9), summed in double in row
//       order, divided, rounded once to T: the CPU backend's arithmetic exactly. mode 3 max: the
//       largest x_r per column, NaN if any is NaN (torch's max), -inf where no row is left.
//                                                  out [B, C], inp [T, C], positions [T]
//   softmax_top_k_<t>(T* probs, int* ids, const T* logits, int N, int V, int K)
//       per row n: p_j = expf(x_j - max) / sum_j' expf(x_j' - max) over x = logits[n, :], the max
//       taken NaN-first (a NaN logit makes every p NaN, as the CPU's double softmax); then the K
//       entries that rank first by p, in rank order: larger p first, NaN before any number, equal
//       p by smaller index (the CPU backend's Ranking). ids[n, r] is the r-th index, probs[n, r]
//       its p rounded to T. 1 <= K <= V.                  logits [N, V], probs and ids [N, K]
//   softmax_gather_<t>(T* probs, const T* logits, const int* targets, int N, int V, int K)
//       probs[n, k] = p_t, t = targets[k], with p as softmax_top_k's (the same max and sum, so the
//       same values); NaN where t is not in [0, V) (nothing outside the row is read). K >= 1.
//                                                  logits [N, V], targets [K], probs [N, K]
//   cross_entropy_forward_<t>(T* losses, const T* logits, const int* targets, int N, int V,
//       int ignore_index)
//       losses[n] = logsumexp(logits[n, :]) - logits[n, t], t = targets[n]; 0 where
//       t == ignore_index.                                           logits [N, V], losses [N]
//   mse_forward_<t>(T* losses, const T* predictions, const T* targets, int N)
//       losses[n] = (predictions[n] - targets[n])^2                    all [N]
//   bce_with_logits_forward_<t>(T* losses, const T* logits, const T* targets, int N)
//       losses[n] = max(x, 0) - x*y + log1p(exp(-|x|)), x = logits[n], y = targets[n]
//                   (torch's stable form; no overflow for any x)     all [N]
//   losses are written rounded to T. out of gather_rows and pool_rows must not alias inp.
//
// Algorithm of cross_entropy_forward (one block per row, so the row's reductions meet in
// shared memory): thread t takes v = t, t + 256, ...; block max (per-thread max, warp_max, the
// 8 warp maxima through shared memory, every thread folds them in the same order), then block
// sum of expf(x - max) the same way, loss = logf(sum) + (max - x_t) (ce_loss). A row whose
// target is ignore_index returns at once, before any barrier (targets[n] is block-uniform).
// Two shared arrays (maxima, sums) so the second reduction needs no barrier before it writes.
//
// Algorithm of softmax_top_k (one block per row): the block max (nan_max, order-free),
// the block sum of expf(x - max) in cross_entropy's order, then K rounds; in round r each thread
// takes, of its elements j = t, t + 256, ..., the one that ranks first among those ranking after
// round r-1's pick (topk_thread_best: the order is total, so "after the previous pick" excludes
// exactly the picks so far), the warps and then the 8 warp results fold by topk_better (order-
// free: a total order has one first element), and thread 0 writes the pick and shares it. Each
// round reads the row again (from L1/L2) and recomputes p: K * V / 256 expf per thread.
//
// softmax_gather: the same max and sum, then thread t writes k = t, t + 256, ...

// Memory traffic: gather_rows reads and writes N*C*s; pool_rows reads T*C*s (coalesced: the
// threads of a block take neighbouring columns) and writes B*C*s; cross_entropy reads the logits twice
// (the second pass from L1/L2: a row of V*s bytes per block) and writes N*s; mse and bce read
// 2*N*s and write N*s. All memory bound.
//
// Launch geometry (the launcher uses exactly this; no dynamic shared memory)
//   gather_rows:               block 256 threads, grid ceil(N*C / 256); one element per thread.
//   pool_rows:                 block 256 threads, grid B * ceil(C / 256) (block x: sequence
//                              x / ceil(C / 256), columns 256 * (x % ceil(C / 256)) + thread).
//   cross_entropy_forward:     block 256 threads, grid N; one row per block.
//   softmax_top_k:             block 256 threads, grid N; one row per block.
//   softmax_gather:            block 256 threads, grid N; one row per block.
//   mse_forward, bce_with_logits_forward: block 256 threads, grid ceil(N / 256); one element
//                              per thread.
//   Limits the launcher checks: N*C <= 2^31 * 256 (gather grid), N <= 2^31 - 1,
//   B * ceil(C / 256) <= 2^31 - 1 (pool_rows grid), 0 <= mode < 4, skip >= 0.
//
// Forward only (inference); no gradient convention applies yet.

#include "common.cuh"

namespace dbc {

constexpr int MISC_BLOCK = 256;
constexpr int CE_BLOCK = 256;
constexpr int CE_WARPS = CE_BLOCK / WARP_SIZE;

// The scalar math is __host__ as well: src/test/cuda/misc_math_check.cu checks it, and an
// emulation of the block reduction, against double-precision definitions.
__host__ __device__ __forceinline__ float ce_loss(float max, float sum_exp, float x_target) {
    return logf(sum_exp) + (max - x_target);
}
__host__ __device__ __forceinline__ float mse_element(float p, float y) {
    const float d = p - y;
    return d * d;
}
__host__ __device__ __forceinline__ float bce_with_logits_element(float x, float y) {
    return fmaxf(x, 0.0f) - x * y + log1pf(expf(-fabsf(x)));
}

template <typename T>
__device__ __forceinline__ void gather_rows(T* out, const T* inp, const int* rows, int N, int C) {
    const int64_t total = (int64_t)N * C;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int64_t n;
    int c;
    row_col(i, total, C, &n, &c);
    const int r = rows[n];
    store_f32(out + i, r < 0 ? 0.0f : load_f32(inp + (int64_t)r * C + c));
}

// pool_rows' modes, as Ops.RowPooling numbers them (sentence-transformers' pooling_mode names).
constexpr int POOL_MEAN = 0;           // "mean"
constexpr int POOL_MEAN_SQRT_LEN = 1;  // "mean_sqrt_len_tokens"
constexpr int POOL_WEIGHTED_MEAN = 2;  // "weightedmean"
constexpr int POOL_MAX = 3;            // "max"
constexpr int POOL_MODES = 4;

// One column of one sequence of pool_rows: the kernel's thread, and the host check's reference.
// Rows first + r, r in [0, n), whose position (in the unpacked row) is at least skip.
template <typename T>
__host__ __device__ __forceinline__ float pool_column(const T* inp, const int* positions, int64_t first, int n,
                                                      int C, int c, int mode, int skip) {
    if (mode == POOL_MAX) {
        float m = -INFINITY;  // torch: the max of a sequence with no token left is -inf
        for (int r = 0; r < n; r++)
            if (positions[first + r] >= skip) m = nan_max(m, load_f32(inp + (first + r) * C + c));
        return m;
    }
    double sum = 0.0, weights = 0.0;
    for (int r = 0; r < n; r++) {
        const int p = positions[first + r];
        if (p < skip) continue;
        const double w = mode == POOL_WEIGHTED_MEAN ? (double)p + 1.0 : 1.0;
        sum += w * (double)load_f32(inp + (first + r) * C + c);
        weights += w;
    }
    if (weights == 0.0) return 0.0f;  // sentence-transformers clamps the weights' sum to 1e-9: 0 / 1e-9
    return (float)(mode == POOL_MEAN_SQRT_LEN ? sum / sqrt(weights) : sum / weights);
}

// out[b, c] of pool_rows: what the thread of sequence b and column c writes.
template <typename T>
__host__ __device__ __forceinline__ void pool_rows_element(T* out, const T* inp, const int* cu_seqlens,
                                                           const int* key_lens, const int* positions, int C,
                                                           int mode, int skip, int b, int c) {
    const int first = cu_seqlens[b];
    const int n = key_lens != nullptr ? key_lens[b] : cu_seqlens[b + 1] - first;
    store_f32(out + (int64_t)b * C + c, pool_column(inp, positions, first, n, C, c, mode, skip));
}

// The sequence b and column c of pool_rows' thread (block, thread); false past the last column.
__host__ __device__ __forceinline__ bool pool_rows_coords(int block, int thread, int C, int* b, int* c) {
    const int column_blocks = (C + MISC_BLOCK - 1) / MISC_BLOCK;
    *b = block / column_blocks;
    *c = (block % column_blocks) * MISC_BLOCK + thread;
    return *c < C;
}

template <typename T>
__device__ __forceinline__ void pool_rows(T* out, const T* inp, const int* cu_seqlens, const int* key_lens,
                                          const int* positions, int C, int mode, int skip) {
    int b, c;
    if (pool_rows_coords(blockIdx.x, threadIdx.x, C, &b, &c))
        pool_rows_element(out, inp, cu_seqlens, key_lens, positions, C, mode, skip, b, c);
}

// softmax_top_k's steps, __host__ as well for the host check.
__host__ __device__ __forceinline__ float topk_prob(float x, float max, float sum) {
    return expf(x - max) / sum;
}
// Whether (pa, ia) ranks before (pb, ib): larger first, NaN before any number, ties by index.
__host__ __device__ __forceinline__ bool topk_better(float pa, int ia, float pb, int ib) {
    const bool na = pa != pa, nb = pb != pb;
    if (na || nb) return na && nb ? ia < ib : na;
    return pa > pb || (pa == pb && ia < ib);
}
// Of the thread's elements j = tid, tid + 256, ..., the first by rank among those ranking after
// (prev_p, prev_i) (all of them when prev_i < 0); *best_i = -1 when there is none.
template <typename T>
__host__ __device__ __forceinline__ void topk_thread_best(const T* row, int V, int tid, float max, float sum,
                                                          float prev_p, int prev_i, float* best_p, int* best_i) {
    *best_i = -1;
    *best_p = 0.0f;
    for (int j = tid; j < V; j += MISC_BLOCK) {
        const float p = topk_prob(load_f32(row + j), max, sum);
        if (prev_i >= 0 && !topk_better(prev_p, prev_i, p, j)) continue;
        if (*best_i < 0 || topk_better(p, j, *best_p, *best_i)) {
            *best_p = p;
            *best_i = j;
        }
    }
}

template <typename T>
__device__ __forceinline__ void softmax_top_k(T* probs, int* ids, const T* logits, int V, int K) {
    __shared__ float red_p[CE_WARPS];
    __shared__ int red_i[CE_WARPS];
    __shared__ float pick_p;
    __shared__ int pick_i;
    const int n = blockIdx.x;
    const T* row = logits + (int64_t)n * V;
    const int lane = threadIdx.x % WARP_SIZE, warp = threadIdx.x / WARP_SIZE;

    float mx, sum;
    softmax_row_stats<MISC_BLOCK>(row, V, red_p, &mx, &sum);

    float prev_p = 0.0f;
    int prev_i = -1;
    for (int r = 0; r < K; r++) {
        float bp;
        int bi;
        topk_thread_best(row, V, threadIdx.x, mx, sum, prev_p, prev_i, &bp, &bi);
#pragma unroll
        for (int o = WARP_SIZE / 2; o > 0; o >>= 1) {
            const float op = __shfl_xor_sync(FULL_MASK, bp, o);
            const int oi = __shfl_xor_sync(FULL_MASK, bi, o);
            if (oi >= 0 && (bi < 0 || topk_better(op, oi, bp, bi))) {
                bp = op;
                bi = oi;
            }
        }
        if (lane == 0) {
            red_p[warp] = bp;
            red_i[warp] = bi;
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            for (int w = 1; w < CE_WARPS; w++) {
                if (red_i[w] >= 0 && (bi < 0 || topk_better(red_p[w], red_i[w], bp, bi))) {
                    bp = red_p[w];
                    bi = red_i[w];
                }
            }
            store_f32(probs + (int64_t)n * K + r, bp);
            ids[(int64_t)n * K + r] = bi;
            pick_p = bp;
            pick_i = bi;
        }
        __syncthreads();
        prev_p = pick_p;
        prev_i = pick_i;
    }
}

template <typename T>
__device__ __forceinline__ void softmax_gather(T* probs, const T* logits, const int* targets, int V, int K) {
    __shared__ float red[CE_WARPS];
    const int n = blockIdx.x;
    const T* row = logits + (int64_t)n * V;
    float mx, sum;
    softmax_row_stats<MISC_BLOCK>(row, V, red, &mx, &sum);
    for (int k = threadIdx.x; k < K; k += MISC_BLOCK) {
        const int t = targets[k];
        store_f32(probs + (int64_t)n * K + k, t >= 0 && t < V ? topk_prob(load_f32(row + t), mx, sum) : NAN);
    }
}

template <typename T>
__device__ __forceinline__ void cross_entropy_forward(T* losses, const T* logits, const int* targets, int V,
                                                      int ignore_index) {
    __shared__ float block_max[CE_WARPS];
    __shared__ float block_sum[CE_WARPS];
    const int n = blockIdx.x;
    const int t = targets[n];
    if (t == ignore_index) {  // the whole block, before any barrier
        if (threadIdx.x == 0) store_f32(losses + n, 0.0f);
        return;
    }
    const T* row = logits + (int64_t)n * V;
    const int lane = threadIdx.x % WARP_SIZE, warp = threadIdx.x / WARP_SIZE;

    float mx = -INFINITY;
    for (int j = threadIdx.x; j < V; j += CE_BLOCK) mx = fmaxf(mx, load_f32(row + j));
    mx = warp_max(mx);
    if (lane == 0) block_max[warp] = mx;
    __syncthreads();
    mx = block_max[0];
#pragma unroll
    for (int w = 1; w < CE_WARPS; w++) mx = fmaxf(mx, block_max[w]);

    float sum = 0.0f;
    for (int j = threadIdx.x; j < V; j += CE_BLOCK) sum += expf(load_f32(row + j) - mx);
    sum = warp_sum(sum);
    if (lane == 0) block_sum[warp] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        float total = block_sum[0];
#pragma unroll
        for (int w = 1; w < CE_WARPS; w++) total += block_sum[w];
        store_f32(losses + n, ce_loss(mx, total, load_f32(row + t)));
    }
}

template <typename T>
__device__ __forceinline__ void mse_forward(T* losses, const T* predictions, const T* targets, int N) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    store_f32(losses + i, mse_element(load_f32(predictions + i), load_f32(targets + i)));
}

template <typename T>
__device__ __forceinline__ void bce_with_logits_forward(T* losses, const T* logits, const T* targets, int N) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    store_f32(losses + i, bce_with_logits_element(load_f32(logits + i), load_f32(targets + i)));
}

}  // namespace dbc

// Entry points. The host checks (src/test/cuda) define DBC_HOST_CHECK: they use the scalar math
// above, and nothing of this file is then compiled for a device.
#ifndef DBC_HOST_CHECK

#define DBC_MISC(SUFFIX, T)                                                                                    \
    extern "C" __global__ void __launch_bounds__(dbc::MISC_BLOCK)                                              \
    gather_rows_##SUFFIX(T* out, const T* inp, const int* rows, int N, int C) {                                \
        dbc::gather_rows<T>(out, inp, rows, N, C);                                                             \
    }                                                                                                          \
    extern "C" __global__ void __launch_bounds__(dbc::MISC_BLOCK)                                              \
    pool_rows_##SUFFIX(T* out, const T* inp, const int* cu_seqlens, const int* key_lens, const int* positions,    \
                       int B, int C, int mode, int skip) {                                                     \
        dbc::pool_rows<T>(out, inp, cu_seqlens, key_lens, positions, C, mode, skip);                           \
    }                                                                                                          \
    extern "C" __global__ void __launch_bounds__(dbc::MISC_BLOCK)                                              \
    softmax_top_k_##SUFFIX(T* probs, int* ids, const T* logits, int N, int V, int K) {                         \
        dbc::softmax_top_k<T>(probs, ids, logits, V, K);                                                       \
    }                                                                                                          \
    extern "C" __global__ void __launch_bounds__(dbc::MISC_BLOCK)                                              \
    softmax_gather_##SUFFIX(T* probs, const T* logits, const int* targets, int N, int V, int K) {              \
        dbc::softmax_gather<T>(probs, logits, targets, V, K);                                                  \
    }                                                                                                          \
    extern "C" __global__ void __launch_bounds__(dbc::CE_BLOCK)                                                \
    cross_entropy_forward_##SUFFIX(T* losses, const T* logits, const int* targets, int N, int V,               \
                                   int ignore_index) {                                                         \
        dbc::cross_entropy_forward<T>(losses, logits, targets, V, ignore_index);                               \
    }                                                                                                          \
    extern "C" __global__ void __launch_bounds__(dbc::MISC_BLOCK)                                              \
    mse_forward_##SUFFIX(T* losses, const T* predictions, const T* targets, int N) {                           \
        dbc::mse_forward<T>(losses, predictions, targets, N);                                                  \
    }                                                                                                          \
    extern "C" __global__ void __launch_bounds__(dbc::MISC_BLOCK)                                              \
    bce_with_logits_forward_##SUFFIX(T* losses, const T* logits, const T* targets, int N) {                    \
        dbc::bce_with_logits_forward<T>(losses, logits, targets, N);                                           \
    }

DBC_MISC(f32, float)
DBC_MISC(bf16, __nv_bfloat16)
DBC_MISC(f16, __half)

#endif  // DBC_HOST_CHECK
