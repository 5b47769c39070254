#pragma once
// /v1/completions' prompt as vLLM takes it: a string, a list of token ids, or a batch — a list of
// strings or a list of token-id lists — each prompt getting its own n choices.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model_folder.h"
#include "net/api_error.h"

namespace troupe::net {

// A batch holds at most this many prompts: each becomes n sequences of one HTTP answer.
constexpr size_t kMaxBatchPrompts = 256;

// Every prompt's token ids (one for a single prompt), tokenized with add_special_tokens (default
// true); errors name 'prompt' (or 'add_special_tokens').
std::variant<std::vector<std::vector<int32_t>>, ApiError> read_completion_prompts(const nlohmann::ordered_json& body,
                                                                                  const ModelFolder& model);

// The text of each prompt, for echo: a string prompt as the client wrote it; token ids (or a
// string cut by truncate_prompt_tokens: `truncated`) decoded with their special tokens, as vLLM
// decodes them.
std::vector<std::string> completion_prompt_texts(const nlohmann::ordered_json& body,
                                                 const std::vector<std::vector<int32_t>>& prompt_ids,
                                                 const ModelFolder& model, bool truncated);

}  // namespace troupe::net
