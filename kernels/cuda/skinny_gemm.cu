#include "kernels/cuda/skinny_gemm.h"

#include "kernels/cuda/pdl.cuh"

namespace troupe::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kUnroll = 4;  // 16-byte weight loads in flight per lane before the first use

__device__ __forceinline__ void accumulate(float& acc, const uint4& wv, const uint4& xv) {
  const auto* w2 = reinterpret_cast<const __nv_bfloat162*>(&wv);
  const auto* x2 = reinterpret_cast<const __nv_bfloat162*>(&xv);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 a = __bfloat1622float2(w2[i]);
    const float2 b = __bfloat1622float2(x2[i]);
    acc = fmaf(a.x, b.x, acc);
    acc = fmaf(a.y, b.y, acc);
  }
}

template <int M>
__global__ void __launch_bounds__(kWarps * 32) skinny_gemm_kernel(__nv_bfloat16* __restrict__ y_bf16,
                                                                  float* __restrict__ y_f32,
                                                                  const __nv_bfloat16* __restrict__ x,
                                                                  const __nv_bfloat16* __restrict__ w,
                                                                  const __nv_bfloat16* __restrict__ bias,
                                                                  int64_t n, int64_t k) {
  const int lane = threadIdx.x % 32;
  const int64_t row = int64_t{blockIdx.x} * kWarps + threadIdx.x / 32;
  const int64_t chunks = k / 8;  // 16-byte chunks of a row
  const uint4* wr = reinterpret_cast<const uint4*>(w + row * k);
  float acc[M];
#pragma unroll
  for (int m = 0; m < M; ++m) acc[m] = 0.0f;
  int64_t c = lane;
  // The weights depend on no earlier kernel: the first group is in flight while the kernel that
  // produces x (launched just before, see pdl.cuh) finishes.
  uint4 wv[kUnroll];
  bool preloaded = row < n && c + (kUnroll - 1) * 32 < chunks;
  if (preloaded) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) wv[u] = __ldcs(wr + c + u * 32);  // streamed once: no L2 residency
  }
  pdl_wait();
  pdl_launch_dependents();
  if (row >= n) return;
  const uint4* xr = reinterpret_cast<const uint4*>(x);
  // Main loop: kUnroll independent weight loads issued before any is used.
  for (; c + (kUnroll - 1) * 32 < chunks; c += kUnroll * 32) {
    if (!preloaded) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) wv[u] = __ldcs(wr + c + u * 32);
    }
    preloaded = false;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
#pragma unroll
      for (int m = 0; m < M; ++m) accumulate(acc[m], wv[u], __ldg(xr + m * chunks + c + u * 32));
  }
  for (; c < chunks; c += 32) {
    const uint4 tail = __ldcs(wr + c);
#pragma unroll
    for (int m = 0; m < M; ++m) accumulate(acc[m], tail, __ldg(xr + m * chunks + c));
  }
#pragma unroll
  for (int m = 0; m < M; ++m)
    for (int off = 16; off > 0; off >>= 1) acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], off);
  if (lane != 0) return;
#pragma unroll
  for (int m = 0; m < M; ++m) {
    if (y_f32) {
      y_f32[m * n + row] = acc[m];
    } else {
      // Rounded once after the bias, as cuBLASLt's bias epilogue does.
      const float b = bias ? __bfloat162float(bias[row]) : 0.0f;
      y_bf16[m * n + row] = __float2bfloat16(acc[m] + b);
    }
  }
}

template <int M>
cudaError_t launch(__nv_bfloat16* y_bf16, float* y_f32, const __nv_bfloat16* x, const __nv_bfloat16* w,
                   const __nv_bfloat16* bias, int64_t n, int64_t k, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>((n + kWarps - 1) / kWarps);
  return launch_pdl(skinny_gemm_kernel<M>, dim3(blocks), dim3(kWarps * 32), 0, stream, y_bf16, y_f32, x, w, bias, n, k);
}

}  // namespace

cudaError_t skinny_gemm(__nv_bfloat16* y_bf16, float* y_f32, const __nv_bfloat16* x, const __nv_bfloat16* w,
                        const __nv_bfloat16* bias, int64_t m, int64_t n, int64_t k, cudaStream_t stream) {
  if (m < 1 || m > kSkinnyMaxRows || n <= 0 || k <= 0 || k % 8 != 0 || k > (int64_t{1} << 30) || (y_bf16 == nullptr) == (y_f32 == nullptr) ||
      (bias && !y_bf16) || reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(w) % 16 != 0)
    return cudaErrorInvalidValue;
  switch (m) {
    case 1: return launch<1>(y_bf16, y_f32, x, w, bias, n, k, stream);
    case 2: return launch<2>(y_bf16, y_f32, x, w, bias, n, k, stream);
    case 3: return launch<3>(y_bf16, y_f32, x, w, bias, n, k, stream);
    case 4: return launch<4>(y_bf16, y_f32, x, w, bias, n, k, stream);
    case 5: return launch<5>(y_bf16, y_f32, x, w, bias, n, k, stream);
    case 6: return launch<6>(y_bf16, y_f32, x, w, bias, n, k, stream);
    case 7: return launch<7>(y_bf16, y_f32, x, w, bias, n, k, stream);
    default: return launch<8>(y_bf16, y_f32, x, w, bias, n, k, stream);
  }
}

}  // namespace troupe::cuda
