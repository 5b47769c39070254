#pragma once
#include <cstdint>

namespace troupe::cpu {

// out[t, i] = silu(gate_up[t, i]) * gate_up[t, inter + i]: gate and up come from one fused GEMM.
void silu_mul(float* out,            // [n_tokens, inter]
              const float* gate_up,  // [n_tokens, 2 * inter]
              int64_t n_tokens, int64_t inter);

}  // namespace troupe::cpu
