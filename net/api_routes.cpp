#include "net/api_routes.h"

#include <chrono>

#include <caf/all.hpp>

#include "actors/gateway_actor.h"
#include "actors/message_inspect.h"
#include "net/api_submit.h"
#include "net/openai_api.h"
#include "net/tgi_api.h"
#include "net/tokenize_api.h"
#include "net/triton_api.h"

namespace troupe::net {
namespace {

namespace http = boost::beast::http;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Writes a completion's answer (its n choices) to the HTTP response as the gateway reports
// progress. The gateway calls every sink of a request from its one thread, so no locking.
class CompletionResponse {
 public:
  CompletionResponse(std::shared_ptr<HttpResponder> responder, CompletionFormatter formatter, bool stream,
                     bool include_usage, int32_t n)
      : responder_(std::move(responder)), fmt_(std::move(formatter)), stream_(stream), include_usage_(include_usage),
        choices_(n) {}

  void start() {
    if (!stream_) return;
    responder_->begin_stream(200, "text/event-stream");
    for (int32_t i = 0; i < static_cast<int32_t>(choices_.size()); ++i)
      if (std::string first = fmt_.first_chunk(i); !first.empty()) responder_->write(CompletionFormatter::sse(first));
  }
  void text(int32_t index, const std::string& delta) {
    if (!stream_) choices_[index].text += delta;
    else if (!delta.empty()) responder_->write(CompletionFormatter::sse(fmt_.text_chunk(delta, index)));
  }
  void finish(int32_t index, const std::string& gateway_reason, int32_t prompt_tokens, int32_t completion_tokens) {
    const std::string reason = gateway_reason == "stop_string" ? "stop" : gateway_reason;  // OpenAI: one "stop"
    choices_[index].finish_reason = reason;
    prompt_tokens_ = prompt_tokens;  // the same prompt for every choice: counted once
    completion_tokens_ += completion_tokens;
    if (stream_) responder_->write(CompletionFormatter::sse(fmt_.final_chunk(reason, index)));
    if (++finished_ < static_cast<int32_t>(choices_.size()) || failed_) return;
    if (!stream_) {
      responder_->reply(200, "application/json", fmt_.full_response(choices_, prompt_tokens_, completion_tokens_));
      return;
    }
    if (include_usage_) responder_->write(CompletionFormatter::sse(fmt_.usage_chunk(prompt_tokens_, completion_tokens_)));
    responder_->write(CompletionFormatter::sse_done());
    responder_->end_stream();
  }
  void error(const std::string& message) {
    if (failed_) return;
    failed_ = true;
    const ApiError e{400, message, ""};
    if (!stream_) return reply_api_error(*responder_, e);
    responder_->write(CompletionFormatter::sse(e.body()));
    responder_->end_stream();
  }

 private:
  std::shared_ptr<HttpResponder> responder_;
  CompletionFormatter fmt_;
  bool stream_;
  bool include_usage_;
  std::vector<CompletionChoice> choices_;
  int32_t finished_ = 0;
  bool failed_ = false;
  int32_t prompt_tokens_ = 0;
  int32_t completion_tokens_ = 0;
};

// One choice's view of the shared response.
class ChoiceSink : public RequestSink {
 public:
  ChoiceSink(std::shared_ptr<CompletionResponse> response, int32_t index) : response_(std::move(response)), index_(index) {}
  void on_text(const std::string& delta) override { response_->text(index_, delta); }
  void on_finish(const std::string& reason, int32_t prompt_tokens, int32_t completion_tokens) override {
    response_->finish(index_, reason, prompt_tokens, completion_tokens);
  }
  void on_error(const std::string& message) override { response_->error(message); }

 private:
  std::shared_ptr<CompletionResponse> response_;
  int32_t index_;
};

void handle_completion(ApiContext& ctx, ApiKind kind, const HttpRequest& req, std::shared_ptr<HttpResponder> responder) {
  // Admission control: a bounded queue answers "later" instead of growing without bound.
  if (auto e = admission_error(ctx)) return reply_api_error(*responder, *e, {{"Retry-After", "1"}});
  auto parsed = parse_completion_request(kind, req.body(), *ctx.model, ctx.served_name);
  if (auto* e = std::get_if<ApiError>(&parsed)) return reply_api_error(*responder, *e);
  CompletionRequest& r = std::get<CompletionRequest>(parsed);
  const SeqId first_id = ctx.next_id.fetch_add(static_cast<uint64_t>(r.n));
  const std::string request_id = (kind == ApiKind::Chat ? "chatcmpl-" : "cmpl-") + std::to_string(first_id);
  auto response = std::make_shared<CompletionResponse>(
      responder, CompletionFormatter(kind, ctx.served_name, request_id, unix_now()), r.stream, r.include_usage, r.n);
  response->start();
  caf::actor gateway = ctx.gateway;
  std::vector<SeqId> ids;
  for (int32_t i = 0; i < r.n; ++i) ids.push_back(first_id + static_cast<SeqId>(i));
  responder->on_disconnect([gateway, ids] {
    for (SeqId id : ids) caf::anon_send(gateway, abort_atom::value, id);
  });
  for (int32_t i = 0; i < r.n; ++i) {
    auto g = std::make_shared<GatewayRequest>();
    g->generation.id = ids[i];
    g->generation.prompt_token_ids = r.prompt_ids;
    g->generation.sampling_params = r.params;
    // Choices differ by seed; with a seed given, the i-th choice is reproducible too.
    if (r.params.seed && r.n > 1) g->generation.sampling_params.seed = *r.params.seed + static_cast<uint64_t>(i);
    g->generation.eos_token_ids = ctx.model->eos_token_ids;
    g->stop = r.stop;
    g->sink = std::make_shared<ChoiceSink>(response, i);
    caf::anon_send(gateway, submit_atom::value, std::move(g));
  }
}

}  // namespace

HttpHandler make_api_handler(std::shared_ptr<ApiContext> ctx) {
  return [ctx](const HttpRequest& req, std::shared_ptr<HttpResponder> responder) {
    const std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));
    const http::verb method = req.method();
    if (!ctx->api_key.empty() && path != "/health" && req[http::field::authorization] != "Bearer " + ctx->api_key)
      return reply_api_error(*responder, ApiError{401, "missing or wrong API key (Authorization: Bearer ...)", "", "authentication_error"});
    auto only = [&](http::verb allowed, const char* allow) {
      if (method == allowed) return true;
      reply_api_error(*responder, ApiError{405, "method " + std::string(req.method_string()) + " is not allowed on " + path, "", "invalid_request_error"},
                  {{"Allow", allow}});
      return false;
    };
    if (path == "/health") {
      if (only(http::verb::get, "GET")) responder->reply(200, "application/json", R"({"status":"ok"})");
    } else if (path == "/v1/models") {
      if (only(http::verb::get, "GET"))
        responder->reply(200, "application/json",
                         models_response(ctx->served_name, ctx->model->config.max_position_embeddings, ctx->started_at));
    } else if (path.rfind("/v1/models/", 0) == 0) {
      const std::string id = path.substr(std::string("/v1/models/").size());
      if (!only(http::verb::get, "GET")) return;
      if (id != ctx->served_name)
        return reply_api_error(*responder, ApiError{404, "the model '" + id + "' does not exist", "model", "NotFoundError"});
      responder->reply(200, "application/json",
                       model_response(ctx->served_name, ctx->model->config.max_position_embeddings, ctx->started_at));
    } else if (path == "/metrics") {
      if (only(http::verb::get, "GET"))
        responder->reply(200, "text/plain; version=0.0.4", ctx->metrics ? ctx->metrics->prometheus_text() : "");
    } else if (path == "/v1/completions") {
      if (only(http::verb::post, "POST")) handle_completion(*ctx, ApiKind::Completion, req, responder);
    } else if (path == "/v1/chat/completions") {
      if (only(http::verb::post, "POST")) handle_completion(*ctx, ApiKind::Chat, req, responder);
    } else if (path == "/generate" || path == "/generate_stream") {
      if (only(http::verb::post, "POST")) handle_tgi_generate(*ctx, req, responder, path == "/generate_stream");
    } else if (auto triton = parse_triton_route(path)) {
      if (only(http::verb::post, "POST")) handle_triton_generate(*ctx, *triton, req, responder);
    } else if (path == "/tokenize") {
      if (only(http::verb::post, "POST")) handle_tokenize(*ctx, req, responder);
    } else if (path == "/detokenize") {
      if (only(http::verb::post, "POST")) handle_detokenize(*ctx, req, responder);
    } else {
      reply_api_error(*responder, ApiError{404, "no route " + path, "", "NotFoundError"});
    }
  };
}

}  // namespace troupe::net
