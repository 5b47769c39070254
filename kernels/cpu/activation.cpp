#include "kernels/cpu/activation.h"

#include <cmath>

namespace troupe::cpu {

void silu_mul(float* out, const float* gate_up, int64_t n_tokens, int64_t inter) {
#pragma omp parallel for if (n_tokens * inter >= (1 << 16))
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* g = gate_up + t * 2 * inter;
    const float* u = g + inter;
    float* o = out + t * inter;
    for (int64_t i = 0; i < inter; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }
}

}  // namespace troupe::cpu
