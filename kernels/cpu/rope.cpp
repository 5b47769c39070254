#include "kernels/cpu/rope.h"

#include <cmath>
#include <vector>

namespace troupe::cpu {

void rope_apply(float* x, const int32_t* positions, const float* inv_freq, int64_t n_tokens,
                int64_t n_heads, int64_t head_dim, int64_t row_stride) {
  const int64_t half = head_dim / 2;
#pragma omp parallel for if (n_tokens * n_heads * head_dim >= (1 << 16))
  for (int64_t t = 0; t < n_tokens; ++t) {
    std::vector<float> cos_v(half), sin_v(half);
    // The angle is formed in fp32 as transformers does, so long positions round the same way.
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(positions[t]) * inv_freq[i];
      cos_v[i] = std::cos(angle);
      sin_v[i] = std::sin(angle);
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + t * row_stride + h * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * cos_v[i] - b * sin_v[i];
        v[i + half] = b * cos_v[i] + a * sin_v[i];
      }
    }
  }
}

}  // namespace troupe::cpu
