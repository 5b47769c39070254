#pragma once
// SamplingParams: how one request turns logits into tokens. Defaults match vLLM's.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace troupe {

struct SamplingParams {
  float temperature = 1.0f;         // 0 means greedy
  int32_t top_k = 0;                // 0 (or -1) keeps every token
  float top_p = 1.0f;               // nucleus mass kept, (0, 1]
  float min_p = 0.0f;               // drop tokens below min_p * p(most likely)
  float repetition_penalty = 1.0f;  // > 1 discourages tokens seen in prompt or output
  float presence_penalty = 0.0f;    // subtracted once from every token already generated
  float frequency_penalty = 0.0f;   // subtracted per occurrence in the generated tokens
  std::optional<uint64_t> seed;     // same seed, same text
  int32_t max_tokens = 16;
  bool ignore_eos = false;
  int32_t logprobs = -1;            // -1: none; 0..20: the sampled token's log-probability and
                                    // this many most likely alternatives (raw distribution)
  int32_t prompt_logprobs = -1;     // -1: none; 0..20: for each prompt token after the first, its
                                    // log-probability given the tokens before it, its rank and
                                    // this many most likely alternatives (vLLM's prompt_logprobs)
  // vLLM's logits processors, applied to the raw logits before penalties, as vLLM v1 does.
  int32_t min_tokens = 0;                // below this many outputs no stop id is drawn or ends it
  std::vector<int32_t> stop_token_ids;   // any ends the sequence, whatever ignore_eos says. The
                                         // HTTP layer adds the model's EOS ids unless ignore_eos
                                         // (vLLM's all_stop_token_ids), so min_tokens holds them off
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to a token's logit; ids unique,
                                                      // biases in [-100, 100] (OpenAI's range)

  bool is_greedy() const { return temperature <= 0.0f; }
  // Whether drawing a token reads the tokens before it (any penalty away from its neutral value).
  bool has_penalties() const {
    return repetition_penalty != 1.0f || presence_penalty != 0.0f || frequency_penalty != 0.0f;
  }
  // Whether sampling must change the logits before penalties (logit_bias, or min_tokens masking
  // stop ids while fewer than min_tokens outputs exist).
  bool adjusts_logits() const { return !logit_bias.empty() || (min_tokens > 0 && !stop_token_ids.empty()); }
  // An empty string when valid, else a message naming the bad field.
  std::string validate() const;
};

}  // namespace troupe
