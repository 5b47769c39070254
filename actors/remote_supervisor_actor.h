#pragma once
// remote_supervisor: the supervisor of an executor in another process (`troupe node`). It cannot
// spawn one there, so when the node is lost it reconnects to the same address — the node having
// been restarted by whatever runs it — and hands the scheduler the new executor; running
// sequences are recomputed on it as after a local restart, so no accepted request is lost and no
// client gets a token twice. Past `max_restarts` losses, or when no node answers within
// `reconnect_window` (--executor-reconnect-seconds), the scheduler ends every live request with an
// abort. The scheduler (in this process) is restarted as under the local supervisor
// (scheduler_supervision.h); one that dies while the node is being reconnected gets the new
// executor when it comes. An executor that comes back must still do what the first one said its
// backend does (executor_capabilities.h), since the gateway opened request fields by that answer:
// one that lacks any is given up on, as past the budget.
#include <chrono>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/scheduler_supervision.h"
#include "engine/metrics/server_metrics.h"
#include "engine/runtime/backend_capabilities.h"
#include "engine/scheduler/scheduler_config.h"

namespace troupe {

struct RemoteSupervisorState {
  std::string host;
  uint16_t port = 0;
  caf::actor executor;  // the current proxy; null while reconnecting or once given up
  bool gave_up = false;  // no executor will come again
  SchedulerSupervision scheduling;
  int32_t losses = 0;
  std::chrono::steady_clock::time_point lost_at;
  // What the gateway opened by the first executor's answer, (capabilities_atom, BackendCapabilities)
  // from serve (none: any executor that comes back will do).
  BackendCapabilities capabilities;
  static inline const char* name = "remote_supervisor";
};

// Spawn detached: reconnecting blocks its thread for a connection attempt.
// Messages: (engine_atom) -> (scheduler, executor); (gateway_atom, actor): tell this gateway of
// every new scheduler; (capabilities_atom, BackendCapabilities): what the gateway opened.
caf::behavior remote_supervisor_actor(caf::stateful_actor<RemoteSupervisorState>* self, caf::actor executor,
                                      std::string host, uint16_t port, SchedulerConfig config, int32_t max_restarts,
                                      std::chrono::milliseconds reconnect_window,
                                      std::shared_ptr<ServerMetrics> metrics = nullptr);

}  // namespace troupe
