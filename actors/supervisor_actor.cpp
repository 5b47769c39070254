#include "actors/supervisor_actor.h"

#include <algorithm>
#include <string>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/message_inspect.h"

namespace troupe {
namespace {

using Self = caf::stateful_actor<SupervisorState>;

caf::actor spawn_executor(Self* self) {
  self->state.group = spawn_executor_group(self, self->state.stages);
  return self->state.group.head();
}

// A member of the executor group is down. The first one names the cause and ends the rest; the
// group is replaced once the last is down (see executor_group.h).
void executor_down(Self* self, const caf::down_msg& down, int32_t index, int32_t max_restarts) {
  auto& s = self->state;
  const bool first = !std::any_of(s.group.down.begin(), s.group.down.end(), [](bool d) { return d; });
  s.group.down[static_cast<size_t>(index)] = true;
  if (first) {
    if (s.group.members.size() == 1) spdlog::error("executor died: {}", self->system().render(down.reason));
    else spdlog::error("executor stage {} of {} died: {}", index, s.group.members.size(), self->system().render(down.reason));
    kill_executor_group(self, s.group, caf::exit_reason::kill);
    s.executor = caf::actor{};
  }
  if (!s.group.all_down()) return;
  s.group = ExecutorGroup{};
  if (s.restarts_left <= 0) {
    spdlog::error("executor restart budget ({}) spent: {}", max_restarts, budget_spent_consequence(s.scheduling));
    s.executor = caf::actor{};
    hand_executor(self, s.scheduling, caf::actor{});
    return;
  }
  --s.restarts_left;
  ++s.restarts;
  if (ServerMetrics* m = s.scheduling.metrics.get()) m->count_restart("executor", "");
  s.executor = spawn_executor(self);
  spdlog::warn("executor{} restarted ({} of {}); running sequences are recomputed",
               s.stages.size() > 1 ? " group of " + std::to_string(s.stages.size()) + " pipeline stages" : "",
               s.restarts, max_restarts);
  hand_executor(self, s.scheduling, s.executor);
}

}  // namespace

caf::behavior supervisor_actor(Self* self, std::vector<std::shared_ptr<ModelBackend>> stages, SchedulerConfig config,
                               int32_t max_restarts, std::shared_ptr<ServerMetrics> metrics, caf::actor kv_manager) {
  auto& st = self->state;
  st.stages = std::move(stages);
  st.restarts_left = max_restarts;
  st.executor = spawn_executor(self);
  st.scheduling.config = config;
  st.scheduling.metrics = std::move(metrics);
  st.scheduling.max_restarts = max_restarts;
  // Every scheduler (the first and each restarted one) is handed it before any request.
  st.scheduling.data_parallel = static_cast<bool>(kv_manager);  // shared: one of several replicas
  start_kv_manager(self, st.scheduling, std::move(kv_manager));
  start_scheduler(self, st.scheduling, st.executor);
  // Shutdown: end the children too, and do not restart them.
  self->set_exit_handler([=](const caf::exit_msg& exit) {
    auto& s = self->state;
    kill_executor_group(self, s.group, exit.reason);
    if (s.scheduling.scheduler) self->send_exit(s.scheduling.scheduler, exit.reason);
    if (s.scheduling.kv_manager) self->send_exit(s.scheduling.kv_manager, exit.reason);
    s.executor = caf::actor{};
    s.group = ExecutorGroup{};
    s.scheduling.scheduler = caf::actor{};
    s.scheduling.kv_manager = caf::actor{};
    self->quit(exit.reason);
  });
  self->set_down_handler([=](const caf::down_msg& down) {
    auto& s = self->state;
    if (const int32_t i = s.group.index_of(down.source); i >= 0) return executor_down(self, down, i, max_restarts);
    if (on_kv_manager_down(self, s.scheduling, down)) return;
    // No group at all only once the budget is spent: then no scheduler is restarted. (While a dead
    // group winds down a new scheduler waits for the next one, which comes through executor_atom.)
    on_scheduler_down(self, s.scheduling, down, s.executor, /*executor_may_come=*/!s.group.members.empty());
  });
  return {
      [=](engine_atom) { return caf::make_message(self->state.scheduling.scheduler, self->state.executor); },
      [=](gateway_atom, caf::actor gateway) { add_gateway(self, self->state.scheduling, std::move(gateway)); },
      [=](kv_manager_atom) { return self->state.scheduling.kv_manager; },
  };
}

}  // namespace troupe
