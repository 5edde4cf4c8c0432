// misc_math_check.cu — misc.cu's losses, mean pooling and softmax top-k on the host, against
// double precision.
//
// cross_entropy_forward is emulated as its block runs it: thread t folds v = t, t+256, ... in
// order, the warp reductions in warp_max / warp_sum's butterfly order, the 8 warp results in
// order, then the kernel's ce_loss; the loss is stored through store_f32 into T. The reference is
// logsumexp in double over the same (T-rounded) logits. mse_element and bce_with_logits_element
// are checked on a grid of x and y, from -100 to 100, against their definitions in double
// (bce: -(y log sigmoid(x) + (1-y) log(1 - sigmoid(x))), through log1p for precision).
//
// Runs without a GPU (check-kernel-math). It checks the algorithm and the algebra, not the
// device's libm.
#define DBC_HOST_CHECK  // the scalar math only: no entry points compiled for a device
#include "misc.cu"

#include "check.cuh"

#include <type_traits>
#include <vector>

namespace {

using check::Random;
using check::Tally;
using check::fmt;

// The block sum of expf(x - mx) over a row as cross_entropy_forward and softmax_top_k add it:
// thread t over j = t, t + 256, ..., each warp in warp_sum's order, then the 8 warps in order.
template <typename T>
float block_sum_exp_host(const T* row, int V, float mx) {
    constexpr int NT = dbc::CE_BLOCK, WS = dbc::WARP_SIZE, NW = dbc::CE_WARPS;
    float part[NT], lane[WS], block[NW];
    for (int tid = 0; tid < NT; tid++) {
        float s = 0.0f;
        for (int j = tid; j < V; j += NT) s += expf(dbc::load_f32(row + j) - mx);
        part[tid] = s;
    }
    for (int w = 0; w < NW; w++) {
        for (int l = 0; l < WS; l++) lane[l] = part[w * WS + l];
        block[w] = dbc::warp_sum_host(lane);
    }
    float sum = block[0];
    for (int w = 1; w < NW; w++) sum += block[w];
    return sum;
}

// One row of cross_entropy_forward as its 256 threads compute it (the target row, not ignored).
template <typename T>
float cross_entropy_block_host(const T* row, int V, int t) {
    constexpr int NT = dbc::CE_BLOCK, WS = dbc::WARP_SIZE, NW = dbc::CE_WARPS;
    float part[NT], block[NW];
    for (int tid = 0; tid < NT; tid++) {
        float mx = -INFINITY;
        for (int j = tid; j < V; j += NT) mx = fmaxf(mx, dbc::load_f32(row + j));
        part[tid] = mx;
    }
    for (int w = 0; w < NW; w++) {
        // warp_max: max is exact and order-free, so the butterfly's result is the plain max.
        float mx = -INFINITY;
        for (int l = 0; l < WS; l++) mx = fmaxf(mx, part[w * WS + l]);
        block[w] = mx;
    }
    float mx = block[0];
    for (int w = 1; w < NW; w++) mx = fmaxf(mx, block[w]);
    return dbc::ce_loss(mx, block_sum_exp_host(row, V, mx), dbc::load_f32(row + t));
}

template <typename T>
long check_cross_entropy() {
    // float32: the sum of exp over V terms and the log are good to about 1e-6 of the loss's terms;
    // then the rounding of the loss to T.
    Tally tl(fmt("cross_entropy_forward_%s loss", check::type_name<T>()), 1e-5, 1e-5 + 2 * check::half_ulp<T>());
    Random rnd(5);
    const int vocab[] = {1, 2, 3, 255, 256, 257, 1000, 30522};
    const float spreads[] = {1.0f, 10.0f, 60.0f};  // 60: exp underflows for most of the row
    for (int V : vocab)
        for (float spread : spreads)
            for (int rep = 0; rep < 4; rep++) {
                std::vector<T> row(V);
                for (auto& e : row) dbc::store_f32(&e, spread * rnd.normal() + (rep == 3 ? 1000.0f : 0.0f));
                const int t = rnd.integer(0, V - 1);
                T loss;
                dbc::store_f32(&loss, cross_entropy_block_host(row.data(), V, t));
                double mx = -INFINITY, sum = 0;
                for (auto& e : row) mx = std::max(mx, (double)dbc::load_f32(&e));
                for (auto& e : row) sum += std::exp(dbc::load_f32(&e) - mx);
                double want = std::log(sum) + mx - dbc::load_f32(&row[t]);
                tl.add(dbc::load_f32(&loss), want, [&] { return fmt("V=%d spread=%g rep=%d t=%d", V, spread, rep, t); });
            }
    return tl.report();
}

// pool_rows over its whole grid in every mode, every element poisoned first, against the pooling
// computed from each sequence's own tokens (kept apart, before packing): packing with and without
// key_lens (the masked tokens of a COMPUTE-mode sequence follow its unmasked ones and must not
// count), positions with holes (masked tokens between unmasked ones, left out of the packing: the
// weights and the skip follow the positions, not the packed index), a prompt's tokens skipped
// (none, 3, more than some sequences have), sequences of 0 to 70 tokens, C of 1 to 300 (a partial
// block of columns), a NaN in one sequence (max propagates it).
template <typename T>
long check_pool_rows() {
    // The double sums of at most 70 terms (weights up to 70) are exact to 1e-14; one rounding to T.
    Tally tl(fmt("pool_rows_%s", check::type_name<T>()), 1e-30, 2 * check::half_ulp<T>());
    Random rnd(9);
    const int widths[] = {1, 7, 256, 300};
    const int skips[] = {0, 3, 40};
    for (int C : widths)
        for (int keyed = 0; keyed < 2; keyed++)
            for (int skip : skips)
                for (int mode = 0; mode < dbc::POOL_MODES; mode++) {
                    const int B = 9;
                    std::vector<std::vector<T>> seqs(B);  // each sequence's unmasked tokens, [n, C]
                    std::vector<int> cu(B + 1, 0), key_lens(B), positions;
                    std::vector<std::vector<int>> seq_positions(B);
                    std::vector<T> packed;
                    for (int b = 0; b < B; b++) {
                        const int n = b == 0 ? 0 : b == 1 ? 1 : rnd.integer(0, 70);
                        const int masked = keyed ? rnd.integer(0, 5) : 0;  // packed after the unmasked tokens
                        seqs[b].resize((size_t)n * C);
                        for (auto& e : seqs[b]) dbc::store_f32(&e, 3.0f * rnd.normal() + 1.0f);
                        if (b == 2 && n > 0) dbc::store_f32(&seqs[b][(size_t)(n - 1) * C], NAN);
                        for (int r = 0, p = 0; r < n; r++, p++) {
                            if (b % 3 == 2) p += rnd.integer(0, 2);  // a hole in the mask before this token
                            seq_positions[b].push_back(p);
                        }
                        packed.insert(packed.end(), seqs[b].begin(), seqs[b].end());
                        positions.insert(positions.end(), seq_positions[b].begin(), seq_positions[b].end());
                        for (int k = 0; k < masked * C; k++) {
                            T e;
                            dbc::store_f32(&e, 1e6f);  // counted by mistake, it shows
                            packed.push_back(e);
                        }
                        for (int k = 0; k < masked; k++) positions.push_back(0);
                        key_lens[b] = n;
                        cu[b + 1] = cu[b] + n + masked;
                    }
                    std::vector<T> out((size_t)B * C);
                    for (auto& e : out) dbc::store_f32(&e, -12345.0f);
                    // The launcher's grid, B * ceil(C / 256) blocks of 256 threads.
                    const int blocks = B * ((C + dbc::MISC_BLOCK - 1) / dbc::MISC_BLOCK);
                    for (int block = 0; block < blocks; block++)
                        for (int thread = 0; thread < dbc::MISC_BLOCK; thread++) {
                            int b, c;
                            if (dbc::pool_rows_coords(block, thread, C, &b, &c))
                                dbc::pool_rows_element(out.data(), packed.data(), cu.data(),
                                                       keyed ? key_lens.data() : nullptr, positions.data(), C, mode,
                                                       skip, b, c);
                        }
                    for (int b = 0; b < B; b++) {
                        const int n = key_lens[b];
                        for (int c = 0; c < C; c++) {
                            long double sum = 0, weights = 0;
                            double mx = -INFINITY;
                            bool nan = false;
                            for (int r = 0; r < n; r++) {
                                const int p = seq_positions[b][r];
                                if (p < skip) continue;
                                const double x = dbc::load_f32(&seqs[b][(size_t)r * C + c]);
                                const double w = mode == dbc::POOL_WEIGHTED_MEAN ? p + 1 : 1;
                                sum += w * x;
                                weights += w;
                                nan |= x != x;
                                mx = std::max(mx, x);
                            }
                            double want = mode == dbc::POOL_MAX ? (nan ? NAN : mx)
                                        : weights == 0 ? 0.0
                                        : mode == dbc::POOL_MEAN_SQRT_LEN ? (double)(sum / std::sqrt(weights))
                                        : (double)(sum / weights);
                            const float got = dbc::load_f32(&out[(size_t)b * C + c]);
                            auto where = [&] {
                                return fmt("C=%d key_lens=%d skip=%d mode=%d b=%d n=%d c=%d", C, keyed, skip, mode, b, n, c);
                            };
                            if (want != want || std::isinf(want)) {
                                // NaN for NaN, -inf for -inf: compared as values, not by the relative bound
                                const bool same = (want != want) ? got != got : got == (float)want;
                                tl.add(same ? 0.0 : 1.0, 0.0, where);
                            } else {
                                tl.add(got, want, where);
                            }
                        }
                    }
                }
    return tl.report();
}

// softmax_top_k's block on the host: the threads' steps, the order-free folds, the sum in
// cross_entropy's order. Writes K probabilities (unrounded) and ids.
template <typename T>
void softmax_top_k_block_host(const T* row, int V, int K, float* out_p, int* out_i, float* max_out, float* sum_out) {
    constexpr int NT = dbc::MISC_BLOCK;
    float mx = -INFINITY;
    for (int j = 0; j < V; j++) mx = dbc::nan_max(mx, dbc::load_f32(row + j));  // order-free, NaN-first
    const float sum = block_sum_exp_host(row, V, mx);
    float prev_p = 0.0f;
    int prev_i = -1;
    for (int r = 0; r < K; r++) {
        float bp = 0.0f;
        int bi = -1;
        for (int tid = 0; tid < NT; tid++) {
            float tp;
            int ti;
            dbc::topk_thread_best(row, V, tid, mx, sum, prev_p, prev_i, &tp, &ti);
            if (ti >= 0 && (bi < 0 || dbc::topk_better(tp, ti, bp, bi))) {
                bp = tp;
                bi = ti;
            }
        }
        out_p[r] = bp;
        out_i[r] = bi;
        prev_p = bp;
        prev_i = bi;
    }
    *max_out = mx;
    *sum_out = sum;
}

// The rank order as the CPU backend's Ranking states it, written apart from the kernel's
// topk_better: NaN first (NaNs by index), then larger p, then smaller index.
bool spec_before(float pa, int ia, float pb, int ib) {
    const int ra = std::isnan(pa) ? 0 : 1, rb = std::isnan(pb) ? 0 : 1;
    if (ra != rb) return ra < rb;
    if (ra == 1 && pa != pb) return pa > pb;
    return ia < ib;
}

// Against the specification: K distinct ids in rank order, every other element ranking after the
// last, and each probability within float32's exp-and-sum error of the double softmax.
template <typename T>
long check_softmax_top_k() {
    // expf and the division are good to a few ulp; the float32 sum of V terms to about V * 2^-24
    // relative in the worst case, 1e-5 for V = 30522 in practice (same bound as cross_entropy's).
    // Absolute: half of f16's subnormal step (2^-25), where small probabilities lose their digits.
    const double abs = std::is_same<T, __half>::value ? 0x1p-25 : 1e-30;
    Tally tl(fmt("softmax_top_k_%s probability", check::type_name<T>()), abs, 2e-5 + 2 * check::half_ulp<T>());
    long order_errors = 0, rows = 0;
    Random rnd(11);
    const int vocab[] = {1, 2, 5, 255, 256, 257, 1000, 30522};
    for (int V : vocab)
        for (int kind = 0; kind < 5; kind++) {
            std::vector<T> row(V);
            for (int j = 0; j < V; j++) {
                float x = kind == 0 ? 4.0f * rnd.normal()
                        : kind == 1 ? (float)rnd.integer(-3, 3)            // many exact ties
                        : kind == 2 ? 60.0f * rnd.normal()                 // most p underflow to 0: ties at 0
                        : kind == 3 ? (j % 7 == 0 ? -INFINITY : rnd.normal())
                                    : (j == V / 2 ? NAN : rnd.normal());   // a NaN: every p NaN
                dbc::store_f32(&row[j], x);
            }
            for (int K : {1, 5, std::min(V, 40)}) {
                if (K > V) continue;
                std::vector<float> p(K);
                std::vector<int> ids(K);
                float mx, sum;
                softmax_top_k_block_host(row.data(), V, K, p.data(), ids.data(), &mx, &sum);
                rows++;
                std::vector<char> picked(V, 0);
                auto where = [&] { return fmt("V=%d kind=%d K=%d", V, kind, K); };
                for (int r = 0; r < K; r++) {
                    const int i = ids[r];
                    if (i < 0 || i >= V || picked[i]) {
                        std::printf("  %s: pick %d is %d (out of range or repeated)\n", where().c_str(), r, i);
                        order_errors++;
                        break;
                    }
                    picked[i] = 1;
                    const float kp = dbc::topk_prob(dbc::load_f32(&row[i]), mx, sum);
                    if (!(kp == p[r] || (kp != kp && p[r] != p[r]))) order_errors++;  // the pick's own p
                    if (r > 0 && !spec_before(p[r - 1], ids[r - 1], p[r], i)) {
                        std::printf("  %s: pick %d (%d) does not rank after pick %d (%d)\n", where().c_str(), r, i, r - 1, ids[r - 1]);
                        order_errors++;
                    }
                    // the double softmax: NaN where the row has a NaN, or only -inf
                    double dmax = -INFINITY, dsum = 0;
                    bool nan = false;
                    for (auto& e : row) {
                        float x = dbc::load_f32(&e);
                        nan |= x != x;
                        dmax = std::max(dmax, (double)x);
                    }
                    for (auto& e : row) dsum += std::exp((double)dbc::load_f32(&e) - dmax);
                    const double want = nan ? NAN : std::exp((double)dbc::load_f32(&row[i]) - dmax) / dsum;
                    T stored;
                    dbc::store_f32(&stored, p[r]);
                    const float got = dbc::load_f32(&stored);
                    if (want != want) {
                        tl.expect(got != got, [&] { return where() + fmt(" pick %d: want NaN, got %g", r, got); });
                    } else {
                        tl.add(got, want, where);
                    }
                }
                for (int j = 0; j < V; j++) {
                    if (picked[j]) continue;
                    const float pj = dbc::topk_prob(dbc::load_f32(&row[j]), mx, sum);
                    if (!spec_before(p[K - 1], ids[K - 1], pj, j)) {
                        std::printf("  %s: element %d (p %g) ranks before the last pick %d (p %g)\n", where().c_str(), j, pj,
                                    ids[K - 1], p[K - 1]);
                        order_errors++;
                        break;
                    }
                }
            }
        }
    std::printf("%-48s %6ld rows, %ld order errors%s\n", fmt("softmax_top_k_%s order", check::type_name<T>()).c_str(), rows,
                order_errors, order_errors ? "  FAILED" : "");
    return tl.report() + order_errors;
}

long check_elementwise() {
    Tally tm("mse_element", 1e-30, 1e-6);
    Tally tb("bce_with_logits_element", 1e-7, 1e-5);
    const float ys[] = {0.0f, 1.0f, 0.25f, 0.5f, -0.5f, 2.0f};
    for (int k = -100000; k <= 100000; k++) {
        float x = k * 1e-3f;
        for (float y : ys) {
            double xd = x, yd = y;
            tm.add(dbc::mse_element(x, y), (xd - yd) * (xd - yd), [&] { return fmt("x=%g y=%g", x, y); });
            // -(y log s + (1-y) log(1-s)), s = sigmoid(x): log s = -log1p(e^-x), log(1-s) = -x - log1p(e^-x)
            // for x >= 0 and the mirrored forms for x < 0, so nothing cancels or overflows.
            double log_s = xd >= 0 ? -std::log1p(std::exp(-xd)) : xd - std::log1p(std::exp(xd));
            double log_1ms = xd >= 0 ? -xd - std::log1p(std::exp(-xd)) : -std::log1p(std::exp(xd));
            double want = -(yd * log_s + (1 - yd) * log_1ms);
            // float32 forms x*y and max(x,0) exactly enough but their difference can cancel to far
            // below |x|: tolerance on the scale of |x| + |x y| as well.
            double abs = 1e-7 + 1e-7 * (std::fabs(xd) + std::fabs(xd * yd));
            tb.add(dbc::bce_with_logits_element(x, y), want, abs, [&] { return fmt("x=%g y=%g", x, y); });
        }
    }
    return tm.report() + tb.report();
}

}  // namespace

int main() {
    long bad = check_cross_entropy<float>() + check_cross_entropy<__nv_bfloat16>() + check_cross_entropy<__half>() +
               check_pool_rows<float>() + check_pool_rows<__nv_bfloat16>() + check_pool_rows<__half>() +
               check_softmax_top_k<float>() + check_softmax_top_k<__nv_bfloat16>() + check_softmax_top_k<__half>() +
               check_elementwise();
    return bad == 0 ? 0 : 1;
}
