// attention_common.cuh — the semantics shared by the attention kernels (attention.cu on the SIMT
// cores, attention_tc.cu on the tensor cores): which tokens are keys, the uniform case, the
// final normalisation. __host__ as well, for the host checks.
#pragma once

#include "common.cuh"

namespace dbc {

// Keys of a sequence: count and whether the row is the uniform (fully masked) case.
struct AttnKeys {
    int count;
    bool uniform;
};
__host__ __device__ __forceinline__ AttnKeys attn_keys(int len, int keys) {
    return keys == 0 ? AttnKeys{len, true} : AttnKeys{keys, false};
}

// exp(s - m) for a running max m. m is -inf only while every score seen is -inf; the shift is
// then 0, so that (-inf) - (-inf) never makes a NaN: the result is exp(-inf - 0) = 0.
__host__ __device__ __forceinline__ float max_shift(float m) { return m == -INFINITY ? 0.0f : m; }
__host__ __device__ __forceinline__ float exp_shift(float s, float m) { return expf(s - max_shift(m)); }

// The factor that turns exp(s - m) into a probability times head_mask: p = e * mask / l.
// l >= 1 (the max contributes exp(0)) whenever the sequence has a key.
__host__ __device__ __forceinline__ float attn_norm(float l, float mask) { return mask / l; }

// What a block of the forward kernels works on, from the grid (x: query tiles, y: heads,
// z: sequences): head h, sequence tokens [start, start + len), first query i0 (the block has
// nothing to do when i0 >= len), the keys, out's row stride C and the head's first column col.
struct AttnBlock {
    int h, start, len, i0;
    AttnKeys keys;
    int64_t C, col;
};
#if defined(__CUDACC__) || defined(DBC_EMULATE)  // DBC_EMULATE: the host kernel emulator
__device__ __forceinline__ AttnBlock attn_block(const int* cu_seqlens, const int* key_lens, int queries_per_block,
                                                int NH, int HS) {
    const int s = blockIdx.z, h = blockIdx.y;
    const int start = cu_seqlens[s];
    const int len = cu_seqlens[s + 1] - start;
    return AttnBlock{h, start, len, (int)blockIdx.x * queries_per_block,
                     attn_keys(len, key_lens ? key_lens[s] : len), (int64_t)NH * HS, (int64_t)h * HS};
}
#endif

}  // namespace dbc
