#include "kernels/cuda/rms_norm.h"

#include "kernels/cuda/bf16x8.cuh"
#include "kernels/cuda/pdl.cuh"

namespace troupe::cuda {
namespace {

constexpr int kThreads = 256;
// Rows of up to kThreads * 8 * kMaxVecs elements (8192) stay in registers between the sum and
// the scaling; longer rows (or dims not a multiple of 8) take the scalar loop.
constexpr int kMaxVecs = 4;

__device__ float block_sum(float sum) {
  __shared__ float warp_sums[kThreads / 32];
  for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  sum = 0.0f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) sum += warp_sums[w];
  return sum;
}

// One block per token row, 16-byte accesses; the row is read once and kept in registers.
__global__ void __launch_bounds__(kThreads) fused_add_rms_norm_vec_kernel(__nv_bfloat16* __restrict__ out,
                                                                          __nv_bfloat16* __restrict__ residual,
                                                                          const __nv_bfloat16* __restrict__ x,
                                                                          const __nv_bfloat16* __restrict__ weight,
                                                                          int64_t dim, float eps) {
  pdl_wait();
  pdl_launch_dependents();
  const int64_t row = blockIdx.x;
  const int vecs = static_cast<int>(dim / 8);
  uint4* res = reinterpret_cast<uint4*>(residual + row * dim);
  const uint4* xr = x ? reinterpret_cast<const uint4*>(x + row * dim) : nullptr;
  float v[kMaxVecs][8];
  float sum = 0.0f;
#pragma unroll
  for (int j = 0; j < kMaxVecs; ++j) {
    const int i = threadIdx.x + j * kThreads;
    if (i >= vecs) break;
    unpack8(res[i], v[j]);
    if (xr) {
      float d[8];
      unpack8(xr[i], d);
#pragma unroll
      for (int e = 0; e < 8; ++e) v[j][e] += d[e];
      const uint4 stored = pack8(v[j]);
      res[i] = stored;
      // Go on with the value as stored (bf16-rounded), as a separate add then norm would see it.
      unpack8(stored, v[j]);
    }
#pragma unroll
    for (int e = 0; e < 8; ++e) sum += v[j][e] * v[j][e];
  }
  const float inv = rsqrtf(block_sum(sum) / static_cast<float>(dim) + eps);
  uint4* o = reinterpret_cast<uint4*>(out + row * dim);
  const uint4* wv = reinterpret_cast<const uint4*>(weight);
#pragma unroll
  for (int j = 0; j < kMaxVecs; ++j) {
    const int i = threadIdx.x + j * kThreads;
    if (i >= vecs) break;
    float g[8], r[8];
    unpack8(wv[i], g);
#pragma unroll
    for (int e = 0; e < 8; ++e) r[e] = v[j][e] * inv * g[e];
    o[i] = pack8(r);
  }
}

// Any dim: one element at a time, re-reading the residual row (L1/L2 resident) for the scaling.
__global__ void __launch_bounds__(kThreads) fused_add_rms_norm_kernel(__nv_bfloat16* __restrict__ out,
                                                                      __nv_bfloat16* __restrict__ residual,
                                                                      const __nv_bfloat16* __restrict__ x,
                                                                      const __nv_bfloat16* __restrict__ weight,
                                                                      int64_t dim, float eps) {
  pdl_wait();
  pdl_launch_dependents();
  const int64_t row = blockIdx.x;
  __nv_bfloat16* res = residual + row * dim;
  const __nv_bfloat16* xr = x ? x + row * dim : nullptr;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads) {
    float v = __bfloat162float(res[i]);
    if (xr) {
      v += __bfloat162float(xr[i]);
      res[i] = __float2bfloat16(v);
    }
    const float stored = __bfloat162float(res[i]);
    sum += stored * stored;
  }
  const float inv = rsqrtf(block_sum(sum) / static_cast<float>(dim) + eps);
  __nv_bfloat16* o = out + row * dim;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads)
    o[i] = __float2bfloat16(__bfloat162float(res[i]) * inv * __bfloat162float(weight[i]));
}

}  // namespace

cudaError_t fused_add_rms_norm(__nv_bfloat16* out, __nv_bfloat16* residual, const __nv_bfloat16* x,
                               const __nv_bfloat16* weight, int64_t n_tokens, int64_t dim, float eps,
                               cudaStream_t stream) {
  if (n_tokens == 0) return cudaSuccess;
  const auto aligned = [](const void* p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  const bool vec = dim % 8 == 0 && dim <= int64_t{kThreads} * 8 * kMaxVecs && aligned(out) && aligned(residual) &&
                   aligned(x) && aligned(weight);
  return launch_pdl(vec ? fused_add_rms_norm_vec_kernel : fused_add_rms_norm_kernel,
                    dim3(static_cast<unsigned>(n_tokens)), dim3(kThreads), 0, stream, out, residual, x, weight, dim,
                    eps);
}

}  // namespace troupe::cuda
