#include "engine/sampling/sampling_params.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace troupe {

std::string SamplingParams::validate() const {
  if (!std::isfinite(temperature) || temperature < 0.0f) return "temperature must be >= 0";
  if (top_k < -1) return "top_k must be -1, 0 (disabled) or positive";
  if (!(top_p > 0.0f && top_p <= 1.0f)) return "top_p must be in (0, 1]";
  if (!(min_p >= 0.0f && min_p <= 1.0f)) return "min_p must be in [0, 1]";
  if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty))
    return "repetition_penalty must be > 0";
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    return "presence_penalty must be in [-2, 2]";
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    return "frequency_penalty must be in [-2, 2]";
  if (max_tokens < 1) return "max_tokens must be >= 1";
  if (logprobs < -1 || logprobs > 20) return "logprobs must be -1 (none) or in [0, 20]";
  if (prompt_logprobs < -1 || prompt_logprobs > 20) return "prompt_logprobs must be -1 (none) or in [0, 20]";
  if (min_tokens < 0 || min_tokens > max_tokens) return "min_tokens must be in [0, max_tokens]";
  for (const auto& [id, bias] : logit_bias)
    if (id < 0 || !(bias >= -100.0f && bias <= 100.0f)) return "logit_bias must map token ids to biases in [-100, 100]";
  // The GPU sampler adds a row's biases in parallel, one thread per entry: a repeated id would race.
  std::vector<int32_t> bias_ids;
  for (const auto& entry : logit_bias) bias_ids.push_back(entry.first);
  std::sort(bias_ids.begin(), bias_ids.end());
  if (std::adjacent_find(bias_ids.begin(), bias_ids.end()) != bias_ids.end())
    return "logit_bias must name each token id once";
  for (int32_t id : stop_token_ids)
    if (id < 0) return "stop_token_ids must be token ids (>= 0)";
  return {};
}

}  // namespace troupe
