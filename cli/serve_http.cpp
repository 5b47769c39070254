#include "cli/serve_http.h"

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

#include "actors/gateway_actor.h"

namespace troupe::cli {
namespace {

// Every connection is a file descriptor: a soft limit of 1,024 (a common default) would refuse
// connections below --max-connections, so the soft limit is raised to the hard one.
void raise_open_file_limit(size_t connections) {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return;
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
  if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < connections + 256)
    spdlog::warn("the open-file limit ({}) is below --max-connections ({}) plus what the server needs; raise it "
                 "(ulimit -n) or lower --max-connections", r.rlim_cur, connections);
}

}  // namespace

void use_api_key(HttpServing& o, const net::ApiKey& key) {
  if (key.key.empty()) spdlog::info("no API key: every route is open");
  else spdlog::info("API key from {}: required on every route but /health{}", key.source,
                    o.metrics_need_key ? "" : " and /metrics");
  o.api_key = key.key;
}

int serve_until_signal(caf::actor_system& sys, const EngineActors& engine, std::shared_ptr<const ModelFolder> folder,
                       std::shared_ptr<ServerMetrics> metrics, const HttpServing& o, const sigset_t& signals,
                       std::shared_ptr<const ClusterHealth> cluster) {
  auto tokenizer = std::make_shared<const Tokenizer>(folder->text.tokenizer);
  auto gateway = spawn_gateway(sys, engine, tokenizer, GatewayOptions{metrics, std::chrono::seconds(o.request_timeout), o.routing});

  auto ctx = std::make_shared<net::ApiContext>();
  ctx->model = folder;
  ctx->served_name = o.served_model_names.empty() ? net::ServedNames(folder->dir.string()) : net::ServedNames(o.served_model_names);
  ctx->seed = o.seed;
  if (metrics) {  // before the first scrape; the series carry the name clients are answered with
    metrics->prefix = o.metrics_prefix;
    metrics->model_name = ctx->served_name.primary();
  }
  ctx->gateway = gateway;
  ctx->metrics = metrics;
  ctx->max_waiting = o.max_queue_depth;
  ctx->api_key = o.api_key;
  ctx->metrics_need_key = o.metrics_need_key;
  ctx->field_gates = o.field_gates;
  ctx->cluster = std::move(cluster);
  ctx->logit_adjustments = o.logit_adjustments;
  ctx->prompt_logprobs = o.prompt_logprobs;
  ctx->started_at = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  raise_open_file_limit(o.http.http.max_connections);
  net::ApiServer server(sys, ctx, o.http);
  spdlog::info("serving {} on http://{}:{} (OpenAI API: /v1/completions, /v1/chat/completions, /v1/models)",
               ctx->served_name.quoted(), o.http.http.host, server.port());

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: shutting down; requests in flight have {} s to finish (a second signal ends them now)", sig,
               o.http.shutdown_timeout.count());
  // A second signal cuts the wait short; this thread ends with the shutdown (its own signal).
  std::atomic<bool> done{false};
  std::thread second([&] {
    int s = 0;
    sigwait(&signals, &s);
    if (!done.load()) server.hurry();
  });
  server.shutdown();
  done.store(true);
  pthread_kill(second.native_handle(), SIGTERM);
  second.join();
  stop_engine(engine);
  spdlog::info("shut down");
  return 0;
}

}  // namespace troupe::cli
