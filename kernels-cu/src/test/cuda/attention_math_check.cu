// attention_math_check.cu — attention.cu's two algorithms run on the host, against a naive
// softmax attention in double.
//
// attention_forward is emulated block by block and thread by thread, as the grid would run it:
// 128 threads of 32 queries x 4 parts, the K/V tiles staged with the kernel's shared-memory
// layout (AttnTile::at) into arrays that start as NaN (so a read of anything not staged poisons
// the result), the 4 parts' partial dot products combined in the order of the two
// __shfl_xor_sync, the keys in steps of ATTN_STEP_KEYS (the last step of a sequence partly past
// its keys), the kernel's own attn_keys, attn_score, softmax_tile (online softmax) and
// attn_norm, and the output stored through store_f32. Every output element must be written
// exactly once (threads past len write nothing). attention_probs_forward is emulated warp by
// warp: per-lane softmax_push, the shfl_xor butterfly of softmax_merge, lane 0's result, the
// probabilities stored to T at probs_offsets, out from the stored probabilities.
//
// The batches are ragged: sequences of length 0, 1, 5, 31, 32, 33, 70, 100 with key_lens below,
// equal to and 0 (the uniform case), null key_lens, head_mask null and with 0 and 0.5, HS from 8
// to 256 on every HSMAX, and two score regimes: "mild" (scores about N(0, 0.3)) and "sharp"
// (scores up to about 60, and the keys' magnitude growing along the sequence, so that the running
// max changes from tile to tile and the online rescaling is exercised). Every batch runs in both
// operand layouts of the ABI: q, k, v interleaved in one [T, 3C] buffer as the fused projection
// writes it (ld = 3C, the model's layout), and three separate [T, C] buffers (ld = C); both must
// match the reference, and each other bit for bit (the same arithmetic on the same values).
//
// Runs without a GPU (check-kernel-math). It checks the algorithm, the indexing and the algebra,
// not the device's expf or its fused multiply-adds; the GPU parity tests check those.
#define DBC_HOST_CHECK  // the scalar math only: no entry points compiled for a device
#include "attention.cu"

#include "attention_reference.cuh"
#include "check.cuh"

#include <algorithm>
#include <vector>

namespace {

using check::Random;
using check::Tally;
using check::fmt;

template <typename T>
struct Batch : check::Ragged {
    int NH, HS;
    std::vector<T> head_mask;   // [NH] or empty (null)
    std::vector<T> q, k, v;     // [T, C] each; Operands interleaves them for ld = 3C
    int C() const { return NH * HS; }
    const T* head_mask_ptr() const { return head_mask.empty() ? nullptr : head_mask.data(); }
    float scale() const { return 1.0f / std::sqrt((float)HS); }
};

// q, k, v as the kernels take them: pointers and the row stride ld. Separate: the batch's three
// [T, C] buffers, ld = C. Fused: one [T, 3C] buffer whose row t is [q_t | k_t | v_t], as the
// fused q/k/v projection writes it; q, k, v point at its columns 0, C, 2C and ld = 3C.
template <typename T>
struct Operands {
    bool fused;
    std::vector<T> qkv;  // fused only
    const T *q, *k, *v;
    int ld;
    Operands(const Batch<T>& b, bool fused) : fused(fused) {
        const int C = b.C();
        if (!fused) {
            q = b.q.data(), k = b.k.data(), v = b.v.data(), ld = C;
            return;
        }
        ld = 3 * C;
        qkv.resize((size_t)b.tokens() * ld);
        for (int t = 0; t < b.tokens(); t++)
            for (int c = 0; c < C; c++) {
                qkv[(size_t)t * ld + c] = b.q[(size_t)t * C + c];
                qkv[(size_t)t * ld + C + c] = b.k[(size_t)t * C + c];
                qkv[(size_t)t * ld + 2 * C + c] = b.v[(size_t)t * C + c];
            }
        q = qkv.data(), k = q + C, v = q + 2 * C;
    }
    Operands(const Operands&) = delete;  // q, k, v point into qkv
    const char* name() const { return fused ? "ld=3C" : "ld=C"; }
};

// The keys of sequence s and whether it is the uniform case, from the definition (not attn_keys).
void ref_keys(const int* key_lens, int s, int len, int* count, bool* uniform) {
    int keys = key_lens ? key_lens[s] : len;
    *uniform = keys == 0;
    *count = keys == 0 ? len : keys;
}

// probs_offsets as the launcher computes them: NH * sum over earlier sequences of len * keys.
template <typename T>
std::vector<long long> probs_offsets(const Batch<T>& b, long long* total) {
    std::vector<long long> off(b.num_seqs());
    long long at = 0;
    for (int s = 0; s < b.num_seqs(); s++) {
        int len = b.cu[s + 1] - b.cu[s], count;
        bool uniform;
        ref_keys(b.key_lens_ptr(), s, len, &count, &uniform);
        off[s] = at;
        at += (long long)b.NH * len * count;
    }
    *total = at;
    return off;
}

// Naive attention in double over the T-rounded inputs, and what float32 can promise about it.
//   out [T, C]; probs in the order s, h, i, j (the layout that probs_offsets describes).
//   kappa, probs_kappa (per out element, per probability): the relative error that float32
//   scores pass on to the probabilities (check::softmax_row).
//   pv [T, C]: sum_j p_j |v_jd|, the scale of out's error (out may cancel to near 0).
struct Reference {
    std::vector<double> out, kappa, pv;  // [T, C]
    std::vector<double> probs, probs_kappa;
};
template <typename T>
Reference reference(const Batch<T>& b) {
    Reference r;
    std::vector<double>&out = r.out, &kappa = r.kappa, &pv = r.pv, &probs = r.probs, &probs_kappa = r.probs_kappa;
    const int C = b.C(), HS = b.HS;
    const double scale = b.scale();
    out.assign((size_t)b.tokens() * C, NAN);
    kappa.assign(out.size(), NAN);
    pv.assign(out.size(), NAN);
    probs.clear();
    for (int s = 0; s < b.num_seqs(); s++) {
        const int start = b.cu[s], len = b.cu[s + 1] - start;
        int nk;
        bool uniform;
        ref_keys(b.key_lens_ptr(), s, len, &nk, &uniform);
        for (int h = 0; h < b.NH; h++) {
            const double mask = b.head_mask.empty() ? 1.0 : dbc::load_f32(&b.head_mask[h]);
            for (int i = 0; i < len; i++) {
                check::SoftmaxRow row = check::softmax_row(nk, uniform, scale, HS, [&](int j, int d) {
                    return (double)dbc::load_f32(&b.q[(size_t)(start + i) * C + h * HS + d]) *
                           dbc::load_f32(&b.k[(size_t)(start + j) * C + h * HS + d]);
                });
                std::vector<double>& p = row.p;
                const double kap = row.kappa;
                for (double& e : p) {
                    probs.push_back(e *= mask);
                    probs_kappa.push_back(kap);
                }
                for (int d = 0; d < HS; d++) {
                    double acc = 0, acc_abs = 0;
                    for (int j = 0; j < nk; j++) {
                        double x = p[j] * dbc::load_f32(&b.v[(size_t)(start + j) * C + h * HS + d]);
                        acc += x;
                        acc_abs += std::fabs(x);
                    }
                    const size_t e = (size_t)(start + i) * C + h * HS + d;
                    out[e] = acc;
                    pv[e] = acc_abs;
                    kappa[e] = kap;
                }
            }
        }
    }
    return r;
}

// attention_forward_hs<HSMAX> as the grid runs it. writes[] counts the stores into each element of out.
template <int HSMAX, typename T>
void attention_forward_host(T* out, std::vector<int>& writes, const T* q, const T* k, const T* v, int ld,
                            const T* head_mask, const int* cu_seqlens, const int* key_lens, int num_seqs, int NH,
                            int HS, float scale, int max_len) {
    using L = dbc::AttnTile<HSMAX>;
    constexpr int KT = L::KT, DP = L::DP, SUB = dbc::ATTN_STEP_KEYS, NT = dbc::ATTN_BLOCK,
                  W = dbc::ATTN_THREADS_PER_QUERY;
    static float k_tile[KT][L::ROW], v_tile[KT][L::ROW];
    static float qr[NT][DP], acc[NT][DP], m[NT], l[NT], p[NT][SUB], dot[NT], dot1[NT];
    const int grid_x = dbc::ceil_div(max_len, dbc::ATTN_QUERIES);
    for (int s = 0; s < num_seqs; s++)
        for (int h = 0; h < NH; h++)
            for (int bx = 0; bx < grid_x; bx++) {
                // --- one block ---
                for (auto& row : k_tile) std::fill(std::begin(row), std::end(row), NAN);  // unstaged shared memory
                for (auto& row : v_tile) std::fill(std::begin(row), std::end(row), NAN);
                const int start = cu_seqlens[s];
                const int len = cu_seqlens[s + 1] - start;
                const int i0 = bx * dbc::ATTN_QUERIES;
                if (i0 >= len) continue;
                const dbc::AttnKeys keys = dbc::attn_keys(len, key_lens ? key_lens[s] : len);
                const int64_t C = (int64_t)NH * HS, col = (int64_t)h * HS;  // C: out's row stride
                for (int tid = 0; tid < NT; tid++) {
                    const int part = tid % W, i = i0 + tid / W;
                    const bool active = i < len;
                    const int64_t row = start + (active ? i : i0);
                    for (int jj = 0; jj < DP; jj++) {
                        const int d = part + W * jj;
                        qr[tid][jj] = active && d < HS ? dbc::load_f32(q + row * ld + col + d) : 0.0f;
                        acc[tid][jj] = 0.0f;
                    }
                    m[tid] = -INFINITY;
                    l[tid] = 0.0f;
                }
                for (int j0 = 0; j0 < keys.count; j0 += KT) {
                    for (int tid = 0; tid < NT; tid++)
                        for (int e = tid; e < KT * HSMAX; e += NT) {
                            const int r = e / HSMAX, d = e % HSMAX;
                            float kv = 0.0f, vv = 0.0f;
                            if (j0 + r < keys.count && d < HS) {
                                const int64_t off = (start + j0 + r) * (int64_t)ld + col + d;
                                kv = dbc::load_f32(k + off);
                                vv = dbc::load_f32(v + off);
                            }
                            k_tile[r][L::at(d)] = kv;
                            v_tile[r][L::at(d)] = vv;
                        }
                    // __syncthreads()
                    for (int r0 = 0; r0 < KT && j0 + r0 < keys.count; r0 += SUB) {
                        for (int r = 0; r < SUB; r++) {
                            for (int tid = 0; tid < NT; tid++) {
                                const float* kr = &k_tile[r0 + r][(tid % W) * L::ROW_PART];
                                float x = 0.0f;
                                for (int jj = 0; jj < DP; jj++) x += qr[tid][jj] * kr[jj];
                                dot[tid] = x;
                            }
                            for (int tid = 0; tid < NT; tid++) dot1[tid] = dot[tid] + dot[tid ^ 1];  // shfl_xor 1
                            for (int tid = 0; tid < NT; tid++) dot[tid] = dot1[tid] + dot1[tid ^ 2];  // shfl_xor 2
                            for (int tid = 0; tid < NT; tid++)
                                p[tid][r] = dbc::attn_score(dot[tid], scale, keys.uniform, j0 + r0 + r < keys.count);
                        }
                        for (int tid = 0; tid < NT; tid++) {
                            const float alpha = dbc::softmax_tile<SUB>(m[tid], l[tid], p[tid]);
                            for (int jj = 0; jj < DP; jj++) acc[tid][jj] *= alpha;
                            for (int r = 0; r < SUB; r++) {
                                const float* vr = &v_tile[r0 + r][(tid % W) * L::ROW_PART];
                                for (int jj = 0; jj < DP; jj++) acc[tid][jj] += p[tid][r] * vr[jj];
                            }
                        }
                    }
                    // __syncthreads(); the tile's contents stay for the next one to overwrite
                }
                for (int tid = 0; tid < NT; tid++) {
                    const int part = tid % W, i = i0 + tid / W;
                    if (i >= len) continue;
                    const float f = dbc::attn_norm(l[tid], head_mask ? dbc::load_f32(head_mask + h) : 1.0f);
                    const int64_t base = (start + i) * C + col;
                    for (int jj = 0; jj < DP; jj++) {
                        const int d = part + W * jj;
                        if (d < HS) {
                            dbc::store_f32(out + base + d, acc[tid][jj] * f);
                            writes[base + d]++;
                        }
                    }
                }
            }
}

// attention_probs_forward as the grid runs it, warp by warp.
template <typename T>
void attention_probs_forward_host(T* out, T* probs, const T* q, const T* k, const T* v, int ld, const T* head_mask,
                                  const int* cu_seqlens, const int* key_lens, const long long* probs_offsets,
                                  int num_seqs, int NH, int HS, float scale, int max_len) {
    constexpr int WS = dbc::WARP_SIZE;
    const int grid_x = dbc::ceil_div(max_len, dbc::PROBS_QUERIES);
    for (int s = 0; s < num_seqs; s++)
        for (int h = 0; h < NH; h++)
            for (int bx = 0; bx < grid_x; bx++)
                for (int w = 0; w < dbc::PROBS_QUERIES; w++) {
                    const int i = bx * dbc::PROBS_QUERIES + w;
                    const int start = cu_seqlens[s];
                    const int len = cu_seqlens[s + 1] - start;
                    if (i >= len) continue;
                    const dbc::AttnKeys keys = dbc::attn_keys(len, key_lens ? key_lens[s] : len);
                    const int64_t C = (int64_t)NH * HS, col = (int64_t)h * HS;  // C: out's row stride
                    const T* q_row = q + (start + i) * (int64_t)ld + col;
                    T* p_row = probs + probs_offsets[s] + ((int64_t)h * len + i) * keys.count;
                    float m[WS], l[WS], m2[WS], l2[WS];
                    for (int lane = 0; lane < WS; lane++) {
                        m[lane] = -INFINITY;
                        l[lane] = 0.0f;
                        for (int j = lane; j < keys.count; j += WS) {
                            const float dot =
                                keys.uniform ? 0.0f : dbc::dot_row(q_row, k + (start + j) * (int64_t)ld + col, HS);
                            dbc::softmax_push(m[lane], l[lane], dbc::attn_score(dot, scale, keys.uniform, true));
                        }
                    }
                    for (int o = WS / 2; o > 0; o >>= 1) {
                        for (int lane = 0; lane < WS; lane++) m2[lane] = m[lane ^ o], l2[lane] = l[lane ^ o];
                        for (int lane = 0; lane < WS; lane++) dbc::softmax_merge(m[lane], l[lane], m2[lane], l2[lane]);
                    }
                    const float mx = m[0], sum = l[0];  // __shfl_sync(..., 0)
                    const float f = dbc::attn_norm(sum, head_mask ? dbc::load_f32(head_mask + h) : 1.0f);
                    for (int lane = 0; lane < WS; lane++)
                        for (int j = lane; j < keys.count; j += WS) {
                            const float dot =
                                keys.uniform ? 0.0f : dbc::dot_row(q_row, k + (start + j) * (int64_t)ld + col, HS);
                            dbc::store_f32(p_row + j, dbc::exp_shift(dbc::attn_score(dot, scale, keys.uniform, true), mx) * f);
                        }
                    // __syncwarp()
                    T* o = out + (start + i) * C + col;
                    for (int lane = 0; lane < WS; lane++)
                        for (int d = lane; d < HS; d += WS) {
                            float acc = 0.0f;
                            for (int j = 0; j < keys.count; j++)
                                acc += dbc::load_f32(p_row + j) * dbc::load_f32(v + (start + j) * (int64_t)ld + col + d);
                            dbc::store_f32(o + d, acc);
                        }
                }
}

struct Shape {
    std::vector<int> lens, key_lens;  // key_lens empty: null
    bool head_mask;
};

template <typename T>
Batch<T> make_batch(const Shape& sh, int NH, int HS, bool sharp, Random& rnd) {
    Batch<T> b;
    b.NH = NH;
    b.HS = HS;
    b.cu = {0};
    for (int len : sh.lens) b.cu.push_back(b.cu.back() + len);
    b.key_lens = sh.key_lens;
    if (sh.head_mask) {
        const float hm[] = {1.0f, 0.0f, 0.5f, 2.0f};
        for (int h = 0; h < NH; h++) {
            b.head_mask.emplace_back();
            dbc::store_f32(&b.head_mask.back(), hm[h % 4]);
        }
    }
    const size_t n = (size_t)b.tokens() * b.C();
    b.q.resize(n);
    b.k.resize(n);
    b.v.resize(n);
    for (int s = 0; s < b.num_seqs(); s++)
        for (int t = b.cu[s]; t < b.cu[s + 1]; t++) {
            // sharp: |q| up to 8 and |k| growing along the sequence, so later tiles raise the max.
            const float qs = sharp ? 8.0f : 1.0f, ks = sharp ? 0.5f + (t - b.cu[s]) / 16.0f : 1.0f;
            for (int c = 0; c < b.C(); c++) {
                const size_t e = (size_t)t * b.C() + c;
                dbc::store_f32(&b.q[e], qs * rnd.uniform(-1, 1));
                dbc::store_f32(&b.k[e], ks * rnd.uniform(-1, 1));
                dbc::store_f32(&b.v[e], rnd.uniform(-1, 1));
            }
        }
    return b;
}

template <int HSMAX, typename T>
long check_hsmax(const std::vector<int>& head_sizes) {
    const char* tn = check::type_name<T>();
    // Tolerance abs + rel·|ref|: rel = the final rounding to T; abs = 1e-6 + (1e-5 + kappa)·pv,
    // float32 arithmetic and the scores' error (reference()) on the scale of out's terms.
    const double rel_t = 2 * check::half_ulp<T>();
    Tally to[2] = {Tally(fmt("attention_forward_hs%d_%s out (mild)", HSMAX, tn), 0, rel_t),
                   Tally(fmt("attention_forward_hs%d_%s out (sharp)", HSMAX, tn), 0, rel_t)};
    Tally tw(fmt("attention_forward_hs%d_%s writes", HSMAX, tn), 0, 0);
    Tally tl(fmt("attention_forward_hs%d_%s ld=3C == ld=C", HSMAX, tn), 0, 0);
    Random rnd(1234 + HSMAX);
    // Lengths and key counts: shorter than, equal to and longer than a tile; key_lens < len, == len,
    // == 0 (uniform), 1; an empty sequence.
    const std::vector<Shape> shapes = {
        {{5, 0, 33, 70, 1, 32, 100, 31}, {3, 0, 33, 0, 1, 20, 64, 0}, true},
        {{5, 33, 70, 1, 32, 100}, {}, false},
        {{70, 100, 17}, {70, 99, 0}, false},
    };
    for (int HS : head_sizes)
        for (const Shape& sh : shapes)
            for (int sharp = 0; sharp < 2; sharp++) {
                const int NH = 3;
                Batch<T> b = make_batch<T>(sh, NH, HS, sharp, rnd);
                const Reference ref = reference(b);
                std::vector<T> outs[2];  // ld = C, ld = 3C
                for (int fused = 0; fused < 2; fused++) {
                    const Operands<T> in(b, fused);
                    std::vector<T>& out = outs[fused];
                    out.resize(b.q.size());
                    std::vector<int> writes(out.size(), 0);
                    attention_forward_host<HSMAX, T>(out.data(), writes, in.q, in.k, in.v, in.ld, b.head_mask_ptr(),
                                                     b.cu.data(), b.key_lens_ptr(), b.num_seqs(), NH, HS, b.scale(),
                                                     b.max_len());
                    for (int t = 0; t < b.tokens(); t++)
                        for (int c = 0; c < b.C(); c++) {
                            const size_t e = (size_t)t * b.C() + c;
                            auto where = [&] {
                                int s = 0;
                                while (b.cu[s + 1] <= t) s++;
                                return fmt("%s HS=%d shape %d s=%d i=%d h=%d d=%d", in.name(), HS,
                                           (int)(&sh - shapes.data()), s, t - b.cu[s], c / HS, c % HS);
                            };
                            tw.expect(writes[e] == 1, [&] { return where() + fmt(" written %d times", writes[e]); });
                            to[sharp].add(dbc::load_f32(&out[e]), ref.out[e], 1e-6 + (1e-5 + ref.kappa[e]) * ref.pv[e],
                                          where);
                            if (fused)
                                tl.add(dbc::load_f32(&out[e]), dbc::load_f32(&outs[0][e]), [&] { return where(); });
                        }
                }
            }
    return to[0].report() + to[1].report() + tw.report() + tl.report();
}

template <typename T>
long check_probs() {
    const char* tn = check::type_name<T>();
    const double rel_t = 2 * check::half_ulp<T>();
    // As check_hsmax; out is computed from the probabilities as stored, so for bf16/f16 it also
    // carries their rounding: rel_t on the scale of out's terms. The probabilities: relative
    // 1e-5 + kappa + rel_t, absolute 1e-7 (f16's subnormals end at 6e-8).
    Tally to[2] = {Tally(fmt("attention_probs_forward_%s out (mild)", tn), 0, rel_t),
                   Tally(fmt("attention_probs_forward_%s out (sharp)", tn), 0, rel_t)};
    Tally tp[2] = {Tally(fmt("attention_probs_forward_%s probs (mild)", tn), 1e-7, 0),
                   Tally(fmt("attention_probs_forward_%s probs (sharp)", tn), 1e-7, 0)};
    Tally tl(fmt("attention_probs_forward_%s ld=3C == ld=C", tn), 0, 0);
    Random rnd(99);
    const std::vector<Shape> shapes = {
        {{5, 0, 33, 70, 1, 32, 100, 31}, {3, 0, 33, 0, 1, 20, 64, 0}, true},
        {{5, 33, 70, 1, 32, 100}, {}, false},
    };
    for (int HS : {8, 33, 64, 100})
        for (const Shape& sh : shapes)
            for (int sharp = 0; sharp < 2; sharp++) {
                const int NH = 3;
                Batch<T> b = make_batch<T>(sh, NH, HS, sharp, rnd);
                const Reference ref = reference(b);
                long long total;
                std::vector<long long> offsets = probs_offsets(b, &total);
                std::vector<T> outs[2], probss[2];  // ld = C, ld = 3C
                for (int fused = 0; fused < 2; fused++) {
                    const Operands<T> in(b, fused);
                    std::vector<T>&out = outs[fused], &probs = probss[fused];
                    out.resize(b.q.size());
                    probs.resize(total);
                    for (auto& e : probs) dbc::store_f32(&e, NAN);
                    attention_probs_forward_host<T>(out.data(), probs.data(), in.q, in.k, in.v, in.ld, b.head_mask_ptr(),
                                                    b.cu.data(), b.key_lens_ptr(), offsets.data(), b.num_seqs(), NH, HS,
                                                    b.scale(), b.max_len());
                    tp[sharp].expect((size_t)total == ref.probs.size(), [&] { return std::string("probs size"); });
                    for (long long e = 0; e < total; e++) {
                        const double want = ref.probs[e];
                        auto where = [&] {
                            return fmt("%s HS=%d shape %d element %lld", in.name(), HS, (int)(&sh - shapes.data()), e);
                        };
                        tp[sharp].add(dbc::load_f32(&probs[e]), want, 1e-7 + (1e-5 + ref.probs_kappa[e] + rel_t) * want,
                                      where);
                        if (fused) tl.add(dbc::load_f32(&probs[e]), dbc::load_f32(&probss[0][e]), where);
                    }
                    for (size_t e = 0; e < out.size(); e++) {
                        auto where = [&] {
                            return fmt("%s HS=%d shape %d token %zu col %zu", in.name(), HS, (int)(&sh - shapes.data()),
                                       e / b.C(), e % b.C());
                        };
                        to[sharp].add(dbc::load_f32(&out[e]), ref.out[e], 1e-6 + (1e-5 + ref.kappa[e] + rel_t) * ref.pv[e],
                                      where);
                        if (fused) tl.add(dbc::load_f32(&out[e]), dbc::load_f32(&outs[0][e]), where);
                    }
                }
            }
    return to[0].report() + to[1].report() + tp[0].report() + tp[1].report() + tl.report();
}

// The step functions at the edges: empty states, all-masked tiles, no NaN from (-inf) - (-inf).
long check_steps() {
    Tally t("online softmax steps at -inf", 0, 0);
    auto ok = [&](bool c, const char* what) { t.expect(c, [&] { return std::string(what); }); };
    ok(dbc::exp_shift(-INFINITY, -INFINITY) == 0.0f, "exp_shift(-inf, -inf) == 0");
    ok(dbc::exp_shift(-INFINITY, 3.0f) == 0.0f, "exp_shift(-inf, 3) == 0");
    ok(dbc::exp_shift(2.0f, 2.0f) == 1.0f, "exp_shift(2, 2) == 1");
    {
        float m = -INFINITY, l = 0.0f, p[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
        float alpha = dbc::softmax_tile<4>(m, l, p);
        ok(m == -INFINITY && l == 0.0f && alpha == 0.0f && p[0] == 0.0f && p[3] == 0.0f,
           "softmax_tile of an all -inf tile on an empty state: m -inf, l 0, alpha 0, p 0");
    }
    {
        float m = 1.0f, l = 2.0f, p[2] = {-INFINITY, -INFINITY};
        float alpha = dbc::softmax_tile<2>(m, l, p);
        ok(m == 1.0f && l == 2.0f && alpha == 1.0f && p[0] == 0.0f, "an all -inf tile leaves the state as it was");
    }
    {
        float m = 0.0f, l = 1.0f, p[2] = {std::log(3.0f), -INFINITY};
        float alpha = dbc::softmax_tile<2>(m, l, p);
        ok(std::fabs(alpha - 1.0f / 3.0f) < 1e-7f && std::fabs(l - (1.0f / 3.0f + 1.0f)) < 1e-6f,
           "a new max rescales: alpha = exp(0 - ln 3)");
    }
    {
        float m = -INFINITY, l = 0.0f;
        dbc::softmax_merge(m, l, -INFINITY, 0.0f);
        ok(m == -INFINITY && l == 0.0f, "softmax_merge of two empty states is empty, not NaN");
        dbc::softmax_merge(m, l, 1.5f, 2.0f);
        ok(m == 1.5f && l == 2.0f, "softmax_merge of empty and (1.5, 2) is (1.5, 2)");
        float m2 = 1.5f, l2 = 2.0f;
        dbc::softmax_merge(m2, l2, -INFINITY, 0.0f);
        ok(m2 == 1.5f && l2 == 2.0f, "softmax_merge of (1.5, 2) and empty is (1.5, 2)");
    }
    {
        float m = -INFINITY, l = 0.0f;
        dbc::softmax_push(m, l, 1.0f);
        dbc::softmax_push(m, l, 3.0f);
        dbc::softmax_push(m, l, 2.0f);
        double want = std::exp(-2.0) + 1.0 + std::exp(-1.0);
        ok(m == 3.0f && std::fabs(l - want) < 1e-6, "softmax_push of 1, 3, 2: max 3, sum e^-2 + 1 + e^-1");
    }
    {
        dbc::AttnKeys a = dbc::attn_keys(7, 0), b2 = dbc::attn_keys(7, 3);
        ok(a.count == 7 && a.uniform && b2.count == 3 && !b2.uniform, "attn_keys: 0 keys -> uniform over len");
        ok(dbc::attn_score(5.0f, 0.5f, false, false) == -INFINITY && dbc::attn_score(5.0f, 0.5f, true, true) == 0.0f &&
               dbc::attn_score(5.0f, 0.5f, false, true) == 2.5f,
           "attn_score: -inf past the keys, 0 when uniform, scale * dot otherwise");
    }
    return t.report();
}

template <typename T>
long check_type() {
    return check_hsmax<32, T>({8, 30, 32}) + check_hsmax<64, T>({33, 64}) + check_hsmax<128, T>({100, 128}) +
           check_hsmax<256, T>({200, 256}) + check_probs<T>();
}

}  // namespace

int main() {
    long bad = check_steps() + check_type<float>() + check_type<__nv_bfloat16>() + check_type<__half>();
    return bad == 0 ? 0 : 1;
}
