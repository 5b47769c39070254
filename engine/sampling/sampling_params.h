#pragma once
// SamplingParams: how one request turns logits into tokens. Defaults match vLLM's.
#include <cstdint>
#include <optional>
#include <string>

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

  bool is_greedy() const { return temperature <= 0.0f; }
  // Whether drawing a token reads the tokens before it (any penalty away from its neutral value).
  bool has_penalties() const {
    return repetition_penalty != 1.0f || presence_penalty != 0.0f || frequency_penalty != 0.0f;
  }
  // An empty string when valid, else a message naming the bad field.
  std::string validate() const;
};

}  // namespace troupe
