// layernorm_math_check.cu — layernorm.cu's algorithm on the host, against double precision.
//
// The kernels' warp algorithm is emulated lane by lane: lane l sums c = l, l+32, ... in order,
// the 32 partial sums meet in warp_sum's butterfly order (warp_sum_host), then the kernels' own
// ln_mean, ln_rstd, ln_apply and residual_element run, and the results are stored through
// store_f32 into T. The reference is a two-pass LayerNorm in double over the same rows, whose
// fused elements (residual add, embedding sum) are rounded to T by an independent
// round-to-nearest-even written here in double. Also checks round_T against that rounding.
//
// Runs without a GPU (check-kernel-math). It checks the algorithm and the algebra, not the
// device's libm or its fused multiply-adds.
#define DBC_HOST_CHECK  // the scalar math only: no entry points compiled for a device
#include "layernorm.cu"

#include "check.cuh"

#include <cstring>
#include <vector>

namespace {

using check::Random;
using check::Tally;
using check::fmt;

// Round-to-nearest-even of x to p significant bits, with normal exponents >= emin and the
// largest finite value max_finite (beyond it: infinity), in double.
double rne(double x, int p, int emin, double max_finite) {
    if (x == 0 || !std::isfinite(x)) return x;
    int e;
    std::frexp(x, &e);  // x = f * 2^e, f in [0.5, 1): exponent e - 1
    double q = std::ldexp(1.0, std::max(e - 1, emin) - p + 1);
    double r = std::nearbyint(x / q) * q;  // the default rounding mode: ties to even
    return std::fabs(r) > max_finite ? std::copysign(INFINITY, x) : r;
}
template <typename T> double ref_round(double x);
template <> double ref_round<float>(double x) { return rne(x, 24, -126, 0x1.fffffep127); }
template <> double ref_round<__nv_bfloat16>(double x) { return rne(x, 8, -126, 0x1.fep127); }
template <> double ref_round<__half>(double x) { return rne(x, 11, -14, 65504.0); }

template <typename T>
long check_round() {
    Tally t(fmt("round_T<%s> vs round-to-nearest-even", check::type_name<T>()), 0, 0);
    Random rnd(7);
    for (int k = 0; k < 1000000; k++) {
        uint32_t bits = (uint32_t)rnd.gen();
        float x;
        std::memcpy(&x, &bits, 4);
        if (std::isnan(x)) continue;
        if (k % 4 == 0) x = std::copysign(rnd.uniform(0.0f, 70000.0f), x);  // around f16's overflow too
        double got = dbc::round_T<T>(x), want = ref_round<T>(x);
        t.expect(got == want, [&] { return fmt("x=%a: got %a, want %a", x, got, want); });
    }
    return t.report();
}

// One row through the kernels' warp algorithm. x(c) is the row's element (float), as the kernel's
// lambda computes it; y receives the float values that the kernel passes to store_f32.
template <class X>
void layernorm_warp_host(int C, float eps, const X& x, const float* w, const float* b, float* y, float& mean,
                         float& rstd) {
    float part[dbc::WARP_SIZE];
    for (int lane = 0; lane < dbc::WARP_SIZE; lane++) {
        float s = 0.0f;
        for (int c = lane; c < C; c += dbc::WARP_SIZE) s += x(c);
        part[lane] = s;
    }
    mean = dbc::ln_mean(dbc::warp_sum_host(part), C);
    for (int lane = 0; lane < dbc::WARP_SIZE; lane++) {
        float sq = 0.0f;
        for (int c = lane; c < C; c += dbc::WARP_SIZE) {
            float d = x(c) - mean;
            sq += d * d;
        }
        part[lane] = sq;
    }
    rstd = dbc::ln_rstd(dbc::warp_sum_host(part), C, eps);
    for (int c = 0; c < C; c++) y[c] = dbc::ln_apply(x(c), mean, rstd, w[c], b[c]);
}

struct RowCase {
    const char* what;
    float offset, spread;
};

enum class Kind { Plain, Residual, Embedding };

// Every kernel of the family on rows of width C; out compared with the double reference.
// Tolerance of out: abs + rel·|ref| with abs = 1e-5 + 1e-6 · |mean| / std of the row. float32's
// rounding of the row sum moves the mean by about |mean| · 2^-24 · (a few), which x - mean carries
// into every output as that error divided by std: a row whose mean is far from 0 in units of its
// spread loses those digits in any float32 LayerNorm, two-pass or not (one-pass E[x^2]-E[x]^2 loses
// them squared).
template <typename T>
long check_layernorm(Kind kind, const char* kname, const std::vector<RowCase>& cases) {
    const double rel = 1e-5 + 2 * check::half_ulp<T>();
    Tally ty(fmt("%s_%s out", kname, check::type_name<T>()), 1e-5, rel);
    Tally tm(fmt("%s_%s mean, rstd", kname, check::type_name<T>()), 1e-6, rel);
    Tally tx(fmt("%s_%s fused row element", kname, check::type_name<T>()), 0, 0);
    Random rnd(11);
    const int widths[] = {1, 7, 31, 32, 33, 64, 100, 768, 1024, 3072};
    const float epss[] = {1e-12f, 1e-5f};
    for (const RowCase& rc : cases)
        for (int C : widths)
            for (float eps : epss) {
                auto in = [&](float spread) {
                    std::vector<T> v(C);
                    for (auto& e : v) dbc::store_f32(&e, rc.offset + spread * rnd.normal());
                    return v;
                };
                // Plain: a = inp. Residual: a = inp, b = residual (half each), lin_bias. Embedding:
                // a = wte row, b = wpe row.
                std::vector<T> a = in(rc.spread), b = in(kind == Kind::Plain ? 0.0f : rc.spread * 0.5f);
                std::vector<T> lin_bias(C), wT(C), bT(C);
                for (int c = 0; c < C; c++) {
                    dbc::store_f32(&lin_bias[c], rnd.uniform(-0.5f, 0.5f));
                    dbc::store_f32(&wT[c], rnd.uniform(0.5f, 1.5f));
                    dbc::store_f32(&bT[c], rnd.uniform(-0.5f, 0.5f));
                }
                std::vector<float> w(C), bias(C), y(C);
                for (int c = 0; c < C; c++) w[c] = dbc::load_f32(&wT[c]), bias[c] = dbc::load_f32(&bT[c]);
                auto x = [&](int c) -> float {
                    float av = dbc::load_f32(&a[c]), bv = dbc::load_f32(&b[c]);
                    switch (kind) {
                        case Kind::Plain: return av;
                        case Kind::Residual: return dbc::residual_element<T>(av, dbc::load_f32(&lin_bias[c]), bv);
                        case Kind::Embedding: return dbc::round_T<T>(av + bv);
                    }
                    return NAN;
                };
                // The reference row: the same float32 additions, rounded by ref_round.
                std::vector<double> xr(C);
                for (int c = 0; c < C; c++) {
                    float av = dbc::load_f32(&a[c]), bv = dbc::load_f32(&b[c]);
                    switch (kind) {
                        case Kind::Plain: xr[c] = av; break;
                        case Kind::Residual: {
                            float lin = (float)ref_round<T>(av + dbc::load_f32(&lin_bias[c]));
                            xr[c] = ref_round<T>(lin + bv);
                            break;
                        }
                        case Kind::Embedding: xr[c] = ref_round<T>(av + bv); break;
                    }
                    tx.expect(x(c) == xr[c], [&] { return fmt("C=%d c=%d: %a vs %a", C, c, x(c), xr[c]); });
                }
                float mean, rstd;
                layernorm_warp_host(C, eps, x, w.data(), bias.data(), y.data(), mean, rstd);
                double m = 0, v = 0;
                for (double e : xr) m += e;
                m /= C;
                for (double e : xr) v += (e - m) * (e - m);
                v /= C;
                double rs = 1 / std::sqrt(v + eps);
                auto where = [&](int c) { return fmt("%s C=%d eps=%g c=%d", rc.what, C, eps, c); };
                // mean and rstd are stored in float32 whatever T (what the backward reads)
                tm.add(mean, (float) m, [&] { return where(-1) + " mean"; });
                tm.add(rstd, (float) rs, [&] { return where(-1) + " rstd"; });
                const double abs = 1e-5 + (v > 0 ? 1e-6 * std::fabs(m) / std::sqrt(v) : 0.0);
                for (int c = 0; c < C; c++) {
                    T out;
                    dbc::store_f32(&out, y[c]);
                    ty.add(dbc::load_f32(&out), (xr[c] - m) * rs * w[c] + bias[c], abs, [&] { return where(c); });
                }
            }
    return ty.report() + tm.report() + (kind == Kind::Plain ? 0 : tx.report());
}

template <typename T>
long check_type() {
    // Activations of a transformer: mean near 0 or a few units, spread about 1; plus tiny and large
    // spreads (rstd near 1/sqrt(eps) and near 0).
    // spreads (rstd near 1/sqrt(eps) and near 0), and a mean 1000 spreads away from 0, where
    // one-pass E[x^2]-E[x]^2 would lose every digit of the variance.
    const std::vector<RowCase> rows = {{"N(0,1)", 0, 1},           {"3+N(0,1)", 3, 1}, {"-2+N(0,.01)", -2, 0.01f},
                                       {"N(0,100)", 0, 100},       {"1000+N(0,1)", 1000, 1}};
    long bad = check_round<T>();
    bad += check_layernorm<T>(Kind::Plain, "layernorm_forward", rows);
    bad += check_layernorm<T>(Kind::Residual, "residual_layernorm_forward", rows);
    bad += check_layernorm<T>(Kind::Embedding, "embedding_layernorm_forward", rows);
    return bad;
}

}  // namespace

int main() {
    long bad = check_type<float>() + check_type<__nv_bfloat16>() + check_type<__half>();
    return bad == 0 ? 0 : 1;
}
