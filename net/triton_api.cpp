#include "net/triton_api.h"

#include "net/admission.h"
#include "net/api_submit.h"
#include "net/error_status.h"
#include "net/openai_api.h"

namespace troupe::net {
namespace {

using nlohmann::ordered_json;

ApiError bad(std::string message, std::string param) { return ApiError{400, std::move(message), std::move(param)}; }

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// The non-sampling fields of one parameter object; `prefix` names where it sits in the body.
std::optional<ApiError> read_triton_fields(const ordered_json& o, const std::string& prefix, TritonRequest& r,
                                           bool& stream, bool& exclude_input) {
  if (auto it = o.find("random_seed"); it != o.end() && !it->is_null()) {
    if (!it->is_number_integer()) return bad(prefix + "random_seed must be an integer", prefix + "random_seed");
    r.params.seed = static_cast<uint64_t>(it->get<int64_t>());
  }
  for (const char* key : {"stop", "stop_words"})
    if (auto it = o.find(key); it != o.end())
      if (auto e = read_strings(*it, prefix + key, r.stop)) return e;
  if (auto e = read_bool(o, "stream", prefix, stream)) return e;
  if (auto e = read_bool(o, "exclude_input_in_output", prefix, exclude_input)) return e;
  return std::nullopt;
}

}  // namespace

std::optional<TritonRoute> parse_triton_route(std::string_view path) {
  constexpr std::string_view head = "/v2/models/";
  if (path.substr(0, head.size()) != head) return std::nullopt;
  std::string_view rest = path.substr(head.size());
  TritonRoute route;
  if (ends_with(rest, "/generate_stream")) {
    route.stream = true;
    rest.remove_suffix(std::string_view("/generate_stream").size());
  } else if (ends_with(rest, "/generate")) {
    rest.remove_suffix(std::string_view("/generate").size());
  } else {
    return std::nullopt;
  }
  // Served names may hold a '/' ("org/model"); a version is the last "/versions/{v}" only.
  if (const size_t v = rest.rfind("/versions/"); v != std::string_view::npos) {
    route.version = std::string(rest.substr(v + std::string_view("/versions/").size()));
    rest = rest.substr(0, v);
    if (route.version.empty() || route.version.find('/') != std::string::npos) return std::nullopt;
  }
  if (rest.empty()) return std::nullopt;
  route.model = std::string(rest);
  return route;
}

std::variant<TritonRequest, ApiError> parse_triton_request(const TritonRoute& route, const std::string& body,
                                                           const ModelFolder& m, const ServedNames& served_name) {
  if (!served_name.contains(route.model))
    return ApiError{404, "the model '" + route.model + "' does not exist; this server serves " + served_name.quoted(),
                    "model_name", "NotFoundError"};
  if (!route.version.empty() && route.version != "1")
    return ApiError{404, "model '" + route.model + "' has no version '" + route.version + "'; it has version 1",
                    "model_version", "NotFoundError"};
  auto parsed = parse_json_object(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const ordered_json& j = std::get<ordered_json>(parsed);

  ordered_json text = j.contains("text_input") ? j["text_input"] : ordered_json();
  if (text.is_array() && text.size() == 1) text = ordered_json(text[0]);  // a batch of one, as a tensor
  if (!text.is_string()) return bad("'text_input' must be a string", "text_input");
  const ordered_json* nested = nullptr;
  if (auto it = j.find("parameters"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return bad("'parameters' must be an object", "parameters");
    nested = &*it;
  }

  TritonRequest r;
  bool stream = route.stream;
  bool exclude_input = true;
  r.params.max_tokens = -1;
  // Top-level fields first, then "parameters" over them.
  if (auto e = read_sampling_fields(j, "", r.params)) return *e;
  if (auto e = read_triton_fields(j, "", r, stream, exclude_input)) return *e;
  if (nested) {
    if (auto e = read_sampling_fields(*nested, "parameters.", r.params)) return *e;
    if (auto e = read_triton_fields(*nested, "parameters.", r, stream, exclude_input)) return *e;
  }
  if (stream && !route.stream)
    return bad("'stream': true needs the generate_stream endpoint", nested && nested->contains("stream") ? "parameters.stream" : "stream");

  r.prompt_ids = m.text.tokenizer.encode(text.get<std::string>(), true);
  if (r.prompt_ids.empty()) return bad("'text_input' has no tokens", "text_input");
  const bool nested_max = nested && nested->contains("max_tokens") && !(*nested)["max_tokens"].is_null();
  if (auto e = fit_max_tokens(r.prompt_ids.size(), m.config.max_position_embeddings, r.params.max_tokens,
                              kTritonDefaultMaxTokens, "text_input", nested_max ? "parameters.max_tokens" : "max_tokens",
                              r.params.max_tokens))
    return *e;
  if (!exclude_input) r.output_prefix = text.get<std::string>();
  return r;
}

std::string triton_response(const std::string& model_name, const std::string& text_output) {
  return dump_json(ordered_json{{"model_name", model_name}, {"model_version", "1"}, {"text_output", text_output}});
}

TritonSink::TritonSink(std::shared_ptr<HttpResponder> responder, bool stream, std::string model_name,
                       std::string output_prefix)
    : responder_(std::move(responder)), stream_(stream), model_(std::move(model_name)), text_(std::move(output_prefix)) {}

void TritonSink::start() {
  if (stream_) responder_->begin_stream(200, "text/event-stream");
}

void TritonSink::on_output(const std::string& delta, std::vector<GeneratedToken>) {
  text_ += delta;
  if (!stream_ || text_.empty()) return;
  responder_->write(CompletionFormatter::sse(triton_response(model_, text_)));
  text_.clear();
  sent_ = true;
}

std::string triton_error(const std::string& message) { return dump_json(ordered_json{{"error", message}}); }

void TritonSink::on_finish(const std::string& reason, int32_t, int32_t) {
  // The extension has no finish reason: a cut answer is an error, or a client would take the
  // partial text for the whole. 503, as Triton answers its own request timeouts (UNAVAILABLE).
  if (reason == "abort") {
    if (!stream_) return responder_->reply(503, "application/json", triton_error(kTritonAbortMessage));
    responder_->write(CompletionFormatter::sse(triton_error(kTritonAbortMessage)));
    return responder_->end_stream();
  }
  if (!stream_) {
    responder_->reply(200, "application/json", triton_response(model_, text_));
    return;
  }
  if (!sent_) responder_->write(CompletionFormatter::sse(triton_response(model_, text_)));
  responder_->end_stream();
}

void TritonSink::on_error(troupe_error code, const std::string& message) {
  end_with_error(*responder_, stream_, engine_error(code, message));
}

void handle_triton_generate(ApiContext& ctx, const TritonRoute& route, const HttpRequest& req,
                            std::shared_ptr<HttpResponder> responder) {
  auto admitted = admit(ctx);
  if (auto* e = std::get_if<ApiError>(&admitted)) return reply_api_error(*responder, *e, {{"Retry-After", "1"}});
  auto parsed = parse_triton_request(route, req.body(), *ctx.model, ctx.served_name);
  if (auto* e = std::get_if<ApiError>(&parsed)) return reply_api_error(*responder, *e);
  TritonRequest& r = std::get<TritonRequest>(parsed);
  auto sink = std::make_shared<TritonSink>(responder, route.stream, route.model, std::move(r.output_prefix));
  sink->start();
  submit_to_gateway(ctx, ctx.next_id.fetch_add(1), std::move(r.prompt_ids), r.params, std::move(r.stop),
                    std::make_shared<AdmittedSink>(sink, std::get<Admission>(admitted)), *responder);
}

}  // namespace troupe::net
