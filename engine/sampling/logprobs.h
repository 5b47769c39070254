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

// One prompt token scored by the model (vLLM's prompt_logprobs): how likely the logits of the
// position before it made it. The first prompt token has none: nothing predicts it.
struct PromptTokenLogprobs {
  int32_t token = 0;              // the prompt token at this position
  float logprob = 0.0f;           // log P(token | the prompt before it), raw distribution
  int32_t rank = 0;               // 1-based, in the order of `top` (more likely first, lower id
                                  // first on ties): 1 + the tokens ranked before it
  std::vector<TokenLogprob> top;  // the request's prompt_logprobs most likely tokens, best first
};

// One sequence's scored prompt tokens from one step: positions first_position, first_position + 1,
// ... of its prompt (a prefill chunk scores the prompt tokens that follow its tokens).
struct PromptLogprobs {
  int32_t first_position = 0;  // >= 1
  std::vector<PromptTokenLogprobs> tokens;
};

// `raw_logits`: the logits of the position before `token`'s; top_n in [0, kMaxTopLogprobs].
PromptTokenLogprobs compute_prompt_logprobs(std::span<const float> raw_logits, int32_t token, int32_t top_n);

}  // namespace troupe
