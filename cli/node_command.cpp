// `troupe node`: loads a model and publishes an executor actor on HOST:PORT for a head process
// (`troupe generate --executor HOST:PORT`, `troupe serve --executor ...`) to drive. Runs until
// SIGINT or SIGTERM.
#include "cli/node_command.h"

#include <csignal>
#include <memory>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/actor_system_config.h"
#include "actors/engine_topology.h"
#include "cli/model_options.h"

namespace troupe::cli {
namespace {

struct NodeOptions {
  ModelOptions model;
  std::string host = "127.0.0.1";
  uint16_t port = 4300;
};

int run_node(const NodeOptions& o) {
  // Block the signals before CAF starts its threads so that only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A GPU node sizes its activations for the default step limits (256 sequences, 2048 tokens).
  LoadedModel m = load_model(o.model, EngineOptions{});
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const PublishedExecutor published = publish_executor(sys, m.backend, o.host, o.port);
  spdlog::info("executor published on {}:{}", o.host, published.port);
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: shutting down", sig);
  // The actor system's destructor waits for every actor: end the executor first.
  caf::anon_send_exit(published.executor, caf::exit_reason::user_shutdown);
  return 0;
}

}  // namespace

void register_node(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<NodeOptions>();
  CLI::App* cmd = app.add_subcommand("node", "Serve a model's executor to a head process over the network");
  add_model_options(*cmd, o->model, /*model_required=*/true);
  cmd->add_option("--host", o->host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", o->port, "port to listen on (0: any free port)")->capture_default_str();
  cmd->callback([o, &exit_code] { exit_code = run_node(*o); });
}

}  // namespace troupe::cli
