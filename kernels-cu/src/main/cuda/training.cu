// training.cu — the backward kernels of fine-tuning other than attention's (attention_train.cu)
// and the FFN activation's (activation.cu), training-mode dropout, the losses' gradients, and
// the optimizer's walks over the flat float32 gradient and moment slabs.
//
// Where DistilBERT uses it (distilbert.model.Training, the forward's ops in reverse):
//   scatter_add_rows         Embeddings: word_embeddings and position_embeddings scatter-add
//   layernorm_backward       Embeddings.LayerNorm, sa_layer_norm, output_layer_norm (dinp),
//   layernorm_param_partials   and their weight and bias gradients (the two-phase reduction)
//   column_sum_partials      the bias gradient of every linear layer (cuBLAS does dinp, dweight)
//   dropout                  every nn.Dropout site, forward and backward (the same map)
//   scatter_add_rows_into    the heads' row picks ([CLS], masked positions, unpacked positions) undone
//   fill                     clearing a gradient or an accumulator
//   store_parameters         the 16-bit parameters from the float32 master weights (mixed precision)
//   cross_entropy_backward, mse_backward, bce_with_logits_backward   d loss / d logits
//   adamw, sum_of_squares, scale   torch.optim.AdamW and clip_grad_norm_ on float32 slabs
// The semantics of each are those of the op of the same name in distilbert.model.BackwardOps,
// whose CPU reference is distilbert.model.CpuOps (AdamW.update for the optimizer).
//
// Entry points (launched by distilbert.cuda.TrainingKernels; <t> = f32 float, bf16 __nv_bfloat16,
// f16 __half, the storage type of the activation arrays T; arithmetic in float32 unless said):
//   scatter_add_rows_<t>(float* table, const T* dout, const int* order, const int* starts,
//       const int* rows, int C)
//       for each group g: table[rows[g], c] += dout[order[k], c], k = starts[g] .. starts[g+1] - 1,
//       one add at a time in that order. The host builds the groups from the token (or position) ids
//       it uploaded (TrainingKernels.RowGroups: the tokens of each distinct id in token order, the
//       padding id left out), so that rows[] are distinct.
//   scatter_add_rows_into_<t>(T* table, ...): the same into a table of the storage type (the backward of
//       a gather of rows, BackwardOps.gatherRowsBackward: the rows a head picked, the positions a
//       per-token head unpacked), summed in float32 from the table's value and rounded once.
//                                              dout [N, C], table [V, C], order [N'], starts [G + 1]
//   layernorm_param_partials_<t>(float* partial, const T* dout, const T* inp, const float* mean,
//       const float* rstd, int N, int C)
//       per chunk k of LN_GRAD_CHUNK_ROWS rows: partial[k, c] = sum_n dout[n, c] * xhat[n, c],
//       partial[chunks + k, c] = sum_n dout[n, c]; xhat = (inp - mean[n]) * rstd[n]; mean and rstd
//       are float32 (layernorm.cu writes them so whatever T).
//   layernorm_backward_<t>(T* dinp, const T* dout, const T* inp, const T* weight, const float* mean,
//       const float* rstd, int N, int C)
//       g = dout * weight; dinp = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)).
//   column_sum_partials_<t>(float* partial, const T* x, int rows, int cols)
//       partial[k, c] = sum over the chunk's rows r of x[r, c].
//   grad_reduce_f32(float* out, const float* partial, int chunks, int cols)
//       out[c] += sum_k partial[k, c], k in order (the second phase of both reductions above).
//   dropout_<t>(T* out, const T* inp, unsigned seed_lo, unsigned seed_hi, unsigned offset_lo,
//       unsigned offset_hi, float p, int n)
//       out[i] = keep(i) ? inp[i] * scale : 0 (philox.cuh's contract for the site at (seed,
//       offset), each 64-bit value passed as two halves, low first: philox.cuh's u64_of);
//       out may alias inp.
//   fill_<t>(T* out, float value, int n)
//   store_parameters_<t>(T* out, const float* master, int n)
//       out[i] = master[i] rounded to T (round to nearest even): mixed-precision training's 16-bit
//       parameters, the copy the forward reads, from the float32 master weights AdamW updates.
//   cross_entropy_backward_<t>(T* dlogits, const T* logits, const int* targets, int N, int V,
//       int ignore_index, float scale)
//       dlogits[n, j] = scale * (softmax(logits[n, :])_j - [j == targets[n]]); a row whose
//       target is ignore_index is written as zeros.
//   mse_backward_<t>(T* dpred, const T* pred, const T* targets, int N, float scale)
//       dpred[n] = scale * 2 * (pred[n] - targets[n]), in double (the CPU's bits).
//   bce_with_logits_backward_<t>(T* dlogits, const T* logits, const T* targets, int N, float scale)
//       dlogits[n] = scale * (sigmoid(x) - y), in double, sigmoid in its stable form.
//   adamw_f32(float* params, const float* grads, float* m, float* v, int n, int decays,
//       float decay, int small_w1, float w1, float b2, float w2, float bc2_sqrt, float eps,
//       float neg_step_size)        one step of AdamW.update's loop, the same bits (below)
//   adamw_segments_f32(float* params, const float* grads, float* m, float* v, const int* seg_end,
//       const int* seg_decays, int nseg, int n, float decay, ...the same scalars...)
//       adamw over the whole slab [0, n) in one launch: segment s is [seg_end[s-1], seg_end[s]) (from 0,
//       seg_end[nseg-1] = n), decayed where seg_decays[s] != 0; each element as adamw_f32 computes it
//       (DESIGN.md's one optimizer kernel over the flat buffer). Block 256, 4 elements a thread.
//   sum_of_squares_f32(double* partial, const float* g, int n)
//       partial[b] = sum of g[i]^2 in double over block b's elements; the host adds the partials.
//   scale_f32(float* g, float factor, int n)        g[i] *= factor
//   Element counts are int: at most 2^31 - 1 per call, as the CPU backend's float[] buffers.
//
// Gradient convention (every kernel file): parameter gradients accumulate (dwte, dwpe, the
// layer norm's dweight and dbias, a linear layer's dbias: +=), activation gradients are written
// (dinp, dlogits: =), except scatter_add_rows_into, which accumulates into an activation gradient
// as BackwardOps says (a row picked twice adds twice). Parameter gradients and the optimizer's
// state are float32 whatever the storage type.
//
// Algorithms
//   Column reductions (the layer norm's parameter gradients, a linear layer's bias gradient):
//     deterministic, no atomics, as activation.cu's bias gradient. Phase 1: block (32, 8) takes
//     32 adjacent columns of a chunk of 256 rows; the 8 warps stride over the rows, their 8
//     sums meet in shared memory and one partial per column and chunk goes to the scratch.
//     Phase 2 (grad_reduce_f32): one thread per column adds the chunks' partials in chunk order
//     and accumulates into the gradient. The order depends only on the shape: reruns match to
//     the bit.
//   layernorm_backward: one warp per row; lane l takes c = l, l + 32, ...; pass 1 sums g and
//     g * xhat (warp_sum), pass 2 writes dinp. dinp may alias dout: element c is read and
//     written by the same lane, read first. layernorm_param_partials reads dout, so the launcher
//     queues it before layernorm_backward (which may overwrite dout).
//   scatter_add_rows: one block column per group (a distinct row of the table), threads over c;
//     each thread walks its group's tokens in token order and adds into its element, which no
//     other thread touches: deterministic, no atomics, and in float32 the CPU backend's bits (it
//     adds token by token in the same order). A row shared by many tokens (every sequence's
//     position 0, a frequent token) is a longer walk; the groups are sorted on the host, once per
//     step, from the ids it uploaded anyway.
//   dropout: one thread per Philox block, i.e. 4 consecutive elements (ctr = offset + i / 4),
//     the tail thread of an n not divisible by 4 doing fewer. scale = 1f / (1f - p) in float,
//     0 for p = 1 (DropoutRng.scale); a kept element is inp * scale rounded once to T, a dropped
//     one is 0: the CPU's bits in float32, and its value rounded to T otherwise.
//   cross_entropy_backward: one block per row, cross_entropy_forward's reductions (misc.cu):
//     block max, block sum of expf(x - max), then p_j = expf(x_j - max) / sum. The max is
//     NaN-first, as the CPU's Math.max (a NaN logit makes the row NaN).
//   adamw: AdamW.update's float32 operations in its order, every one an explicitly rounded
//     intrinsic (__fmul_rn, __fadd_rn, __fsub_rn, __fdiv_rn, __fsqrt_rn) and the two fused
//     multiply-adds Java writes as Math.fma as __fmaf_rn: nvcc never contracts an _rn intrinsic
//     into an FMA, so the GPU gives the CPU's bits for every element. The scalars come from
//     AdamW.Scalars, computed once per step on the host.
//   sum_of_squares: a fixed grid of min(ceil(n / 256), 1024) blocks; thread t of block b adds
//     g[i]^2 in double (exact products) over i = 256 b + t, stepping by the grid's threads; the
//     warps' sums (warp_sum_f64) and then the 8 warps' meet in block order; the host downloads
//     the per-block doubles and adds them in block order. Deterministic (the grid depends on n
//     only), within about 1e-16 relative of the CPU's chunked double sum.
//
// Memory traffic (s = bytes per stored element: 4 for f32, 2 for bf16 and f16 storage)
//   scatter_add_rows         reads N*C*s, read-modify-writes each distinct row once (4*C bytes)
//   layernorm (both kernels) reads 3*N*C*s twice (param partials, dinp; the second pass of the
//                            dinp kernel hits L1/L2), writes N*C*s; partials 2*ceil(N/256)*C*4*2
//   column_sum               reads rows*cols*s; partials ceil(rows/256)*cols*4*2
//   dropout                  reads n*s, writes n*s (plus 10 Philox rounds per 4 elements)
//   fill, scale              writes n*s, read-modify-writes 4n
//   store_parameters         reads 4n, writes n*s
//   cross_entropy_backward   reads N*V*s three times (the later two from L1/L2), writes N*V*s
//   adamw                    reads 16n bytes, writes 12n bytes
//   sum_of_squares           reads 4n bytes
//   All memory bound; the target is the device's copy bandwidth for those bytes.
//
// Launch geometry (the launcher uses exactly this; no dynamic shared memory)
//   fill, store_parameters, mse_backward, bce_with_logits_backward, adamw, scale:
//       block 256 threads, grid ceil(elements / 256); one element per thread.
//   scatter_add_rows: block 256 threads, grid (groups, ceil(C / 256)).
//   layernorm_param_partials, column_sum_partials: block (32, 8), grid (ceil(C / 32), chunks),
//       chunks = ceil(N / 256) <= 65535.
//   grad_reduce_f32: block 256, grid ceil(cols / 256); one column per thread.
//   layernorm_backward: block 256 (8 warps), grid ceil(N / 8); warp w of block b takes row
//       8b + w; warps past N return whole (no block barrier in the kernel).
//   dropout: block 256, grid ceil(ceil(n / 4) / 256); one Philox block per thread.
//   cross_entropy_backward: block 256, grid N; one row per block.
//   sum_of_squares: block 256, grid min(ceil(n / 256), 1024).
//   Limits the launcher checks: element counts <= 2^31 - 1, chunks <= 65535.

#include "common.cuh"
#include "philox.cuh"

namespace dbc {

constexpr int TRAIN_BLOCK = 256;
// Rows per partial column sum; TrainingKernels.GRAD_CHUNK_ROWS sizes the scratch from it.
constexpr int GRAD_CHUNK_ROWS = 256;
constexpr int COL_BLOCK_X = 32;
constexpr int COL_BLOCK_Y = 8;
constexpr int LN_ROWS_PER_BLOCK = TRAIN_BLOCK / WARP_SIZE;
constexpr int CE_BWD_WARPS = TRAIN_BLOCK / WARP_SIZE;

__device__ __forceinline__ int64_t global_index() { return (int64_t)blockIdx.x * blockDim.x + threadIdx.x; }

// warp_sum in double: the sum of squares' partials.
__device__ __forceinline__ double warp_sum_f64(double v) {
#pragma unroll
    for (int o = WARP_SIZE / 2; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

// ---------------------------------------------------------------------------------------------
// embeddings

// Group g of a scatter-add: table[rows[g], c] += dout[order[k], c] for k in [starts[g], starts[g+1]),
// one add at a time in k's order (the token order: the CPU backend's sums, bit for bit in float32).
// The groups' rows are distinct, so no two threads write one element: no atomics, deterministic.
// The table is float32 (a parameter's gradient) or of the storage type (an activation's gradient: the
// backward of a gather), accumulated in float32 and rounded once to it.
template <typename TT, typename T>
__device__ __forceinline__ void scatter_add_rows(TT* table, const T* dout, const int* order, const int* starts,
                                                 const int* rows, int C) {
    const int g = blockIdx.x;
    const int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C) return;
    TT* dst = table + (int64_t)rows[g] * C + c;
    float acc = load_f32(dst);
    for (int k = starts[g]; k < starts[g + 1]; k++) acc += load_f32(dout + (int64_t)order[k] * C + c);
    store_f32(dst, acc);
}

// ---------------------------------------------------------------------------------------------
// column reductions: phase 1 per (column block, chunk of rows), phase 2 in grad_reduce_f32

// The 8 warps' sums of one column block, added in warp order by warp 0: the chunk's partial.
__device__ __forceinline__ float column_block_sum(float (&sums)[COL_BLOCK_Y][COL_BLOCK_X], float acc) {
    sums[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    float s = 0.0f;
    if (threadIdx.y == 0) {
#pragma unroll
        for (int y = 0; y < COL_BLOCK_Y; y++) s += sums[y][threadIdx.x];
    }
    return s;
}

template <typename T>
__device__ __forceinline__ void column_sum_partials(float* partial, const T* x, int rows, int cols) {
    __shared__ float sums[COL_BLOCK_Y][COL_BLOCK_X];
    const int c = blockIdx.x * COL_BLOCK_X + threadIdx.x;
    const int r0 = blockIdx.y * GRAD_CHUNK_ROWS, r1 = min(r0 + GRAD_CHUNK_ROWS, rows);
    float acc = 0.0f;
    if (c < cols) {
        for (int r = r0 + threadIdx.y; r < r1; r += COL_BLOCK_Y) acc += load_f32(x + (int64_t)r * cols + c);
    }
    const float s = column_block_sum(sums, acc);
    if (threadIdx.y == 0 && c < cols) partial[(int64_t)blockIdx.y * cols + c] = s;
}

// partial is [2, chunks, C]: the weight gradient's chunks, then the bias gradient's.
template <typename T>
__device__ __forceinline__ void layernorm_param_partials(float* partial, const T* dout, const T* inp, const float* mean,
                                                         const float* rstd, int N, int C) {
    __shared__ float sums_w[COL_BLOCK_Y][COL_BLOCK_X];
    __shared__ float sums_b[COL_BLOCK_Y][COL_BLOCK_X];
    const int c = blockIdx.x * COL_BLOCK_X + threadIdx.x;
    const int r0 = blockIdx.y * GRAD_CHUNK_ROWS, r1 = min(r0 + GRAD_CHUNK_ROWS, N);
    float acc_w = 0.0f, acc_b = 0.0f;
    if (c < C) {
        for (int r = r0 + threadIdx.y; r < r1; r += COL_BLOCK_Y) {
            const int64_t i = (int64_t)r * C + c;
            const float g = load_f32(dout + i);
            const float xhat = (load_f32(inp + i) - mean[r]) * rstd[r];
            acc_w += g * xhat;
            acc_b += g;
        }
    }
    const float sw = column_block_sum(sums_w, acc_w);
    const float sb = column_block_sum(sums_b, acc_b);
    if (threadIdx.y == 0 && c < C) {
        partial[(int64_t)blockIdx.y * C + c] = sw;
        partial[((int64_t)gridDim.y + blockIdx.y) * C + c] = sb;
    }
}

// ---------------------------------------------------------------------------------------------
// layer norm: dinp

template <typename T>
__device__ __forceinline__ void layernorm_backward(T* dinp, const T* dout, const T* inp, const T* weight, const float* mean,
                                                   const float* rstd, int N, int C) {
    const int lane = threadIdx.x % WARP_SIZE;
    const int n = blockIdx.x * LN_ROWS_PER_BLOCK + threadIdx.x / WARP_SIZE;
    if (n >= N) return;  // the whole warp
    const int64_t base = (int64_t)n * C;
    const float mu = mean[n], rs = rstd[n];
    float sum_g = 0.0f, sum_gx = 0.0f;
    for (int c = lane; c < C; c += WARP_SIZE) {
        const float g = load_f32(dout + base + c) * load_f32(weight + c);
        const float xhat = (load_f32(inp + base + c) - mu) * rs;
        sum_g += g;
        sum_gx += g * xhat;
    }
    const float mean_g = warp_sum(sum_g) / (float)C;
    const float mean_gx = warp_sum(sum_gx) / (float)C;
    for (int c = lane; c < C; c += WARP_SIZE) {
        const float g = load_f32(dout + base + c) * load_f32(weight + c);
        const float xhat = (load_f32(inp + base + c) - mu) * rs;
        store_f32(dinp + base + c, rs * (g - mean_g - xhat * mean_gx));  // dout[c] read above, by this lane
    }
}

// ---------------------------------------------------------------------------------------------
// dropout

// DropoutRng.scale: 1f / (1f - p), and 0 (not infinity) for p = 1.
__device__ __forceinline__ float dropout_scale(float p) { return p == 1.0f ? 0.0f : __fdiv_rn(1.0f, __fsub_rn(1.0f, p)); }

template <typename T>
__device__ __forceinline__ void dropout(T* out, const T* inp, uint64_t seed, uint64_t offset, float p, int n) {
    const int64_t block = global_index();
    const int64_t first = block * 4;
    if (first >= n) return;
    const float scale = dropout_scale(p);
    const Philox4 r = philox4x32_10(offset + (uint64_t)block, seed);  // wraps as the CPU's long does
    const int count = n - first < 4 ? (int)(n - first) : 4;
#pragma unroll
    for (int w = 0; w < 4; w++) {
        if (w < count) {
            const float x = load_f32(inp + first + w);  // read before the write: out may be inp
            store_f32(out + first + w, philox_uniform(r.w[w]) >= p ? __fmul_rn(x, scale) : 0.0f);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// data movement

template <typename T>
__device__ __forceinline__ void fill(T* out, float value, int n) {
    const int64_t i = global_index();
    if (i < n) store_f32(out + i, value);
}

// out[i] = master[i] rounded to T: mixed-precision training's 16-bit copy of the float32 master weights.
template <typename T>
__device__ __forceinline__ void store_parameters(T* out, const float* master, int n) {
    const int64_t i = global_index();
    if (i < n) store_f32(out + i, master[i]);
}

// ---------------------------------------------------------------------------------------------
// losses

template <typename T>
__device__ __forceinline__ void cross_entropy_backward(T* dlogits, const T* logits, const int* targets, int V,
                                                       int ignore_index, float scale) {
    __shared__ float red[CE_BWD_WARPS];
    const int n = blockIdx.x;
    const int t = targets[n];
    T* drow = dlogits + (int64_t)n * V;
    if (t == ignore_index) {  // the whole block, before any barrier
        for (int j = threadIdx.x; j < V; j += TRAIN_BLOCK) store_f32(drow + j, 0.0f);
        return;
    }
    const T* row = logits + (int64_t)n * V;
    float mx, sum;
    softmax_row_stats<TRAIN_BLOCK>(row, V, red, &mx, &sum);

    for (int j = threadIdx.x; j < V; j += TRAIN_BLOCK) {
        const float pj = expf(load_f32(row + j) - mx) / sum;
        store_f32(drow + j, scale * (j == t ? pj - 1.0f : pj));
    }
}

template <typename T>
__device__ __forceinline__ void mse_backward(T* dpred, const T* pred, const T* targets, int N, float scale) {
    const int64_t i = global_index();
    if (i >= N) return;
    const double diff = (double)load_f32(pred + i) - (double)load_f32(targets + i);
    store_f32(dpred + i, (float)((double)scale * 2.0 * diff));  // Java's order: (scale * 2.0) * diff
}

template <typename T>
__device__ __forceinline__ void bce_with_logits_backward(T* dlogits, const T* logits, const T* targets, int N,
                                                         float scale) {
    const int64_t i = global_index();
    if (i >= N) return;
    const double x = load_f32(logits + i);
    const double sigmoid = x >= 0.0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
    store_f32(dlogits + i, (float)((double)scale * (sigmoid - (double)load_f32(targets + i))));
}

// ---------------------------------------------------------------------------------------------
// optimizer (float32 slabs)

// AdamW.update's loop body, line for line; every operation rounded where Java rounds it.
// One element of AdamW.update, with or without weight decay.
__device__ __forceinline__ void adamw_element(float* params, const float* grads, float* m, float* v, int64_t i,
                                              bool decays, float decay, int small_w1, float w1, float b2, float w2,
                                              float bc2_sqrt, float eps, float neg_step_size) {
    const float g = grads[i];
    const float p = decays ? __fmul_rn(params[i], decay) : params[i];
    float mi = m[i];
    const float d = __fsub_rn(g, mi);
    mi = small_w1 ? __fmaf_rn(w1, d, mi) : __fmaf_rn(__fsub_rn(w1, 1.0f), d, g);
    const float vi = __fmaf_rn(__fmul_rn(w2, g), g, __fmul_rn(v[i], b2));
    // (float) Math.sqrt(vi) is the correctly rounded float square root (double has room for it)
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
    params[i] = __fadd_rn(p, __fdiv_rn(__fmul_rn(neg_step_size, mi), denom));
    m[i] = mi;
    v[i] = vi;
}

__device__ __forceinline__ void adamw(float* params, const float* grads, float* m, float* v, int n, int decays,
                                      float decay, int small_w1, float w1, float b2, float w2, float bc2_sqrt, float eps,
                                      float neg_step_size) {
    const int64_t i = global_index();
    if (i >= n) return;
    adamw_element(params, grads, m, v, i, decays != 0, decay, small_w1, w1, b2, w2, bc2_sqrt, eps, neg_step_size);
}

// The whole slab in one walk: segment s is [seg_end[s-1], seg_end[s]) (from 0; the last end is n), with
// weight decay where seg_decays[s]. Each thread takes ADAMW_RUN consecutive elements: one binary search
// for the first one's segment, then a step forward at a segment's end.
constexpr int ADAMW_RUN = 4;
__device__ __forceinline__ void adamw_segments(float* params, const float* grads, float* m, float* v,
                                               const int* seg_end, const int* seg_decays, int nseg, int n, float decay,
                                               int small_w1, float w1, float b2, float w2, float bc2_sqrt, float eps,
                                               float neg_step_size) {
    const int64_t i0 = global_index() * ADAMW_RUN;
    if (i0 >= n) return;
    int lo = 0, hi = nseg - 1;  // the first segment whose end is past i0
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (seg_end[mid] > i0) hi = mid; else lo = mid + 1;
    }
    int seg = lo;
    for (int64_t i = i0; i < i0 + ADAMW_RUN && i < n; i++) {
        while (i >= seg_end[seg]) seg++;
        adamw_element(params, grads, m, v, i, seg_decays[seg] != 0, decay, small_w1, w1, b2, w2, bc2_sqrt, eps,
                      neg_step_size);
    }
}

__device__ __forceinline__ void sum_of_squares(double* partial, const float* g, int n) {
    __shared__ double warp_sums[TRAIN_BLOCK / WARP_SIZE];
    const int lane = threadIdx.x % WARP_SIZE, warp = threadIdx.x / WARP_SIZE;
    const int64_t stride = (int64_t)gridDim.x * TRAIN_BLOCK;
    double s = 0.0;
    for (int64_t i = global_index(); i < n; i += stride) {
        const double x = g[i];
        s += x * x;  // the product is exact, so a contraction into an FMA changes nothing
    }
    s = warp_sum_f64(s);
    if (lane == 0) warp_sums[warp] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        double total = warp_sums[0];
#pragma unroll
        for (int w = 1; w < TRAIN_BLOCK / WARP_SIZE; w++) total += warp_sums[w];
        partial[blockIdx.x] = total;
    }
}

__device__ __forceinline__ void scale(float* g, float factor, int n) {
    const int64_t i = global_index();
    if (i < n) g[i] = __fmul_rn(g[i], factor);
}

}  // namespace dbc

// Entry points.
#ifndef DBC_HOST_CHECK

// The kernels whose activation arrays are of the storage type: one entry point per type.
#define DBC_TRAINING(SUFFIX, T)                                                                               \
    extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)                                            \
    scatter_add_rows_##SUFFIX(float* table, const T* dout, const int* order, const int* starts,               \
                              const int* rows, int C) {                                                       \
        dbc::scatter_add_rows<float, T>(table, dout, order, starts, rows, C);                                 \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)                                            \
    scatter_add_rows_into_##SUFFIX(T* table, const T* dout, const int* order, const int* starts,              \
                                   const int* rows, int C) {                                                  \
        dbc::scatter_add_rows<T, T>(table, dout, order, starts, rows, C);                                     \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(dbc::COL_BLOCK_X * dbc::COL_BLOCK_Y)                         \
    layernorm_param_partials_##SUFFIX(float* partial, const T* dout, const T* inp, const float* mean,             \
                                      const float* rstd, int N, int C) {                                          \
        dbc::layernorm_param_partials<T>(partial, dout, inp, mean, rstd, N, C);                               \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)                                            \
    layernorm_backward_##SUFFIX(T* dinp, const T* dout, const T* inp, const T* weight, const float* mean,         \
                                const float* rstd, int N, int C) {                                                \
        dbc::layernorm_backward<T>(dinp, dout, inp, weight, mean, rstd, N, C);                                \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(dbc::COL_BLOCK_X * dbc::COL_BLOCK_Y)                         \
    column_sum_partials_##SUFFIX(float* partial, const T* x, int rows, int cols) {                            \
        dbc::column_sum_partials<T>(partial, x, rows, cols);                                                  \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)                                            \
    dropout_##SUFFIX(T* out, const T* inp, unsigned seed_lo, unsigned seed_hi, unsigned offset_lo,            \
                     unsigned offset_hi, float p, int n) {                                                    \
        dbc::dropout<T>(out, inp, dbc::u64_of(seed_lo, seed_hi), dbc::u64_of(offset_lo, offset_hi), p, n);    \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)                                            \
    fill_##SUFFIX(T* out, float value, int n) {                                                               \
        dbc::fill<T>(out, value, n);                                                                          \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)                                            \
    store_parameters_##SUFFIX(T* out, const float* master, int n) {                                           \
        dbc::store_parameters<T>(out, master, n);                                                             \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)                                            \
    cross_entropy_backward_##SUFFIX(T* dlogits, const T* logits, const int* targets, int N, int V,            \
                                    int ignore_index, float scale) {                                          \
        dbc::cross_entropy_backward<T>(dlogits, logits, targets, V, ignore_index, scale);                     \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)                                            \
    mse_backward_##SUFFIX(T* dpred, const T* pred, const T* targets, int N, float scale) {                    \
        dbc::mse_backward<T>(dpred, pred, targets, N, scale);                                                 \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)                                            \
    bce_with_logits_backward_##SUFFIX(T* dlogits, const T* logits, const T* targets, int N, float scale) {    \
        dbc::bce_with_logits_backward<T>(dlogits, logits, targets, N, scale);                                 \
    }

DBC_TRAINING(f32, float)
DBC_TRAINING(bf16, __nv_bfloat16)
DBC_TRAINING(f16, __half)

// out[c] += sum over chunks k of partial[k, c], in chunk order. partial is [chunks, cols].
extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)
grad_reduce_f32(float* out, const float* partial, int chunks, int cols) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float s = 0.0f;
    for (int k = 0; k < chunks; k++) s += partial[(int64_t)k * cols + c];
    out[c] += s;
}

extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)
adamw_f32(float* params, const float* grads, float* m, float* v, int n, int decays, float decay, int small_w1,
          float w1, float b2, float w2, float bc2_sqrt, float eps, float neg_step_size) {
    dbc::adamw(params, grads, m, v, n, decays, decay, small_w1, w1, b2, w2, bc2_sqrt, eps, neg_step_size);
}

extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)
adamw_segments_f32(float* params, const float* grads, float* m, float* v, const int* seg_end, const int* seg_decays,
                   int nseg, int n, float decay, int small_w1, float w1, float b2, float w2, float bc2_sqrt, float eps,
                   float neg_step_size) {
    dbc::adamw_segments(params, grads, m, v, seg_end, seg_decays, nseg, n, decay, small_w1, w1, b2, w2, bc2_sqrt, eps,
                        neg_step_size);
}

extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)
sum_of_squares_f32(double* partial, const float* g, int n) {
    dbc::sum_of_squares(partial, g, n);
}

extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)
scale_f32(float* g, float factor, int n) {
    dbc::scale(g, factor, n);
}

#endif  // DBC_HOST_CHECK
