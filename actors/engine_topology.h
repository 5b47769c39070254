#pragma once
// Starting the engine's actors in this process: an executor (local, or a proxy of one published
// by `troupe node` in another process) and the scheduler that drives it.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/gateway_actor.h"
#include "engine/metrics/server_metrics.h"
#include "engine/runtime/model_backend.h"
#include "engine/scheduler/scheduler_config.h"

namespace troupe {

struct EngineActors {
  caf::actor scheduler;   // the first one; a supervisor may replace it (ask it: engine_atom)
  caf::actor executor;    // the first one; a supervisor may replace it
  caf::actor supervisor;  // local or remote
  // Data parallel (start_data_parallel_engine): every replica's supervisor, replica i at i (the
  // fields above are replica 0's), and the one kv_manager mirroring them all. Empty and null
  // for one engine.
  std::vector<caf::actor> replica_supervisors;
  caf::actor kv_manager;
};

// With remote_executor = "host:port", connects to a published executor (throws
// std::runtime_error naming the address if it cannot) under a remote supervisor that reconnects
// when the node is lost and comes back at the same address (up to max_restarts times, waiting
// remote_reconnect_window each time); else a supervisor spawns and restarts a local one over `backend`, up to max_restarts
// times. Either way running sequences are recomputed on the new executor.
EngineActors start_engine(caf::actor_system& sys, std::shared_ptr<ModelBackend> backend,
                          const std::string& remote_executor, const SchedulerConfig& config,
                          int32_t max_restarts = 3, std::shared_ptr<ServerMetrics> metrics = nullptr,
                          std::chrono::milliseconds remote_reconnect_window = std::chrono::seconds(30));

// Pipeline parallel in this process: one stage executor per backend of `stages` (in order, their
// layer ranges tiling the model; pipeline_stage_actor.h), restarted together by the supervisor;
// the scheduler plans for that many stages (config.pipeline_stages is set to stages.size()). One
// backend is the engine above.
EngineActors start_pipeline_engine(caf::actor_system& sys, std::vector<std::shared_ptr<ModelBackend>> stages,
                                   SchedulerConfig config, int32_t max_restarts = 3,
                                   std::shared_ptr<ServerMetrics> metrics = nullptr);

// Data parallel in this process: one engine per backend of `replicas` (replica i: its own
// supervisor, restart budgets, executor and scheduler, planning with configs[i], whose `replica`
// is set to i) and ONE kv_manager that mirrors every replica's pool, for a gateway's router.
// `metrics`, if given, must count as many replicas. A replica past its restart budget leaves the
// others serving: the gateway moves its requests (gateway_actor.h).
EngineActors start_data_parallel_engine(caf::actor_system& sys, std::vector<std::shared_ptr<ModelBackend>> replicas,
                                        std::vector<SchedulerConfig> configs, int32_t max_restarts,
                                        std::shared_ptr<ServerMetrics> metrics);

// What data parallel in one process and in a cluster share: ONE kv_manager (detached), then one
// supervisor per replica i < replicas from spawn_supervisor(i, that kv_manager), which must plan
// with SchedulerConfig::replica = i and share the kv_manager. Returns the engine: replica 0's
// scheduler and executor, every replica's supervisor, the kv_manager.
using ReplicaSupervisorSpawn = std::function<caf::actor(int32_t replica, const caf::actor& kv_manager)>;
EngineActors start_replicas(caf::actor_system& sys, int32_t replicas, const ReplicaSupervisorSpawn& spawn_supervisor);

// The engine's scheduler and executor now: its supervisor may have replaced the ones it started
// with (null ones: none will come). Blocks this thread for the supervisor's answer.
EngineActors current_engine(caf::actor_system& sys, const EngineActors& engine);

// Ends the engine's actors (the actor system's destructor waits for all of them).
void stop_engine(const EngineActors& engine);

// Spawns a gateway in front of the engine and registers it with the engine's supervisor (each
// replica's, data parallel), which tells it of every restarted scheduler (it then resubmits that
// replica's in-flight requests).
caf::actor spawn_gateway(caf::actor_system& sys, const EngineActors& engine, std::shared_ptr<const Tokenizer> tokenizer,
                         GatewayOptions options = {});

struct PublishedExecutor {
  caf::actor executor;  // send it an exit message before the actor system goes away
  uint16_t port;        // the bound port
};

// Publishes an executor over `backend` on host:port (port 0 picks one).
PublishedExecutor publish_executor(caf::actor_system& sys, std::shared_ptr<ModelBackend> backend,
                                   const std::string& host, uint16_t port);

}  // namespace troupe
