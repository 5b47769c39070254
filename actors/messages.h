#pragma once
// Every message that travels between Troupe's actors, declared once: the payload structs, the
// atoms that name requests, and CAF's type-ID block. Payloads are engine/ value types (StepPlan,
// GenerationRequest, FinishedSequence, PoolJournal, HiddenStates, TpRankOp) plus the few structs below; their inspect overloads
// (message_inspect.h; the engine values through the Cap'n Proto schema in wire) are what CAF
// serializes when a message crosses a process boundary.
#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/type_id.hpp>

#include "engine/cluster/cluster_health.h"
#include "engine/cluster/cluster_identity.h"
#include "engine/kv/pool_journal.h"
#include "engine/kv/seq_id.h"
#include "engine/model/hidden_states.h"
#include "engine/runtime/backend_capabilities.h"
#include "engine/runtime/tensor_parallel_rank.h"
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
  // Prompt tokens the step scored (prompt_logprobs), which come before the step's tokens: a prefill
  // chunk scores some and samples none, the prompt's last chunk scores its last and samples.
  std::vector<SeqId> prompt_seq_ids;            // [m]
  std::vector<PromptLogprobs> prompt_logprobs;  // [m]: prompt_logprobs[i] belongs to prompt_seq_ids[i]
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
  int32_t num_cached_blocks = 0;  // in the prefix cache, referenced or not
};

// Anyone -> kv_manager: how many leading tokens of this list are cached.
struct PrefixQuery {
  std::vector<int32_t> token_ids;
};

// Gateway -> kv_manager (data parallel): for each replica's mirror, how many leading tokens of
// this list its prefix cache holds, and its free blocks; answered with a ReplicaCacheReport.
struct ReplicaCacheQuery {
  std::vector<int32_t> token_ids;
};

// kv_manager -> gateway: one entry per replica it has heard from, indexed by replica.
struct ReplicaCacheReport {
  std::vector<int32_t> cached_tokens;  // [replicas]: BlockPool::match_prefix on that replica's mirror
  std::vector<int32_t> free_blocks;    // [replicas]: free (cached-unreferenced count); -1: no mirror yet
};

// kv_manager -> anyone: its mirror of the scheduler's block pool, for metrics, routers and tests.
struct KvUsage {
  int32_t num_blocks = 0;
  int32_t num_used_blocks = 0;    // referenced by a sequence
  int32_t num_free_blocks = 0;    // free, cached or not (cached ones are evicted on demand)
  int32_t num_cached_blocks = 0;  // in the prefix cache, referenced or not
  int64_t num_prefix_queries = 0;       // admissions that consulted the prefix cache
  int64_t num_prefix_query_tokens = 0;  // tokens they asked about
  int64_t num_prefix_hit_tokens = 0;    // of which were cached
  int64_t num_journals = 0;             // journals received (one per scheduler step)
  int64_t num_ops = 0;                  // block operations in them
  int64_t num_audit_failures = 0;       // ops and journals the audit refused
  std::string last_failure;             // the latest, naming the journal, step and op; empty if none
  std::string pool_audit;               // the mirror's full invariant check now; empty when it holds
};

using submit_atom = caf::atom_constant<caf::atom("submit")>;    // (submit, GenerationRequest)
using abort_atom = caf::atom_constant<caf::atom("abortseq")>;   // (abort, SeqId)
using step_atom = caf::atom_constant<caf::atom("step")>;        // (step, StepPlan) -> StepResult
using init_atom = caf::atom_constant<caf::atom("initkv")>;      // (init, KvPoolShape) -> ok
using capabilities_atom = caf::atom_constant<caf::atom("caps")>;  // (capabilities) -> BackendCapabilities of an
                                                                  // executor (actors/executor_capabilities.h)
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;// (snapshot) -> SchedulerSnapshot
using executor_atom = caf::atom_constant<caf::atom("executor")>;// supervisor -> scheduler: (executor, actor)
using engine_atom = caf::atom_constant<caf::atom("engine")>;    // (engine) -> (scheduler, executor) of a supervisor
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;  // remote supervisor -> itself
using step_poll_atom = caf::atom_constant<caf::atom("steppoll")>;  // executor -> itself: (step_poll, step_id),
                                                                   // is that pending step done yet?
using gateway_atom = caf::atom_constant<caf::atom("gateway")>;  // (gateway, actor) -> supervisor: tell it of
                                                                // every new scheduler
using scheduler_atom = caf::atom_constant<caf::atom("scheduler")>;  // supervisor -> gateway: (scheduler, replica,
                                                                    // actor): that data-parallel replica's scheduler
                                                                    // from now on (null: none will come)
using replica_paused_atom = caf::atom_constant<caf::atom("rpaused")>;  // supervisor -> gateway: (replica_paused,
                                                                        // replica, bool): recovering, or back
using replica_atom = caf::atom_constant<caf::atom("replica")>;  // scheduler -> kv_manager: (replica, index,
                                                                // PoolJournal); (snapshot, replica, index) -> KvUsage
using kv_manager_atom = caf::atom_constant<caf::atom("kvmanager")>; // supervisor -> scheduler: (kv_manager, actor);
                                                                    // (kv_manager) -> actor, of a supervisor
using drain_atom = caf::atom_constant<caf::atom("drain")>;  // -> gateway: the server shuts down
using stage_step_atom = caf::atom_constant<caf::atom("stagestep")>;  // pipeline stage -> next stage:
                                                                     // (stage_step, StepPlan, HiddenStates)
                                                                     // -> StepResult, answered by the last
using next_stage_atom = caf::atom_constant<caf::atom("nextstage")>;  // (next_stage) -> actor: a pipeline
                                                                     // stage's successor (null on the last)
// A node's answer to the head's heartbeat: its name and the times of the stages it runs.
struct NodeReport {
  std::string name;
  std::vector<StageTimes> stages;
};

// The cluster's launch (node_actor.h): head -> node.
using join_atom = caf::atom_constant<caf::atom("join")>;  // (join, ClusterIdentity, head name) -> node name
using spawn_stage_atom = caf::atom_constant<caf::atom("spawnstage")>;  // (spawn_stage, stage, next host,
                                                                       // next port) -> the stage's executor
using stage_of_atom = caf::atom_constant<caf::atom("stageof")>;  // (stage_of, stage) -> its executor on this node
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;  // (heartbeat) -> NodeReport
using load_shard_atom = caf::atom_constant<caf::atom("loadshard")>;  // (load_shard, global rank) -> true once
                                                                     // the node holds that rank's shard
using shard_loaded_atom = caf::atom_constant<caf::atom("shardready")>;  // node's loader thread -> node: (rank)
// Tensor-parallel groups of a cluster (node_actor.h, tp_rank_actor.h, rendezvous_actor.h).
using spawn_tp_rank_atom = caf::atom_constant<caf::atom("spawntprk")>;  // head -> node: (spawn_tp_rank, stage,
                                                                        // rank, rendezvous, key prefix) -> the
                                                                        // rank's actor, once its group is connected
using tp_rank_of_atom = caf::atom_constant<caf::atom("tprankof")>;  // (tp_rank_of, stage, rank) -> its actor here
using tp_connect_atom = caf::atom_constant<caf::atom("tpconnect")>; // node -> rank actor: connect the group
using tp_rank_op_atom = caf::atom_constant<caf::atom("tprankop")>;  // rank 0 -> rank r: (tp_rank_op, TpRankOp)
// The cluster supervisor's relaunch (a thread of its own) -> the supervisor.
using relaunched_atom = caf::atom_constant<caf::atom("relaunched")>;  // (relaunched, nodes, stages, rendezvous)
using relaunch_failed_atom = caf::atom_constant<caf::atom("relaunchno")>;  // (relaunch_failed, why)
using rendezvous_set_atom = caf::atom_constant<caf::atom("rvset")>;  // (rv_set, key, bytes) -> bool
using rendezvous_get_atom = caf::atom_constant<caf::atom("rvget")>;  // (rv_get, key) -> (bool set, bytes)
using engine_lost_atom = caf::atom_constant<caf::atom("enginelost")>;  // supervisor -> gateway: (engine_lost,
                                                                       // why): live requests fail with why
// Scheduler -> kv_manager: a PoolJournal (engine/kv/pool_journal.h), one per step, no answer.

}  // namespace troupe

CAF_BEGIN_TYPE_ID_BLOCK(troupe, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(troupe, (troupe::GenerationRequest))
  CAF_ADD_TYPE_ID(troupe, (troupe::StepPlan))
  CAF_ADD_TYPE_ID(troupe, (troupe::StepResult))
  CAF_ADD_TYPE_ID(troupe, (troupe::TokenDeltas))
  CAF_ADD_TYPE_ID(troupe, (troupe::FinishedBatch))
  CAF_ADD_TYPE_ID(troupe, (troupe::KvPoolShape))
  CAF_ADD_TYPE_ID(troupe, (troupe::SchedulerSnapshot))
  CAF_ADD_TYPE_ID(troupe, (troupe::PoolJournal))
  CAF_ADD_TYPE_ID(troupe, (troupe::PrefixQuery))
  CAF_ADD_TYPE_ID(troupe, (troupe::KvUsage))
  CAF_ADD_TYPE_ID(troupe, (troupe::HiddenStates))
  CAF_ADD_TYPE_ID(troupe, (troupe::ClusterIdentity))
  CAF_ADD_TYPE_ID(troupe, (troupe::NodeReport))
  CAF_ADD_TYPE_ID(troupe, (troupe::TpRankOp))
  CAF_ADD_TYPE_ID(troupe, (troupe::ReplicaCacheQuery))
  CAF_ADD_TYPE_ID(troupe, (troupe::ReplicaCacheReport))
  CAF_ADD_TYPE_ID(troupe, (troupe::BackendCapabilities))
CAF_END_TYPE_ID_BLOCK(troupe)
