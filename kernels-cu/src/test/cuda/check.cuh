// check.cuh — what the host checks of src/test/cuda share: an element-wise comparison with
// abs + rel·|ref| tolerance that prints the first mismatches with their indices and the worst
// one, a seeded random source, and the storage types' names.
#pragma once

#include "common.cuh"

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <random>
#include <string>

namespace check {

// Element-wise comparison: |got - ref| <= abs + rel·|ref|, NaN fails.
struct Tally {
    std::string name;
    double abs_tol, rel_tol;
    long count = 0, bad = 0;
    double worst = 0;
    std::string worst_at = "-";

    Tally(std::string name, double abs_tol, double rel_tol) : name(std::move(name)), abs_tol(abs_tol), rel_tol(rel_tol) {}

    // where() describes the element ("s=1 h=0 i=3 d=7"); called only for mismatches and new worsts.
    template <class Where>
    void add(double got, double ref, Where where) {
        add(got, ref, abs_tol, where);
    }
    // With this element's own absolute tolerance. Equal values pass (infinities included).
    template <class Where>
    void add(double got, double ref, double abs, Where where) {
        double err = got == ref ? 0.0 : std::fabs(got - ref) / (abs + rel_tol * std::fabs(ref));
        count++;
        if (!(err <= 1.0)) {
            if (bad < 5) std::printf("  %s %s: got %.9g, want %.9g\n", name.c_str(), where().c_str(), got, ref);
            bad++;
        }
        if (!(err <= worst)) {  // NaN sticks
            worst = err;
            worst_at = where();
        }
    }
    // A condition that must hold, counted as one element.
    template <class Where>
    void expect(bool ok, Where what) {
        count++;
        if (!ok) {
            if (bad < 5) std::printf("  %s: %s\n", name.c_str(), what().c_str());
            bad++;
            worst = NAN;
            worst_at = what();
        }
    }
    // Prints one line; returns the number of failures.
    long report() const {
        std::printf("%-44s %9ld values, worst error/tolerance %.3f (%s)%s\n", name.c_str(), count, worst,
                    worst_at.c_str(), bad ? "  FAILED" : "");
        return bad;
    }
};

inline std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
inline std::string fmt(const char* f, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, f);
    std::vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return buf;
}

struct Random {
    std::mt19937_64 gen;
    explicit Random(uint64_t seed) : gen(seed) {}
    float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen); }
    float normal() { return std::normal_distribution<float>(0.0f, 1.0f)(gen); }
    int integer(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen); }  // [lo, hi]
};

template <typename T> const char* type_name();
template <> inline const char* type_name<float>() { return "f32"; }
template <> inline const char* type_name<__nv_bfloat16>() { return "bf16"; }
template <> inline const char* type_name<__half>() { return "f16"; }

// Half a unit in the last place of T, relative: the rounding error of one store_f32.
template <typename T> double half_ulp();
template <> inline double half_ulp<float>() { return 0x1p-24; }
template <> inline double half_ulp<__nv_bfloat16>() { return 0x1p-8; }
template <> inline double half_ulp<__half>() { return 0x1p-11; }

}  // namespace check
