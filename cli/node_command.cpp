// `troupe node`, two ways:
//  - `--config FILE --name NAME`: one node of a cluster file (cli/cluster_node.h);
//  - `--model DIR [--host H --port P]`: loads a model and publishes one executor actor for a head
//    process (`troupe generate --executor HOST:PORT`, `troupe serve --executor ...`) to drive.
// Runs until SIGINT or SIGTERM.
#include "cli/node_command.h"

#include <csignal>
#include <cstdlib>
#include <memory>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/actor_system_config.h"
#include "actors/engine_topology.h"
#include "cli/cluster_node.h"
#include "cli/model_options.h"
#include "cli/shutdown_signals.h"

namespace troupe::cli {
namespace {

struct NodeOptions {
  ModelOptions model;
  std::string host = "127.0.0.1";
  uint16_t port = 4300;
};

int run_node(const NodeOptions& o) {
  const sigset_t signals = block_shutdown_signals();  // before CAF starts its threads
  // A GPU node sizes its activations for the default step limits (256 sequences, 2048 tokens).
  LoadedModel m = load_model(o.model, EngineOptions{});
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const PublishedExecutor published = publish_executor(sys, m.backend, o.host, o.port);
  spdlog::info("executor published on {}:{}", o.host, published.port);
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: shutting down", sig);
  // Nothing to hand over: an executor holds no client's state (its scheduler recomputes what a lost
  // executor ran). CAF 0.17's actor_system destructor can wait forever on a detached actor that
  // has ended (actor-framework#1196): a node outlived its SIGTERM in 1 of 3 runs here. So the
  // process ends without it, as a cluster node's does.
  spdlog::default_logger()->flush();
  std::_Exit(0);
}

}  // namespace

void register_node(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<NodeOptions>();
  auto c = std::make_shared<ClusterNodeOptions>();
  c->presets_dir = TROUPE_PRESETS_DIR;
  CLI::App* cmd = app.add_subcommand(
      "node", "Run one node of a cluster file (--config FILE --name NAME), or serve one model's executor to a head "
              "process (--model DIR --port P)");
  auto* config = cmd->add_option("--config", c->config, "the cluster file (TOML; config/README.md), the same on every node");
  auto* name = cmd->add_option("--name", c->name, "this node's name in the cluster file");
  name->needs(config);
  config->needs(name);
  cmd->add_option("--presets-dir", c->presets_dir, "with --config: where model.path finds preset names")
      ->capture_default_str();
  auto* respawn = cmd->add_option("--respawn", c->respawn,
                                  "with --config: run the node's work in a child process and start it again, up to N "
                                  "times, when it crashes or its GPU context is lost (a sticky CUDA error); it reloads "
                                  "its shards and rejoins its head")
                      ->check(CLI::Range(0, 1000))
                      ->capture_default_str();
  auto* faults = cmd->add_option("--fault-plan", c->fault_plan,
                                 "with --config: a TOML file of faults this node injects into itself (crash, "
                                 "device_error, delay, drop_heartbeats at a step; config/README.md) — for tests and "
                                 "drills only")
                     ->check(CLI::ExistingFile);
  respawn->needs(config);
  faults->needs(config);
  add_model_options(*cmd, o->model, /*model_required=*/false);
  cmd->add_option("--host", o->host, "without --config: address to listen on")->capture_default_str();
  cmd->add_option("--port", o->port, "without --config: port to listen on (0: any free port)")->capture_default_str();
  cmd->callback([o, c, cmd, &exit_code] {
    if (!c->config.empty()) {
      // The file says everything else; a model flag beside it would be ignored, so it is refused.
      for (const char* flag : {"--model", "--load-format", "--dummy-seed", "--device", "--host", "--port",
                               "--gpu-memory-utilization", "--no-cuda-graphs", "--no-gemm-tuning", "--gemm-tuning-cache",
                               "--batch-invariant"})
        if (cmd->count(flag) > 0)
          throw std::invalid_argument(std::string(flag) + " cannot be combined with --config: the cluster file sets it");
      c->threads = o->model.threads;
      run_cluster_node(*c);
    }
    if (o->model.model.empty()) throw std::invalid_argument("troupe node needs --config FILE --name NAME, or --model DIR");
    exit_code = run_node(*o);
  });
}

}  // namespace troupe::cli
