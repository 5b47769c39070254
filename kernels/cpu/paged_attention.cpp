#include "kernels/cpu/paged_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace troupe::cpu {

void kv_cache_write(const PagedKvLayer& cache, const float* k, const float* v, int64_t row_stride,
                    const int32_t* slot_mapping, int64_t n_tokens) {
  const int64_t row = cache.n_kv_heads * cache.head_dim;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int64_t slot = slot_mapping[t];
    std::memcpy(cache.k + slot * row, k + t * row_stride, row * sizeof(float));
    std::memcpy(cache.v + slot * row, v + t * row_stride, row * sizeof(float));
  }
}

void paged_attention(float* out, int64_t out_stride, const float* q, int64_t q_stride,
                     int64_t q_len, int64_t context_len, const int32_t* block_table,
                     const PagedKvLayer& cache, int64_t n_heads, float scale) {
  const int64_t d = cache.head_dim;
  const int64_t kv_row = cache.n_kv_heads * d;
  const int64_t group = n_heads / cache.n_kv_heads;
  const int64_t first_pos = context_len - q_len;
  // Threads pay off only with enough work; a tiny decode step would spend more waking them.
  const bool parallel = q_len * n_heads * context_len * d >= (1 << 16);
#pragma omp parallel if (parallel)
  {
    std::vector<float> scores(context_len);
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int64_t i = 0; i < q_len; ++i) {
      for (int64_t h = 0; h < n_heads; ++h) {
        const float* qv = q + i * q_stride + h * d;
        const int64_t kvh = h / group;
        const int64_t n_keys = first_pos + i + 1;
        float max_score = -INFINITY;
        for (int64_t j = 0; j < n_keys; ++j) {
          const int64_t slot = int64_t{block_table[j / cache.block_size]} * cache.block_size +
                               j % cache.block_size;
          const float* kv = cache.k + slot * kv_row + kvh * d;
          float dot = 0.0f;
          for (int64_t e = 0; e < d; ++e) dot += qv[e] * kv[e];
          scores[j] = dot * scale;
          max_score = std::max(max_score, scores[j]);
        }
        float denom = 0.0f;
        for (int64_t j = 0; j < n_keys; ++j) {
          scores[j] = std::exp(scores[j] - max_score);
          denom += scores[j];
        }
        float* o = out + i * out_stride + h * d;
        std::fill(o, o + d, 0.0f);
        for (int64_t j = 0; j < n_keys; ++j) {
          const int64_t slot = int64_t{block_table[j / cache.block_size]} * cache.block_size +
                               j % cache.block_size;
          const float* vv = cache.v + slot * kv_row + kvh * d;
          const float p = scores[j] / denom;
          for (int64_t e = 0; e < d; ++e) o[e] += p * vv[e];
        }
      }
    }
  }
}

}  // namespace troupe::cpu
