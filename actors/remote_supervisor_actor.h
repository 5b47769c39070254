#pragma once
// remote_supervisor: the supervisor of an executor in another process (`troupe node`). It cannot
// spawn one there, so when the node is lost it reconnects to the same address — the node having
// been restarted by whatever runs it — and hands the scheduler the new executor; running
// sequences are recomputed on it as after a local restart, so no accepted request is lost and no
// client gets a token twice. Past `max_restarts` losses, or when no node answers within
// `reconnect_window` (--executor-reconnect-seconds), the scheduler ends every live request with an
// abort.
#include <chrono>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include "engine/metrics/server_metrics.h"
#include "engine/scheduler/scheduler_config.h"

namespace troupe {

struct RemoteSupervisorState {
  std::string host;
  uint16_t port = 0;
  caf::actor executor;  // the current proxy; null while reconnecting
  caf::actor scheduler;
  int32_t losses = 0;
  std::chrono::steady_clock::time_point lost_at;
  static inline const char* name = "remote_supervisor";
};

// Spawn detached: reconnecting blocks its thread for a connection attempt.
// Messages: (engine_atom) -> (scheduler, executor).
caf::behavior remote_supervisor_actor(caf::stateful_actor<RemoteSupervisorState>* self, caf::actor executor,
                                      std::string host, uint16_t port, SchedulerConfig config, int32_t max_restarts,
                                      std::chrono::milliseconds reconnect_window,
                                      std::shared_ptr<ServerMetrics> metrics = nullptr);

}  // namespace troupe
