// `troupe serve`: the OpenAI-compatible HTTP server in local mode — gateway, scheduler and
// executor actors in this process (or the executor in a `troupe node`), HTTP on Boost.Beast.
// With no --model it serves the demo model (random weights: its text is noise).
#include "cli/serve_command.h"

#include <csignal>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/actor_system_config.h"
#include "actors/engine_topology.h"
#include "actors/gateway_actor.h"
#include "cli/engine_options.h"
#include "cli/model_options.h"
#include "net/api_routes.h"

namespace troupe::cli {
namespace {

struct ServeOptions {
  ModelOptions model;
  EngineOptions engine;
  std::string host = "127.0.0.1";
  uint16_t port = 8000;
  std::string served_model_name;
  int http_threads = 2;
  std::string api_key;
  int64_t max_queue_depth = 4096;
  int request_timeout = 0;
};

int run_serve(ServeOptions o) {
  if (o.model.model.empty()) {
    o.model.model = demo_model_dir();
    o.model.load_format = "dummy";
    if (!std::filesystem::exists(o.model.model + "/config.json"))
      throw std::runtime_error("no --model given and the demo model is missing (" + o.model.model +
                               "); run scripts/fetch_test_data.sh or pass --model DIR");
    spdlog::warn("no --model: serving the demo model ({}), random weights — its text is noise", o.model.model);
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts: only sigwait gets them

  LoadedModel m = load_model(o.model, o.engine, /*weights=*/o.engine.executor.empty());
  const SchedulerConfig config =
      make_scheduler_config(o.engine, m.folder.config, m.backend ? m.backend->kv_cache_capacity() : 0);
  auto folder = std::make_shared<const ModelFolder>(std::move(m.folder));
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  auto metrics = std::make_shared<ServerMetrics>();
  const EngineActors engine =
      start_engine(sys, m.backend, o.engine.executor, config, o.engine.max_restarts, metrics,
                   reconnect_window(o.engine));
  auto tokenizer = std::make_shared<const Tokenizer>(folder->text.tokenizer);
  auto gateway = spawn_gateway(sys, engine, tokenizer, GatewayOptions{metrics, std::chrono::seconds(o.request_timeout)});

  auto ctx = std::make_shared<net::ApiContext>();
  ctx->model = folder;
  ctx->served_name = o.served_model_name.empty() ? folder->dir.filename().string() : o.served_model_name;
  ctx->gateway = gateway;
  ctx->metrics = metrics;
  ctx->max_waiting = o.max_queue_depth;
  ctx->api_key = o.api_key;
  ctx->started_at = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  boost::asio::io_context io;
  net::HttpServerOptions http;
  http.host = o.host;
  http.port = o.port;
  net::HttpServer server(io, http, net::make_api_handler(ctx));
  server.start();
  spdlog::info("serving '{}' on http://{}:{} (OpenAI API: /v1/completions, /v1/chat/completions, /v1/models)",
               ctx->served_name, o.host, server.port());
  std::vector<std::thread> threads;
  for (int i = 0; i < std::max(1, o.http_threads); ++i) threads.emplace_back([&io] { io.run(); });

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: shutting down", sig);
  io.stop();
  for (auto& t : threads) t.join();
  caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
  stop_engine(engine);
  return 0;
}

}  // namespace

void register_serve(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  add_model_options(*cmd, o->model, /*model_required=*/false);
  add_engine_options(*cmd, o->engine);
  cmd->add_option("--host", o->host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", o->port, "port to listen on (0: any free port)")->capture_default_str();
  cmd->add_option("--served-model-name", o->served_model_name, "the model name clients use (default: the folder's name)");
  cmd->add_option("--http-threads", o->http_threads, "threads serving HTTP")->capture_default_str();
  cmd->add_option("--api-key", o->api_key, "require \"Authorization: Bearer KEY\" on every route but /health");
  cmd->add_option("--max-queue-depth", o->max_queue_depth, "waiting requests beyond which new ones get 429 (0: no limit)")
      ->capture_default_str();
  cmd->add_option("--request-timeout", o->request_timeout, "seconds after which a request is aborted (0: never)")
      ->capture_default_str();
  cmd->callback([o, &exit_code] { exit_code = run_serve(*o); });
}

}  // namespace troupe::cli
