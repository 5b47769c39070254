#pragma once
// Reading sampling parameters from a JSON request body (OpenAI's names), with errors that name
// the field. Used by the HTTP API and by `troupe generate --prompts-file`.
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "engine/sampling/sampling_params.h"

namespace troupe::net {

struct FieldError {
  std::string field;    // e.g. "temperature"
  std::string message;  // e.g. "temperature must be a number"
};

// Fills `out` from the fields present in `body` (absent ones keep out's values). Checks types
// and ranges. max_tokens may be null (keeps the default). One overload per JSON type its callers
// hold: converting a body between the two copies it recursively, level by level.
std::optional<FieldError> read_sampling_params(const nlohmann::json& body, SamplingParams& out);
std::optional<FieldError> read_sampling_params(const nlohmann::ordered_json& body, SamplingParams& out);

}  // namespace troupe::net
