#include "kernels/cpu/norm.h"

#include <cmath>

namespace troupe::cpu {

void rms_norm(float* out, const float* x, const float* weight, int64_t n_tokens, int64_t dim,
              float eps) {
#pragma omp parallel for if (n_tokens * dim >= (1 << 16))
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* row = x + t * dim;
    // Accumulate in double: the sum of squares over thousands of elements is where fp32 drifts.
    double sum = 0.0;
    for (int64_t i = 0; i < dim; ++i) sum += static_cast<double>(row[i]) * row[i];
    const float inv = 1.0f / std::sqrt(static_cast<float>(sum / dim) + eps);
    float* o = out + t * dim;
    for (int64_t i = 0; i < dim; ++i) o[i] = (row[i] * inv) * weight[i];
  }
}

}  // namespace troupe::cpu
