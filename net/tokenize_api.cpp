#include "net/tokenize_api.h"

#include "net/api_submit.h"
#include "net/chat_prompt.h"

namespace troupe::net {
namespace {

using nlohmann::ordered_json;

ApiError bad(std::string message, std::string param) { return ApiError{400, std::move(message), std::move(param)}; }

// The "model" field, when present, must name the served model (as on the OpenAI routes).
std::optional<ApiError> check_model(const ordered_json& j, const ServedNames& served_name) {
  auto it = j.find("model");
  if (it == j.end() || it->is_null() || (it->is_string() && served_name.contains(it->get<std::string>()))) return std::nullopt;
  return ApiError{404, "the model '" + json_excerpt(*it) + "' does not exist; this server serves " + served_name.quoted(),
                  "model", "NotFoundError"};
}

}  // namespace

std::variant<Tokenized, ApiError> parse_tokenize_request(const std::string& body, const ModelFolder& m,
                                                         const ServedNames& served_name, const FieldGates& gates) {
  auto parsed = parse_json_object(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const ordered_json& j = std::get<ordered_json>(parsed);
  if (auto e = check_model(j, served_name)) return *e;
  const bool has_prompt = j.contains("prompt"), has_messages = j.contains("messages");
  if (has_prompt == has_messages) return bad("give exactly one of 'prompt' and 'messages'", has_prompt ? "messages" : "prompt");
  Tokenized out;
  if (auto e = read_bool(j, "return_token_strs", "", out.return_token_strs)) return *e;
  if (has_messages) {
    // The chat route's reading, its refusals (a chat_template without its flag) included; it adds
    // no special tokens unless asked, as a template writes its own.
    if (auto e = refuse_unsupported_fields(ApiKind::Chat, j, gates)) return *e;
    auto ids = read_chat_prompt(j, m, gates.trust_request_chat_template);
    if (auto* e = std::get_if<ApiError>(&ids)) return *e;
    out.ids = std::move(std::get<std::vector<int32_t>>(ids));
    return out;
  }
  bool add_special_tokens = true;
  if (auto e = read_bool(j, "add_special_tokens", "", add_special_tokens)) return *e;
  if (!j["prompt"].is_string()) return bad("'prompt' must be a string", "prompt");
  out.ids = m.text.tokenizer.encode(j["prompt"].get<std::string>(), add_special_tokens);
  return out;
}

std::variant<std::vector<int32_t>, ApiError> parse_detokenize_request(const std::string& body, const ModelFolder& m,
                                                                      const ServedNames& served_name) {
  auto parsed = parse_json_object(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const ordered_json& j = std::get<ordered_json>(parsed);
  if (auto e = check_model(j, served_name)) return *e;
  auto it = j.find("tokens");
  if (it == j.end() || !it->is_array()) return bad("'tokens' must be an array of token ids", "tokens");
  const int64_t vocab = m.text.tokenizer.vocab_size();
  std::vector<int32_t> ids;
  ids.reserve(it->size());
  for (const auto& v : *it) {
    if (!v.is_number_integer()) return bad("'tokens' must be an array of token ids", "tokens");
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id >= vocab)
      return bad("token id " + std::to_string(id) + " in 'tokens' is outside the vocabulary [0, " + std::to_string(vocab) + ")",
                 "tokens");
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

std::string tokenize_response(const std::vector<int32_t>& ids, int64_t max_model_len,
                              const std::optional<std::vector<std::string>>& token_strs) {
  ordered_json j = {{"count", ids.size()}, {"max_model_len", max_model_len}, {"tokens", ids}};
  if (token_strs) j["token_strs"] = *token_strs;
  return dump_json(j);
}

std::string detokenize_response(const std::string& text) { return dump_json(ordered_json{{"prompt", text}}); }

void handle_tokenize(ApiContext& ctx, const HttpRequest& req, std::shared_ptr<HttpResponder> responder) {
  auto parsed = parse_tokenize_request(req.body(), *ctx.model, ctx.served_name, ctx.field_gates);
  if (auto* e = std::get_if<ApiError>(&parsed)) return reply_api_error(*responder, *e);
  const Tokenized& t = std::get<Tokenized>(parsed);
  std::optional<std::vector<std::string>> strs;
  if (t.return_token_strs) {
    strs.emplace();
    for (int32_t id : t.ids) strs->push_back(ctx.model->text.tokenizer.id_to_token(id).value_or(""));
  }
  responder->reply(200, "application/json", tokenize_response(t.ids, ctx.model->config.max_position_embeddings, strs));
}

void handle_detokenize(ApiContext& ctx, const HttpRequest& req, std::shared_ptr<HttpResponder> responder) {
  auto parsed = parse_detokenize_request(req.body(), *ctx.model, ctx.served_name);
  if (auto* e = std::get_if<ApiError>(&parsed)) return reply_api_error(*responder, *e);
  responder->reply(200, "application/json",
                   detokenize_response(ctx.model->text.tokenizer.decode(std::get<std::vector<int32_t>>(parsed))));
}

}  // namespace troupe::net
