#pragma once
// The half of a supervisor that keeps an engine's scheduler alive, shared by the local supervisor
// and the remote one (whose executor lives in a `troupe node`). The scheduler is monitored, not
// linked: a scheduler killed with exit_reason::kill would take a linked supervisor with it. When
// it dies it is respawned from the same arguments over the current executor, within its own
// restart budget (the same number as the executor's, counted apart, like Ray's per-actor
// max_restarts: one kind of failure cannot spend the other's restarts). The new scheduler starts
// empty and makes the executor a fresh KV pool (init), so nothing of the old one's device state is
// trusted: every sequence is computed again from its tokens.
//
// Gateways register here and are told of every new scheduler, with the data-parallel replica it
// serves (config.replica); each resubmits its in-flight
// requests with the tokens it already received (gateway_actor.h). The supervisor pushes rather
// than gateways monitoring the scheduler and asking for the next one: a gateway's down message
// may arrive before the supervisor has spawned the new scheduler, so asking would need retries,
// while the supervisor knows the moment it exists. Past the budget, or with no executor left to
// drive, gateways are told there is none and end their live requests with abort.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "engine/metrics/server_metrics.h"
#include "engine/scheduler/scheduler_config.h"

namespace troupe {

struct SchedulerSupervision {
  SchedulerConfig config;                   // the scheduler's spawn arguments, kept for restarts
  std::shared_ptr<ServerMetrics> metrics;   // may be null
  int32_t max_restarts = 0;
  int32_t restarts = 0;
  caf::actor scheduler;                     // the current one; null once none will come
  caf::actor kv_manager;                    // handed to every new scheduler (null: none)
  std::vector<caf::actor> gateways;         // told of every new scheduler; dropped when they die
  // One of several data-parallel replicas: past a budget its gateways move its requests to the
  // others (so its scheduler is stopped rather than made to abort them), and the engine is dead
  // only when every replica is, which the gateway sees (not this supervisor).
  bool data_parallel = false;
  bool paused = false;  // a data-parallel replica recovering: its gateways route around it meanwhile
};

// Spawns a scheduler (monitored) over `executor` (null: it waits for one through executor_atom)
// and hands it the kv_manager, if any, before any request; it is s.scheduler from now on. A new
// scheduler's first journal starts the mirror over.
void start_scheduler(caf::event_based_actor* self, SchedulerSupervision& s, const caf::actor& executor);

// Spawns the kv_manager every scheduler is handed (s.kv_manager): monitored, not linked — the
// mirror is an audit and a lookup service, and its failure must not end serving. A `shared` one
// (data parallel: one kv_manager mirrors every replica) is monitored and used instead.
void start_kv_manager(caf::event_based_actor* self, SchedulerSupervision& s, caf::actor shared = {});

// Handles a down message from the kv_manager (logged and forgotten: serving goes on, unmirrored).
// False when the message is about another actor.
bool on_kv_manager_down(caf::event_based_actor* self, SchedulerSupervision& s, const caf::down_msg& down);

// Registers a gateway and tells it the current scheduler at once: it may have been spawned with
// one that has died since.
void add_gateway(caf::event_based_actor* self, SchedulerSupervision& s, caf::actor gateway);

// A data-parallel replica starts recovering (its nodes join again: seconds), or is back: gateways
// are told (replica_paused_atom), so they route new requests and move this replica's requests to the
// replicas serving meanwhile; the metrics count the recovery and show the pause. Nothing to say
// for one engine, or for a recovery that ends in the same handler it started (one process).
void set_paused(caf::event_based_actor* self, SchedulerSupervision& s, bool paused);

// Handles a down message from the scheduler (respawned over `executor` when the budget allows
// and `executor_may_come`, i.e. there is an executor or one is being reconnected; a null
// `executor` then comes later through executor_atom) or from a gateway (forgotten). False when the
// message is about neither.
bool on_scheduler_down(caf::event_based_actor* self, SchedulerSupervision& s, const caf::down_msg& down,
                       const caf::actor& executor, bool executor_may_come);

// What happens now that a budget is spent, for the log line that says so.
std::string budget_spent_consequence(const SchedulerSupervision& s);

// Hands the current scheduler (if any) a new executor, or a null one: none will come (it ends
// its live requests with abort, and the metrics say the engine is dead, as they do when no
// scheduler is restarted; a data-parallel replica's scheduler is stopped instead and its gateways
// told so, which move its requests to the other replicas).
void hand_executor(caf::event_based_actor* self, SchedulerSupervision& s, const caf::actor& executor);

}  // namespace troupe
