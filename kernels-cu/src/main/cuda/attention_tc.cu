// attention_tc.cu — multi-head attention forward on the tensor cores (bf16 and f16 storage),
// FlashAttention-2 style: both products, S = Q Kᵀ and O += P V, are warp-level mma.sync
// m16n8k16 instructions with float32 accumulators; the online softmax runs on the accumulators
// in registers, and P goes from the S accumulators into the A operand of the second product
// without touching memory.
//
// Computes exactly what attention.cu's attention_forward computes (same ABI contract: packed
// ragged batch, key_lens with the uniform all-masked case, head_mask, out [T, C]); see that
// file's header for the semantics. It differs in arithmetic only: the probabilities are rounded
// to T (bf16 or f16) before they multiply V (the mma's operands are 16-bit; HF's bf16/fp16 path
// rounds them too), and the scores are taken in base 2 (exp2 of scale·log2(e)·q·k). The launcher
// uses it for bf16/f16 when the head size allows (below) and attention.cu's kernel otherwise.
//
// Entry points (T = bf16 __nv_bfloat16, f16 __half):
//   attention_tc_forward_hs{32,64,128}_<t>(T* out, const T* q, const T* k, const T* v, int ld,
//       const T* head_mask, const int* cu_seqlens, const int* key_lens, int num_seqs, int NH,
//       int HS, float scale)
//   q, k, v: row t of head h at q + t*ld + h*HS (ld = C for separate tensors, 3C for one fused
//   [T, 3C] projection); out: row stride C = NH*HS. scale = 1/sqrt(HS), chosen by the launcher.
//   Requirements the launcher checks (and otherwise uses attention.cu): HS <= 128, HS % 8 == 0,
//   ld % 8 == 0, q, k, v 16-byte aligned and out 4-byte aligned (K and V tiles are staged with
//   16-byte loads; out is written in pairs).
//
// Work split: a block is 4 warps and 64 queries of one (sequence, head); warp w owns queries
// i0 + 16w .. i0 + 16w + 15, the M = 16 rows of its mma tiles. Per lane (registers):
//   qa[KS][4]   Q of the warp's 16 rows as A fragments, KS = HSMAX/16 k-steps (loaded once)
//   s[NT][4]    the scores of one 64-key tile, NT = 8 accumulator tiles of 8 keys
//   o[DT][4]    the output accumulator, DT = HSMAX/8 tiles of 8 dims
//   m[2], l[2]  running max (base 2) and this lane's part of the running sum, for its two rows
// Loop over tiles of 64 keys: the 128 threads stage K as [key][dim] and V transposed as
// [dim][key] in shared memory (16-bit elements, rows padded by 8 elements so that the fragment
// loads of a warp hit 32 distinct banks), keys past the last and dims past HS stored as 0; a
// barrier; then each warp: S = Q Kᵀ (NT·KS mmas), the scores scaled and masked (-inf past the
// last key, 0 in the uniform case), the row max over the tile reduced across the 4 lanes that
// share a row (shfl_xor 1, 2), the online update (alpha = exp2(m - m_new) rescales l and o),
// p = exp2(s - m_new) packed to T as A fragments, O += P V (PS·DT mmas, PS = 4 k-steps of 16
// keys); a barrier before the next tile. At the end the 4 lanes of a row add their l parts and
// out = o · head_mask[h] / l, rounded to T, in pairs.
//
// Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type";
// groupID g = lane / 4, t = lane % 4; a 32-bit register holds two 16-bit elements, the lower
// index in the low half): A (16x16, row-major) element i at row g + 8·((i/2)%2), column
// 2t + i%2 + 8·(i/4); B (16x8, k x n) element i at k = 2t + i%2 + 8·(i/2), n = g; C/D (16x8
// float) element i at row g + 8·(i/2), column 2t + i%2. So the S accumulators of key tiles 2kk
// and 2kk+1 are, element for element, the A fragment of P for k-step kk (FlashAttention-2's
// register reuse), and B's element pairs are consecutive in k: K's row-major [key][dim] and
// V's transposed [dim][key] tiles give each register in one 32-bit shared load.
//
// Shared memory (static, no opt-in needed): 2 · (64·(HSMAX+8) + HSMAX·72) bytes: 9 KB (hs32),
// 18 KB (hs64), 35 KB (hs128). Launch: block 128 threads, grid (ceil(max_len/64), NH, num_seqs),
// sharedMemBytes 0.
//
// Warps whose 16 queries all lie past len stage tiles and reach every barrier but skip the
// mmas; blocks whose first query is past len return before any barrier. Queries past len load
// q as 0 (their scores are finite) and write nothing.
//
// The per-lane steps are __host__ as well: src/test/cuda/attention_tc_check.cu runs the kernel
// lane by lane on the host, with the mma and the shuffles emulated from the layouts above, and
// compares with a naive attention in double.

#include "attention_common.cuh"

#include <string.h>

#include <type_traits>

namespace dbc {

constexpr int TC_WARPS = 4;
constexpr int TC_ROWS = 16;                       // queries per warp: the mma's M
constexpr int TC_QUERIES = TC_WARPS * TC_ROWS;    // queries per block
constexpr int TC_KEYS = 64;                       // keys per shared-memory tile
constexpr int TC_BLOCK = TC_WARPS * WARP_SIZE;
constexpr int TC_PAD = 8;                         // 16-bit elements of padding per shared row

// The mma.m16n8k16 fragment layouts (see the header).
struct Frag {
    __host__ __device__ static constexpr int group(int lane) { return lane >> 2; }
    __host__ __device__ static constexpr int tig(int lane) { return lane & 3; }
    __host__ __device__ static constexpr int a_row(int lane, int i) { return group(lane) + 8 * ((i >> 1) & 1); }
    __host__ __device__ static constexpr int a_col(int lane, int i) { return 2 * tig(lane) + (i & 1) + 8 * (i >> 2); }
    __host__ __device__ static constexpr int b_k(int lane, int i) { return 2 * tig(lane) + (i & 1) + 8 * (i >> 1); }
    __host__ __device__ static constexpr int b_n(int lane) { return group(lane); }
    __host__ __device__ static constexpr int c_row(int lane, int i) { return group(lane) + 8 * (i >> 1); }
    __host__ __device__ static constexpr int c_col(int lane, int i) { return 2 * tig(lane) + (i & 1); }
};

template <int HSMAX>
struct TcTile {
    static_assert(HSMAX % 16 == 0 && HSMAX <= 128, "head sizes up to 128 in steps of 16");
    static constexpr int KS = HSMAX / 16;          // k-steps of S = Q Kᵀ (over dims)
    static constexpr int DT = HSMAX / 8;           // accumulator tiles of O (8 dims each)
    static constexpr int NT = TC_KEYS / 8;         // accumulator tiles of S (8 keys each)
    static constexpr int PS = TC_KEYS / 16;        // k-steps of O += P V (over keys)
    static constexpr int KROW = HSMAX + TC_PAD;    // k_s[key][dim]
    static constexpr int VROW = TC_KEYS + TC_PAD;  // vt_s[dim][key]
    static constexpr int CHUNKS = HSMAX / 8;       // 16-byte chunks of one key's dims
};

// Two 16-bit elements as one 32-bit register, lo in the low half.
template <typename T>
__host__ __device__ __forceinline__ uint32_t pack2(float lo, float hi) {
#ifdef __CUDA_ARCH__
    // One cvt.rn.{bf16x2,f16x2}.f32 for the pair (the same round-to-nearest-even as store_f32).
    if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<const uint32_t*>(&h);
    } else if constexpr (std::is_same_v<T, __half>) {
        const __half2 h = __floats2half2_rn(lo, hi);
        return *reinterpret_cast<const uint32_t*>(&h);
    }
#endif
    T h[2];
    store_f32(&h[0], lo);
    store_f32(&h[1], hi);
    uint32_t u;
    memcpy(&u, h, sizeof(u));
    return u;
}

// The 32-bit word at p (2 elements; p 4-byte aligned).
template <typename T>
__host__ __device__ __forceinline__ uint32_t load_pair(const T* p) {
#ifdef __CUDA_ARCH__
    return *reinterpret_cast<const uint32_t*>(p);
#else
#ifdef DBC_EMULATE
    DBC_EMU_ALIGNED(p, 4);
#endif
    uint32_t u;
    memcpy(&u, p, sizeof(u));
    return u;
#endif
}

template <typename T>
__host__ __device__ __forceinline__ void store_pair(T* p, uint32_t u) {
#ifdef __CUDA_ARCH__
    *reinterpret_cast<uint32_t*>(p) = u;
#else
#ifdef DBC_EMULATE
    DBC_EMU_ALIGNED(p, 4);
#endif
    memcpy(p, &u, sizeof(u));
#endif
}

// 8 elements (16 bytes) in registers: what one 16-byte load brings.
struct alignas(16) Pack8 {
    uint32_t w[4];
};

// 8 elements from src (16-byte aligned).
template <typename T>
__host__ __device__ __forceinline__ Pack8 load8(const T* src) {
    Pack8 p;
#ifdef __CUDA_ARCH__
    const uint4 u = *reinterpret_cast<const uint4*>(src);
    p.w[0] = u.x, p.w[1] = u.y, p.w[2] = u.z, p.w[3] = u.w;
#else
#ifdef DBC_EMULATE
    DBC_EMU_ALIGNED(src, 16);
#endif
    memcpy(p.w, src, sizeof(p.w));
#endif
    return p;
}

// 8 elements to dst (16-byte aligned).
template <typename T>
__host__ __device__ __forceinline__ void store8(T* dst, const Pack8& p) {
#ifdef __CUDA_ARCH__
    *reinterpret_cast<uint4*>(dst) = make_uint4(p.w[0], p.w[1], p.w[2], p.w[3]);
#else
#ifdef DBC_EMULATE
    DBC_EMU_ALIGNED(dst, 16);
#endif
    memcpy(dst, p.w, sizeof(p.w));
#endif
}

// Element x (0..7) of a Pack8.
template <typename T>
__host__ __device__ __forceinline__ T element8(const Pack8& p, int x) {
    T h[2];
    memcpy(h, &p.w[x >> 1], sizeof(h));
    return h[x & 1];
}

// exp(x) in base 2 for a running max m (both already multiplied by log2(e)); m = -inf as in
// exp_shift: the shift is then 0.
__host__ __device__ __forceinline__ float exp2_shift(float s, float m) { return exp2f(s - max_shift(m)); }

// --- the per-lane steps (host and device) -------------------------------------------------------

// Q rows row0 .. row0+15 (relative to the sequence) as A fragments; rows past len and dims past
// HS are 0.
template <int HSMAX, typename T>
__host__ __device__ __forceinline__ void tc_load_q(uint32_t (&qa)[TcTile<HSMAX>::KS][4], const T* q, int64_t ld,
                                                   int64_t start, int64_t col, int row0, int len, int HS, int lane) {
#pragma unroll
    for (int ks = 0; ks < TcTile<HSMAX>::KS; ks++) {
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const int row = row0 + Frag::a_row(lane, 2 * r);
            const int d = 16 * ks + Frag::a_col(lane, 2 * r);  // even; HS % 8 == 0, so d+1 < HS with d
            float lo = 0.0f, hi = 0.0f;
            if (row < len && d < HS) {
                const T* p = q + (start + row) * ld + col + d;
                lo = load_f32(p);
                hi = load_f32(p + 1);
            }
            qa[ks][r] = pack2<T>(lo, hi);
        }
    }
}

// Thread tid's share of staging keys j0 .. j0+63: K row-major into k_s, V transposed into vt_s,
// zeros past the last key and past HS. K by consecutive dims per thread (coalesced rows), V by
// consecutive keys (so that the transposed 16-bit stores of a warp fall in distinct words).
template <int HSMAX, typename T>
__host__ __device__ __forceinline__ void tc_stage(T (*k_s)[TcTile<HSMAX>::KROW], T (*vt_s)[TcTile<HSMAX>::VROW],
                                                  const T* k, const T* v, int64_t ld, int64_t start, int64_t col,
                                                  int j0, int keys, int HS, int tid) {
    using L = TcTile<HSMAX>;
    const Pack8 zero = {{0u, 0u, 0u, 0u}};  // +0.0 in bf16 and f16
    for (int e = tid; e < TC_KEYS * L::CHUNKS; e += TC_BLOCK) {
        const int r = e / L::CHUNKS, d = 8 * (e % L::CHUNKS);
        const bool valid = j0 + r < keys && d < HS;
        store8(&k_s[r][d], valid ? load8(k + (start + j0 + r) * ld + col + d) : zero);
    }
    for (int e = tid; e < TC_KEYS * L::CHUNKS; e += TC_BLOCK) {
        const int r = e % TC_KEYS, d = 8 * (e / TC_KEYS);
        const bool valid = j0 + r < keys && d < HS;
        const Pack8 chunk = valid ? load8(v + (start + j0 + r) * ld + col + d) : zero;
#pragma unroll
        for (int x = 0; x < 8; x++) vt_s[d + x][r] = element8<T>(chunk, x);
    }
}

// A B fragment from a shared tile stored n-major (row n holds that column's k values): columns
// n0 .. n0+7, k values k0 .. k0+15. Kᵀ for S = Q Kᵀ is k_s (n = key, k = dim); V for O += P V is
// vt_s (n = dim, k = key).
template <int ROW, typename T>
__host__ __device__ __forceinline__ void tc_b_frag(uint32_t (&b)[2], const T (*tile)[ROW], int n0, int k0, int lane) {
    const T* row = tile[n0 + Frag::b_n(lane)] + k0;
    b[0] = load_pair(row + Frag::b_k(lane, 0));
    b[1] = load_pair(row + Frag::b_k(lane, 2));
}

// The raw dot products of the tile into base-2 scores: scale_log2 · dot, 0 in the uniform case,
// -inf past the last key. Returns this lane's max of its two rows' scores.
template <int NT>
__host__ __device__ __forceinline__ void tc_scores(float (&s)[NT][4], float (&mt)[2], int j0, AttnKeys keys,
                                                   float scale_log2, int lane) {
    mt[0] = mt[1] = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int j = j0 + 8 * nt + Frag::c_col(lane, i);
            const float x = j >= keys.count ? -INFINITY : keys.uniform ? 0.0f : scale_log2 * s[nt][i];
            s[nt][i] = x;
            mt[i >> 1] = fmaxf(mt[i >> 1], x);
        }
    }
}

// The online-softmax update of one tile, after mt holds the row maxima over the 4 lanes of each
// row: rescales l and o by alpha = exp2(m - m_new), turns s into p = exp2(s - m_new) and adds
// this lane's p to l.
template <int NT, int DT>
__host__ __device__ __forceinline__ void tc_softmax(float (&s)[NT][4], float (&o)[DT][4], float (&m)[2],
                                                    float (&l)[2], const float (&mt)[2]) {
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const float m_new = fmaxf(m[r], mt[r]);
        const float alpha = exp2_shift(m[r], m_new);
        m[r] = m_new;
        l[r] *= alpha;
#pragma unroll
        for (int dt = 0; dt < DT; dt++) {
            o[dt][2 * r] *= alpha;
            o[dt][2 * r + 1] *= alpha;
        }
    }
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const float p = exp2_shift(s[nt][i], m[i >> 1]);
            s[nt][i] = p;
            l[i >> 1] += p;
        }
    }
}

// The A fragment of P for keys 16·kk .. 16·kk+15: the accumulators of key tiles 2kk and 2kk+1
// (rows g and g+8, columns 2t, 2t+1 and 8 + 2t, 8 + 2t+1), rounded to T.
template <typename T, int NT>
__host__ __device__ __forceinline__ void tc_p_frag(uint32_t (&pa)[4], const float (&p)[NT][4], int kk) {
    pa[0] = pack2<T>(p[2 * kk][0], p[2 * kk][1]);
    pa[1] = pack2<T>(p[2 * kk][2], p[2 * kk][3]);
    pa[2] = pack2<T>(p[2 * kk + 1][0], p[2 * kk + 1][1]);
    pa[3] = pack2<T>(p[2 * kk + 1][2], p[2 * kk + 1][3]);
}

// out = o · head_mask / l for the lane's rows below len and dims below HS, in pairs; l is the
// row's full sum (the 4 lanes' parts added).
template <int DT, typename T>
__host__ __device__ __forceinline__ void tc_store(T* out, const float (&o)[DT][4], const float (&l)[2], float mask,
                                                  int64_t C, int64_t start, int64_t col, int row0, int len, int HS,
                                                  int lane) {
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int row = row0 + Frag::c_row(lane, 2 * r);
        if (row >= len) continue;
        const float f = attn_norm(l[r], mask);
        T* o_row = out + (start + row) * C + col;
#pragma unroll
        for (int dt = 0; dt < DT; dt++) {
            const int d = 8 * dt + Frag::c_col(lane, 2 * r);  // even
            if (d < HS) store_pair(o_row + d, pack2<T>(o[dt][2 * r] * f, o[dt][2 * r + 1] * f));
        }
    }
}

}  // namespace dbc

#ifndef DBC_HOST_CHECK

namespace dbc {

// D = A·B + D for one m16n8k16 tile, float32 accumulation; AB names the operands' type.
#define DBC_MMA_16816(AB, d, a, b)                                                                    \
    asm("mma.sync.aligned.m16n8k16.row.col.f32." AB "." AB ".f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, " \
        "{%8, %9}, {%0, %1, %2, %3};"                                                                 \
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                              \
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]))

template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    static_assert(std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>, "bf16 or f16 operands");
#ifdef DBC_EMULATE  // the host kernel emulator (kernels-cu/src/test/emu): a warp-wide exchange
    ::emu::mma_16816(d, a, b, std::is_same_v<T, __nv_bfloat16>, __LINE__);
    return;
#endif
    if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        DBC_MMA_16816("bf16", d, a, b);
    } else {
        DBC_MMA_16816("f16", d, a, b);
    }
}

template <int HSMAX, typename T>
__device__ __forceinline__ void attention_tc_forward(T* out, const T* q, const T* k, const T* v, int ld,
                                                     const T* head_mask, const int* cu_seqlens, const int* key_lens,
                                                     int NH, int HS, float scale) {
    using L = TcTile<HSMAX>;
    __shared__ __align__(16) T k_s[TC_KEYS][L::KROW];
    __shared__ __align__(16) T vt_s[HSMAX][L::VROW];

    const AttnBlock b = attn_block(cu_seqlens, key_lens, TC_QUERIES, NH, HS);
    if (b.i0 >= b.len) return;  // the whole block, before any barrier
    const int h = b.h, start = b.start, len = b.len, i0 = b.i0;
    const AttnKeys keys = b.keys;
    const int64_t C = b.C, col = b.col;
    const int tid = threadIdx.x, lane = tid % WARP_SIZE;
    const int row0 = i0 + TC_ROWS * (tid / WARP_SIZE);
    const bool warp_active = row0 < len;  // warp-uniform
    const float scale_log2 = scale * 1.4426950408889634f;

    uint32_t qa[L::KS][4];
    tc_load_q<HSMAX>(qa, q, ld, start, col, row0, len, HS, lane);
    float o[L::DT][4];
#pragma unroll
    for (int dt = 0; dt < L::DT; dt++) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

    for (int j0 = 0; j0 < keys.count; j0 += TC_KEYS) {
        tc_stage<HSMAX>(k_s, vt_s, k, v, ld, start, col, j0, keys.count, HS, tid);
        __syncthreads();
        if (warp_active) {
            float sc[L::NT][4];
#pragma unroll
            for (int nt = 0; nt < L::NT; nt++) {
                sc[nt][0] = sc[nt][1] = sc[nt][2] = sc[nt][3] = 0.0f;
#pragma unroll
                for (int ks = 0; ks < L::KS; ks++) {
                    uint32_t b[2];
                    tc_b_frag(b, k_s, 8 * nt, 16 * ks, lane);
                    mma_16816<T>(sc[nt], qa[ks], b);
                }
            }
            float mt[2];
            tc_scores(sc, mt, j0, keys, scale_log2, lane);
#pragma unroll
            for (int r = 0; r < 2; r++) {  // the 4 lanes of a row: t = 0..3 of one group
                mt[r] = fmaxf(mt[r], __shfl_xor_sync(FULL_MASK, mt[r], 1));
                mt[r] = fmaxf(mt[r], __shfl_xor_sync(FULL_MASK, mt[r], 2));
            }
            tc_softmax(sc, o, m, l, mt);
#pragma unroll
            for (int kk = 0; kk < L::PS; kk++) {
                uint32_t pa[4];
                tc_p_frag<T>(pa, sc, kk);
#pragma unroll
                for (int dt = 0; dt < L::DT; dt++) {
                    uint32_t b[2];
                    tc_b_frag(b, vt_s, 8 * dt, 16 * kk, lane);
                    mma_16816<T>(o[dt], pa, b);
                }
            }
        }
        __syncthreads();  // the tile is consumed before the next one overwrites it
    }

    if (warp_active) {
#pragma unroll
        for (int r = 0; r < 2; r++) {
            l[r] += __shfl_xor_sync(FULL_MASK, l[r], 1);
            l[r] += __shfl_xor_sync(FULL_MASK, l[r], 2);
        }
        tc_store(out, o, l, head_mask ? load_f32(head_mask + h) : 1.0f, C, start, col, row0, len, HS, lane);
    }
}

}  // namespace dbc

#define DBC_ATTENTION_TC(HSMAX, SUFFIX, T)                                                                       \
    extern "C" __global__ void __launch_bounds__(dbc::TC_BLOCK)                                                  \
    attention_tc_forward_hs##HSMAX##_##SUFFIX(T* out, const T* q, const T* k, const T* v, int ld,                \
                                              const T* head_mask, const int* cu_seqlens, const int* key_lens,    \
                                              int num_seqs, int NH, int HS, float scale) {                       \
        dbc::attention_tc_forward<HSMAX, T>(out, q, k, v, ld, head_mask, cu_seqlens, key_lens, NH, HS, scale);   \
    }

DBC_ATTENTION_TC(32, bf16, __nv_bfloat16)
DBC_ATTENTION_TC(64, bf16, __nv_bfloat16)
DBC_ATTENTION_TC(128, bf16, __nv_bfloat16)
DBC_ATTENTION_TC(32, f16, __half)
DBC_ATTENTION_TC(64, f16, __half)
DBC_ATTENTION_TC(128, f16, __half)

#endif  // DBC_HOST_CHECK
