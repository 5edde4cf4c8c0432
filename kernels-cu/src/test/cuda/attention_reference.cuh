// attention_reference.cuh — one row of naive softmax attention in double, for the attention checks.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace check {

// A packed ragged batch: sequence s is tokens [cu[s], cu[s+1]); key_lens empty means null.
struct Ragged {
    std::vector<int> cu;        // [num_seqs + 1]
    std::vector<int> key_lens;  // [num_seqs] or empty (null)
    int num_seqs() const { return (int)cu.size() - 1; }
    int tokens() const { return cu.back(); }
    int max_len() const {
        int m = 0;
        for (int s = 0; s < num_seqs(); s++) m = std::max(m, cu[s + 1] - cu[s]);
        return m;
    }
    const int* key_lens_ptr() const { return key_lens.empty() ? nullptr : key_lens.data(); }
};

// Query i of a (sequence, head) against its nk keys: the probabilities (normalised, before
// head_mask) and kappa, the relative error that float32 scores pass on to them. A float32 dot
// product over HS terms is off by about 2^-24·sqrt(HS)·Σ_d |q_d k_d|, and exp() turns a score's
// absolute error into that much relative error of p: kappa = 4·2^-24·sqrt(HS)·scale·max_j Σ_d
// |q_d k_jd| (0 in the uniform case, where every score is 0). qk(j, d) is q_d·k_jd in double.
struct SoftmaxRow {
    std::vector<double> p;
    double kappa;
};
template <class QK>
SoftmaxRow softmax_row(int nk, bool uniform, double scale, int HS, QK qk) {
    SoftmaxRow r{std::vector<double>(nk), 0.0};
    double mx = -INFINITY, s1 = 0, sum = 0;
    for (int j = 0; j < nk; j++) {
        double dot = 0, dot_abs = 0;
        for (int d = 0; d < HS; d++) {
            const double x = qk(j, d);
            dot += x;
            dot_abs += std::fabs(x);
        }
        r.p[j] = uniform ? 0.0 : scale * dot;
        mx = std::max(mx, r.p[j]);
        s1 = uniform ? 0.0 : std::max(s1, scale * dot_abs);
    }
    r.kappa = 4 * 0x1p-24 * std::sqrt((double)HS) * s1;
    for (double& e : r.p) sum += (e = std::exp(e - mx));
    for (double& e : r.p) e /= sum;
    return r;
}

}  // namespace check
