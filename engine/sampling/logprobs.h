#pragma once
// Log-probabilities a client asked for (OpenAI's logprobs / top_logprobs): of the sampled token
// and of the most likely alternatives, from the model's raw distribution (log_softmax of the
// logits before penalties and temperature), as vLLM reports them by default.
#include <cstdint>
#include <span>
#include <vector>

namespace troupe {

inline constexpr int32_t kMaxTopLogprobs = 20;

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

struct SampleLogprobs {
  float logprob = 0.0f;            // of the sampled token
  std::vector<TokenLogprob> top;   // the top_n most likely tokens, best first, lower id first on ties
};

// `raw_logits` must be the logits before any penalty; top_n in [0, kMaxTopLogprobs].
SampleLogprobs compute_logprobs(std::span<const float> raw_logits, int32_t sampled, int32_t top_n);

}  // namespace troupe
