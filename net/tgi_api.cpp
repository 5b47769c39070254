#include "net/tgi_api.h"

#include <random>

#include "engine/sampling/logprobs.h"
#include "net/admission.h"
#include "net/api_submit.h"
#include "net/error_status.h"
#include "net/logprobs_json.h"
#include "net/openai_api.h"

namespace troupe::net {
namespace {

using nlohmann::ordered_json;

const std::string kParams = "parameters.";

ApiError bad(std::string message, std::string param) { return ApiError{400, std::move(message), std::move(param)}; }

// A field TGI has and troupe does not implement: only its "off" value is accepted.
std::optional<ApiError> reject_unless_off(const ordered_json& p, const char* key, bool (*off)(const ordered_json&)) {
  auto it = p.find(key);
  if (it == p.end() || it->is_null() || off(*it)) return std::nullopt;
  return bad(kParams + key + " is not supported", kParams + key);
}

// max_new_tokens / truncate: null, or an integer >= 1; -1 when not given.
std::optional<ApiError> read_count(const ordered_json& p, const char* key, int64_t& out) {
  out = -1;
  auto it = p.find(key);
  if (it == p.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > INT32_MAX)
    return bad(kParams + key + " must be a positive integer", kParams + key);
  out = it->get<int64_t>();
  return std::nullopt;
}

// TGI samples when asked to, or when any warper would change the distribution.
bool tgi_samples(const ordered_json& p, bool do_sample, const SamplingParams& given) {
  auto present = [&](const char* key) { return p.contains(key) && !p[key].is_null(); };
  return do_sample || (present("temperature") && given.temperature != 1.0f) || (present("top_k") && given.top_k > 0) ||
         (present("top_p") && given.top_p < 1.0f);
}

}  // namespace

std::variant<TgiRequest, ApiError> parse_tgi_request(const std::string& body, const ModelFolder& m) {
  auto parsed = parse_json_object(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const ordered_json& j = std::get<ordered_json>(parsed);
  auto in = j.find("inputs");
  if (in == j.end() || !in->is_string()) return bad("'inputs' must be a string", "inputs");
  static const ordered_json no_parameters = ordered_json::object();
  const ordered_json* params = &no_parameters;
  if (auto it = j.find("parameters"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return bad("'parameters' must be an object", "parameters");
    params = &*it;
  }
  const ordered_json& p = *params;

  TgiRequest r;
  if (auto e = read_sampling_fields(p, kParams, r.params)) return *e;
  bool do_sample = false;
  bool return_full_text = false;
  int64_t max_new_tokens = -1;
  int64_t truncate = -1;
  if (auto e = read_bool(p, "do_sample", kParams, do_sample)) return *e;
  if (auto e = read_bool(p, "details", kParams, r.details)) return *e;
  if (auto e = read_bool(p, "return_full_text", kParams, return_full_text)) return *e;
  if (auto e = read_count(p, "max_new_tokens", max_new_tokens)) return *e;
  if (auto e = read_count(p, "truncate", truncate)) return *e;
  if (auto it = p.find("stop"); it != p.end())
    if (auto e = read_strings(*it, kParams + "stop", r.stop)) return *e;
  if (auto it = p.find("top_n_tokens"); it != p.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > kMaxTopLogprobs)
      return bad(kParams + "top_n_tokens must be an integer from 0 to " + std::to_string(kMaxTopLogprobs),
                 kParams + "top_n_tokens");
    r.top_n_tokens = static_cast<int32_t>(it->get<int64_t>());
  }
  auto is_false = [](const ordered_json& v) { return v.is_boolean() && !v.get<bool>(); };
  auto is_one = [](const ordered_json& v) { return v.is_number_integer() && v.get<int64_t>() == 1; };
  auto never = [](const ordered_json&) { return false; };
  if (auto e = reject_unless_off(p, "best_of", is_one)) return *e;
  if (auto e = reject_unless_off(p, "typical_p", never)) return *e;
  if (auto e = reject_unless_off(p, "watermark", is_false)) return *e;
  if (auto e = reject_unless_off(p, "decoder_input_details", is_false)) return *e;
  if (auto e = reject_unless_off(p, "grammar", never)) return *e;
  if (auto e = reject_unless_off(p, "adapter_id", never)) return *e;

  if (!tgi_samples(p, do_sample, r.params)) {
    r.params.temperature = 0.0f;  // greedy; top_k / top_p no longer matter
    r.params.seed.reset();
  }
  const std::string inputs = in->get<std::string>();
  r.prompt_ids = m.text.tokenizer.encode(inputs, true);
  if (r.prompt_ids.empty()) return bad("'inputs' has no tokens", "inputs");
  if (truncate > 0 && static_cast<size_t>(truncate) < r.prompt_ids.size())
    r.prompt_ids.erase(r.prompt_ids.begin(), r.prompt_ids.end() - truncate);
  if (auto e = fit_max_tokens(r.prompt_ids.size(), m.config.max_position_embeddings, static_cast<int32_t>(max_new_tokens),
                              kTgiDefaultMaxNewTokens, "inputs", kParams + "max_new_tokens", r.params.max_tokens))
    return *e;
  if (return_full_text) r.full_text_prefix = inputs;
  return r;
}

std::string tgi_finish_reason(const std::string& gateway_reason) {
  if (gateway_reason == "stop") return "eos_token";
  if (gateway_reason == "stop_string") return "stop_sequence";
  return gateway_reason;
}

namespace {

ordered_json details_json(const TgiDetails& d, bool stream) {
  ordered_json j = {{"finish_reason", d.finish_reason},
                    {"generated_tokens", d.generated_tokens},
                    {"seed", d.seed ? ordered_json(*d.seed) : ordered_json(nullptr)}};
  if (!stream) {
    j["prefill"] = ordered_json::array();  // prompt logprobs (decoder_input_details) are not computed
    j["tokens"] = d.tokens;
    if (!d.top_tokens.is_null()) j["top_tokens"] = d.top_tokens;
  }
  return j;
}

}  // namespace

std::string tgi_generate_response(const std::string& generated_text, const std::optional<TgiDetails>& details) {
  ordered_json j = {{"generated_text", generated_text}};
  if (details) j["details"] = details_json(*details, false);
  return dump_json(j);
}

std::string tgi_stream_event(int64_t index, const ordered_json& token, const ordered_json& top_tokens,
                             const std::optional<std::string>& generated_text, const std::optional<TgiDetails>& details) {
  ordered_json j = {{"index", index},
                    {"token", token},
                    {"top_tokens", top_tokens},
                    {"generated_text", generated_text ? ordered_json(*generated_text) : ordered_json(nullptr)},
                    {"details", details ? details_json(*details, true) : ordered_json(nullptr)}};
  return dump_json(j);
}

TgiSink::TgiSink(std::shared_ptr<HttpResponder> responder, bool stream, const TgiRequest& r, Tokenizer tokenizer)
    : responder_(std::move(responder)),
      stream_(stream),
      details_(r.details),
      top_n_tokens_(r.top_n_tokens),
      seed_(r.params.is_greedy() ? std::nullopt : r.params.seed),
      tokenizer_(std::move(tokenizer)),
      text_(r.full_text_prefix) {}

ordered_json TgiSink::token_json(int32_t id, const std::string& text, float logprob) const {
  return {{"id", id}, {"text", text}, {"logprob", json_logprob(logprob)}, {"special", tokenizer_.is_special(id)}};
}

ordered_json TgiSink::top_tokens_json(const GeneratedToken& t) const {
  if (top_n_tokens_ == 0) return nullptr;
  ordered_json top = ordered_json::array();
  for (const TokenLogprob& alt : t.logprobs.top)
    top.push_back(token_json(alt.token, tokenizer_.decode(std::span(&alt.token, 1)), alt.logprob));
  return top;
}

void TgiSink::start() {
  if (stream_) responder_->begin_stream(200, "text/event-stream");
}

void TgiSink::send_event(const GeneratedToken& token, const std::optional<TgiDetails>& last) {
  const bool is_last = last.has_value();
  const std::optional<TgiDetails> details = is_last && details_ ? last : std::nullopt;
  ordered_json tok = token_json(token.id, token.text, token.logprobs.logprob);
  if (token.id < 0) tok["logprob"] = nullptr;  // no token at all: see the header
  responder_->write(CompletionFormatter::sse(tgi_stream_event(
      ++index_, tok, top_tokens_json(token), is_last ? std::optional<std::string>(text_) : std::nullopt, details)));
}

void TgiSink::on_output(const std::string& text, std::vector<GeneratedToken> tokens) {
  text_ += text;
  if (tokens.empty()) {  // the detokenizer's last bytes: part of the latest token's text
    if (held_) held_->text += text;
    return;
  }
  for (GeneratedToken& t : tokens) {
    if (!stream_) {
      if (!details_) continue;
      tokens_.push_back(token_json(t.id, t.text, t.logprobs.logprob));
      if (top_n_tokens_ > 0) top_tokens_.push_back(top_tokens_json(t));
      continue;
    }
    if (held_) send_event(*held_, std::nullopt);
    held_ = std::move(t);
  }
}

void TgiSink::on_finish(const std::string& reason, int32_t, int32_t completion_tokens) {
  TgiDetails d{tgi_finish_reason(reason), completion_tokens, seed_};
  if (!stream_) {
    d.tokens = std::move(tokens_);
    if (top_n_tokens_ > 0) d.top_tokens = std::move(top_tokens_);
    responder_->reply(200, "application/json", tgi_generate_response(text_, details_ ? std::optional(d) : std::nullopt));
    return;
  }
  send_event(held_.value_or(GeneratedToken{.id = -1, .text = "", .logprobs = {}}), d);
  responder_->end_stream();
}

void TgiSink::on_error(troupe_error code, const std::string& message) {
  end_with_error(*responder_, stream_, engine_error(code, message));
}

void handle_tgi_generate(ApiContext& ctx, const HttpRequest& req, std::shared_ptr<HttpResponder> responder, bool stream) {
  auto admitted = admit(ctx);
  if (auto* e = std::get_if<ApiError>(&admitted)) return reply_api_error(*responder, *e, {{"Retry-After", "1"}});
  auto parsed = parse_tgi_request(req.body(), *ctx.model);
  if (auto* e = std::get_if<ApiError>(&parsed)) return reply_api_error(*responder, *e);
  TgiRequest& r = std::get<TgiRequest>(parsed);
  // TGI reports the seed a sampled request used; draw one here so there is one to report.
  if (!r.params.is_greedy() && !r.params.seed) r.params.seed = std::random_device{}();
  // TGI's tokens always carry their logprob; only a plain /generate shows no tokens.
  if (stream || r.details) r.params.logprobs = r.top_n_tokens;
  auto sink = std::make_shared<TgiSink>(responder, stream, r, ctx.model->text.tokenizer);
  sink->start();
  submit_to_gateway(ctx, ctx.next_id.fetch_add(1), std::move(r.prompt_ids), r.params, std::move(r.stop),
                    std::make_shared<AdmittedSink>(sink, std::get<Admission>(admitted)), *responder);
}

}  // namespace troupe::net
