#pragma once
// vLLM's sampling fields beyond OpenAI's, on both OpenAI routes: min_tokens, stop_token_ids and
// logit_bias (into SamplingParams), how the output becomes text (skip_special_tokens,
// include_stop_str_in_output) and truncate_prompt_tokens. Errors name the field.
#include <cstdint>
#include <optional>

#include <nlohmann/json.hpp>

#include "engine/sampling/sampling_params.h"
#include "net/api_error.h"

namespace troupe::net {

struct VllmOutputOptions {
  bool skip_special_tokens = true;
  bool include_stop_str_in_output = false;
  int32_t truncate_prompt_tokens = 0;  // > 0: keep only the prompt's last this many tokens
};

// Fills `params` and `out` from `body`; token ids are checked against `vocab_size`, biases are
// clamped to [-100, 100] as vLLM clamps them. min_tokens against max_tokens is the caller's
// check (max_tokens is known only once the prompt is).
std::optional<ApiError> read_vllm_sampling_fields(const nlohmann::ordered_json& body, int64_t vocab_size,
                                                  SamplingParams& params, VllmOutputOptions& out);

}  // namespace troupe::net
