// attention_tc_check.cu — attention_tc.cu's kernel run on the host, lane by lane, against a naive
// softmax attention in double.
//
// The emulation follows the kernel's control flow for every block of the grid: the 128 threads
// stage each K/V tile with the kernel's own tc_stage into shared arrays that start as NaN (a read
// of anything not staged, padding included, poisons the result); per warp and lane the kernel's
// tc_load_q, tc_b_frag (K and V fragments), tc_scores, tc_softmax, tc_p_frag and tc_store; the shuffles
// in the kernel's order (xor 1, then xor 2). The one thing emulated from its definition is the
// mma itself: mma_host gathers the 16x16 A, 16x8 B and 16x8 C tiles from the 32 lanes' registers
// through the PTX fragment layouts (Frag), checking that the layout puts every element in exactly
// one lane, multiplies in double, and scatters D back the same way. So a fragment loaded from
// the wrong row or column, a P packed into the wrong register, a key or dim masked wrongly, a
// missed rescale or a wrong row of the group reduction all change the result.
//
// What it cannot see: whether the hardware's layouts are the documented ones (the GPU parity
// tests see that), the device's ex2.approx, and the mma's internal accumulation order.
//
// Bound per output element, from the arithmetic: the probabilities are rounded to T before the
// second product (relative error u = half an ulp of T each, so u·Σ_j p_j|v_j|), out is rounded
// to T once (u·|out|), and the float32 scores carry the error kappa of attention_math_check
// (4·2^-24·sqrt(HS)·scale·max_j Σ_d|q_d k_jd|, passed on to p relatively). Float32 accumulation
// adds far less (2^-20·Σ_j p_j|v_j| covers it).
#define DBC_HOST_CHECK  // the per-lane steps only: no entry points compiled for a device
#include "attention_tc.cu"

#include "attention_reference.cuh"
#include "check.cuh"

#include <algorithm>
#include <cstring>
#include <vector>

namespace {

using check::Random;
using check::Tally;
using check::fmt;
using dbc::Frag;

constexpr int WS = dbc::WARP_SIZE;

template <typename T>
float half_of(uint32_t u, int which) {
    T h[2];
    std::memcpy(h, &u, sizeof(h));
    return dbc::load_f32(&h[which]);
}

// One mma.m16n8k16 of a warp: d[lane] = A·B + d[lane], the tiles read through the layouts.
template <typename T>
void mma_host(float (*d)[4], const uint32_t (*a)[4], const uint32_t (*b)[2], Tally& layout) {
    double A[16][16], B[16][8], Cm[16][8];
    int seen_a[16][16] = {}, seen_b[16][8] = {}, seen_c[16][8] = {};
    for (int lane = 0; lane < WS; lane++) {
        for (int i = 0; i < 8; i++) {
            const int r = Frag::a_row(lane, i), c = Frag::a_col(lane, i);
            A[r][c] = half_of<T>(a[lane][i / 2], i % 2);
            seen_a[r][c]++;
        }
        for (int i = 0; i < 4; i++) {
            const int kk = Frag::b_k(lane, i), n = Frag::b_n(lane);
            B[kk][n] = half_of<T>(b[lane][i / 2], i % 2);
            seen_b[kk][n]++;
        }
        for (int i = 0; i < 4; i++) {
            const int r = Frag::c_row(lane, i), c = Frag::c_col(lane, i);
            Cm[r][c] = d[lane][i];
            seen_c[r][c]++;
        }
    }
    bool once = true;
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) once &= seen_a[r][c] == 1 && (c >= 8 || (seen_b[r][c] == 1 && seen_c[r][c] == 1));
    layout.expect(once, [] { return std::string("a fragment layout covers an element twice or never"); });
    for (int lane = 0; lane < WS; lane++)
        for (int i = 0; i < 4; i++) {
            const int r = Frag::c_row(lane, i), c = Frag::c_col(lane, i);
            double acc = Cm[r][c];
            for (int kk = 0; kk < 16; kk++) acc += A[r][kk] * B[kk][c];
            d[lane][i] = (float)acc;
        }
}

// x[lane] = op(x[lane], x[lane ^ o]) for o = 1, then 2: the kernel's two shuffles.
template <class Op>
void group_reduce(float* x, Op op) {
    float y[WS];
    for (int o = 1; o <= 2; o <<= 1) {
        for (int lane = 0; lane < WS; lane++) y[lane] = op(x[lane], x[lane ^ o]);
        std::copy(y, y + WS, x);
    }
}

struct Problem : check::Ragged {
    int NH, HS, ld;  // ld = C (separate q, k, v) or 3C (one fused buffer)
    std::vector<float> head_mask;
    int C() const { return NH * HS; }
};

// The kernel on the host, every block of the grid (ceil(max_len/64), NH, num_seqs).
template <int HSMAX, typename T>
void attention_tc_host(T* out, const T* q, const T* k, const T* v, const Problem& pb, const T* head_mask,
                       const int* key_lens, Tally& layout) {
    using L = dbc::TcTile<HSMAX>;
    constexpr int W = dbc::TC_WARPS;
    static T k_s[dbc::TC_KEYS][L::KROW], vt_s[HSMAX][L::VROW];
    static uint32_t qa[W][WS][L::KS][4];
    static float o[W][WS][L::DT][4], m[W][WS][2], l[W][WS][2], sc[W][WS][L::NT][4];
    const int NH = pb.NH, HS = pb.HS;
    const int64_t C = pb.C();
    const float scale = 1.0f / std::sqrt((float)HS), scale_log2 = scale * 1.4426950408889634f;
    T nan_t;
    dbc::store_f32(&nan_t, NAN);
    for (int s = 0; s < pb.num_seqs(); s++)
        for (int h = 0; h < NH; h++)
            for (int bx = 0; bx < dbc::ceil_div(pb.max_len(), dbc::TC_QUERIES); bx++) {
                const int start = pb.cu[s], len = pb.cu[s + 1] - start, i0 = bx * dbc::TC_QUERIES;
                if (i0 >= len) continue;
                const dbc::AttnKeys keys = dbc::attn_keys(len, key_lens ? key_lens[s] : len);
                const int64_t col = (int64_t)h * HS;
                for (auto& row : k_s) std::fill(std::begin(row), std::end(row), nan_t);
                for (auto& row : vt_s) std::fill(std::begin(row), std::end(row), nan_t);
                for (int w = 0; w < W; w++)
                    for (int lane = 0; lane < WS; lane++) {
                        dbc::tc_load_q<HSMAX>(qa[w][lane], q, pb.ld, start, col, i0 + 16 * w, len, HS, lane);
                        for (auto& t : o[w][lane]) std::fill(std::begin(t), std::end(t), 0.0f);
                        m[w][lane][0] = m[w][lane][1] = -INFINITY;
                        l[w][lane][0] = l[w][lane][1] = 0.0f;
                    }
                for (int j0 = 0; j0 < keys.count; j0 += dbc::TC_KEYS) {
                    for (int tid = 0; tid < dbc::TC_BLOCK; tid++)
                        dbc::tc_stage<HSMAX>(k_s, vt_s, k, v, pb.ld, start, col, j0, keys.count, HS, tid);
                    // __syncthreads()
                    for (int w = 0; w < W; w++) {
                        if (i0 + 16 * w >= len) continue;  // warp_active
                        uint32_t b[WS][2], pa[WS][4];
                        float mt[WS][2], col_mt[WS];
                        for (int nt = 0; nt < L::NT; nt++) {
                            for (int lane = 0; lane < WS; lane++) std::fill(sc[w][lane][nt], sc[w][lane][nt] + 4, 0.0f);
                            for (int ks = 0; ks < L::KS; ks++) {
                                uint32_t a[WS][4];
                                float d[WS][4];
                                for (int lane = 0; lane < WS; lane++) {
                                    dbc::tc_b_frag(b[lane], k_s, 8 * nt, 16 * ks, lane);
                                    std::copy(qa[w][lane][ks], qa[w][lane][ks] + 4, a[lane]);
                                    std::copy(sc[w][lane][nt], sc[w][lane][nt] + 4, d[lane]);
                                }
                                mma_host<T>(d, a, b, layout);
                                for (int lane = 0; lane < WS; lane++) std::copy(d[lane], d[lane] + 4, sc[w][lane][nt]);
                            }
                        }
                        for (int lane = 0; lane < WS; lane++)
                            dbc::tc_scores(sc[w][lane], mt[lane], j0, keys, scale_log2, lane);
                        for (int r = 0; r < 2; r++) {
                            for (int lane = 0; lane < WS; lane++) col_mt[lane] = mt[lane][r];
                            group_reduce(col_mt, [](float x, float y) { return std::fmax(x, y); });
                            for (int lane = 0; lane < WS; lane++) mt[lane][r] = col_mt[lane];
                        }
                        for (int lane = 0; lane < WS; lane++)
                            dbc::tc_softmax(sc[w][lane], o[w][lane], m[w][lane], l[w][lane], mt[lane]);
                        for (int kk = 0; kk < L::PS; kk++) {
                            for (int lane = 0; lane < WS; lane++) dbc::tc_p_frag<T>(pa[lane], sc[w][lane], kk);
                            for (int dt = 0; dt < L::DT; dt++) {
                                float d[WS][4];
                                for (int lane = 0; lane < WS; lane++) {
                                    dbc::tc_b_frag(b[lane], vt_s, 8 * dt, 16 * kk, lane);
                                    std::copy(o[w][lane][dt], o[w][lane][dt] + 4, d[lane]);
                                }
                                mma_host<T>(d, pa, b, layout);
                                for (int lane = 0; lane < WS; lane++) std::copy(d[lane], d[lane] + 4, o[w][lane][dt]);
                            }
                        }
                    }
                    // __syncthreads()
                }
                for (int w = 0; w < W; w++) {
                    if (i0 + 16 * w >= len) continue;
                    float part[WS];
                    for (int r = 0; r < 2; r++) {
                        for (int lane = 0; lane < WS; lane++) part[lane] = l[w][lane][r];
                        group_reduce(part, [](float x, float y) { return x + y; });
                        for (int lane = 0; lane < WS; lane++) l[w][lane][r] = part[lane];
                    }
                    const float mask = head_mask ? dbc::load_f32(head_mask + h) : 1.0f;
                    for (int lane = 0; lane < WS; lane++)
                        dbc::tc_store(out, o[w][lane], l[w][lane], mask, C, start, col, i0 + 16 * w, len, HS, lane);
                }
            }
}

constexpr size_t GAP = 256;  // NaN elements after each tensor (each of q, k, v when separate)

// Fills q, k, v (T-rounded) for the problem: one [T, 3C] buffer when ld = 3C, else three [T, C].
// "sharp" grows the keys along the sequence so that the running max moves from tile to tile.
template <typename T>
void fill(std::vector<T>& buf, const Problem& pb, bool sharp, Random& rnd) {
    const int C = pb.C(), n = pb.ld == C ? 3 : 1;
    // NaN after each tensor: the kernel must not read past it (dims past HS of the last token's
    // last head are not there; a read would be NaN·0 = NaN in the scores).
    T nan_t;
    dbc::store_f32(&nan_t, NAN);
    buf.assign(((size_t)pb.tokens() * pb.ld + GAP) * n, nan_t);
    for (int t = 0; t < pb.tokens(); t++)
        for (int which = 0; which < 3; which++)
            for (int c = 0; c < C; c++) {
                const size_t at = pb.ld == C ? (size_t)which * (pb.tokens() * C + GAP) + (size_t)t * C + c
                                             : (size_t)t * pb.ld + which * C + c;
                float x = rnd.normal() * (sharp ? 2.0f : 0.6f);
                if (sharp && which == 1) x *= 1.0f + 0.05f * (float)(t % 97);
                dbc::store_f32(&buf[at], x);
            }
}

template <int HSMAX, typename T>
long run_case(const Problem& pb, bool sharp, Random& rnd) {
    const int C = pb.C(), HS = pb.HS, NH = pb.NH;
    std::vector<T> buf;
    fill(buf, pb, sharp, rnd);
    const bool fused = pb.ld != C;
    const T* q = buf.data();
    const T* k = fused ? q + C : q + (size_t)pb.tokens() * C + GAP;
    const T* v = fused ? q + 2 * C : q + (size_t)2 * (pb.tokens() * C + GAP);
    std::vector<T> mask;
    for (float x : pb.head_mask) {
        T t;
        dbc::store_f32(&t, x);
        mask.push_back(t);
    }
    T nan_t;
    dbc::store_f32(&nan_t, NAN);
    std::vector<T> out((size_t)pb.tokens() * C, nan_t);  // poisoned: unwritten elements fail
    const std::string name = fmt("attention_tc hs%d %s HS=%d ld=%s %s", HSMAX, check::type_name<T>(), HS,
                                 fused ? "3C" : "C", sharp ? "sharp" : "mild");
    Tally layout(name + " layout", 0, 0);
    attention_tc_host<HSMAX, T>(out.data(), q, k, v, pb, mask.empty() ? nullptr : mask.data(),
                                pb.key_lens_ptr(), layout);

    Tally tally(name, 0, 0);
    const double u = check::half_ulp<T>(), scale = 1.0 / std::sqrt((double)HS);
    const double tiny = sizeof(T) == 2 && check::half_ulp<T>() == 0x1p-11 ? 0x1p-25 : 0x1p-134;  // f16 : bf16
    auto at = [&](const T* base, int t, int c) { return (double)dbc::load_f32(base + (size_t)t * pb.ld + c); };
    for (int s = 0; s < pb.num_seqs(); s++) {
        const int start = pb.cu[s], len = pb.cu[s + 1] - start;
        const int kl = pb.key_lens.empty() ? len : pb.key_lens[s];
        const bool uniform = kl == 0;
        const int nk = uniform ? len : kl;
        for (int h = 0; h < NH; h++) {
            const double hm = mask.empty() ? 1.0 : dbc::load_f32(&mask[h]);
            for (int i = 0; i < len; i++) {
                const check::SoftmaxRow row = check::softmax_row(nk, uniform, scale, HS, [&](int j, int d) {
                    return at(q, start + i, h * HS + d) * at(k, start + j, h * HS + d);
                });
                const std::vector<double>& p = row.p;
                const double kappa = row.kappa;
                // 1/l, l the kernel's sum of exp(s - max): the largest normalised probability
                const double p_scale = p.empty() ? 0.0 : *std::max_element(p.begin(), p.end());
                for (int d = 0; d < HS; d++) {
                    double ref = 0, pv = 0, vsum = 0;
                    for (int j = 0; j < nk; j++) {
                        const double x = p[j] * hm * at(v, start + j, h * HS + d);
                        ref += x;
                        pv += std::fabs(x);
                        vsum += std::fabs(at(v, start + j, h * HS + d));
                    }
                    const double got = dbc::load_f32(&out[(size_t)(start + i) * C + h * HS + d]);
                    // Below T's normal range a rounding is off by up to half the subnormal spacing
                    // (tiny): for each unnormalised p_j (scaled by head_mask / l in out) and for out.
                    const double bound = 1.01 * u * (pv + std::fabs(ref)) + (kappa + 0x1p-20) * pv +
                                         tiny * (vsum * hm * p_scale + 1.0);
                    tally.add(got, ref, bound, [&] { return fmt("s=%d h=%d i=%d d=%d", s, h, i, d); });
                }
            }
        }
    }
    return tally.report() + layout.report();
}

template <int HSMAX, typename T>
long run_all(Random& rnd) {
    long bad = 0;
    // Lengths around the 16-query warp tiles, the 64-query blocks and the 64-key tiles.
    const std::vector<int> lens = {0, 1, 5, 16, 63, 64, 65, 100, 130};
    // Head sizes that pick this variant (the launcher takes the smallest HSMAX >= HS), padded and not.
    const std::vector<int> sizes = HSMAX == 32 ? std::vector<int>{8, 24, 32}
                                   : HSMAX == 64 ? std::vector<int>{40, 64} : std::vector<int>{72, 128};
    for (int HS : sizes)
        for (int fused = 0; fused < 2; fused++)
            for (int variant = 0; variant < 3; variant++) {
                Problem pb;
                pb.NH = 2;
                pb.HS = HS;
                pb.ld = fused ? 3 * pb.C() : pb.C();
                pb.cu = {0};
                for (int len : lens) pb.cu.push_back(pb.cu.back() + len);
                if (variant == 1) {  // key_lens below len, equal to it, and 0 (uniform)
                    for (int len : lens) pb.key_lens.push_back(len == 0 ? 0 : len % 3 == 0 ? 0 : std::max(1, len - 7 * (len % 4)));
                }
                if (variant == 2) pb.head_mask = {0.5f, 0.0f};
                bad += run_case<HSMAX, T>(pb, variant == 1, rnd);
            }
    return bad;
}

}  // namespace

int main() {
    Random rnd(20261125);
    long bad = 0;
    bad += run_all<32, __nv_bfloat16>(rnd);
    bad += run_all<64, __nv_bfloat16>(rnd);
    bad += run_all<128, __nv_bfloat16>(rnd);
    bad += run_all<32, __half>(rnd);
    bad += run_all<64, __half>(rnd);
    bad += run_all<128, __half>(rnd);
    std::printf(bad ? "attention_tc_check: %ld failures\n" : "attention_tc_check: all passed\n", bad);
    return bad ? 1 : 0;
}
