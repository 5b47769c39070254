#include "engine/sampling/sampling_params.h"

#include <cmath>

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
  return {};
}

}  // namespace troupe
