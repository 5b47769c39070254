#include "kernels/cuda/rms_norm.h"

namespace troupe::cuda {
namespace {

constexpr int kThreads = 256;

// One block per token row. The row is read once into registers-worth of fp32 sums; the second
// loop re-reads residual from L1/L2, which for dim <= 8192 bf16 (16 KB) stays resident.
__global__ void fused_add_rms_norm_kernel(__nv_bfloat16* __restrict__ out,
                                          __nv_bfloat16* __restrict__ residual,
                                          const __nv_bfloat16* __restrict__ x,
                                          const __nv_bfloat16* __restrict__ weight, int64_t dim,
                                          float eps) {
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
    // Sum the value as stored (bf16-rounded), as a separate add then norm would see it.
    const float stored = __bfloat162float(res[i]);
    sum += stored * stored;
  }
  __shared__ float warp_sums[kThreads / 32];
  for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x < 32) {
    sum = threadIdx.x < kThreads / 32 ? warp_sums[threadIdx.x] : 0.0f;
    for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (threadIdx.x == 0) warp_sums[0] = sum;
  }
  __syncthreads();
  const float inv = rsqrtf(warp_sums[0] / static_cast<float>(dim) + eps);
  __nv_bfloat16* o = out + row * dim;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads)
    o[i] = __float2bfloat16(__bfloat162float(res[i]) * inv * __bfloat162float(weight[i]));
}

}  // namespace

cudaError_t fused_add_rms_norm(__nv_bfloat16* out, __nv_bfloat16* residual, const __nv_bfloat16* x,
                               const __nv_bfloat16* weight, int64_t n_tokens, int64_t dim, float eps,
                               cudaStream_t stream) {
  if (n_tokens == 0) return cudaSuccess;
  fused_add_rms_norm_kernel<<<static_cast<unsigned>(n_tokens), kThreads, 0, stream>>>(
      out, residual, x, weight, dim, eps);
  return cudaGetLastError();
}

}  // namespace troupe::cuda
