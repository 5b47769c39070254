#pragma once
#include <cstdint>

namespace troupe::cpu {

// Rotary position embedding in the "rotate half" layout Llama/Qwen checkpoints use on Hugging
// Face: pairs are (i, i + head_dim/2), not adjacent elements.
void rope_apply(float* x,                 // [n_tokens, n_heads, head_dim], rotated in place
                const int32_t* positions, // [n_tokens]
                const float* inv_freq,    // [head_dim / 2]
                int64_t n_tokens, int64_t n_heads, int64_t head_dim,
                int64_t row_stride);      // floats between consecutive tokens' rows
}  // namespace troupe::cpu
