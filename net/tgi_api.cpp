#include "net/tgi_api.h"

#include <random>

#include "net/api_submit.h"
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
  ordered_json p = ordered_json::object();
  if (auto it = j.find("parameters"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return bad("'parameters' must be an object", "parameters");
    p = *it;
  }

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
  auto is_false = [](const ordered_json& v) { return v.is_boolean() && !v.get<bool>(); };
  auto is_one = [](const ordered_json& v) { return v.is_number_integer() && v.get<int64_t>() == 1; };
  auto is_zero = [](const ordered_json& v) { return v.is_number_integer() && v.get<int64_t>() == 0; };
  auto never = [](const ordered_json&) { return false; };
  if (auto e = reject_unless_off(p, "best_of", is_one)) return *e;
  if (auto e = reject_unless_off(p, "typical_p", never)) return *e;
  if (auto e = reject_unless_off(p, "watermark", is_false)) return *e;
  if (auto e = reject_unless_off(p, "decoder_input_details", is_false)) return *e;
  if (auto e = reject_unless_off(p, "top_n_tokens", is_zero)) return *e;
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
    // Per-token entries need token ids and logprobs, which the sink does not get yet.
    j["prefill"] = ordered_json::array();
    j["tokens"] = ordered_json::array();
  }
  return j;
}

}  // namespace

std::string tgi_generate_response(const std::string& generated_text, const std::optional<TgiDetails>& details) {
  ordered_json j = {{"generated_text", generated_text}};
  if (details) j["details"] = details_json(*details, false);
  return dump_json(j);
}

std::string tgi_stream_event(int64_t index, const std::string& token_text, const std::optional<std::string>& generated_text,
                             const std::optional<TgiDetails>& details) {
  ordered_json j = {{"index", index},
                    {"token", {{"id", -1}, {"text", token_text}, {"logprob", nullptr}, {"special", false}}},
                    {"top_tokens", nullptr},
                    {"generated_text", generated_text ? ordered_json(*generated_text) : ordered_json(nullptr)},
                    {"details", details ? details_json(*details, true) : ordered_json(nullptr)}};
  return dump_json(j);
}

TgiSink::TgiSink(std::shared_ptr<HttpResponder> responder, bool stream, const TgiRequest& r)
    : responder_(std::move(responder)),
      stream_(stream),
      details_(r.details),
      seed_(r.params.is_greedy() ? std::nullopt : r.params.seed),
      text_(r.full_text_prefix) {}

void TgiSink::start() {
  if (stream_) responder_->begin_stream(200, "text/event-stream");
}

void TgiSink::send_event(const std::string& token_text, const std::optional<TgiDetails>& last) {
  const bool is_last = last.has_value();
  const std::optional<TgiDetails> details = is_last && details_ ? last : std::nullopt;
  responder_->write(CompletionFormatter::sse(
      tgi_stream_event(++index_, token_text, is_last ? std::optional<std::string>(text_) : std::nullopt, details)));
}

void TgiSink::on_text(const std::string& delta) {
  text_ += delta;
  if (!stream_) return;
  if (held_) send_event(*held_, std::nullopt);
  held_ = delta;
}

void TgiSink::on_finish(const std::string& reason, int32_t, int32_t completion_tokens) {
  const TgiDetails d{tgi_finish_reason(reason), completion_tokens, seed_};
  if (!stream_) {
    responder_->reply(200, "application/json", tgi_generate_response(text_, details_ ? std::optional(d) : std::nullopt));
    return;
  }
  send_event(held_.value_or(""), d);
  responder_->end_stream();
}

void TgiSink::on_error(const std::string& message) {
  const ApiError e{400, message, ""};
  if (!stream_) return reply_api_error(*responder_, e);
  responder_->write(CompletionFormatter::sse(e.body()));
  responder_->end_stream();
}

void handle_tgi_generate(ApiContext& ctx, const HttpRequest& req, std::shared_ptr<HttpResponder> responder, bool stream) {
  if (auto e = admission_error(ctx)) return reply_api_error(*responder, *e, {{"Retry-After", "1"}});
  auto parsed = parse_tgi_request(req.body(), *ctx.model);
  if (auto* e = std::get_if<ApiError>(&parsed)) return reply_api_error(*responder, *e);
  TgiRequest& r = std::get<TgiRequest>(parsed);
  // TGI reports the seed a sampled request used; draw one here so there is one to report.
  if (!r.params.is_greedy() && !r.params.seed) r.params.seed = std::random_device{}();
  auto sink = std::make_shared<TgiSink>(responder, stream, r);
  sink->start();
  submit_to_gateway(ctx, ctx.next_id.fetch_add(1), std::move(r.prompt_ids), r.params, std::move(r.stop), sink, *responder);
}

}  // namespace troupe::net
