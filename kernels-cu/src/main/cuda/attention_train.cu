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
// Two paths compute the same (distilbert.cuda.AttentionTrainingKernels.Path): the products on
// cuBLAS (the default, below: "The matrix-product path") or on these SIMT kernels.
//
// Algorithm of the SIMT path: one warp per (row, head), no shared memory and no block barrier.
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
// The matrix-product path (AttentionTrainingKernels.forwardGemm / backwardGemm): q, k, v (and dO)
// packed into padded [B, NH, Lmax, HS] tensors (zeros past a sequence), so that every product of
// every (sequence, head) is one cuBLAS strided-batched GEMM over B*NH on the tensor cores, as HF's
// eager attention computes it on its padded batch. Forward: S = q k^T / sqrt(HS) (GEMM), the
// softmax and dropout of each row (attention_softmax_dropout: probs and dropped written packed, as
// the SIMT path writes them, and W = dropout(P) padded in S's place), O = W (hm v) (GEMM), unpacked.
// Backward: dW = (hm dO) v^T and dV = W^T (hm dO) (GEMMs; W padded again by attention_expand_probs),
// dS in dW's place (attention_softmax_backward), dQ = dS k and dK = dS^T q (GEMMs), unpacked into dqkv
// (zeros for the k and v of tokens past the keys). The scores and dS are rounded to the storage type
// between the products (HF's bf16 rounds them too). Entry points (arithmetic in float32):
//   attention_pack_heads_<t>(T* dst, const T* src, int ld, int col, const T* head_mask,
//       const int* cu_seqlens, const int* key_lens, int NH, int HS, int Lmax, int rows)
//       dst[(b*NH + h)*Lmax + i, d] = src[cu_seqlens[b] + i, col + h*HS + d] * (head_mask ? hm[h] : 1)
//       for i < len_b, else 0. rows = B*NH*Lmax.
//   attention_softmax_dropout_<t>(T* probs, T* dropped, T* w, const T* scores, ..., float p,
//       float keep_scale, int NH, int Lmax, int rows)     w may be scores (in place, as launched)
//   attention_unpack_heads_<t>(T* out, int ld, int col, const T* src, ..., int rows, int keys_only)
//       out[cu_seqlens[b] + i, col + h*HS + d] = src[...] for i < len_b (0 past the keys with keys_only)
//   attention_expand_probs_<t>(T* w, const T* probs, const T* dropped, ..., int redraw, int NH,
//       int Lmax, int rows)                                 W = dropped, or P (masked again: redraw)
//   attention_softmax_backward_<t>(T* g, const T* probs, const T* dropped, ..., int redraw, int NH,
//       int Lmax, float scale, int rows)                    g: dW in, dS * scale out, in place
//   The row kernels take one warp per padded row (rows past a sequence written as zeros); the
//   element kernels one thread per element. Memory: the padded tensors are scratch of
//   B*NH*Lmax*(4*HS + Lmax) elements forward, (7*HS + 2*Lmax) backward, from the arena.
//
// Launch geometry (the launcher uses exactly this; no shared memory)
//   the SIMT kernels: block 128 threads (4 warps, one row each), grid (ceil(max_len / 4), NH, num_seqs).
//   the row kernels of the GEMM path: block 256 (8 warps, a row each), grid ceil(rows / 8); the
//   element kernels: block 256, grid ceil(elements / 256).
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

// The 32 lanes' running (max, sum of exp) merged in a butterfly; every lane ends with lane 0's pair
// (the merge is not bitwise symmetric, so each lane normalises with the same bits). All 32 lanes call it.
__device__ __forceinline__ void train_softmax_merge_warp(float& m, float& l) {
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
    train_softmax_merge_warp(m, l);

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


// ---------------------------------------------------------------------------------------------
// The matrix-product path: the four (six in the backward) products per (sequence, head) as cuBLAS
// strided-batched GEMMs over a padded [B, NH, Lmax, ·] layout, with these kernels between them.
// Padded element (b, h, i, x) of a [B, NH, Lmax, W] tensor is at ((b*NH + h)*Lmax + i)*W + x.

// The sequence and row of padded row r = (b*NH + h)*Lmax + i.
struct PadRow {
    int b, h, i, start, len;
    AttnKeys keys;
};
__device__ __forceinline__ PadRow pad_row(int64_t r, const int* cu_seqlens, const int* key_lens, int NH, int Lmax) {
    const int i = (int)(r % Lmax);
    const int64_t bh = r / Lmax;
    const int h = (int)(bh % NH), b = (int)(bh / NH);
    const int start = cu_seqlens[b], len = cu_seqlens[b + 1] - start;
    return PadRow{b, h, i, start, len, attn_keys(len, key_lens ? key_lens[b] : len)};
}

// dst (padded [B, NH, Lmax, HS]) = scale_h * src rows of the packed [T, ld] tensor at column col + h*HS,
// 0 for rows past the sequence; scale_h = head_mask[h] when head_mask is given, else 1.
template <typename T>
__device__ __forceinline__ void pack_heads(T* dst, const T* src, int ld, int col, const T* head_mask,
                                          const int* cu_seqlens, const int* key_lens, int NH, int HS, int Lmax,
                                          int rows) {
    const int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (int64_t)rows * HS) return;
    const int d = (int)(e % HS);
    const PadRow r = pad_row(e / HS, cu_seqlens, key_lens, NH, Lmax);
    float v = 0.0f;
    if (r.i < r.len) {
        v = load_f32(src + (int64_t)(r.start + r.i) * ld + col + (int64_t)r.h * HS + d);
        if (head_mask) v *= load_f32(head_mask + r.h);
    }
    store_f32(dst + e, v);
}

// The training softmax of padded scores S (already scaled) for one row per warp: probs and dropped
// (packed, as the SIMT path writes them) and W = dropout(P), padded with zeros past the keys and in
// rows past the sequence, for the product W V.
template <typename T>
__device__ __forceinline__ void softmax_dropout_rows(T* probs, T* dropped, T* w, const T* scores,
                                                     const int* cu_seqlens, const int* key_lens,
                                                     const long long* probs_offsets, uint64_t seed, uint64_t offset,
                                                     float p, float keep_scale, int NH, int Lmax, int rows) {
    const int64_t r = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / WARP_SIZE;
    const int lane = threadIdx.x % WARP_SIZE;
    if (r >= rows) return;  // the whole warp
    const PadRow q = pad_row(r, cu_seqlens, key_lens, NH, Lmax);
    T* w_row = w + r * Lmax;
    if (q.i >= q.len) {
        for (int j = lane; j < Lmax; j += WARP_SIZE) store_f32(w_row + j, 0.0f);
        return;
    }
    const int K = q.keys.count;
    const T* s_row = scores + r * Lmax;
    float m = -INFINITY, l = 0.0f;
    for (int j = lane; j < K; j += WARP_SIZE) train_softmax_push(m, l, q.keys.uniform ? 0.0f : load_f32(s_row + j));
    train_softmax_merge_warp(m, l);
    const int64_t row = probs_offsets[q.b] + ((int64_t)q.h * q.len + q.i) * K;
    for (int j = lane; j < Lmax; j += WARP_SIZE) {
        float wj = 0.0f;
        if (j < K) {
            const float s = q.keys.uniform ? 0.0f : load_f32(s_row + j);
            store_f32(probs + row + j, exp_shift(s, m) / l);
            wj = load_f32(probs + row + j);
            if (p > 0.0f) {
                wj = train_dropout(wj, seed, offset, row + j, p, keep_scale);
                if (dropped) store_f32(dropped + row + j, wj);
            }
        }
        store_f32(w_row + j, wj);
    }
}

// out (packed [T, C]) from padded O: out[t, h*HS + d] = O[b, h, i, d] for the sequence's rows.
template <typename T>
__device__ __forceinline__ void unpack_heads(T* out, int ld, int col, const T* src, const int* cu_seqlens,
                                            const int* key_lens, int NH, int HS, int Lmax, int rows,
                                            bool keys_only) {
    const int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (int64_t)rows * HS) return;
    const int d = (int)(e % HS);
    const PadRow r = pad_row(e / HS, cu_seqlens, key_lens, NH, Lmax);
    if (r.i >= r.len) return;
    const float v = keys_only && r.i >= r.keys.count ? 0.0f : load_f32(src + e);
    store_f32(out + (int64_t)(r.start + r.i) * ld + col + (int64_t)r.h * HS + d, v);
}

// W again for the backward's dV = W^T dO, padded: the forward's dropped (p > 0, kept), P with the mask
// drawn again (redraw), or P itself (p = 0).
template <typename T>
__device__ __forceinline__ void expand_probs(T* w, const T* probs, const T* dropped, const int* cu_seqlens,
                                            const int* key_lens, const long long* probs_offsets, uint64_t seed,
                                            uint64_t offset, float p, float keep_scale, int redraw, int NH, int Lmax,
                                            int rows) {
    const int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (int64_t)rows * Lmax) return;
    const int j = (int)(e % Lmax);
    const PadRow q = pad_row(e / Lmax, cu_seqlens, key_lens, NH, Lmax);
    float v = 0.0f;
    if (q.i < q.len && j < q.keys.count) {
        const int64_t k = probs_offsets[q.b] + ((int64_t)q.h * q.len + q.i) * q.keys.count + j;
        if (p > 0.0f && !redraw) {
            v = load_f32(dropped + k);
        } else {
            v = load_f32(probs + k);
            if (p > 0.0f) v = train_dropout(v, seed, offset, k, p, keep_scale);
        }
    }
    store_f32(w + e, v);
}

// The softmax's backward, one row per warp, in place: g holds dW = hm * dO V^T (padded) and becomes
// dS * scale, with dP = the dropout mask applied to dW; 0 past the keys, in rows past the sequence,
// and in the uniform case.
template <typename T>
__device__ __forceinline__ void softmax_backward_rows(T* g, const T* probs, const T* dropped, const int* cu_seqlens,
                                                      const int* key_lens, const long long* probs_offsets,
                                                      uint64_t seed, uint64_t offset, float p, float keep_scale,
                                                      int redraw, int NH, int Lmax, float scale, int rows) {
    const int64_t r = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / WARP_SIZE;
    const int lane = threadIdx.x % WARP_SIZE;
    if (r >= rows) return;
    const PadRow q = pad_row(r, cu_seqlens, key_lens, NH, Lmax);
    T* g_row = g + r * Lmax;
    if (q.i >= q.len || q.keys.uniform) {
        for (int j = lane; j < Lmax; j += WARP_SIZE) store_f32(g_row + j, 0.0f);
        return;
    }
    const int K = q.keys.count;
    const int64_t row = probs_offsets[q.b] + ((int64_t)q.h * q.len + q.i) * K;
    float D = 0.0f;
    for (int j = lane; j < K; j += WARP_SIZE) {
        const float dp = train_mask_grad(load_f32(g_row + j), dropped, row + j, redraw != 0, seed, offset, p,
                                         keep_scale);
        D += dp * load_f32(probs + row + j);
    }
    D = warp_sum(D);
    for (int j = lane; j < Lmax; j += WARP_SIZE) {
        float ds = 0.0f;
        if (j < K) {
            const float dp = train_mask_grad(load_f32(g_row + j), dropped, row + j, redraw != 0, seed, offset, p,
                                             keep_scale);
            ds = load_f32(probs + row + j) * (dp - D) * scale;
        }
        store_f32(g_row + j, ds);
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
    }                                                                                                            \
    extern "C" __global__ void __launch_bounds__(256)                                                          \
    attention_pack_heads_##SUFFIX(T* dst, const T* src, int ld, int col, const T* head_mask,                     \
                                  const int* cu_seqlens, const int* key_lens, int NH, int HS, int Lmax,          \
                                  int rows) {                                                                    \
        dbc::pack_heads<T>(dst, src, ld, col, head_mask, cu_seqlens, key_lens, NH, HS, Lmax, rows);            \
    }                                                                                                            \
    extern "C" __global__ void __launch_bounds__(256)                                                          \
    attention_softmax_dropout_##SUFFIX(T* probs, T* dropped, T* w, const T* scores, const int* cu_seqlens,       \
                                       const int* key_lens, const long long* probs_offsets, unsigned seed_lo,    \
                                       unsigned seed_hi, unsigned offset_lo, unsigned offset_hi, float p,        \
                                       float keep_scale, int NH, int Lmax, int rows) {                     \
        dbc::softmax_dropout_rows<T>(probs, dropped, w, scores, cu_seqlens, key_lens, probs_offsets,             \
                                     dbc::u64_of(seed_lo, seed_hi), dbc::u64_of(offset_lo, offset_hi), p,        \
                                     keep_scale, NH, Lmax, rows);                                                \
    }                                                                                                            \
    extern "C" __global__ void __launch_bounds__(256)                                                          \
    attention_unpack_heads_##SUFFIX(T* out, int ld, int col, const T* src, const int* cu_seqlens,               \
                                    const int* key_lens, int NH, int HS, int Lmax, int rows,                     \
                                    int keys_only) {                                                             \
        dbc::unpack_heads<T>(out, ld, col, src, cu_seqlens, key_lens, NH, HS, Lmax, rows, keys_only != 0);     \
    }                                                                                                            \
    extern "C" __global__ void __launch_bounds__(256)                                                          \
    attention_expand_probs_##SUFFIX(T* w, const T* probs, const T* dropped, const int* cu_seqlens,              \
                                    const int* key_lens, const long long* probs_offsets, unsigned seed_lo,       \
                                    unsigned seed_hi, unsigned offset_lo, unsigned offset_hi, float p,           \
                                    float keep_scale, int redraw, int NH, int Lmax, int rows) {                 \
        dbc::expand_probs<T>(w, probs, dropped, cu_seqlens, key_lens, probs_offsets,                             \
                             dbc::u64_of(seed_lo, seed_hi), dbc::u64_of(offset_lo, offset_hi), p, keep_scale,   \
                             redraw, NH, Lmax, rows);                                                           \
    }                                                                                                            \
    extern "C" __global__ void __launch_bounds__(256)                                                          \
    attention_softmax_backward_##SUFFIX(T* g, const T* probs, const T* dropped, const int* cu_seqlens,          \
                                        const int* key_lens, const long long* probs_offsets, unsigned seed_lo,   \
                                        unsigned seed_hi, unsigned offset_lo, unsigned offset_hi, float p,       \
                                        float keep_scale, int redraw, int NH, int Lmax, float scale,             \
                                        int rows) {                                                        \
        dbc::softmax_backward_rows<T>(g, probs, dropped, cu_seqlens, key_lens, probs_offsets,                    \
                                      dbc::u64_of(seed_lo, seed_hi), dbc::u64_of(offset_lo, offset_hi), p,       \
                                      keep_scale, redraw, NH, Lmax, scale, rows);                                \
    }

DBC_ATTENTION_TRAIN(f32, float)
DBC_ATTENTION_TRAIN(bf16, __nv_bfloat16)
DBC_ATTENTION_TRAIN(f16, __half)
