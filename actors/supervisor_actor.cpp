#include "actors/supervisor_actor.h"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/executor_actor.h"
#include "actors/kv_manager_actor.h"
#include "actors/message_inspect.h"
#include "actors/scheduler_actor.h"

namespace troupe {
namespace {

using Self = caf::stateful_actor<SupervisorState>;

// Monitored, not linked: an executor that dies with exit_reason::kill would take a linked
// supervisor with it (kill cannot be trapped); a down message always arrives.
caf::actor spawn_executor(Self* self) {
  auto executor = self->spawn<caf::monitored + caf::detached>(executor_actor, self->state.backend);
  return executor;
}

}  // namespace

caf::behavior supervisor_actor(Self* self, std::shared_ptr<ModelBackend> backend, SchedulerConfig config,
                               int32_t max_restarts, std::shared_ptr<ServerMetrics> metrics) {
  auto& st = self->state;
  st.backend = std::move(backend);
  st.restarts_left = max_restarts;
  st.executor = spawn_executor(self);
  st.scheduler = self->spawn<caf::linked>(scheduler_actor, config, st.executor, true, std::move(metrics));
  st.kv_manager = self->spawn<caf::linked + caf::detached>(kv_manager_actor);  // why: kv_manager_actor.h
  self->send(st.scheduler, kv_manager_atom::value, st.kv_manager);  // ahead of any request
  // Shutdown (or the linked scheduler died): end the executor too, and do not restart it.
  self->set_exit_handler([=](const caf::exit_msg& exit) {
    auto& s = self->state;
    if (s.executor) self->send_exit(s.executor, exit.reason);
    s.executor = caf::actor{};
    self->quit(exit.reason);
  });
  self->set_down_handler([=](const caf::down_msg& down) {
    auto& s = self->state;
    if (!s.executor || down.source != s.executor.address()) return;
    spdlog::error("executor died: {}", self->system().render(down.reason));
    if (s.restarts_left <= 0) {
      spdlog::error("executor restart budget ({}) spent: live requests end with abort", max_restarts);
      s.executor = caf::actor{};
      self->send(s.scheduler, executor_atom::value, caf::actor{});
      return;
    }
    --s.restarts_left;
    ++s.restarts;
    s.executor = spawn_executor(self);
    spdlog::warn("executor restarted ({} of {}); running sequences are recomputed", s.restarts, max_restarts);
    self->send(s.scheduler, executor_atom::value, s.executor);
  });
  return {
      [=](engine_atom) { return caf::make_message(self->state.scheduler, self->state.executor); },
      [=](kv_manager_atom) { return self->state.kv_manager; },
  };
}

}  // namespace troupe
