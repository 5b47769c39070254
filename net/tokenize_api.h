#pragma once
// vLLM's POST /tokenize and /detokenize: the server's own tokenizer and chat template, so a client
// can count tokens or check what a prompt becomes without generating.
//   /tokenize   {"prompt": "..."} (add_special_tokens, default true) or {"messages": [...]}
//               (add_generation_prompt default true, add_special_tokens default false), optional
//               "model" and "return_token_strs" -> {"count", "max_model_len", "tokens", "token_strs"?}
//   /detokenize {"tokens": [ids]} -> {"prompt": "..."} (special tokens kept, as vLLM decodes)
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/model_folder.h"
#include "net/api_error.h"
#include "net/request_fields.h"  // FieldGates
#include "net/api_routes.h"
#include "net/http_server.h"

namespace troupe::net {

struct Tokenized {
  std::vector<int32_t> ids;
  bool return_token_strs = false;
};

// Checks and tokenizes a /tokenize body. Errors name the field. Its `messages` are read as the chat
// route reads them (read_chat_prompt: content parts, chat_template_kwargs, continue_final_message,
// a request's chat_template under `gates`), so /tokenize counts what the chat route would send.
std::variant<Tokenized, ApiError> parse_tokenize_request(const std::string& body, const ModelFolder& model,
                                                         const ServedNames& served_name, const FieldGates& gates = {});
// Checks a /detokenize body: every id must lie in the tokenizer's vocabulary (400 naming "tokens").
std::variant<std::vector<int32_t>, ApiError> parse_detokenize_request(const std::string& body, const ModelFolder& model,
                                                                      const ServedNames& served_name);

std::string tokenize_response(const std::vector<int32_t>& ids, int64_t max_model_len,
                              const std::optional<std::vector<std::string>>& token_strs);
std::string detokenize_response(const std::string& text);

void handle_tokenize(ApiContext& ctx, const HttpRequest& req, std::shared_ptr<HttpResponder> responder);
void handle_detokenize(ApiContext& ctx, const HttpRequest& req, std::shared_ptr<HttpResponder> responder);

}  // namespace troupe::net
