#pragma once
#include <cstdint>

namespace troupe::cpu {

// out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight, one row per token. out may alias x.
void rms_norm(float* out,            // [n_tokens, dim]
              const float* x,        // [n_tokens, dim]
              const float* weight,   // [dim]
              int64_t n_tokens, int64_t dim, float eps);

}  // namespace troupe::cpu
