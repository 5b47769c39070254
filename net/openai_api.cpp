#include "net/openai_api.h"

#include <algorithm>

#include "engine/sampling/logprobs.h"
#include "net/api_submit.h"
#include "net/chat_prompt.h"
#include "net/completion_prompts.h"
#include "net/json_body.h"
#include "net/sampling_json.h"

namespace troupe::net {
namespace {

using nlohmann::ordered_json;

ApiError bad(std::string message, std::string param) { return ApiError{400, std::move(message), std::move(param)}; }

std::variant<int32_t, ApiError> read_logprob_count(const ordered_json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return -1;
  // A uint64 past INT64_MAX reads back negative: rejected with the rest.
  if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > kMaxTopLogprobs)
    return bad(std::string("'") + key + "' must be an integer from 0 to " + std::to_string(kMaxTopLogprobs), key);
  return static_cast<int32_t>(it->get<int64_t>());
}

// Completions (OpenAI's legacy API): logprobs is the number of alternatives (OpenAI allows up to
// 5; we allow what the engine computes, 20). Chat: logprobs: true asks, top_logprobs counts the
// alternatives and means nothing without it, so alone it is an error (as OpenAI answers).
std::optional<ApiError> read_logprobs(ApiKind kind, const ordered_json& body, SamplingParams& out) {
  if (kind == ApiKind::Completion) {
    if (auto it = body.find("top_logprobs"); it != body.end() && !it->is_null())
      return bad("'top_logprobs' is a chat completions field; /v1/completions takes 'logprobs': N", "top_logprobs");
    // false means none, as a null does (clients that mirror chat's flag send it).
    if (auto it = body.find("logprobs"); it != body.end() && it->is_boolean() && !it->get<bool>()) return std::nullopt;
    auto n = read_logprob_count(body, "logprobs");
    if (auto* e = std::get_if<ApiError>(&n)) return *e;
    out.logprobs = std::get<int32_t>(n);
    return std::nullopt;
  }
  bool asked = false;
  if (auto it = body.find("logprobs"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return bad("'logprobs' must be true or false", "logprobs");
    asked = it->get<bool>();
  }
  auto top = read_logprob_count(body, "top_logprobs");
  if (auto* e = std::get_if<ApiError>(&top)) return *e;
  if (std::get<int32_t>(top) >= 0 && !asked) return bad("'top_logprobs' needs 'logprobs': true", "top_logprobs");
  if (asked) out.logprobs = std::max(std::get<int32_t>(top), 0);
  return std::nullopt;
}

// vLLM's prompt_logprobs: how many alternatives to list for each prompt token, bounded like
// logprobs (vLLM's max_logprobs, 20). -1 (the whole vocabulary, in newer vLLM) is refused by name;
// a stream has nowhere to put them, so there any but 0 is a 400, as in vLLM.
std::optional<ApiError> read_prompt_logprobs(const ordered_json& body, bool stream, SamplingParams& out) {
  auto it = body.find("prompt_logprobs");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_number_integer() && it->get<int64_t>() == -1)
    return bad("'prompt_logprobs' -1 (every token of the vocabulary) is not supported; ask for 0 to " +
                   std::to_string(kMaxTopLogprobs) + " alternatives", "prompt_logprobs");
  auto n = read_logprob_count(body, "prompt_logprobs");
  if (auto* e = std::get_if<ApiError>(&n)) return *e;
  if (stream && std::get<int32_t>(n) > 0) return bad("`prompt_logprobs` are not available when `stream=True`.", "prompt_logprobs");
  out.prompt_logprobs = std::get<int32_t>(n);
  return std::nullopt;
}

}  // namespace

std::string ApiError::body() const {
  ordered_json j = {{"error",
                     {{"message", message},
                      {"type", type},
                      {"param", param.empty() ? ordered_json(nullptr) : ordered_json(param)},
                      {"code", status}}}};
  return dump_json(j);
}

std::variant<CompletionRequest, ApiError> parse_completion_request(ApiKind kind, const std::string& body,
                                                                   const ModelFolder& m,
                                                                   const ServedNames& served_name,
                                                                   const FieldGates& gates) {
  auto parsed = parse_json_object(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const ordered_json& j = std::get<ordered_json>(parsed);
  if (auto it = j.find("model"); it != j.end() && !(it->is_string() && served_name.contains(it->get<std::string>())))
    return ApiError{404, "the model '" + json_excerpt(*it) + "' does not exist; this server serves " + served_name.quoted(),
                    "model", "NotFoundError"};
  // The one rule (request_fields.h): what we do not do is a 400 naming it; what nobody knows is
  // said once in the log and otherwise ignored, as vLLM does.
  if (auto e = refuse_unsupported_fields(kind, j, gates)) return *e;
  warn_unknown_fields_once(unknown_request_fields(kind, j));
  CompletionRequest r;
  r.kind = kind;
  r.model_name = j.contains("model") ? j["model"].get<std::string>() : served_name.primary();
  r.params = m.generation.params;  // generation_config.json's values, which the body's fields override
  r.params.max_tokens = 1;  // validate() must not trip on a max_tokens not known yet
  if (auto err = read_sampling_params(j, r.params); err && err->field != "max_tokens")
    return bad(err->message, err->field);
  // vLLM's chat takes max_completion_tokens over the deprecated max_tokens.
  int32_t requested_max = -1;
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (kind == ApiKind::Completion && std::string_view(key) == "max_completion_tokens") continue;
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > INT32_MAX)
      return bad(std::string(key) + " must be a positive integer", key);
    requested_max = static_cast<int32_t>(it->get<int64_t>());
  }
  if (auto e = read_logprobs(kind, j, r.params)) return *e;
  if (auto e = read_vllm_sampling_fields(j, m.config.vocab_size, r.params, r.output)) return *e;
  if (auto it = j.find("n"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 16)
      return bad("n must be an integer from 1 to 16", "n");
    r.n = static_cast<int32_t>(it->get<int64_t>());
  }
  if (auto e = read_bool(j, "stream", "", r.stream)) return *e;
  if (auto it = j.find("stream_options"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return bad("'stream_options' must be an object", "stream_options");
    if (!r.stream) return bad("'stream_options' can only be given with 'stream': true", "stream_options");
    if (auto e = read_bool(*it, "include_usage", "stream_options.", r.include_usage)) return *e;
  }
  if (auto e = read_prompt_logprobs(j, r.stream, r.params)) return *e;
  r.prompt_logprobs_given = r.params.prompt_logprobs >= 0;
  if (auto it = j.find("stop"); it != j.end())
    if (auto e = read_strings(*it, "stop", r.stop)) return *e;
  if (auto it = j.find("request_id"); it != j.end() && !it->is_null()) {
    if (!it->is_string() || it->get<std::string>().empty() || it->get<std::string>().size() > 128)
      return bad("'request_id' must be a string of 1 to 128 bytes", "request_id");
    r.request_id = it->get<std::string>();
  }
  if (auto it = j.find("priority"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < INT32_MIN || it->get<int64_t>() > INT32_MAX)
      return bad("'priority' must be a 32-bit integer", "priority");
    r.priority = static_cast<int32_t>(it->get<int64_t>());
  }
  bool echo = false;
  if (kind == ApiKind::Completion)
    if (auto e = read_bool(j, "echo", "", echo)) return *e;
  // vLLM's echo with logprobs: the prompt tokens' logprobs lead the generated ones', so they are
  // asked for, with as many alternatives as logprobs unless prompt_logprobs says.
  r.echo_logprobs = echo && r.params.logprobs >= 0;
  if (r.echo_logprobs && !r.prompt_logprobs_given) r.params.prompt_logprobs = r.params.logprobs;
  // Streamed without echo they have nowhere to go (only 0 got this far): not computed.
  if (r.stream && !r.echo_logprobs) r.params.prompt_logprobs = -1;
  const std::string prompt_field = kind == ApiKind::Chat ? "messages" : "prompt";
  std::vector<std::vector<int32_t>> prompts;
  if (kind == ApiKind::Chat) {
    auto ids = read_chat_prompt(j, m, gates.trust_request_chat_template);
    if (auto* e = std::get_if<ApiError>(&ids)) return *e;
    prompts.push_back(std::move(std::get<std::vector<int32_t>>(ids)));
  } else {
    auto batch = read_completion_prompts(j, m);
    if (auto* e = std::get_if<ApiError>(&batch)) return *e;
    prompts = std::move(std::get<std::vector<std::vector<int32_t>>>(batch));
  }
  const int64_t context = m.config.max_position_embeddings;
  const std::string max_field = kind == ApiKind::Chat && j.contains("max_completion_tokens") && !j["max_completion_tokens"].is_null()
                                    ? "max_completion_tokens" : "max_tokens";
  for (auto& ids : prompts) {
    const int32_t keep = r.output.truncate_prompt_tokens < 0 ? static_cast<int32_t>(context) : r.output.truncate_prompt_tokens;
    if (keep > 0 && static_cast<size_t>(keep) < ids.size()) ids.erase(ids.begin(), ids.end() - keep);
    if (ids.empty()) return bad("the prompt has no tokens", prompt_field);
    PromptInput& p = r.prompts.emplace_back(PromptInput{std::move(ids), 0});
    // Chat's default is the rest of the context (vLLM's); completions' is 16; generation_config's
    // max_new_tokens caps either.
    const int32_t default_max = std::min(kind == ApiKind::Chat ? INT32_MAX : 16, m.generation.max_new_tokens.value_or(INT32_MAX));
    if (auto e = fit_max_tokens(p.ids.size(), context, requested_max, default_max, prompt_field, max_field, p.max_tokens))
      return *e;
    if (r.params.min_tokens > p.max_tokens)
      return bad("min_tokens (" + std::to_string(r.params.min_tokens) + ") must not exceed " + max_field + " (" +
                     std::to_string(p.max_tokens) + ")", "min_tokens");
  }
  r.params.max_tokens = r.prompts.front().max_tokens;
  if (echo) {
    std::vector<std::vector<int32_t>> ids;
    for (const PromptInput& p : r.prompts) ids.push_back(p.ids);
    r.echo = completion_prompt_texts(j, ids, m, r.output.truncate_prompt_tokens >= 0);
  }
  return r;
}

CompletionFormatter::CompletionFormatter(ApiKind kind, std::string model_name, std::string request_id, int64_t created)
    : kind_(kind), model_(std::move(model_name)), id_(std::move(request_id)), created_(created) {}

ordered_json CompletionFormatter::envelope(bool chunk) const {
  const char* object = kind_ == ApiKind::Chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  return {{"id", id_}, {"object", object}, {"created", created_}, {"model", model_}};
}

std::string CompletionFormatter::full_response(const std::vector<CompletionChoice>& choices, int32_t prompt_tokens,
                                               int32_t completion_tokens) const {
  ordered_json j = envelope(false);
  j["choices"] = ordered_json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    ordered_json choice = {{"index", i}};
    if (kind_ == ApiKind::Chat) choice["message"] = {{"role", "assistant"}, {"content", choices[i].text}};
    else choice["text"] = choices[i].text;
    choice["logprobs"] = choices[i].logprobs;
    choice["finish_reason"] = choices[i].finish_reason;
    // vLLM's prompt_logprobs: on each completions choice (its prompt's), once on a chat response.
    if (kind_ == ApiKind::Completion && choices[i].prompt_logprobs) choice["prompt_logprobs"] = *choices[i].prompt_logprobs;
    j["choices"].push_back(std::move(choice));
  }
  j["usage"] = {{"prompt_tokens", prompt_tokens},
                {"completion_tokens", completion_tokens},
                {"total_tokens", prompt_tokens + completion_tokens}};
  if (kind_ == ApiKind::Chat && !choices.empty() && choices.front().prompt_logprobs)
    j["prompt_logprobs"] = *choices.front().prompt_logprobs;
  return dump_json(j);
}

std::string CompletionFormatter::first_chunk(int32_t index) const {
  if (kind_ != ApiKind::Chat) return "";
  ordered_json j = envelope(true);
  j["choices"] = ordered_json::array(
      {{{"index", index}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}});
  return dump_json(j);
}

std::string CompletionFormatter::text_chunk(const std::string& delta, int32_t index, const ordered_json& logprobs) const {
  ordered_json j = envelope(true);
  ordered_json choice = {{"index", index}};
  if (kind_ == ApiKind::Chat) choice["delta"] = {{"content", delta}};
  else choice["text"] = delta;
  choice["logprobs"] = logprobs;
  choice["finish_reason"] = nullptr;
  j["choices"] = ordered_json::array({choice});
  return dump_json(j);
}

std::string CompletionFormatter::final_chunk(const std::string& finish_reason, int32_t index) const {
  ordered_json j = envelope(true);
  ordered_json choice = {{"index", index}};
  if (kind_ == ApiKind::Chat) choice["delta"] = ordered_json::object();
  else choice["text"] = "";
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_reason;
  j["choices"] = ordered_json::array({choice});
  return dump_json(j);
}

std::string CompletionFormatter::usage_chunk(int32_t prompt_tokens, int32_t completion_tokens) const {
  ordered_json j = envelope(true);
  j["choices"] = ordered_json::array();
  j["usage"] = {{"prompt_tokens", prompt_tokens},
                {"completion_tokens", completion_tokens},
                {"total_tokens", prompt_tokens + completion_tokens}};
  return dump_json(j);
}

namespace {
ordered_json model_object(const std::string& served_name, int64_t max_model_len, int64_t created) {
  return {{"id", served_name}, {"object", "model"}, {"created", created}, {"owned_by", "troupe"},
          {"max_model_len", max_model_len}};
}
}  // namespace

// One card per name, as vLLM lists them.
std::string models_response(const ServedNames& served_name, int64_t max_model_len, int64_t created) {
  ordered_json data = ordered_json::array();
  for (const std::string& name : served_name.names) data.push_back(model_object(name, max_model_len, created));
  return dump_json(ordered_json{{"object", "list"}, {"data", std::move(data)}});
}

std::string model_response(const std::string& served_name, int64_t max_model_len, int64_t created) {
  return dump_json(model_object(served_name, max_model_len, created));
}

}  // namespace troupe::net
