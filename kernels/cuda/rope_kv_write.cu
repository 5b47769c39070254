#include "kernels/cuda/rope_kv_write.h"

#include <cuda_runtime.h>  // uint4, sincos

#include "kernels/cuda/bf16x8.cuh"
#include "kernels/cuda/pdl.cuh"

namespace troupe::cuda {
namespace {

constexpr int kThreads = 128;

// One block per token. A thread moves 16 bytes (8 elements) of each half of a head, so every
// global access is a full 16-byte vector and consecutive threads touch consecutive bytes.
template <int D>
__global__ void __launch_bounds__(kThreads)
rope_kv_write_kernel(__nv_bfloat16* __restrict__ qkv, int64_t row_stride,
                     const int32_t* __restrict__ positions, const float* __restrict__ inv_freq,
                     const int32_t* __restrict__ slot_mapping, int num_heads, int num_kv_heads,
                     __nv_bfloat16* __restrict__ k_cache, __nv_bfloat16* __restrict__ v_cache) {
  constexpr int kHalf = D / 2;
  constexpr int kVecsPerHalf = kHalf / 8;
  // Each half of a head must be whole 16-byte vectors (D = 16: one a half), and the table of
  // angles is filled by one pass of the block.
  static_assert(kHalf % 8 == 0 && kHalf <= kThreads, "head_dim 16, 32, 64 or 128");
  __shared__ float cos_s[kHalf], sin_s[kHalf];
  pdl_wait();
  pdl_launch_dependents();
  const int64_t t = blockIdx.x;
  const int64_t slot = slot_mapping[t];
  __nv_bfloat16* row = qkv + t * row_stride;
  const int64_t kv_row = static_cast<int64_t>(num_kv_heads) * D;

  if (threadIdx.x < kHalf) {
    // fp32 angle exactly as the CPU forms it; the sine and cosine in double, because
    // --use_fast_math turns sincosf into the MUFU approximation, whose error grows with the
    // argument (positions reach 1e5 radians), and leaves double math alone. Rounding the double
    // result to float gives the correctly rounded value the CPU's cosf/sinf give. Costs D/2
    // double sincos per token: nothing next to the row's memory traffic.
    const float angle = static_cast<float>(positions[t]) * inv_freq[threadIdx.x];
    double s, c;
    sincos(static_cast<double>(angle), &s, &c);
    cos_s[threadIdx.x] = static_cast<float>(c);
    sin_s[threadIdx.x] = static_cast<float>(s);
  }
  __syncthreads();

  const int rotated_heads = num_heads + num_kv_heads;
  for (int item = threadIdx.x; item < rotated_heads * kVecsPerHalf; item += kThreads) {
    const int head = item / kVecsPerHalf;
    const int i0 = (item % kVecsPerHalf) * 8;
    uint4* lo_ptr = reinterpret_cast<uint4*>(row + head * D + i0);
    uint4* hi_ptr = reinterpret_cast<uint4*>(row + head * D + kHalf + i0);
    float a[8], b[8], lo[8], hi[8];
    unpack8(*lo_ptr, a);
    unpack8(*hi_ptr, b);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const float c = cos_s[i0 + e], s = sin_s[i0 + e];
      lo[e] = a[e] * c - b[e] * s;
      hi[e] = b[e] * c + a[e] * s;
    }
    const uint4 lo_bits = pack8(lo), hi_bits = pack8(hi);
    *lo_ptr = lo_bits;
    *hi_ptr = hi_bits;
    if (head >= num_heads && slot >= 0) {
      __nv_bfloat16* dst = k_cache + slot * kv_row + (head - num_heads) * D;
      *reinterpret_cast<uint4*>(dst + i0) = lo_bits;
      *reinterpret_cast<uint4*>(dst + kHalf + i0) = hi_bits;
    }
  }
  if (slot < 0) return;
  const __nv_bfloat16* v = row + (num_heads + num_kv_heads) * D;
  for (int i = threadIdx.x * 8; i < kv_row; i += kThreads * 8)
    *reinterpret_cast<uint4*>(v_cache + slot * kv_row + i) = *reinterpret_cast<const uint4*>(v + i);
}

}  // namespace

cudaError_t rope_kv_write(__nv_bfloat16* qkv, int64_t row_stride, const int32_t* positions,
                          const float* inv_freq, const int32_t* slot_mapping, int64_t n_tokens,
                          int64_t num_heads, const PagedKvCache& cache, cudaStream_t stream) {
  const int64_t d = cache.head_dim;
  if (!cuda_attention_head_dim_supported(d) || num_heads <= 0 || cache.num_kv_heads <= 0 ||
      row_stride % 8 != 0 || row_stride < (num_heads + 2 * cache.num_kv_heads) * d ||
      reinterpret_cast<uintptr_t>(qkv) % 16 != 0 || n_tokens < 0 || n_tokens > 0x7fffffff)
    return cudaErrorInvalidValue;
  if (n_tokens == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(n_tokens));
  auto kernel = rope_kv_write_kernel<128>;
  switch (d) {
    case 16: kernel = rope_kv_write_kernel<16>; break;
    case 32: kernel = rope_kv_write_kernel<32>; break;
    case 64: kernel = rope_kv_write_kernel<64>; break;
    default: break;
  }
  return launch_pdl(kernel, grid, dim3(kThreads), 0, stream, qkv, row_stride, positions, inv_freq, slot_mapping,
                    static_cast<int>(num_heads), cache.num_kv_heads, cache.k, cache.v);
}

}  // namespace troupe::cuda
