#include "actors/scheduler_supervision.h"

#include <algorithm>
#include <string>
#include <utility>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/kv_manager_actor.h"
#include "actors/message_inspect.h"
#include "actors/scheduler_actor.h"

namespace troupe {
namespace {

// No scheduler will come: the engine is dead, or with data parallel this replica is (its gauges
// would otherwise keep their last values in the server's sums; the gateway decides when all are).
void mark_engine_dead(const SchedulerSupervision& s) {
  if (!s.metrics) return;
  if (!s.data_parallel) s.metrics->engine_alive = false;
  else if (s.config.replica < s.metrics->num_replicas()) s.metrics->mark_replica_gone(s.config.replica);
}

void tell_gateways(caf::event_based_actor* self, const SchedulerSupervision& s) {
  for (const caf::actor& g : s.gateways) self->send(g, scheduler_atom::value, s.config.replica, s.scheduler);
}

}  // namespace

std::string budget_spent_consequence(const SchedulerSupervision& s) {
  if (!s.data_parallel) return "live requests end with abort";
  return "replica " + std::to_string(s.config.replica) + " is gone; the gateway moves its requests to the other replicas";
}

void start_scheduler(caf::event_based_actor* self, SchedulerSupervision& s, const caf::actor& executor) {
  s.scheduler = self->spawn<caf::monitored>(scheduler_actor, s.config, executor, /*supervised=*/true, s.metrics);
  if (s.kv_manager) self->send(s.scheduler, kv_manager_atom::value, s.kv_manager);
}

void start_kv_manager(caf::event_based_actor* self, SchedulerSupervision& s, caf::actor shared) {
  if (shared) {
    self->monitor(shared);
    s.kv_manager = std::move(shared);
    return;
  }
  s.kv_manager = self->spawn<caf::monitored + caf::detached>(kv_manager_actor);  // why detached: kv_manager_actor.h
}

bool on_kv_manager_down(caf::event_based_actor* self, SchedulerSupervision& s, const caf::down_msg& down) {
  if (!s.kv_manager || down.source != s.kv_manager.address()) return false;
  spdlog::error("kv_manager died ({}); serving goes on, the block pool is no longer mirrored",
                self->system().render(down.reason));
  s.kv_manager = caf::actor{};
  return true;
}

void add_gateway(caf::event_based_actor* self, SchedulerSupervision& s, caf::actor gateway) {
  if (!gateway || std::find(s.gateways.begin(), s.gateways.end(), gateway) != s.gateways.end()) return;
  self->monitor(gateway);
  self->send(gateway, scheduler_atom::value, s.config.replica, s.scheduler);
  if (s.paused) self->send(gateway, replica_paused_atom::value, s.config.replica, true);
  s.gateways.push_back(std::move(gateway));
}

void set_paused(caf::event_based_actor* self, SchedulerSupervision& s, bool paused) {
  if (!s.data_parallel || s.paused == paused) return;
  s.paused = paused;
  if (s.metrics && s.config.replica < s.metrics->num_replicas()) {
    ReplicaMetrics& m = s.metrics->replica(s.config.replica);
    m.paused = paused;
    if (paused) m.recoveries.fetch_add(1);
  }
  for (const caf::actor& g : s.gateways) self->send(g, replica_paused_atom::value, s.config.replica, paused);
}

bool on_scheduler_down(caf::event_based_actor* self, SchedulerSupervision& s, const caf::down_msg& down,
                       const caf::actor& executor, bool executor_may_come) {
  auto gateway = std::find_if(s.gateways.begin(), s.gateways.end(),
                              [&](const caf::actor& g) { return g.address() == down.source; });
  if (gateway != s.gateways.end()) {
    s.gateways.erase(gateway);
    return true;
  }
  if (!s.scheduler || down.source != s.scheduler.address()) return false;
  spdlog::error("scheduler died: {}", self->system().render(down.reason));
  if (!executor_may_come) {
    spdlog::error("scheduler not restarted: no executor is left to drive; live requests end with abort");
    s.scheduler = caf::actor{};
  } else if (s.restarts >= s.max_restarts) {
    spdlog::error("scheduler restart budget ({}) spent: {}", s.max_restarts, budget_spent_consequence(s));
    s.scheduler = caf::actor{};
  } else {
    ++s.restarts;
    if (s.metrics) s.metrics->count_restart("scheduler", "");
    start_scheduler(self, s, executor);
    spdlog::warn("scheduler restarted ({} of {}); {} gateway(s) resubmit their requests", s.restarts, s.max_restarts,
                 s.gateways.size());
  }
  if (!s.scheduler) mark_engine_dead(s);
  tell_gateways(self, s);
  return true;
}

void hand_executor(caf::event_based_actor* self, SchedulerSupervision& s, const caf::actor& executor) {
  if (!executor) mark_engine_dead(s);
  if (!executor && s.data_parallel && s.scheduler) {
    // Gateways first: from now on they drop what the old scheduler sends, and move its requests.
    const caf::actor old = std::exchange(s.scheduler, caf::actor{});
    tell_gateways(self, s);
    self->demonitor(old);
    self->send_exit(old, caf::exit_reason::user_shutdown);
    return;
  }
  if (s.scheduler) self->send(s.scheduler, executor_atom::value, executor);
}

}  // namespace troupe
