#pragma once
// scheduler: owns the Scheduler (and with it the block pool), admits requests from clients,
// sends one StepPlan per step to the executor, and fans the sampled tokens out to the clients
// that submitted each sequence — one TokenDeltas and at most one FinishedBatch per client and
// step. With SchedulerConfig::async_scheduling it keeps two plans at the executor (one per stage
// when the executor is a pipeline of more: Scheduler::max_outstanding_plans): when the
// answer to step N arrives it applies it and sends step N+2 while N+1 runs, so the scheduler's
// work and the messaging hide behind the executor's.
#include <chrono>
#include <memory>
#include <unordered_map>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include "engine/metrics/server_metrics.h"
#include "engine/scheduler/scheduler.h"

namespace troupe {

struct SchedulerActorState {
  std::unique_ptr<Scheduler> scheduler;
  caf::actor executor;
  std::unordered_map<SeqId, caf::actor> clients;  // who submitted each live sequence
  bool kv_ready = false;                          // the executor has allocated its blocks
  int32_t plans_in_flight = 0;                    // sent, not answered; at most
                                                  // Scheduler::max_outstanding_plans()
  bool supervised = false;                        // a supervisor sends a new executor when one dies
  uint64_t executor_generation = 0;               // answers from an executor before the last loss are stale
  std::shared_ptr<ServerMetrics> metrics;         // may be null
  std::unordered_map<SeqId, std::chrono::steady_clock::time_point> submitted;  // until first scheduled
  caf::actor kv_manager;                          // gets the pool's journal once per step; may be null
  static inline const char* name = "scheduler";
};

// Messages: (submit_atom, GenerationRequest) -> bool or an error naming what is wrong;
// (abort_atom, SeqId); (snapshot_atom) -> SchedulerSnapshot; from a supervisor,
// (executor_atom, actor): the executor to use from now on (a null actor: none will come).
// Clients receive TokenDeltas and FinishedBatch messages for the sequences they submitted.
// When the executor dies or fails a step, every running sequence is queued for recompute
// (Scheduler::reset_executor_state); spawned by a supervisor, the scheduler then waits for the
// new executor, otherwise it ends every live request with an abort. A supervised scheduler may be
// spawned with a null executor (its supervisor is reconnecting one) and wait for it likewise.
// (kv_manager_atom, actor), before the first request: from then on each applied step's result is
// followed by one PoolJournal to that kv_manager (fire-and-forget: the step never waits for the
// mirror), and an idle scheduler sends what is left.
caf::behavior scheduler_actor(caf::stateful_actor<SchedulerActorState>* self, SchedulerConfig config,
                              caf::actor executor, bool supervised,
                              std::shared_ptr<ServerMetrics> metrics = nullptr);

}  // namespace troupe
