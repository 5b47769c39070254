#pragma once
// Every message that travels between Troupe's actors, declared once: the payload structs, and
// CAF's type-ID block with every payload type and every atom that names a request (what each
// means is written beside it there). Payloads are engine/ value types (StepPlan,
// GenerationRequest, FinishedSequence, PoolJournal, HiddenStates, TpRankOp) plus the few structs
// below; their inspect overloads (message_inspect.h; the engine values through the Cap'n Proto
// schema in wire) are what CAF serializes when a message crosses a process boundary.
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

// A node's answer to the head's heartbeat: its name and the times of the stages it runs.
struct NodeReport {
  std::string name;
  std::vector<StageTimes> stages;
};

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

  // The atoms that name requests (caf::atom_constant in CAF 0.17; from 0.18 on each gets a type ID).
  CAF_ADD_ATOM(troupe, troupe, submit_atom, "submit")               // (submit, GenerationRequest)
  CAF_ADD_ATOM(troupe, troupe, abort_atom, "abortseq")              // (abort, SeqId)
  CAF_ADD_ATOM(troupe, troupe, step_atom, "step")                   // (step, StepPlan) -> StepResult
  CAF_ADD_ATOM(troupe, troupe, init_atom, "initkv")                 // (init, KvPoolShape) -> ok
  CAF_ADD_ATOM(troupe, troupe, capabilities_atom, "caps")           // (capabilities) -> BackendCapabilities of an
                                                                    // executor (actors/executor_capabilities.h)
  CAF_ADD_ATOM(troupe, troupe, snapshot_atom, "snapshot")           // (snapshot) -> SchedulerSnapshot
  CAF_ADD_ATOM(troupe, troupe, executor_atom, "executor")           // supervisor -> scheduler: (executor, actor)
  CAF_ADD_ATOM(troupe, troupe, engine_atom, "engine")               // (engine) -> (scheduler, executor) of a
                                                                    // supervisor
  CAF_ADD_ATOM(troupe, troupe, reconnect_atom, "reconnect")         // remote supervisor -> itself
  CAF_ADD_ATOM(troupe, troupe, step_poll_atom, "steppoll")          // executor -> itself: (step_poll, step_id),
                                                                    // is that pending step done yet?
  CAF_ADD_ATOM(troupe, troupe, gateway_atom, "gateway")             // (gateway, actor) -> supervisor: tell it of
                                                                    // every new scheduler
  CAF_ADD_ATOM(troupe, troupe, scheduler_atom, "scheduler")         // supervisor -> gateway: (scheduler, replica,
                                                                    // actor): that data-parallel replica's scheduler
                                                                    // from now on (null: none will come)
  CAF_ADD_ATOM(troupe, troupe, replica_paused_atom, "rpaused")      // supervisor -> gateway: (replica_paused,
                                                                    // replica, bool): recovering, or back
  CAF_ADD_ATOM(troupe, troupe, replica_atom, "replica")             // scheduler -> kv_manager: (replica, index,
                                                                    // PoolJournal); (snapshot, replica, index)
                                                                    // -> KvUsage
  CAF_ADD_ATOM(troupe, troupe, kv_manager_atom, "kvmanager")        // supervisor -> scheduler: (kv_manager, actor);
                                                                    // (kv_manager) -> actor, of a supervisor
  CAF_ADD_ATOM(troupe, troupe, drain_atom, "drain")                 // -> gateway: the server shuts down
  CAF_ADD_ATOM(troupe, troupe, stage_step_atom, "stagestep")        // pipeline stage -> next stage:
                                                                    // (stage_step, StepPlan, HiddenStates)
                                                                    // -> StepResult, answered by the last
  CAF_ADD_ATOM(troupe, troupe, next_stage_atom, "nextstage")        // (next_stage) -> actor: a pipeline
                                                                    // stage's successor (null on the last)

  // The cluster's launch (node_actor.h): head -> node.
  CAF_ADD_ATOM(troupe, troupe, join_atom, "join")                   // (join, ClusterIdentity, head name) -> node name
  CAF_ADD_ATOM(troupe, troupe, spawn_stage_atom, "spawnstage")      // (spawn_stage, stage, next host,
                                                                    // next port) -> the stage's executor
  CAF_ADD_ATOM(troupe, troupe, stage_of_atom, "stageof")            // (stage_of, stage) -> its executor on this node
  CAF_ADD_ATOM(troupe, troupe, heartbeat_atom, "heartbeat")         // (heartbeat) -> NodeReport
  CAF_ADD_ATOM(troupe, troupe, load_shard_atom, "loadshard")        // (load_shard, global rank) -> true once
                                                                    // the node holds that rank's shard
  CAF_ADD_ATOM(troupe, troupe, shard_loaded_atom, "shardready")     // node's loader thread -> node: (rank)
  CAF_ADD_ATOM(troupe, troupe, join_deadline_atom, "joindue")       // node -> itself: (join_deadline, epoch)
  // Tensor-parallel groups of a cluster (node_actor.h, tp_rank_actor.h, rendezvous_actor.h).
  CAF_ADD_ATOM(troupe, troupe, spawn_tp_rank_atom, "spawntprk")     // head -> node: (spawn_tp_rank, stage,
                                                                    // rank, rendezvous, key prefix) -> the
                                                                    // rank's actor, once its group is connected
  CAF_ADD_ATOM(troupe, troupe, tp_rank_of_atom, "tprankof")         // (tp_rank_of, stage, rank) -> its actor here
  CAF_ADD_ATOM(troupe, troupe, tp_connect_atom, "tpconnect")        // node -> rank actor: connect the group
  CAF_ADD_ATOM(troupe, troupe, tp_rank_op_atom, "tprankop")         // rank 0 -> rank r: (tp_rank_op, TpRankOp)
  // The cluster supervisor's relaunch (a thread of its own) -> the supervisor.
  CAF_ADD_ATOM(troupe, troupe, relaunched_atom, "relaunched")       // (relaunched, nodes, stages, rendezvous)
  CAF_ADD_ATOM(troupe, troupe, relaunch_failed_atom, "relaunchno")  // (relaunch_failed, why)
  CAF_ADD_ATOM(troupe, troupe, rendezvous_set_atom, "rvset")        // (rv_set, key, bytes) -> bool
  CAF_ADD_ATOM(troupe, troupe, rendezvous_get_atom, "rvget")        // (rv_get, key) -> (bool set, bytes)
  CAF_ADD_ATOM(troupe, troupe, engine_lost_atom, "enginelost")      // supervisor -> gateway: (engine_lost,
                                                                    // why): live requests fail with why
CAF_END_TYPE_ID_BLOCK(troupe)
