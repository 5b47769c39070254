#pragma once
// A chat request's prompt: the messages checked (known roles; content a string or text parts,
// which are joined by newlines as vLLM joins them; any other part is a 400 naming it), rendered
// with the model's chat template and vLLM's template inputs (add_generation_prompt,
// continue_final_message, tools, documents, chat_template_kwargs, and a trusted request's own
// chat_template), then tokenized.
#include <cstdint>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model_folder.h"
#include "net/api_error.h"

namespace troupe::net {

// The prompt's token ids, or a 400 naming the field at fault (messages[i].role, ...). With
// `request_template` (--trust-request-chat-template) a body's chat_template replaces the model's
// for this request; without it the field never gets here (request_fields refuses it).
std::variant<std::vector<int32_t>, ApiError> read_chat_prompt(const nlohmann::ordered_json& body, const ModelFolder& model,
                                                              bool request_template = false);

}  // namespace troupe::net
