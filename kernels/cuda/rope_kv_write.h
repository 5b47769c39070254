#pragma once
// Rotary embedding of q and k plus the KV-cache write, fused: one read of each token's packed qkv
// row, q and k rotated in place, and the rotated k and the v stored at the token's cache slot.
// Separate kernels would read k twice and launch twice per layer for a few kilobytes a token.
//
// The rotation is the Hugging Face "rotate half" layout of troupe::cpu::rope_apply: pairs are
// (i, i + head_dim/2). Angles are float(position) * inv_freq[i] in fp32, as the CPU and
// transformers form them; their sine and cosine are evaluated accurately (not with the hardware
// approximation that --use_fast_math substitutes, which is far off for angles of 1e5 radians).
#include <cstdint>

#include <cuda_bf16.h>        // __nv_bfloat16
#include <cuda_runtime_api.h> // cudaStream_t, cudaError_t

#include "kernels/cuda/paged_attention.h"  // PagedKvCache

namespace troupe::cuda {

// qkv rows hold q (num_heads * head_dim), then k (num_kv_heads * head_dim), then v (the same),
// from column 0; row_stride may be larger. Every token's q and k are rotated; a token whose slot
// is negative (padding in a CUDA-graph batch) writes nothing to the cache. row_stride must be a
// multiple of 8 and qkv 16-byte aligned; head_dim 16, 32, 64 or 128. Returns
// cudaErrorInvalidValue for unsupported shapes.
cudaError_t rope_kv_write(__nv_bfloat16* qkv,           // [n_tokens, row_stride]
                          int64_t row_stride,
                          const int32_t* positions,     // [n_tokens]
                          const float* inv_freq,        // [head_dim / 2]
                          const int32_t* slot_mapping,  // [n_tokens]
                          int64_t n_tokens, int64_t num_heads,
                          const PagedKvCache& cache, cudaStream_t stream);

}  // namespace troupe::cuda
