// philox.cuh — the dropout masks of training, drawn on the device exactly as the CPU backend draws
// them (distilbert.model.DropoutRng, distilbert.model.Philox): Philox4x32-10 (Salmon et al.,
// "Parallel random numbers: as easy as 1, 2, 3", SC'11), a counter-based generator, so any element
// of a dropout site is drawn from (seed, offset, index) alone, in any thread, in any order.
//
// The contract (DropoutRng's): a site starts at the 64-bit counter `offset`; its element i uses
//   key (k0, k1) = (seed, seed >> 32), counter (c0, c1, c2, c3) = (ctr, ctr >> 32, 0, 0) with
//   ctr = offset + i / 4, and output word i % 4; u = (word >> 8) * 2^-24, exact in [0, 1);
//   kept iff u >= p, a kept element scaled by keep_scale = 1f / (1f - p) (0 for p = 1).
// The host checks (src/test/cuda) and the kernel emulator run the same code: __host__ as well, and
// the high half of the 32 x 32 product through a 64-bit multiply (what __umulhi compiles to).
#pragma once

#include <stdint.h>

namespace dbc {

// A 64-bit kernel parameter (seed, counter offset) comes as two unsigned halves, low first
// (distilbert.cuda.KernelArgs.i64: PTX types a 64-bit integer u64, as it types a pointer, and the
// stand-in driver checks every u64 parameter as a pointer).
__host__ __device__ __forceinline__ uint64_t u64_of(unsigned lo, unsigned hi) { return (uint64_t)hi << 32 | lo; }

struct Philox4 {
    uint32_t w[4];
};

__host__ __device__ __forceinline__ Philox4 philox4x32_10(uint64_t ctr, uint64_t seed) {
    uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
#pragma unroll
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        const uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        const uint32_t y0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        const uint32_t y2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = y0;
        c2 = y2;
    }
    Philox4 r;
    r.w[0] = c0;
    r.w[1] = c1;
    r.w[2] = c2;
    r.w[3] = c3;
    return r;
}

// The uniform of one output word: its top 24 bits times 2^-24, exact in float.
__host__ __device__ __forceinline__ float philox_uniform(uint32_t word) { return (float)(word >> 8) * 0x1p-24f; }

// Whether element i of the site at (seed, offset) is kept under dropout probability p. One block a
// call: kernels that own four consecutive elements draw the block once (dropout_mask4).
__host__ __device__ __forceinline__ bool dropout_keep(uint64_t seed, uint64_t offset, uint64_t i, float p) {
    const Philox4 r = philox4x32_10(offset + i / 4, seed);
    return philox_uniform(r.w[i % 4]) >= p;
}

}  // namespace dbc
