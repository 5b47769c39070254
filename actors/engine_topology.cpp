#include "actors/engine_topology.h"

#include <stdexcept>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/executor_actor.h"
#include "actors/gateway_actor.h"
#include "actors/kv_manager_actor.h"
#include "actors/message_inspect.h"
#include "actors/scheduler_actor.h"
#include "actors/remote_supervisor_actor.h"
#include "actors/supervisor_actor.h"

namespace troupe {

EngineActors start_engine(caf::actor_system& sys, std::shared_ptr<ModelBackend> backend,
                          const std::string& remote_executor, const SchedulerConfig& config, int32_t max_restarts,
                          std::shared_ptr<ServerMetrics> metrics, std::chrono::milliseconds remote_reconnect_window) {
  EngineActors a;
  if (!remote_executor.empty()) {
    const auto colon = remote_executor.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("--executor must be HOST:PORT, got '" + remote_executor + "'");
    const std::string host = remote_executor.substr(0, colon);
    const auto port = static_cast<uint16_t>(std::stoi(remote_executor.substr(colon + 1)));
    auto remote = sys.middleman().remote_actor(host, port);
    if (!remote)
      throw std::runtime_error("cannot reach the executor at " + remote_executor + ": " + sys.render(remote.error()));
    // Detached: reconnecting to a lost node blocks the supervisor's thread for each attempt.
    a.supervisor = sys.spawn<caf::detached>(remote_supervisor_actor, *remote, host, port, config, max_restarts,
                                            remote_reconnect_window, std::move(metrics));
  } else {
    return start_pipeline_engine(sys, {std::move(backend)}, config, max_restarts, std::move(metrics));
  }
  return current_engine(sys, a);
}

EngineActors start_pipeline_engine(caf::actor_system& sys, std::vector<std::shared_ptr<ModelBackend>> stages,
                                   SchedulerConfig config, int32_t max_restarts, std::shared_ptr<ServerMetrics> metrics) {
  if (stages.empty()) throw std::invalid_argument("an engine needs a backend");
  config.pipeline_stages = static_cast<int32_t>(stages.size());
  EngineActors a;
  a.supervisor = sys.spawn(supervisor_actor, std::move(stages), config, max_restarts, std::move(metrics), caf::actor{});
  return current_engine(sys, a);
}

EngineActors start_data_parallel_engine(caf::actor_system& sys, std::vector<std::shared_ptr<ModelBackend>> replicas,
                                        std::vector<SchedulerConfig> configs, int32_t max_restarts,
                                        std::shared_ptr<ServerMetrics> metrics) {
  if (replicas.empty() || configs.size() != replicas.size())
    throw std::invalid_argument("data parallel: one scheduler config per replica backend");
  if (metrics && metrics->num_replicas() < static_cast<int32_t>(replicas.size()))
    throw std::invalid_argument("data parallel: the server metrics count fewer replicas than there are");
  return start_replicas(sys, static_cast<int32_t>(replicas.size()), [&](int32_t i, const caf::actor& kv) {
    SchedulerConfig& config = configs[static_cast<size_t>(i)];
    config.replica = i;
    config.pipeline_stages = 1;
    return sys.spawn(supervisor_actor, std::vector<std::shared_ptr<ModelBackend>>{std::move(replicas[static_cast<size_t>(i)])},
                     config, max_restarts, metrics, kv);
  });
}

EngineActors start_replicas(caf::actor_system& sys, int32_t replicas, const ReplicaSupervisorSpawn& spawn_supervisor) {
  if (replicas < 1) throw std::invalid_argument("data parallel: no replica");
  // Detached, as each supervisor's own would be (kv_manager_actor.h); monitored by every supervisor.
  const caf::actor kv = sys.spawn<caf::detached>(kv_manager_actor);
  std::vector<caf::actor> supervisors;
  for (int32_t i = 0; i < replicas; ++i) supervisors.push_back(spawn_supervisor(i, kv));
  EngineActors a;
  a.supervisor = supervisors.front();
  a = current_engine(sys, a);
  a.replica_supervisors = std::move(supervisors);
  a.kv_manager = kv;
  return a;
}

EngineActors current_engine(caf::actor_system& sys, const EngineActors& engine) {
  EngineActors a = engine;
  caf::scoped_actor self{sys};
  self->request(a.supervisor, caf::infinite, engine_atom::value)
      .receive([&](const caf::actor& scheduler, const caf::actor& executor) {
                 a.scheduler = scheduler;
                 a.executor = executor;
               },
               [&](caf::error& err) { throw std::runtime_error("engine supervisor: " + sys.render(err)); });
  return a;
}

void stop_engine(const EngineActors& engine) {
  // A supervisor takes its scheduler and its executor along.
  for (const caf::actor& s : engine.replica_supervisors) caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  if (engine.kv_manager) caf::anon_send_exit(engine.kv_manager, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(engine.supervisor ? engine.supervisor : engine.scheduler, caf::exit_reason::user_shutdown);
}

caf::actor spawn_gateway(caf::actor_system& sys, const EngineActors& engine, std::shared_ptr<const Tokenizer> tokenizer,
                         GatewayOptions options) {
  // Replica i's scheduler at i; each supervisor also tells the gateway its current one on
  // registration, so one replaced meanwhile is caught up.
  std::vector<caf::actor> schedulers{engine.scheduler};
  for (size_t i = 1; i < engine.replica_supervisors.size(); ++i) {
    EngineActors replica;
    replica.supervisor = engine.replica_supervisors[i];
    schedulers.push_back(current_engine(sys, replica).scheduler);
  }
  auto gateway = sys.spawn(gateway_actor, std::move(tokenizer), std::move(schedulers), engine.kv_manager,
                           std::move(options));
  if (engine.replica_supervisors.empty() && engine.supervisor)
    caf::anon_send(engine.supervisor, gateway_atom::value, gateway);
  for (const caf::actor& s : engine.replica_supervisors) caf::anon_send(s, gateway_atom::value, gateway);
  return gateway;
}

PublishedExecutor publish_executor(caf::actor_system& sys, std::shared_ptr<ModelBackend> backend,
                                   const std::string& host, uint16_t port) {
  auto executor = sys.spawn<caf::detached>(executor_actor, std::move(backend));
  auto bound = sys.middleman().publish(executor, port, host.c_str(), true);
  if (!bound)
    throw std::runtime_error("cannot publish the executor on " + host + ":" + std::to_string(port) + ": " +
                             sys.render(bound.error()));
  return {executor, *bound};
}

}  // namespace troupe
