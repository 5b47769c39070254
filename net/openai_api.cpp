#include "net/openai_api.h"

#include <algorithm>

#include "engine/sampling/logprobs.h"
#include "engine/template/template_error.h"
#include "net/json_body.h"
#include "net/sampling_json.h"

namespace troupe::net {
namespace {

using nlohmann::ordered_json;

ApiError bad(std::string message, std::string param) { return ApiError{400, std::move(message), std::move(param)}; }

std::variant<std::vector<int32_t>, ApiError> read_prompt(const ordered_json& body, const ModelFolder& m) {
  auto it = body.find("prompt");
  if (it == body.end()) return bad("'prompt' is required", "prompt");
  if (it->is_string()) return m.text.tokenizer.encode(it->get<std::string>(), true);
  if (it->is_array() && !it->empty() && (*it)[0].is_number_integer()) {
    std::vector<int32_t> ids;
    for (const auto& v : *it) {
      if (!v.is_number_integer()) return bad("'prompt' must be a string or an array of token ids", "prompt");
      const int64_t id = v.get<int64_t>();
      if (id < 0 || id >= m.config.vocab_size)
        return bad("token id " + std::to_string(id) + " in 'prompt' is outside the vocabulary [0, " +
                       std::to_string(m.config.vocab_size) + ")", "prompt");
      ids.push_back(static_cast<int32_t>(id));
    }
    return ids;
  }
  return bad("'prompt' must be a string or a non-empty array of token ids", "prompt");
}

std::variant<std::vector<int32_t>, ApiError> read_messages(const ordered_json& body, const ModelFolder& m) {
  auto it = body.find("messages");
  if (it == body.end() || !it->is_array() || it->empty())
    return bad("'messages' must be a non-empty array", "messages");
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& msg = (*it)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!msg.is_object() || !msg.contains("role") || !msg["role"].is_string())
      return bad(where + " must be an object with a string 'role'", where + ".role");
    if (!msg.contains("content") || !(msg["content"].is_string() || msg["content"].is_null()))
      return bad(where + ".content must be a string", where + ".content");
  }
  bool add_generation_prompt = true;
  if (auto g = body.find("add_generation_prompt"); g != body.end() && !g->is_null()) {
    if (!g->is_boolean()) return bad("'add_generation_prompt' must be true or false", "add_generation_prompt");
    add_generation_prompt = g->get<bool>();
  }
  try {
    // The template sees what the client sent, keys in the client's order (tojson prints them).
    const std::string text = m.text.render_chat(*it, add_generation_prompt);
    return m.text.tokenizer.encode(text, false);
  } catch (const TemplateError& e) {
    return bad(std::string("chat template: ") + e.what(), "messages");
  } catch (const std::exception& e) {
    return ApiError{400, e.what(), "messages"};
  }
}

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
                                                                   const std::string& served_name) {
  auto parsed = parse_json_object(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const ordered_json& j = std::get<ordered_json>(parsed);
  if (auto it = j.find("model"); it != j.end() && !(it->is_string() && it->get<std::string>() == served_name))
    return ApiError{404, "the model '" + json_excerpt(*it) + "' does not exist; this server serves '" + served_name + "'",
                    "model", "NotFoundError"};
  CompletionRequest r;
  r.kind = kind;
  r.params.max_tokens = -1;  // "not given": filled below
  if (auto err = read_sampling_params(j, r.params); err && err->field != "max_tokens")
    return bad(err->message, err->field);
  if (auto it = j.find("max_tokens"); it != j.end() && !it->is_null() &&
      (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > INT32_MAX))
    return bad("max_tokens must be a positive integer", "max_tokens");
  if (auto e = read_logprobs(kind, j, r.params)) return *e;
  for (const char* unsupported : {"best_of", "suffix", "echo", "tools"}) {
    auto it = j.find(unsupported);
    if (it != j.end() && !it->is_null() && !(it->is_boolean() && !it->get<bool>()))
      return bad(std::string("'") + unsupported + "' is not supported yet", unsupported);
  }
  if (auto it = j.find("n"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 16)
      return bad("n must be an integer from 1 to 16", "n");
    r.n = static_cast<int32_t>(it->get<int64_t>());
  }
  if (auto it = j.find("stream"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) return bad("'stream' must be true or false", "stream");
    r.stream = it->get<bool>();
  }
  if (auto it = j.find("stream_options"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return bad("'stream_options' must be an object", "stream_options");
    if (auto u = it->find("include_usage"); u != it->end() && !u->is_null()) {
      if (!u->is_boolean()) return bad("'stream_options.include_usage' must be true or false", "stream_options.include_usage");
      r.include_usage = u->get<bool>();
    }
  }
  if (auto it = j.find("stop"); it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      r.stop.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const auto& s : *it) {
        if (!s.is_string()) return bad("'stop' must be a string or an array of strings", "stop");
        r.stop.push_back(s.get<std::string>());
      }
    } else {
      return bad("'stop' must be a string or an array of strings", "stop");
    }
  }
  auto prompt = kind == ApiKind::Chat ? read_messages(j, m) : read_prompt(j, m);
  if (auto* e = std::get_if<ApiError>(&prompt)) return *e;
  r.prompt_ids = std::move(std::get<std::vector<int32_t>>(prompt));
  if (r.prompt_ids.empty()) return bad("the prompt has no tokens", kind == ApiKind::Chat ? "messages" : "prompt");
  const int64_t context = m.config.max_position_embeddings;
  const int64_t room = context - static_cast<int64_t>(r.prompt_ids.size());
  if (room < 1)
    return bad("this model's maximum context length is " + std::to_string(context) + " tokens; the prompt has " +
                   std::to_string(r.prompt_ids.size()), kind == ApiKind::Chat ? "messages" : "prompt");
  if (r.params.max_tokens < 0) r.params.max_tokens = static_cast<int32_t>(kind == ApiKind::Chat ? room : std::min<int64_t>(16, room));
  if (r.params.max_tokens > room)
    return bad("this model's maximum context length is " + std::to_string(context) + " tokens; the prompt (" +
                   std::to_string(r.prompt_ids.size()) + ") plus max_tokens (" + std::to_string(r.params.max_tokens) +
                   ") exceeds it", "max_tokens");
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
    j["choices"].push_back(std::move(choice));
  }
  j["usage"] = {{"prompt_tokens", prompt_tokens},
                {"completion_tokens", completion_tokens},
                {"total_tokens", prompt_tokens + completion_tokens}};
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

std::string models_response(const std::string& served_name, int64_t max_model_len, int64_t created) {
  return dump_json(ordered_json{{"object", "list"},
                           {"data", ordered_json::array({model_object(served_name, max_model_len, created)})}});
}

std::string model_response(const std::string& served_name, int64_t max_model_len, int64_t created) {
  return dump_json(model_object(served_name, max_model_len, created));
}

}  // namespace troupe::net
