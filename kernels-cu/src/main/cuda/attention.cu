// attention.cu — multi-head scaled dot-product attention over a packed, ragged batch, forward.
//
// Where DistilBERT uses it: MultiHeadSelfAttention, between q_lin/k_lin/v_lin (one cuBLAS GEMM
// with the [3C, C] weight of the three stacked, bias added, into a [T, 3C] buffer) and out_lin.
// HF computes, per sequence and head,
//   scores = q k^T / sqrt(HS), masked_fill(mask == 0, finfo.min), softmax, * head_mask, @ v.
// Here the padding mask is the sequence's key count instead of a tensor (see key_lens below).
//
// Shapes: T = the packed tokens of all sequences, C = NH * HS. q, k and v are T rows of C
// elements with row stride ld (ld >= C): head h of token t is q[t*ld + h*HS + d], and the same
// for k and v. With the fused projection q, k, v point at columns 0, C and 2C of one [T, 3C]
// buffer and ld = 3C; three separate [T, C] buffers are ld = C. out is [T, C] row-major (row
// stride C whatever ld is): out[t*C + h*HS + d]. cu_seqlens is [num_seqs + 1] (int32,
// cu_seqlens[0] = 0): sequence s is tokens [cu_seqlens[s], cu_seqlens[s+1]), len = the
// difference. key_lens is [num_seqs] or null; head_mask is [NH] or null (= all ones).
// probs (attention_probs_forward only): for sequence s, head h, query i, key j, the element
// probs_offsets[s] + (h*len + i)*keys + j; probs_offsets is [num_seqs] (int64).
//
// Keys: keys_s = key_lens[s] (len when key_lens is null); the first keys_s tokens of the
// sequence are keys and values, the others are queries only (their scores are exactly 0 after
// HF's softmax: exp(finfo.min - max) underflows). keys_s == 0 with len > 0 (a fully masked
// row in HF: all scores finfo.min, softmax uniform) attends with equal weights to all len
// tokens: scores set to 0, keys = len. The launcher guarantees 0 <= keys_s <= len.
//
// Entry points (T = f32 float, bf16 __nv_bfloat16, f16 __half; arithmetic in float32):
//   attention_forward_hs{32,64,128,256}_<t>(T* out, const T* q, const T* k, const T* v, int ld,
//       const T* head_mask, const int* cu_seqlens, const int* key_lens, int num_seqs, int NH,
//       int HS, float scale)
//   attention_probs_forward_<t>(T* out, T* probs, const T* q, const T* k, const T* v, int ld,
//       const T* head_mask, const int* cu_seqlens, const int* key_lens,
//       const long long* probs_offsets, int num_seqs, int NH, int HS, float scale)
//   ld: the row stride of q, k and v in elements (3C from the fused projection). scale is chosen
//   by the launcher (1/sqrt(HS)); num_seqs is the grid's z extent and is not read by the
//   kernels. out must not alias q, k, v or probs. q, k, v are read element by element (no
//   vector loads), so they need only the element type's alignment: any ld and column offset work.
//
// attention_forward (FlashAttention-style; no probabilities in memory)
//   Block = 32 queries of one (sequence, head); 4 threads per query (thread t: query t/4,
//   part t%4), each owning the dims d = part, part+4, ... (HS/4 of them, strided) of q and of
//   its output accumulator: per-thread arrays of HSMAX/4 floats, HS <= HSMAX at run time.
//   Loop over tiles of KT keys (KT = 32 for HSMAX <= 128, 16 for HSMAX = 256, so the static
//   shared memory stays under 48 KB): the 128 threads stage K and V of the tile in shared
//   memory as float (coalesced loads, keys past keys_s and dims past HS stored as 0), barrier,
//   then each thread walks the tile in steps of 8 keys r (ATTN_STEP_KEYS; steps wholly past
//   the last key skipped):
//     dot_r  = sum over its dims of q[d] * K[r][d]; + shfl_xor 1; + shfl_xor 2   (the 4 parts)
//     s_r    = scale * dot_r (0 in the uniform case; -inf for r past the last key)
//     m_new  = max(m, max_r s_r); alpha = exp(m - m_new); p_r = exp(s_r - m_new)
//     l      = l * alpha + sum_r p_r;  acc[d] = acc[d] * alpha + sum_r p_r * V[r][d]
//   (softmax_tile; m starts at -inf, l and acc at 0; exp_shift treats a running max of -inf
//   as 0, so (-inf) - (-inf) never makes a NaN), and a barrier before the next tile. Finally
//   out[d] = acc[d] * (head_mask[h] / l) (attn_norm): the masked probabilities times v.
//   Steps of 8 rather than one update per 32-key tile: p[] is 8 registers, not 32 (83 instead
//   of 99 registers for hs64 on sm_90), and the fully unrolled step is a quarter of the code
//   (half the compile time); the extra rescales cost DP multiplies and one exp per 8 keys.
//   The probabilities are not rounded to T before they multiply v (HF's bf16 path rounds
//   them): out is the float32 product, rounded once.
//   Shared layout: row r holds dims in the order part-major (d%4)*(HSMAX/4 + 4) + d/4, so a
//   thread reads its dims as float4 and the 4 parts of a warp hit distinct banks (the +4
//   pads the parts apart); the 8 queries of a warp read the same words (broadcast).
//   Threads whose query is past len load q as 0, help stage every tile and reach every
//   __syncthreads, but write nothing. Blocks whose first query is past len return at once,
//   before any barrier (the whole block: i0 and len are block-uniform). The tile and step
//   loops run the same number of times in every thread (keys is block-uniform), so all 32
//   lanes reach each shuffle and all 128 threads each barrier.
//   Differs from the spec's sketch in two internal points, not in the ABI: the padded
//   part-major shared layout, and 16-key tiles for hs256 (32 keys x 256 dims x 2 x 4 bytes =
//   64 KB would need dynamic shared memory and the opt-in attribute).
//
// attention_probs_forward (output_attentions: materialises the probabilities)
//   One warp per (query, head). Pass 1: lane handles keys j = lane, lane+32, ...: score (dot
//   over HS in float), folded into a per-lane running (max, sum of exp) by softmax_push; the
//   32 pairs merge in a shfl_xor butterfly (softmax_merge) and lane 0's result is broadcast,
//   so every lane normalises with the same bits. Pass 2: the scores again (recomputed, not
//   read back), p_j = exp(s_j - max) * (head_mask[h] / sum), written rounded to T.
//   __syncwarp() (lanes read the entries other lanes wrote; it orders their memory too).
//   Pass 3: out[d] for d = lane, lane+32, ... = sum_j probs_j (as stored, T read back as
//   float) * v[j, d]. Differs from the spec's "write scale*score to probs in pass 1, read it
//   back": for bf16/f16 that would round each score to T before the exp (bf16: an error of up
//   to |score|·2^-9 in the exponent, that much relative error in every probability: 2% at a
//   score of 10); recomputing the dot costs one more read of K, from L1/L2. The only
//   rounding of a probability is the final one to T.
//
// Memory traffic (s = bytes per stored element; L = len, K = keys of a sequence)
//   attention_forward        reads q once and K, V once per 32-query tile (ceil(L/32) times,
//                            from L2 after the first), writes out once: about 4·T·C·s from
//                            DRAM; 4·L·K·HS flops per (sequence, head). A head's HS elements of
//                            a row are contiguous whatever ld is, so ld = 3C costs no extra
//                            transactions: the reads of one row segment stay coalesced. Compute bound on the
//                            dot products for long sequences, memory/latency bound for short.
//   attention_probs_forward  writes NH·L·K·s of probabilities per sequence plus out; reads K
//                            twice and V once per query (L1/L2). Not a hot path.
//
// Launch geometry (the launcher uses exactly this; no dynamic shared memory: sharedMemBytes 0)
//   attention_forward_hs<HSMAX>_<t>: block 128 threads (x only), grid (ceil(max_len / 32), NH,
//       num_seqs), max_len = the longest sequence; HSMAX = the smallest of 32, 64, 128, 256
//       that is >= HS (HS > 256 rejected). Static shared memory 2*KT*(HSMAX+16)*4 bytes:
//       12 KB (hs32), 20 KB (hs64), 36 KB (hs128), 34 KB (hs256, KT = 16).
//   attention_probs_forward_<t>: block 128 threads (4 warps), grid (ceil(max_len / 4), NH,
//       num_seqs). No shared memory, any HS.
//   Limits the launcher checks: NH <= 65535 and num_seqs <= 65535 (grid y, z).
//
// Forward only (inference); no gradient convention applies yet.

#include "attention_common.cuh"

namespace dbc {

constexpr int ATTN_QUERIES = 32;            // queries per block of attention_forward
constexpr int ATTN_THREADS_PER_QUERY = 4;   // the dims of a query are split 4 ways
constexpr int ATTN_BLOCK = ATTN_QUERIES * ATTN_THREADS_PER_QUERY;
constexpr int ATTN_STEP_KEYS = 8;           // keys per online-softmax update (a tile holds 16 or 32)
constexpr int PROBS_QUERIES = 4;            // warps (queries) per block of attention_probs_forward
constexpr int PROBS_BLOCK = PROBS_QUERIES * WARP_SIZE;

// Keys per shared-memory tile: 32, or 16 for HSMAX = 256 so that static shared memory stays
// under the 48 KB that needs no opt-in attribute.
__host__ __device__ constexpr int attn_tile_keys(int hsmax) { return hsmax <= 128 ? 32 : 16; }

// The scalar steps are __host__ as well: src/test/cuda/attention_math_check.cu runs both
// kernels' algorithms on the host with them and compares with a naive attention in double.

// The score of key r: scale * q.k, 0 for every key in the uniform case, -inf past the last key.
__host__ __device__ __forceinline__ float attn_score(float dot, float scale, bool uniform, bool is_key) {
    return !is_key ? -INFINITY : uniform ? 0.0f : scale * dot;
}

// One tile of the online softmax. In: the running max m and sum l, the tile's scores p[]
// (-inf for absent keys). Out: m and l updated, p[] holds exp(s - m_new); returns the factor
// alpha = exp(m_old - m_new) by which the caller rescales its accumulator.
template <int KT>
__host__ __device__ __forceinline__ float softmax_tile(float& m, float& l, float (&p)[KT]) {
    float mt = -INFINITY;
#pragma unroll
    for (int r = 0; r < KT; r++) mt = fmaxf(mt, p[r]);
    const float m_new = fmaxf(m, mt);
    const float alpha = exp_shift(m, m_new);
    float sum = 0.0f;
#pragma unroll
    for (int r = 0; r < KT; r++) {
        p[r] = exp_shift(p[r], m_new);
        sum += p[r];
    }
    l = l * alpha + sum;
    m = m_new;
    return alpha;
}

// One score into a running (max, sum of exp): one exp per score.
__host__ __device__ __forceinline__ void softmax_push(float& m, float& l, float s) {
    if (s > m) {
        l = l * exp_shift(m, s) + 1.0f;
        m = s;
    } else {
        l += exp_shift(s, m);
    }
}

// Two running (max, sum) pairs into one; either may be empty (-inf, 0).
__host__ __device__ __forceinline__ void softmax_merge(float& m, float& l, float m2, float l2) {
    const float m_new = fmaxf(m, m2);
    l = l * exp_shift(m, m_new) + l2 * exp_shift(m2, m_new);
    m = m_new;
}

// Shared-memory row layout of attention_forward: dim d at (d % 4) * ROW_PART + d / 4.
template <int HSMAX>
struct AttnTile {
    static constexpr int KT = attn_tile_keys(HSMAX);
    static constexpr int DP = HSMAX / ATTN_THREADS_PER_QUERY;  // dims per thread
    static constexpr int ROW_PART = DP + 4;                    // +4 floats: the parts' float4s in distinct banks
    static constexpr int ROW = ATTN_THREADS_PER_QUERY * ROW_PART;
    // Where dim d sits in a row; part p's dims p, p+4, ... are at p*ROW_PART + 0, 1, ...
    __host__ __device__ static constexpr int at(int d) {
        return (d % ATTN_THREADS_PER_QUERY) * ROW_PART + d / ATTN_THREADS_PER_QUERY;
    }
};

template <int HSMAX, typename T>
__device__ __forceinline__ void attention_forward(T* out, const T* q, const T* k, const T* v, int ld,
                                                  const T* head_mask, const int* cu_seqlens, const int* key_lens,
                                                  int NH, int HS, float scale) {
    using L = AttnTile<HSMAX>;
    constexpr int KT = L::KT, DP = L::DP, SUB = ATTN_STEP_KEYS;
    static_assert(DP % 4 == 0, "dims per thread are read as float4");
    __shared__ __align__(16) float k_tile[KT][L::ROW];
    __shared__ __align__(16) float v_tile[KT][L::ROW];

    const AttnBlock b = attn_block(cu_seqlens, key_lens, ATTN_QUERIES, NH, HS);
    if (b.i0 >= b.len) return;  // the whole block, before any barrier
    const int h = b.h, start = b.start, len = b.len, i0 = b.i0;
    const AttnKeys keys = b.keys;
    const int64_t C = b.C;  // out's row stride
    const int64_t col = b.col;
    const int tid = threadIdx.x;
    const int part = tid % ATTN_THREADS_PER_QUERY;
    const int i = i0 + tid / ATTN_THREADS_PER_QUERY;
    const bool active = i < len;
    const int64_t row = start + (active ? i : i0);  // an inactive thread's row is never read

    float qr[DP], acc[DP];
#pragma unroll
    for (int jj = 0; jj < DP; jj++) {
        const int d = part + ATTN_THREADS_PER_QUERY * jj;
        qr[jj] = active && d < HS ? load_f32(q + row * ld + col + d) : 0.0f;
        acc[jj] = 0.0f;
    }

    float m = -INFINITY, l = 0.0f;
    for (int j0 = 0; j0 < keys.count; j0 += KT) {
        // Stage K and V of keys j0 .. j0+KT-1; consecutive threads take consecutive dims.
        for (int e = tid; e < KT * HSMAX; e += ATTN_BLOCK) {
            const int r = e / HSMAX, d = e % HSMAX;
            float kv = 0.0f, vv = 0.0f;
            if (j0 + r < keys.count && d < HS) {
                const int64_t off = (start + j0 + r) * (int64_t)ld + col + d;
                kv = load_f32(k + off);
                vv = load_f32(v + off);
            }
            k_tile[r][L::at(d)] = kv;
            v_tile[r][L::at(d)] = vv;
        }
        __syncthreads();

        // The staged keys in steps of SUB, one online-softmax update per step: p[] stays short (in
        // registers) and the unrolled code small. Steps past the last key are skipped; the
        // condition is block-uniform, so every lane runs the same shuffles.
#pragma unroll 1
        for (int r0 = 0; r0 < KT && j0 + r0 < keys.count; r0 += SUB) {
            float p[SUB];
#pragma unroll
            for (int r = 0; r < SUB; r++) {
                const float4* kr = reinterpret_cast<const float4*>(&k_tile[r0 + r][part * L::ROW_PART]);
#ifdef DBC_EMULATE  // the host kernel emulator: a float4 load needs 16-byte alignment on a GPU
                DBC_EMU_ALIGNED(kr, 16);
#endif
                float dot = 0.0f;
#pragma unroll
                for (int g = 0; g < DP / 4; g++) {
                    const float4 kk = kr[g];
                    dot += qr[4 * g] * kk.x;
                    dot += qr[4 * g + 1] * kk.y;
                    dot += qr[4 * g + 2] * kk.z;
                    dot += qr[4 * g + 3] * kk.w;
                }
                // The query's 4 parts are lanes 4q .. 4q+3 of the warp; every lane runs both shuffles.
                dot += __shfl_xor_sync(FULL_MASK, dot, 1);
                dot += __shfl_xor_sync(FULL_MASK, dot, 2);
                p[r] = attn_score(dot, scale, keys.uniform, j0 + r0 + r < keys.count);
            }
            const float alpha = softmax_tile<SUB>(m, l, p);
#pragma unroll
            for (int jj = 0; jj < DP; jj++) acc[jj] *= alpha;
#pragma unroll
            for (int r = 0; r < SUB; r++) {
                const float4* vr = reinterpret_cast<const float4*>(&v_tile[r0 + r][part * L::ROW_PART]);
#ifdef DBC_EMULATE
                DBC_EMU_ALIGNED(vr, 16);
#endif
#pragma unroll
                for (int g = 0; g < DP / 4; g++) {
                    const float4 vv = vr[g];
                    acc[4 * g] += p[r] * vv.x;
                    acc[4 * g + 1] += p[r] * vv.y;
                    acc[4 * g + 2] += p[r] * vv.z;
                    acc[4 * g + 3] += p[r] * vv.w;
                }
            }
        }
        __syncthreads();  // the tile is consumed before the next one overwrites it
    }

    if (active) {
        const float f = attn_norm(l, head_mask ? load_f32(head_mask + h) : 1.0f);
        T* o = out + row * C + col;
#pragma unroll
        for (int jj = 0; jj < DP; jj++) {
            const int d = part + ATTN_THREADS_PER_QUERY * jj;
            if (d < HS) store_f32(o + d, acc[jj] * f);
        }
    }
}

// q . k over HS dims in float, in order d = 0, 1, ...
template <typename T>
__host__ __device__ __forceinline__ float dot_row(const T* a, const T* b, int HS) {
    float dot = 0.0f;
    for (int d = 0; d < HS; d++) dot += load_f32(a + d) * load_f32(b + d);
    return dot;
}

template <typename T>
__device__ __forceinline__ void attention_probs_forward(T* out, T* probs, const T* q, const T* k, const T* v, int ld,
                                                        const T* head_mask, const int* cu_seqlens,
                                                        const int* key_lens, const long long* probs_offsets, int NH,
                                                        int HS, float scale) {
    const int s = blockIdx.z, h = blockIdx.y;
    const int lane = threadIdx.x % WARP_SIZE;
    const int i = blockIdx.x * PROBS_QUERIES + threadIdx.x / WARP_SIZE;
    const int start = cu_seqlens[s];
    const int len = cu_seqlens[s + 1] - start;
    if (i >= len) return;  // the whole warp; this kernel has no block barrier
    const AttnKeys keys = attn_keys(len, key_lens ? key_lens[s] : len);
    const int64_t C = (int64_t)NH * HS;  // out's row stride
    const int64_t col = (int64_t)h * HS;
    const T* q_row = q + (start + i) * (int64_t)ld + col;
    T* p_row = probs + probs_offsets[s] + ((int64_t)h * len + i) * keys.count;

    // Pass 1: max and sum of exp over this lane's keys, then over the warp.
    float m = -INFINITY, l = 0.0f;
    for (int j = lane; j < keys.count; j += WARP_SIZE) {
        const float dot = keys.uniform ? 0.0f : dot_row(q_row, k + (start + j) * (int64_t)ld + col, HS);
        softmax_push(m, l, attn_score(dot, scale, keys.uniform, true));
    }
#pragma unroll
    for (int o = WARP_SIZE / 2; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(FULL_MASK, m, o);
        const float l2 = __shfl_xor_sync(FULL_MASK, l, o);
        softmax_merge(m, l, m2, l2);
    }
    // softmax_merge is not bitwise symmetric (fused multiply-adds): take lane 0's pair.
    m = __shfl_sync(FULL_MASK, m, 0);
    l = __shfl_sync(FULL_MASK, l, 0);
    const float f = attn_norm(l, head_mask ? load_f32(head_mask + h) : 1.0f);

    // Pass 2: the probabilities, rounded to T.
    for (int j = lane; j < keys.count; j += WARP_SIZE) {
        const float dot = keys.uniform ? 0.0f : dot_row(q_row, k + (start + j) * (int64_t)ld + col, HS);
        store_f32(p_row + j, exp_shift(attn_score(dot, scale, keys.uniform, true), m) * f);
    }
    __syncwarp();

    // Pass 3: out = probs (as stored) . v
    T* o = out + (start + i) * C + col;
    for (int d = lane; d < HS; d += WARP_SIZE) {
        float acc = 0.0f;
        for (int j = 0; j < keys.count; j++) acc += load_f32(p_row + j) * load_f32(v + (start + j) * (int64_t)ld + col + d);
        store_f32(o + d, acc);
    }
}

}  // namespace dbc

// Entry points. The host checks (src/test/cuda) define DBC_HOST_CHECK: they use the scalar math
// above, and nothing of this file is then compiled for a device.
#ifndef DBC_HOST_CHECK

#define DBC_ATTENTION_HS(HSMAX, SUFFIX, T)                                                                       \
    extern "C" __global__ void __launch_bounds__(dbc::ATTN_BLOCK)                                                \
    attention_forward_hs##HSMAX##_##SUFFIX(T* out, const T* q, const T* k, const T* v, int ld,                   \
                                           const T* head_mask, const int* cu_seqlens, const int* key_lens,       \
                                           int num_seqs, int NH, int HS, float scale) {                          \
        dbc::attention_forward<HSMAX, T>(out, q, k, v, ld, head_mask, cu_seqlens, key_lens, NH, HS, scale);      \
    }

#define DBC_ATTENTION(SUFFIX, T)                                                                                 \
    DBC_ATTENTION_HS(32, SUFFIX, T)                                                                              \
    DBC_ATTENTION_HS(64, SUFFIX, T)                                                                              \
    DBC_ATTENTION_HS(128, SUFFIX, T)                                                                             \
    DBC_ATTENTION_HS(256, SUFFIX, T)                                                                             \
    extern "C" __global__ void __launch_bounds__(dbc::PROBS_BLOCK)                                               \
    attention_probs_forward_##SUFFIX(T* out, T* probs, const T* q, const T* k, const T* v, int ld,               \
                                     const T* head_mask, const int* cu_seqlens, const int* key_lens,             \
                                     const long long* probs_offsets, int num_seqs, int NH, int HS,               \
                                     float scale) {                                                              \
        dbc::attention_probs_forward<T>(out, probs, q, k, v, ld, head_mask, cu_seqlens, key_lens, probs_offsets, \
                                        NH, HS, scale);                                                          \
    }

DBC_ATTENTION(f32, float)
DBC_ATTENTION(bf16, __nv_bfloat16)
DBC_ATTENTION(f16, __half)

#endif  // DBC_HOST_CHECK
