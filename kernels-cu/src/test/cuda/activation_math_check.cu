// activation_math_check.cu — the scalar formulas of activation.cu (act_forward, act_derivative),
// evaluated on the host in float, against the textbook definitions in double: erf-GELU through
// erfc, gelu_new through tanh (the kernel rewrites it as a sigmoid), ReLU, SiLU.
//
// Runs without a GPU (cmake --build <dir> --target check-kernel-math; Maven runs it in the test
// phase), so a wrong derivative is caught on every build, not only where a GPU is. It checks the
// algebra, not the device's libm: the host's erfcf/expf stand in for CUDA's. The GPU parity tests
// in jcuda-bridge check the real thing, with the same tolerance: |f - ref| <= 1e-6 + 1e-5 |ref|.
#define DBC_HOST_CHECK  // the scalar math only: no entry points compiled for a device
#include "activation.cu"

#include <cmath>
#include <cstdio>

namespace {

using dbc::Act;

const double K0 = std::sqrt(2.0 / M_PI);
const double K1 = 0.044715;

double value(Act a, double z) {
    switch (a) {
        case Act::Gelu: return z * 0.5 * std::erfc(-z / std::sqrt(2.0));
        case Act::GeluNew: return 0.5 * z * (1.0 + std::tanh(K0 * (z + K1 * z * z * z)));
        case Act::Relu: return z > 0 ? z : 0.0;
        case Act::Silu: return z / (1.0 + std::exp(-z));
    }
    return NAN;
}

double derivative(Act a, double z) {
    switch (a) {
        case Act::Gelu:
            return 0.5 * std::erfc(-z / std::sqrt(2.0)) + z * std::exp(-0.5 * z * z) / std::sqrt(2.0 * M_PI);
        case Act::GeluNew: {
            double t = std::tanh(K0 * (z + K1 * z * z * z));
            return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * K0 * (1.0 + 3.0 * K1 * z * z);
        }
        case Act::Relu: return z > 0 ? 1.0 : 0.0;
        case Act::Silu: {
            double s = 1.0 / (1.0 + std::exp(-z));
            return s * (1.0 + z * (1.0 - s));
        }
    }
    return NAN;
}

template <Act A>
int check(const char* name) {
    int bad = 0;
    double worst = 0;
    // z in [-20, 20] in steps of 1e-4: the tails, the kink of ReLU, gelu's zero of the derivative.
    for (int k = -200000; k <= 200000; k++) {
        float z = k * 1e-4f;
        double f = dbc::act_forward<A>(z), fr = value(A, z);
        double d = dbc::act_derivative<A>(z), dr = derivative(A, z);
        double ef = std::fabs(f - fr) / (1e-6 + 1e-5 * std::fabs(fr));
        double ed = std::fabs(d - dr) / (1e-6 + 1e-5 * std::fabs(dr));
        worst = std::fmax(worst, std::fmax(ef, ed));
        if (!(ef <= 1.0 && ed <= 1.0) && bad++ < 5) {
            std::printf("  %s z=%.9g: forward %.9g vs %.9g, derivative %.9g vs %.9g\n", name, z, f, fr, d, dr);
        }
    }
    std::printf("%-9s worst error / tolerance %.3f%s\n", name, worst, bad ? "  FAILED" : "");
    return bad;
}

}  // namespace

int main() {
    int bad = check<Act::Gelu>("gelu") + check<Act::GeluNew>("gelu_new") + check<Act::Relu>("relu") +
              check<Act::Silu>("silu");
    return bad == 0 ? 0 : 1;
}
