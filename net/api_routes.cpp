#include "net/api_routes.h"

#include "engine/version.h"
#include "net/api_error.h"
#include "net/api_key.h"
#include "net/api_submit.h"
#include "net/cluster_status.h"
#include "net/completion_response.h"
#include "net/openai_api.h"
#include "net/tgi_api.h"
#include "net/tokenize_api.h"
#include "net/triton_api.h"

namespace troupe::net {

namespace http = boost::beast::http;

namespace {

// 200 while every node is up; 503 naming the lost one(s) once any is lost (the cluster then serves
// nothing: see cluster_supervisor_actor.h).
void reply_cluster_health(const ClusterHealth& cluster, HttpResponder& responder) {
  const std::vector<NodeHealth> nodes = cluster.nodes();
  nlohmann::ordered_json body{{"status", "ok"}};
  std::string lost;
  for (const NodeHealth& n : nodes)
    if (n.state == NodeState::Lost) lost += (lost.empty() ? "" : "; ") + n.lost_because;
  if (!lost.empty()) {
    body["status"] = "unavailable";
    body["error"] = lost;
  }
  body["nodes"] = cluster_nodes_json(nodes);
  responder.reply(lost.empty() ? 200 : 503, "application/json", dump_json(body));
}

}  // namespace

HttpHandler make_api_handler(std::shared_ptr<ApiContext> ctx) {
  return [ctx](const HttpRequest& req, std::shared_ptr<HttpResponder> responder) {
    const std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));
    const http::verb method = req.method();
    const auto authorization = req[http::field::authorization];
    // As vLLM: the key guards the API, not the probes (/health) or, unless asked, the scrape.
    const bool open_route = path == "/health" || (path == "/metrics" && !ctx->metrics_need_key);
    if (!ctx->api_key.empty() && !open_route &&
        !authorization_matches(std::string_view(authorization.data(), authorization.size()), ctx->api_key))
      return reply_api_error(*responder, ApiError{401, "missing or wrong API key (Authorization: Bearer ...)", "", "authentication_error"});
    auto only = [&](http::verb allowed, const char* allow) {
      if (method == allowed) return true;
      reply_api_error(*responder, ApiError{405, "method " + std::string(req.method_string()) + " is not allowed on " + path, "", "invalid_request_error"},
                  {{"Allow", allow}});
      return false;
    };
    if (path == "/health") {
      if (!only(http::verb::get, "GET")) return;
      if (ctx->draining.load())  // load balancers take the replica out of rotation now
        return responder->reply(503, "application/json", R"({"status":"draining"})");
      if (ctx->cluster) return reply_cluster_health(*ctx->cluster, *responder);
      if (ctx->metrics && !ctx->metrics->engine_alive.load())
        return responder->reply(503, "application/json",
                                R"json({"status":"dead","error":"the engine stopped: a restart budget is spent (see the server log)"})json");
      responder->reply(200, "application/json", R"({"status":"ok"})");
    } else if (path == "/version") {  // vLLM's
      if (only(http::verb::get, "GET"))
        responder->reply(200, "application/json", dump_json(nlohmann::ordered_json{{"version", kTroupeVersion}}));
    } else if (path == "/v1/models") {
      if (only(http::verb::get, "GET"))
        responder->reply(200, "application/json",
                         models_response(ctx->served_name, ctx->model->config.max_position_embeddings, ctx->started_at));
    } else if (path.rfind("/v1/models/", 0) == 0) {
      const std::string id = path.substr(std::string("/v1/models/").size());
      if (!only(http::verb::get, "GET")) return;
      if (!ctx->served_name.contains(id))
        return reply_api_error(*responder, ApiError{404, "the model '" + id + "' does not exist", "model", "NotFoundError"});
      responder->reply(200, "application/json",
                       model_response(id, ctx->model->config.max_position_embeddings, ctx->started_at));
    } else if (path == "/metrics") {
      if (only(http::verb::get, "GET"))
        responder->reply(200, "text/plain; version=0.0.4",
                         (ctx->metrics ? ctx->metrics->prometheus_text() : "") +
                             (ctx->cluster ? cluster_prometheus_text(*ctx->cluster,
                                                                     ctx->metrics ? ctx->metrics->prefix : "troupe",
                                                                     ctx->metrics ? ctx->metrics->model_name : "")
                                           : ""));
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
