// attention_train.cu — multi-head attention in training mode over a packed, ragged batch: the
// forward that keeps the softmax and applies dropout to it, and the backward.
//
// Where DistilBERT uses it: MultiHeadSelfAttention under model.train(). HF computes, per sequence
// and head, P = softmax(q k^T / sqrt(HS)) (masked keys at finfo.min), W = dropout(P), then
// ctx = (W * head_mask[h]) @ v. The backward of that, with dO = d ctx and hm = head_mask[h]:
//   dV = hm * W^T dO          dW = hm * dO V^T          dP = dropout(dW) (the forward's mask)
//   dS = P o (dP - rowsum(dP o P))  (the softmax's Jacobian)  dQ = dS K / sqrt(HS)   dK = dS^T Q / sqrt(HS)
// The semantics are distilbert.model.BackwardOps.attentionTrainingForward / attentionBackward; the
// CPU backend (CpuOps) is the reference the GPU tests compare with.
//
// Shapes and layout as attention.cu: q, k, v (and dq, dk, dv) are T rows with row stride ld (3C
// for the fused projection: pointers at columns 0, C and 2C of one [T, 3C] buffer); out and dout are
// [T, C]; cu_seqlens [num_seqs + 1]; key_lens [num_seqs] or null; head_mask [NH] or null. The
// probabilities (probs, dropped, and the float32 scratch ds) are laid out as attention.cu's probs:
// sequence s, head h, query i, key j at probs_offsets[s] + (h*len + i)*keys + j. Keys as in
// attention.cu: the first keys_s tokens of a sequence; keys_s == 0 with len > 0 is HF's fully
// masked row (uniform attention over all len tokens, keys = len).
//
// Dropout: the site is the probabilities, element e being probs[e] (e counted from the start of
// the buffer), drawn as philox.cuh (distilbert.model.DropoutRng) from (seed, offset); a kept
// probability is multiplied by keep_scale = 1f / (1f - p). p = 0 means no dropout (W = P).
//
// Entry points (T = f32 float, bf16 __nv_bfloat16, f16 __half; arithmetic in float32):
//   attention_train_forward_<t>(T* out, T* probs, T* dropped, const T* q, const T* k, const T* v,
//       int ld, const T* head_mask, const int* cu_seqlens, const int* key_lens,
//       const long long* probs_offsets, unsigned seed_lo, unsigned seed_hi, unsigned offset_lo, unsigned offset_hi, float p,
//       float keep_scale, int NH, int HS, float scale)
//     probs <- P (rounded to T; no head mask: the softmax itself, what the backward reads);
//     dropped <- dropout(P) (null: not kept; with p > 0 the mask is then drawn again in pass 3);
//     out <- hm * dropout(P) v.
//   attention_train_backward_dq_<t>(T* dq, float* ds, const T* dout, const T* q, const T* k,
//       const T* v, int ld, const T* probs, const T* dropped, const T* head_mask, const int* cu_seqlens,
//       const int* key_lens, const long long* probs_offsets, unsigned long long seed,
//       unsigned long long offset, float p, float keep_scale, int redraw, int NH, int HS, float scale)
//     ds <- dS * scale (float32, the probabilities' layout; 0 in the uniform case); dq <- ds K.
//     The mask of dP: dropped != 0 (a kept element of the forward; where P itself was 0 the dropped
//     value is 0 too, and so is dS, whatever dP is), or drawn again when redraw != 0.
//   attention_train_backward_dkv_<t>(T* dk, T* dv, const float* ds, const T* dout, const T* q,
//       int ld, const T* probs, const T* dropped, const T* head_mask, const int* cu_seqlens,
//       const int* key_lens, const long long* probs_offsets, unsigned long long seed,
//       unsigned long long offset, float p, float keep_scale, int redraw, int NH, int HS)
//     dk <- ds^T Q, dv <- hm * W^T dO for the keys; 0 for the tokens past a sequence's keys. Runs
//     after _dq (it reads ds). dq, dk and dv are written for every token of every sequence.
//
// Algorithm: one warp per (row, head), no shared memory and no block barrier.
//   forward   row = query i. Pass 1: lane takes keys j = lane, lane+32, ...: the score (a dot over
//             HS in float), folded into a per-lane running (max, sum of exp); the 32 pairs merge in
//             a butterfly and lane 0's pair is broadcast (the merge is not bitwise symmetric).
//             Pass 2: the scores again, P_j = exp(s_j - max) / sum, stored rounded to T; W_j =
//             dropout of P_j as stored, into dropped. __syncwarp (lanes read the others' entries).
//             Pass 3: out[d] for d = lane, lane+32, ...: hm * sum_j W_j v[j, d].
//   _dq       row = query i. Pass 1: lane takes keys j: dW_j = hm * dO_i . v_j, dP_j by the mask,
//             into ds; D += dP_j P_j; D summed over the warp (butterfly: every lane the same bits).
//             Pass 2: ds_j = P_j (dP_j - D) * scale. __syncwarp. Pass 3: dq[d] = sum_j ds_j k[j, d].
//   _dkv      row = key j. Lane takes dims d = lane, lane+32, ...: dk[d] = sum_i ds[i, j] q[i, d],
//             dv[d] = hm * sum_i W_ij dO[i, d], W_ij read from dropped, or P_ij (p = 0), or P_ij
//             with the mask drawn again (redraw: every lane draws it, 32 times over; the model keeps
//             dropped, so this path is for callers that do not).
//   Sums run in float in key (or query) order; the CPU sums in double or in its GEMM's order: the
//   GPU tests compare with per-precision relative bounds.
//
// Memory traffic (s = bytes per stored element; per (sequence, head), L = len, K = keys)
//   forward reads K twice and V once per query (from L1/L2 after the first), writes L*K*s of
//   probs (and of dropped) and L*HS*s of out; _dq reads V and K once per query, writes and reads
//   back L*K*4 of ds; _dkv reads ds column-wise (broadcast within the warp) and Q, dO once per key.
//   4 L K HS flops each, in SIMT float32: the materialised probabilities (needed by the backward
//   anyway, as HF keeps them) make the kernels memory and latency bound for long sequences.
//   A FlashAttention-style backward (recompute P from the saved row statistics, tensor cores) is
//   the faster design; this one is the correct baseline the GPU tests hold it to.
//
// Launch geometry (the launcher uses exactly this; no shared memory)
//   all three: block 128 threads (4 warps, one row each), grid (ceil(max_len / 4), NH, num_seqs).
//   Limits the launcher checks: NH <= 65535 and num_seqs <= 65535 (grid y, z).

#include "attention_common.cuh"
#include "philox.cuh"

namespace dbc {

constexpr int TRAIN_ROWS = 4;  // warps (rows) per block
constexpr int TRAIN_BLOCK = TRAIN_ROWS * WARP_SIZE;

// a . b over HS elements of two rows, in float, in dim order.
template <typename T>
__device__ __forceinline__ float train_dot(const T* a, const T* b, int HS) {
    float dot = 0.0f;
    for (int d = 0; d < HS; d++) dot += load_f32(a + d) * load_f32(b + d);
    return dot;
}

// One score into a running (max, sum of exp).
__device__ __forceinline__ void train_softmax_push(float& m, float& l, float s) {
    if (s > m) {
        l = l * exp_shift(m, s) + 1.0f;
        m = s;
    } else {
        l += exp_shift(s, m);
    }
}

// Element e of the dropout site: w * keep_scale where kept, 0 where dropped.
__device__ __forceinline__ float train_dropout(float w, uint64_t seed, uint64_t offset, uint64_t e, float p,
                                               float keep_scale) {
    return dropout_keep(seed, offset, e, p) ? w * keep_scale : 0.0f;
}

// What a warp works on: sequence s, head h, row r of it (query or key), the sequence's tokens and keys.
struct TrainRow {
    int h, start, len, r;
    AttnKeys keys;
    int64_t C, col, base;  // out's row stride, the head's first column, the head's first probability
};
__device__ __forceinline__ TrainRow train_row(const int* cu_seqlens, const int* key_lens,
                                              const long long* probs_offsets, int NH, int HS) {
    const int s = blockIdx.z, h = blockIdx.y;
    const int start = cu_seqlens[s];
    const int len = cu_seqlens[s + 1] - start;
    const AttnKeys keys = attn_keys(len, key_lens ? key_lens[s] : len);
    return TrainRow{h, start, len, (int)blockIdx.x * TRAIN_ROWS + (int)threadIdx.x / WARP_SIZE, keys,
                    (int64_t)NH * HS, (int64_t)h * HS, probs_offsets[s] + (int64_t)h * len * keys.count};
}

template <typename T>
__device__ __forceinline__ void attention_train_forward(T* out, T* probs, T* dropped, const T* q, const T* k,
                                                        const T* v, int ld, const T* head_mask,
                                                        const int* cu_seqlens, const int* key_lens,
                                                        const long long* probs_offsets, uint64_t seed,
                                                        uint64_t offset, float p, float keep_scale, int NH, int HS,
                                                        float scale) {
    const TrainRow w = train_row(cu_seqlens, key_lens, probs_offsets, NH, HS);
    const int lane = threadIdx.x % WARP_SIZE, i = w.r;
    if (i >= w.len) return;  // the whole warp; no block barrier follows
    const int K = w.keys.count;
    const T* q_row = q + (w.start + i) * (int64_t)ld + w.col;
    const int64_t row = w.base + (int64_t)i * K;  // probs index of (i, key 0)

    // Pass 1: max and sum of exp over this lane's keys, then over the warp.
    float m = -INFINITY, l = 0.0f;
    for (int j = lane; j < K; j += WARP_SIZE) {
        const float s = w.keys.uniform ? 0.0f : scale * train_dot(q_row, k + (w.start + j) * (int64_t)ld + w.col, HS);
        train_softmax_push(m, l, s);
    }
#pragma unroll
    for (int o = WARP_SIZE / 2; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(FULL_MASK, m, o);
        const float l2 = __shfl_xor_sync(FULL_MASK, l, o);
        const float m_new = fmaxf(m, m2);
        l = l * exp_shift(m, m_new) + l2 * exp_shift(m2, m_new);
        m = m_new;
    }
    m = __shfl_sync(FULL_MASK, m, 0);
    l = __shfl_sync(FULL_MASK, l, 0);

    // Pass 2: P (rounded to T) and, when kept, dropout(P).
    for (int j = lane; j < K; j += WARP_SIZE) {
        const float s = w.keys.uniform ? 0.0f : scale * train_dot(q_row, k + (w.start + j) * (int64_t)ld + w.col, HS);
        store_f32(probs + row + j, exp_shift(s, m) / l);
        if (dropped) {
            store_f32(dropped + row + j, train_dropout(load_f32(probs + row + j), seed, offset, row + j, p, keep_scale));
        }
    }
    __syncwarp();

    // Pass 3: out = hm * W v, W as stored (or drawn here when not kept).
    const float hm = head_mask ? load_f32(head_mask + w.h) : 1.0f;
    const bool draw = !dropped && p > 0.0f;
    const T* wr = dropped ? dropped : probs;
    T* o = out + (w.start + i) * w.C + w.col;
    for (int d = lane; d < HS; d += WARP_SIZE) {
        float acc = 0.0f;
        for (int j = 0; j < K; j++) {
            float wj = load_f32(wr + row + j);
            if (draw) wj = train_dropout(wj, seed, offset, row + j, p, keep_scale);
            acc += wj * load_f32(v + (w.start + j) * (int64_t)ld + w.col + d);
        }
        store_f32(o + d, acc * hm);
    }
}

// dP of element e from dW: the forward's mask (kept: dropped != 0; or drawn again), or dW itself.
template <typename T>
__device__ __forceinline__ float train_mask_grad(float dw, const T* dropped, int64_t e, bool redraw, uint64_t seed,
                                                 uint64_t offset, float p, float keep_scale) {
    if (p <= 0.0f) return dw;
    if (redraw) return train_dropout(dw, seed, offset, e, p, keep_scale);
    return load_f32(dropped + e) != 0.0f ? dw * keep_scale : 0.0f;
}

template <typename T>
__device__ __forceinline__ void attention_train_backward_dq(T* dq, float* ds, const T* dout, const T* q, const T* k,
                                                            const T* v, int ld, const T* probs, const T* dropped,
                                                            const T* head_mask, const int* cu_seqlens,
                                                            const int* key_lens, const long long* probs_offsets,
                                                            uint64_t seed, uint64_t offset, float p, float keep_scale,
                                                            int redraw, int NH, int HS, float scale) {
    const TrainRow w = train_row(cu_seqlens, key_lens, probs_offsets, NH, HS);
    const int lane = threadIdx.x % WARP_SIZE, i = w.r;
    if (i >= w.len) return;
    const int K = w.keys.count;
    const int64_t row = w.base + (int64_t)i * K;
    T* dq_row = dq + (w.start + i) * (int64_t)ld + w.col;
    if (w.keys.uniform) {  // constant probabilities: nothing flows to q and k
        for (int j = lane; j < K; j += WARP_SIZE) ds[row + j] = 0.0f;
        for (int d = lane; d < HS; d += WARP_SIZE) store_f32(dq_row + d, 0.0f);
        return;
    }
    const float hm = head_mask ? load_f32(head_mask + w.h) : 1.0f;
    const T* do_row = dout + (w.start + i) * w.C + w.col;

    // Pass 1: dP into ds, and D = sum_j dP_j P_j.
    float D = 0.0f;
    for (int j = lane; j < K; j += WARP_SIZE) {
        const float dw = hm * train_dot(do_row, v + (w.start + j) * (int64_t)ld + w.col, HS);
        const float dp = train_mask_grad(dw, dropped, row + j, redraw != 0, seed, offset, p, keep_scale);
        ds[row + j] = dp;
        D += dp * load_f32(probs + row + j);
    }
    D = warp_sum(D);

    // Pass 2: dS, scaled by 1/sqrt(HS) once here for both dq and dk.
    for (int j = lane; j < K; j += WARP_SIZE) {
        ds[row + j] = load_f32(probs + row + j) * (ds[row + j] - D) * scale;
    }
    __syncwarp();

    // Pass 3: dq = dS K.
    for (int d = lane; d < HS; d += WARP_SIZE) {
        float acc = 0.0f;
        for (int j = 0; j < K; j++) acc += ds[row + j] * load_f32(k + (w.start + j) * (int64_t)ld + w.col + d);
        store_f32(dq_row + d, acc);
    }
}

template <typename T>
__device__ __forceinline__ void attention_train_backward_dkv(T* dk, T* dv, const float* ds, const T* dout,
                                                             const T* q, int ld, const T* probs, const T* dropped,
                                                             const T* head_mask, const int* cu_seqlens,
                                                             const int* key_lens, const long long* probs_offsets,
                                                             uint64_t seed, uint64_t offset, float p,
                                                             float keep_scale, int redraw, int NH, int HS) {
    const TrainRow w = train_row(cu_seqlens, key_lens, probs_offsets, NH, HS);
    const int lane = threadIdx.x % WARP_SIZE, j = w.r;
    if (j >= w.len) return;
    const int K = w.keys.count;
    T* dk_row = dk + (w.start + j) * (int64_t)ld + w.col;
    T* dv_row = dv + (w.start + j) * (int64_t)ld + w.col;
    if (j >= K) {  // not a key of its sequence: no gradient
        for (int d = lane; d < HS; d += WARP_SIZE) {
            store_f32(dk_row + d, 0.0f);
            store_f32(dv_row + d, 0.0f);
        }
        return;
    }
    const float hm = head_mask ? load_f32(head_mask + w.h) : 1.0f;
    const bool draw = redraw != 0 && p > 0.0f;
    const T* wr = p > 0.0f && !draw ? dropped : probs;
    for (int d = lane; d < HS; d += WARP_SIZE) {
        float gk = 0.0f, gv = 0.0f;
        for (int i = 0; i < w.len; i++) {
            const int64_t e = w.base + (int64_t)i * K + j;
            gk += ds[e] * load_f32(q + (w.start + i) * (int64_t)ld + w.col + d);
            float wij = load_f32(wr + e);
            if (draw) wij = train_dropout(wij, seed, offset, e, p, keep_scale);
            gv += wij * load_f32(dout + (w.start + i) * w.C + w.col + d);
        }
        store_f32(dk_row + d, gk);
        store_f32(dv_row + d, gv * hm);
    }
}

}  // namespace dbc

#define DBC_ATTENTION_TRAIN(SUFFIX, T)                                                                           \
    extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)                                               \
    attention_train_forward_##SUFFIX(T* out, T* probs, T* dropped, const T* q, const T* k, const T* v, int ld,   \
                                     const T* head_mask, const int* cu_seqlens, const int* key_lens,             \
                                     const long long* probs_offsets, unsigned seed_lo, unsigned seed_hi,        \
                                     unsigned offset_lo, unsigned offset_hi, float p, float keep_scale, int NH, int HS,       \
                                     float scale) {                                                              \
        dbc::attention_train_forward<T>(out, probs, dropped, q, k, v, ld, head_mask, cu_seqlens, key_lens,       \
                                        probs_offsets, dbc::u64_of(seed_lo, seed_hi), dbc::u64_of(offset_lo, offset_hi), p, keep_scale, NH, HS, scale);              \
    }                                                                                                            \
    extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)                                               \
    attention_train_backward_dq_##SUFFIX(T* dq, float* ds, const T* dout, const T* q, const T* k, const T* v,    \
                                         int ld, const T* probs, const T* dropped, const T* head_mask,           \
                                         const int* cu_seqlens, const int* key_lens,                             \
                                         const long long* probs_offsets, unsigned seed_lo, unsigned seed_hi,    \
                                         unsigned offset_lo, unsigned offset_hi, float p, float keep_scale, int redraw,       \
                                         int NH, int HS, float scale) {                                          \
        dbc::attention_train_backward_dq<T>(dq, ds, dout, q, k, v, ld, probs, dropped, head_mask, cu_seqlens,    \
                                            key_lens, probs_offsets, dbc::u64_of(seed_lo, seed_hi), dbc::u64_of(offset_lo, offset_hi), p, keep_scale, redraw, NH,    \
                                            HS, scale);                                                          \
    }                                                                                                            \
    extern "C" __global__ void __launch_bounds__(dbc::TRAIN_BLOCK)                                               \
    attention_train_backward_dkv_##SUFFIX(T* dk, T* dv, const float* ds, const T* dout, const T* q, int ld,      \
                                          const T* probs, const T* dropped, const T* head_mask,                  \
                                          const int* cu_seqlens, const int* key_lens,                            \
                                          const long long* probs_offsets, unsigned seed_lo, unsigned seed_hi,   \
                                          unsigned offset_lo, unsigned offset_hi, float p, float keep_scale, int redraw,      \
                                          int NH, int HS) {                                                      \
        dbc::attention_train_backward_dkv<T>(dk, dv, ds, dout, q, ld, probs, dropped, head_mask, cu_seqlens,     \
                                             key_lens, probs_offsets, dbc::u64_of(seed_lo, seed_hi), dbc::u64_of(offset_lo, offset_hi), p, keep_scale, redraw, NH,   \
                                             HS);                                                                \
    }

DBC_ATTENTION_TRAIN(f32, float)
DBC_ATTENTION_TRAIN(bf16, __nv_bfloat16)
DBC_ATTENTION_TRAIN(f16, __half)
