#pragma once
// Attention over a paged KV cache. A layer's cache is [num_blocks, block_size, n_kv_heads,
// head_dim] for K and the same for V; token slot s lives in block s / block_size at offset
// s % block_size. The CUDA kernels use the same layout, so block tables mean the same thing.
#include <cstdint>

namespace troupe::cpu {

struct PagedKvLayer {
  float* k;  // [num_blocks, block_size, n_kv_heads, head_dim]
  float* v;  // [num_blocks, block_size, n_kv_heads, head_dim]
  int64_t block_size;
  int64_t n_kv_heads;
  int64_t head_dim;
};

// Stores each token's K and V rows at its slot. Rows hold n_kv_heads * head_dim floats.
void kv_cache_write(const PagedKvLayer& cache,
                    const float* k, const float* v,  // [n_tokens, row_stride]
                    int64_t row_stride,
                    const int32_t* slot_mapping,     // [n_tokens]
                    int64_t n_tokens);

// Causal attention for one sequence's q_len newest tokens, whose K/V are already in the cache.
// Query i sits at position context_len - q_len + i and sees keys 0..that position, which covers
// a whole prompt, one chunk of it (earlier chunks and prefix-cached blocks already written), and
// a decode step (q_len == 1).
void paged_attention(float* out, int64_t out_stride,      // [q_len, n_heads * head_dim]
                     const float* q, int64_t q_stride,    // [q_len, n_heads * head_dim]
                     int64_t q_len, int64_t context_len,
                     const int32_t* block_table,          // [ceil(context_len / block_size)]
                     const PagedKvLayer& cache, int64_t n_heads, float scale);

}  // namespace troupe::cpu
