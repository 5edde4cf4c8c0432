// common.cuh — helpers shared by every kernel family in kernels-cu.
//
// Storage types: kernels are templates over the element type held in memory (float or
// __nv_bfloat16); arithmetic is always float32, so kernels read through load_f32 and write
// through store_f32. Parameter gradients are float32 whatever the storage type: they
// accumulate into the float32 gradient slab (DESIGN.md, "Memory layout").
//
// Entry points are extern "C" with a dtype suffix (bias_gelu_forward_f32) so that the Java
// bridge finds them by a stable, unmangled name through cuModuleGetFunction.
#pragma once

#include <cuda_bf16.h>
#include <stdint.h>

namespace dbc {

// Plain loads, not __ldg: several kernels run in place (an output aliasing an input), and the
// non-coherent path is only defined for data that no thread writes during the kernel.
__device__ __forceinline__ float load_f32(const float* p) { return *p; }
__device__ __forceinline__ float load_f32(const __nv_bfloat16* p) { return __bfloat162float(*p); }

__device__ __forceinline__ void store_f32(float* p, float v) { *p = v; }
// Round to nearest even, as torch does when it casts float32 to bfloat16.
__device__ __forceinline__ void store_f32(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

__host__ __device__ constexpr int ceil_div(int a, int b) { return (a + b - 1) / b; }

}  // namespace dbc
