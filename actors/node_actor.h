#pragma once
// node: what `troupe node --config FILE --name NAME` publishes at the node's address. It holds the
// shards placement gave this node (loaded at start, before the head comes, so every node loads
// at once) and, once a head has joined, the stage executors the head asked for.
//
// The head joins each node (cluster_launch.h): it sends its ClusterIdentity and its own node
// actor; the node refuses an identity that differs from its own, naming the field, and refuses a
// second head while one is alive. Then the head asks for the stages, last first; a stage with a
// successor on another node is handed a proxy that this node gets over its own connection to that
// node (remote_actor), so hidden states go node to node, never through the head.
//
// When the head goes away the node ends its stages (their state belongs to the head's scheduler)
// but keeps its loaded shards, and waits for a head again; past `join_timeout` without one it
// calls `gave_up` (the command then exits non-zero).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/pipeline_stage_actor.h"
#include "engine/cluster/cluster_identity.h"
#include "engine/model/cpu_model.h"
#include "engine/runtime/fault_plan.h"
#include "engine/runtime/model_backend.h"

namespace troupe {

// One executor's share of the model that this node loaded: a pipeline stage's layers, and of
// them one tensor-parallel rank's heads and slices.
struct NodeShard {
  std::shared_ptr<ModelBackend> backend;
  std::shared_ptr<CpuModel> model;  // the backend's model: a TP rank joins its group through it
};

struct NodeAddress {
  std::string host;
  uint16_t port = 0;
};

struct NodeSetup {
  std::string name;
  std::string host;  // this node's own address, as the cluster file gives it
  uint16_t port = 0;
  ClusterIdentity identity;
  std::map<int32_t, NodeShard> shards;  // by global rank (stage * tensor_parallel + TP rank)
  int32_t tensor_parallel = 1;
  std::vector<NodeAddress> rank_nodes;  // [global rank]: the node holding it (placement's)
  std::chrono::milliseconds tp_timeout{30'000};  // a TP group's connect and each of its collectives
  std::chrono::milliseconds join_timeout{120'000};  // 0: wait for a head without a deadline (a spare)
  std::function<void(const std::string& why)> gave_up;  // no head came in time (called on the node's thread)
  std::shared_ptr<FaultInjector> faults;  // --fault-plan's (null: none): heartbeats it drops go unanswered
  // Loads the shard of a global rank placement did not give this node at start (a spare taking
  // over a lost node's ranks); runs on a thread of its own. Null: the node loads nothing later.
  std::function<NodeShard(int32_t global_rank)> load_shard;
};

// A shard a node's loader thread is loading, and the heads' requests waiting for it.
struct ShardLoad {
  std::optional<NodeShard> shard;  // written by the loader thread before it says so
  std::string error;
  std::vector<caf::typed_response_promise<bool>> waiting;
};

// A stage executor this node started for its head, and its step counters (null for a plain
// executor: a whole model on one node has no stages to time).
struct NodeStage {
  caf::actor executor;
  std::shared_ptr<StageClock> clock;
};

struct NodeActorState {
  NodeSetup setup;
  caf::actor head;       // the joined head's node actor; null while waiting for one
  std::string head_name;
  uint64_t head_epoch = 0;  // counts heads lost, so a stale deadline does not fire
  std::map<int32_t, NodeStage> stages;  // by pipeline stage, started for the current head
  std::map<int32_t, caf::actor> ranks;  // by global rank: the TP rank actors (tp_rank_actor.h) started for it
  // Replaced executors and ranks not down yet, and what starts once each is (their successors).
  std::vector<std::pair<caf::actor_addr, std::function<void()>>> after_down;
  std::map<int32_t, std::shared_ptr<ShardLoad>> loading;  // by global rank
  static inline const char* name = "node";
};

// Not detached: it never blocks (it connects through the middleman's asynchronous connect), and
// CAF 0.17 waits forever at shutdown for a detached actor that has a delayed message pending (its
// join deadline). Messages:
// (join_atom, ClusterIdentity, head name, head actor) -> this node's name, or an error
// (sec::invalid_argument: a refusal the head must not retry);
// (spawn_stage_atom, stage, next host, next port) -> the stage's executor (next host empty: the
// last stage); (stage_of_atom, stage) -> the stage's executor, null if none; (heartbeat_atom) ->
// NodeReport (none while a fault plan drops heartbeats: the head sees a silent node);
// (load_shard_atom, global rank) -> true once the shard is here (loaded now by setup.load_shard
// if it was not: a spare taking over a lost node's ranks), or an error saying why not.
// With tensor_parallel > 1 the head first asks every rank's node (spawn_tp_rank_atom, stage, rank,
// rendezvous, key prefix) -> the rank's actor once its group is connected; then spawn_stage on
// rank 0's node makes the stage executor a TensorParallelLeader over rank 0's shard, sending each
// op to the other ranks' actors (found here, or through this node's own connection to their
// node: (tp_rank_of_atom, stage, rank) -> actor).
caf::behavior node_actor(caf::stateful_actor<NodeActorState>* self, NodeSetup setup);

}  // namespace troupe
