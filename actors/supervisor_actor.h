#pragma once
// supervisor: spawns the executor and the scheduler of one engine and monitors both. When the
// executor dies (a crash, a CUDA error, a kill) it logs the cause and spawns a new one from the
// same spawn arguments, within a restart budget (Ray's max_restarts). The scheduler, told of the
// new executor, recomputes every running sequence on it (Scheduler::reset_executor_state), so no
// accepted request is lost and no client gets a token twice. Past the budget the scheduler ends
// every live request with an abort. A dead scheduler is respawned over the current executor
// within its own budget, and registered gateways resubmit what they hold
// (scheduler_supervision.h).
//
// The executor may be a group (executor_group.h): the stage executors of a pipeline-parallel
// model. A dead stage ends its group; once every stage of it is down the supervisor spawns a new
// group over the same stage backends (one restart of the budget) and the scheduler recomputes.
#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/executor_group.h"
#include "actors/scheduler_supervision.h"
#include "engine/metrics/server_metrics.h"
#include "engine/runtime/model_backend.h"
#include "engine/scheduler/scheduler_config.h"

namespace troupe {

struct SupervisorState {
  std::vector<std::shared_ptr<ModelBackend>> stages;  // the executor's spawn arguments (one backend,
                                                      // or one per pipeline stage), kept for restarts
  ExecutorGroup group;                    // the current executor group, or the dying one
  caf::actor executor;                    // the group's head, what the scheduler drives; null
                                          // while a dead group winds down and once the budget is spent
  int32_t restarts_left = 0;
  int32_t restarts = 0;
  SchedulerSupervision scheduling;
  static inline const char* name = "supervisor";
};

// Messages: (engine_atom) -> (scheduler, executor), the current ones; (gateway_atom, actor):
// tell this gateway of every new scheduler; (kv_manager_atom) -> the kv_manager (null if it died).
// `stages`: one backend (one executor) or a pipeline's stage backends in order; then
// config.pipeline_stages must equal their number.
// `kv_manager`: one shared by several supervisors, each of one data-parallel replica
// (config.replica tells them apart; SchedulerSupervision::data_parallel says what changes); null:
// one engine, which spawns its own.
caf::behavior supervisor_actor(caf::stateful_actor<SupervisorState>* self,
                               std::vector<std::shared_ptr<ModelBackend>> stages, SchedulerConfig config,
                               int32_t max_restarts, std::shared_ptr<ServerMetrics> metrics,
                               caf::actor kv_manager);

}  // namespace troupe
