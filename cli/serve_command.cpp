// `troupe serve`: the OpenAI-compatible HTTP server in local mode — gateway, scheduler and
// executor actors in this process (or the executor in a `troupe node`), HTTP on Boost.Beast.
// With no --model it serves the demo model (random weights: its text is noise).
#include "cli/serve_command.h"

#include <csignal>
#include <filesystem>
#include <memory>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/actor_system_config.h"
#include "actors/engine_topology.h"
#include "actors/executor_capabilities.h"
#include "cli/engine_options.h"
#include "net/api_key.h"  // resolve_api_key
#include "cli/model_options.h"
#include "cli/serve_http.h"
#include "cli/shutdown_signals.h"
#include "cli/vllm_flags.h"
#include "engine/cluster/server_section.h"  // is_metrics_prefix
#include "net/api_server.h"

namespace troupe::cli {
namespace {

void add_http_options(CLI::App& cmd, net::ApiServerOptions& o) {
  net::HttpServerOptions& h = o.http;
  cmd.add_option("--host", h.host, "address to listen on")->capture_default_str();
  cmd.add_option("--port", h.port, "port to listen on (0: any free port)")->capture_default_str();
  cmd.add_option("--http-threads", o.threads, "threads serving HTTP")->capture_default_str();
  cmd.add_option("--max-connections", h.max_connections,
                 "open connections at most; at the cap the longest-idle one is closed to make room")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{1} << 20));
  cmd.add_option("--max-connections-per-client", h.max_connections_per_client,
                 "open connections at most from one client address; more are refused (0: no limit)")
      ->capture_default_str();
  auto seconds = [&](const char* name, std::chrono::seconds& value, const char* what) {
    cmd.add_option_function<int64_t>(name, [&value](int64_t s) { value = std::chrono::seconds(s); }, what)
        ->default_str(std::to_string(value.count()))->check(CLI::Range(int64_t{1}, int64_t{86400}));
  };
  seconds("--header-timeout", h.header_timeout,
          "seconds a client has to send a request's header once it connects (or starts the next request)");
  seconds("--keep-alive-timeout", h.idle_timeout, "seconds an idle kept-alive connection waits for its next request");
  seconds("--shutdown-timeout", o.shutdown_timeout,
          "on SIGTERM/SIGINT, seconds requests in flight may run before they are ended (finish reason abort)");
}

// What the backend of the executor at `address` (--executor) does, which this process cannot see:
// its own answer, said in the log; an executor that gives none (an older build) does nothing the
// gateway could open fields for.
BackendCapabilities remote_capabilities(caf::actor_system& sys, const EngineActors& engine, const std::string& address) {
  const caf::expected<BackendCapabilities> can = ask_capabilities(sys, engine.executor);
  if (!can) {
    spdlog::warn("the executor at {} does not say what its backend does ({}): logit_bias, min_tokens and "
                 "prompt_logprobs are refused", address, sys.render(can.error()));
    return {};
  }
  spdlog::info("the executor at {} {} logit_bias and min_tokens, and {} prompt tokens", address,
               can->applies_logit_adjustments ? "applies" : "does not apply",
               can->computes_prompt_logprobs ? "scores" : "does not score");
  // The supervisor holds an executor that comes back after a loss to what is opened now.
  caf::anon_send(engine.supervisor, capabilities_atom::value, *can);
  return *can;
}

struct ServeOptions {
  ModelOptions model;
  EngineOptions engine;
  HttpServing serving;
  VllmServeFlags vllm;
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
  const sigset_t signals = block_shutdown_signals();  // before any thread starts

  check_vllm_serve_flags(o.vllm, uses_gpu(o.model));
  LoadedModel m = load_model(o.model, o.engine, /*weights=*/o.engine.executor.empty());
  apply_generation_defaults(m.folder, read_generation_config(o.vllm.generation_config, m.folder.dir));
  apply_chat_template_flag(o.vllm, m.folder.text);
  const SchedulerConfig config =
      make_scheduler_config(o.engine, m.folder.config, m.backend ? m.backend->kv_cache_capacity() : 0);
  auto folder = std::make_shared<const ModelFolder>(std::move(m.folder));
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  auto metrics = std::make_shared<ServerMetrics>(o.engine.data_parallel);
  const EngineActors engine = start_loaded_engine(sys, m, o.engine, config, metrics);
  const BackendCapabilities can = m.backend ? capabilities_of(*m.backend) : remote_capabilities(sys, engine, o.engine.executor);
  o.serving.logit_adjustments = can.applies_logit_adjustments;
  o.serving.prompt_logprobs = can.computes_prompt_logprobs;
  return serve_until_signal(sys, engine, folder, metrics, o.serving, signals);
}

}  // namespace

void register_serve(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  add_model_options(*cmd, o->model, /*model_required=*/false);
  add_engine_options(*cmd, o->engine);
  add_http_options(*cmd, o->serving.http);
  add_vllm_serve_flags(*cmd, o->vllm, o->model, o->engine, o->serving);
  cmd->add_option_function<std::string>(
         "--data-parallel-policy",
         [o](const std::string& p) { o->serving.routing = *parse_routing_policy(p); },
         "with --data-parallel-size N: which replica each request goes to. cache_aware (default): the one whose "
         "prefix cache holds the longest start of the prompt (the kv_manager's mirrors answer; no answer within "
         "50 ms: least_loaded), unless its in-flight requests exceed the least loaded's by more than max(8, 50%); "
         "least_loaded: the fewest in-flight requests; round_robin: each in turn")
      ->check(CLI::IsMember({"cache_aware", "least_loaded", "round_robin"}));
  cmd->add_option("--api-key", o->serving.api_key,
                  "require \"Authorization: Bearer KEY\" on every route but /health and /metrics");
  cmd->add_flag("--metrics-need-api-key", o->serving.metrics_need_key,
                "the API key guards /metrics too (vLLM's /metrics is open, and so is ours by default)");
  cmd->add_option("--max-queue-depth", o->serving.max_queue_depth, "waiting requests beyond which new ones get 429 (0: no limit)")
      ->capture_default_str();
  cmd->add_option("--request-timeout", o->serving.request_timeout, "seconds after which a request is aborted (0: never)")
      ->capture_default_str();
  cmd->add_option("--metrics-prefix", o->serving.metrics_prefix,
                  "/metrics series are PREFIX:name; 'vllm' for dashboards built on vLLM's names")
      ->check(CLI::Validator(
          [](const std::string& p) {
            return is_metrics_prefix(p) ? std::string() : "a Prometheus name part: letters, digits and _, not starting with a digit";
          },
          "NAME"))
      ->capture_default_str();
  auto key_file = std::make_shared<std::string>();
  cmd->add_option("--api-key-file", *key_file,
                  "read the API key from FILE's first line (--api-key shows it to every local user in the process "
                  "list); without either, $TROUPE_API_KEY, then $VLLM_API_KEY");
  cmd->callback([o, key_file, &exit_code] {
    use_api_key(o->serving, net::resolve_api_key(o->serving.api_key, *key_file));
    exit_code = run_serve(*o);
  });
}

}  // namespace troupe::cli
