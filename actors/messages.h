#pragma once
// Every message that travels between Troupe's actors, declared once: the payload structs, the
// atoms that name requests, and CAF's type-ID block. Payloads are engine/ value types (StepPlan,
// GenerationRequest, FinishedSequence) plus the few structs below; their inspect overloads
// (message_inspect.h; the engine values through the Cap'n Proto schema in net/wire) are what CAF
// serializes when a message crosses a process boundary.
#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/type_id.hpp>

#include "engine/kv/seq_id.h"
#include "engine/scheduler/finished_sequence.h"
#include "engine/scheduler/generation_request.h"
#include "engine/scheduler/step_plan.h"
#include "engine/scheduler/step_result.h"

namespace troupe {

// Scheduler -> client: tokens of one sequence produced by one step (one message per step and
// client, never one per token).
struct TokenDeltas {
  std::vector<SeqId> seq_ids;    // [n]
  std::vector<int32_t> tokens;   // [n]: tokens[i] belongs to seq_ids[i]
  std::vector<SampleLogprobs> logprobs;  // [n] when a sequence here asked for logprobs (the
                                         // others' entries empty), else empty: most steps carry none
};

// Scheduler -> client: sequences that left the scheduler (stop, length or abort).
struct FinishedBatch {
  std::vector<FinishedSequence> sequences;
};

// Anyone -> scheduler: a snapshot for metrics and tests.
struct SchedulerSnapshot {
  int32_t num_running = 0;
  int32_t num_waiting = 0;
  int32_t num_free_blocks = 0;
  int32_t num_blocks = 0;
  int64_t num_cached_tokens = 0;
  int64_t num_preemptions = 0;
  int64_t num_steps = 0;
  int64_t num_executor_resets = 0;
  int32_t plans_in_flight = 0;  // sent to the executor, answer not back (voided work included)
};

using submit_atom = caf::atom_constant<caf::atom("submit")>;    // (submit, GenerationRequest)
using abort_atom = caf::atom_constant<caf::atom("abortseq")>;   // (abort, SeqId)
using step_atom = caf::atom_constant<caf::atom("step")>;        // (step, StepPlan) -> StepResult
using init_atom = caf::atom_constant<caf::atom("initkv")>;      // (init, KvPoolShape) -> ok
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;// (snapshot) -> SchedulerSnapshot
using executor_atom = caf::atom_constant<caf::atom("executor")>;// supervisor -> scheduler: (executor, actor)
using engine_atom = caf::atom_constant<caf::atom("engine")>;    // (engine) -> (scheduler, executor) of a supervisor
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;  // remote supervisor -> itself
using gateway_atom = caf::atom_constant<caf::atom("gateway")>;  // (gateway, actor) -> supervisor: tell it of
                                                                // every new scheduler
using scheduler_atom = caf::atom_constant<caf::atom("scheduler")>;  // supervisor -> gateway: (scheduler, actor),
                                                                    // the scheduler from now on (null: none will come)

}  // namespace troupe

CAF_BEGIN_TYPE_ID_BLOCK(troupe, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(troupe, (troupe::GenerationRequest))
  CAF_ADD_TYPE_ID(troupe, (troupe::StepPlan))
  CAF_ADD_TYPE_ID(troupe, (troupe::StepResult))
  CAF_ADD_TYPE_ID(troupe, (troupe::TokenDeltas))
  CAF_ADD_TYPE_ID(troupe, (troupe::FinishedBatch))
  CAF_ADD_TYPE_ID(troupe, (troupe::KvPoolShape))
  CAF_ADD_TYPE_ID(troupe, (troupe::SchedulerSnapshot))
CAF_END_TYPE_ID_BLOCK(troupe)
