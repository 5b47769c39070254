#pragma once
// Eight bf16 values in one 16-byte vector, widened to fp32 and rounded back: the unit of the
// memory-bound kernels' global accesses (one uint4 a thread, coalesced across the warp).
#include <cuda_bf16.h>
#include <cuda_runtime.h>  // uint4

namespace troupe::cuda {

__device__ __forceinline__ void unpack8(const uint4& raw, float (&f)[8]) {
  const auto* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 p = __bfloat1622float2(h[i]);
    f[2 * i] = p.x;
    f[2 * i + 1] = p.y;
  }
}

// Round to nearest even, as __float2bfloat16 does one value at a time.
__device__ __forceinline__ uint4 pack8(const float (&f)[8]) {
  uint4 raw;
  auto* h = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
  return raw;
}

}  // namespace troupe::cuda
