#pragma once
// OpenAI's /v1/completions and /v1/chat/completions: request bodies in, validated and tokenized;
// response bodies and stream chunks out. No sockets here: the routes glue this to HTTP.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model_folder.h"
#include "engine/sampling/sampling_params.h"
#include "net/api_error.h"
#include "net/request_fields.h"
#include "net/served_names.h"  // ApiKind, the field list every body is checked against
#include "net/vllm_sampling_json.h"

namespace troupe::net {

// One prompt of a request (a completions batch has several) and the output it may have.
struct PromptInput {
  std::vector<int32_t> ids;
  int32_t max_tokens = 0;  // fitted into the context: the request's, or the route's default
};

struct CompletionRequest {
  ApiKind kind = ApiKind::Completion;
  std::vector<PromptInput> prompts;  // chat: one; completions: one or a batch
  SamplingParams params;  // params.logprobs: completions' logprobs N, or chat's top_logprobs
                          // (0 when absent) under logprobs: true; -1 when not asked.
                          // params.max_tokens: see each prompt's
  VllmOutputOptions output;    // skip_special_tokens, include_stop_str_in_output
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int32_t n = 1;               // choices per prompt: n sequences (seeds seed, seed+1, ...)
  std::string request_id;      // the client's, or empty
  std::string model_name;      // the served name the body gave (vLLM answers with it), else the first
  int32_t priority = 0;        // lower is served earlier (only non-zero under --scheduling-policy priority)
  std::vector<std::string> echo;  // completions' echo: each prompt's text, which its choices' text starts with
  bool echo_logprobs = false;     // echo with logprobs: the prompt tokens' logprobs lead each choice's
                                  // (params.prompt_logprobs asks for them: the body's, else logprobs)
  bool prompt_logprobs_given = false;  // the body's own prompt_logprobs (else echo implied them)
  int32_t num_choices() const { return n * static_cast<int32_t>(prompts.size()); }
};

struct CompletionChoice {
  std::string text;
  std::string finish_reason;
  nlohmann::ordered_json logprobs;  // null unless the request asked (logprobs_json.h)
  // The request asked for prompt logprobs: vLLM's list (prompt_logprobs_json), on the choice for
  // completions and once on the response for chat (every choice has the same prompt).
  std::optional<nlohmann::ordered_json> prompt_logprobs;
};

// Parses and checks a request body against the model (context length, vocabulary); tokenizes
// the prompt or renders and tokenizes the chat. Errors name the field. `gates`: the serve flags
// that open gated fields (a request's chat_template, a non-zero priority).
std::variant<CompletionRequest, ApiError> parse_completion_request(ApiKind kind, const std::string& body,
                                                                   const ModelFolder& model,
                                                                   const ServedNames& served_name,
                                                                   const FieldGates& gates = {});

// Builds response bodies and stream chunks for one request.
class CompletionFormatter {
 public:
  CompletionFormatter(ApiKind kind, std::string model_name, std::string request_id, int64_t created);
  std::string full_response(const std::vector<CompletionChoice>& choices, int32_t prompt_tokens,
                            int32_t completion_tokens) const;
  std::string first_chunk(int32_t index = 0) const;  // chat: the assistant role; completions: empty
  // `logprobs`: those of the chunk's tokens (logprobs_json.h), or null.
  std::string text_chunk(const std::string& delta, int32_t index = 0,
                         const nlohmann::ordered_json& logprobs = nullptr) const;
  std::string final_chunk(const std::string& finish_reason, int32_t index = 0) const;
  std::string usage_chunk(int32_t prompt_tokens, int32_t completion_tokens) const;
  static std::string sse(const std::string& json) { return "data: " + json + "\n\n"; }
  static std::string sse_done() { return "data: [DONE]\n\n"; }
  ApiKind kind() const { return kind_; }

 private:
  nlohmann::ordered_json envelope(bool chunk) const;
  ApiKind kind_;
  std::string model_;
  std::string id_;
  int64_t created_;
};

std::string models_response(const ServedNames& served_name, int64_t max_model_len, int64_t created);
std::string model_response(const std::string& served_name, int64_t max_model_len, int64_t created);

}  // namespace troupe::net
