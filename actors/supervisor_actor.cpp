#include "actors/supervisor_actor.h"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/executor_actor.h"
#include "actors/kv_manager_actor.h"
#include "actors/message_inspect.h"

namespace troupe {
namespace {

using Self = caf::stateful_actor<SupervisorState>;

// Monitored, not linked: an executor that dies with exit_reason::kill would take a linked
// supervisor with it (kill cannot be trapped); a down message always arrives.
caf::actor spawn_executor(Self* self) {
  auto executor = self->spawn<caf::monitored + caf::detached>(executor_actor, self->state.backend);
  return executor;
}

void executor_down(Self* self, const caf::down_msg& down, int32_t max_restarts) {
  auto& s = self->state;
  spdlog::error("executor died: {}", self->system().render(down.reason));
  if (s.restarts_left <= 0) {
    spdlog::error("executor restart budget ({}) spent: live requests end with abort", max_restarts);
    s.executor = caf::actor{};
    hand_executor(self, s.scheduling, caf::actor{});
    return;
  }
  --s.restarts_left;
  ++s.restarts;
  s.executor = spawn_executor(self);
  spdlog::warn("executor restarted ({} of {}); running sequences are recomputed", s.restarts, max_restarts);
  hand_executor(self, s.scheduling, s.executor);
}

}  // namespace

caf::behavior supervisor_actor(Self* self, std::shared_ptr<ModelBackend> backend, SchedulerConfig config,
                               int32_t max_restarts, std::shared_ptr<ServerMetrics> metrics) {
  auto& st = self->state;
  st.backend = std::move(backend);
  st.restarts_left = max_restarts;
  st.executor = spawn_executor(self);
  st.scheduling.config = config;
  st.scheduling.metrics = std::move(metrics);
  st.scheduling.max_restarts = max_restarts;
  // Monitored, not linked: the mirror is an audit and a lookup service, and its failure must not
  // end serving. Every scheduler (the first and each restarted one) is handed it before any request.
  st.scheduling.kv_manager = self->spawn<caf::monitored + caf::detached>(kv_manager_actor);  // why: kv_manager_actor.h
  start_scheduler(self, st.scheduling, st.executor);
  // Shutdown: end the children too, and do not restart them.
  self->set_exit_handler([=](const caf::exit_msg& exit) {
    auto& s = self->state;
    if (s.executor) self->send_exit(s.executor, exit.reason);
    if (s.scheduling.scheduler) self->send_exit(s.scheduling.scheduler, exit.reason);
    if (s.scheduling.kv_manager) self->send_exit(s.scheduling.kv_manager, exit.reason);
    s.executor = caf::actor{};
    s.scheduling.scheduler = caf::actor{};
    s.scheduling.kv_manager = caf::actor{};
    self->quit(exit.reason);
  });
  self->set_down_handler([=](const caf::down_msg& down) {
    auto& s = self->state;
    if (s.executor && down.source == s.executor.address()) return executor_down(self, down, max_restarts);
    if (s.scheduling.kv_manager && down.source == s.scheduling.kv_manager.address()) {
      spdlog::error("kv_manager died ({}); serving goes on, the block pool is no longer mirrored",
                    self->system().render(down.reason));
      s.scheduling.kv_manager = caf::actor{};
      return;
    }
    // A local executor is null only once its budget is spent: then no scheduler is restarted.
    on_scheduler_down(self, s.scheduling, down, s.executor, /*executor_may_come=*/static_cast<bool>(s.executor));
  });
  return {
      [=](engine_atom) { return caf::make_message(self->state.scheduling.scheduler, self->state.executor); },
      [=](gateway_atom, caf::actor gateway) { add_gateway(self, self->state.scheduling, std::move(gateway)); },
      [=](kv_manager_atom) { return self->state.scheduling.kv_manager; },
  };
}

}  // namespace troupe
