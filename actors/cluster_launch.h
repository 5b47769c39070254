#pragma once
// The head's side of a cluster's start: join every node of the file, then have the nodes start
// the stage executors placement gave them, last stage first. Blocking, on the calling thread,
// and bounded: every wait ends by cluster.join_timeout_s.
//
// Joining retries each missing node with backoff (0.25 s doubling to 2 s) until it answers, so
// nodes may start in any order. A node that answers with a refusal (another cluster file, model
// or wire schema; another head) ends the launch at once: waiting would not change its answer.
//
// With tensor_parallel > 1, before the stages: every rank of every stage is started on its node
// and the groups connect (Gloo), all at once, meeting on a rendezvous board this head holds;
// each stage's rank 0 then leads its group. A group that does not connect within
// cluster.tp_timeout_s ends the launch with the reason of each rank that failed.
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "engine/cluster/cluster_config.h"
#include "engine/cluster/cluster_health.h"
#include "engine/cluster/cluster_identity.h"
#include "engine/cluster/placement.h"

namespace troupe {

// Why a launch failed, one line per problem (a missing node each: name, address, last error).
class ClusterLaunchError : public std::runtime_error {
 public:
  explicit ClusterLaunchError(std::vector<std::string> lines, std::vector<size_t> missing = {});
  const std::vector<std::string>& lines() const { return lines_; }
  // The nodes (indices into config.nodes) that did not join in time, when that was the failure.
  const std::vector<size_t>& missing() const { return missing_; }

 private:
  std::vector<std::string> lines_;
  std::vector<size_t> missing_;
};

struct JoinedCluster {
  std::vector<caf::actor> nodes;   // [config.nodes]: each node's node actor (the head's own too);
                                   // null for a node placement gives nothing (a spare, a replaced node)
  std::vector<caf::actor> stages;  // the stage executors of every replica the placement holds, in
                                   // global-stage order: [replica * pp + stage] of the whole
                                   // placement, [stage] of one replica's (Placement::replica)
  caf::actor rendezvous;           // tensor_parallel > 1: the board the TP groups met on (rendezvous_actor.h)
};

// `placement` is the whole cluster's, or one replica's (Placement::replica): only its ranks' nodes
// are joined and only its stages started, so the other replicas' stages run on undisturbed.
// `self_node` is this process's node actor (node_actor.h), already serving the head's own shards;
// `head` names this node in the file. Joins the head and the nodes `placement` gives a rank,
// waiting for them up to `join_timeout` (cluster.join_timeout_s when not given); marks them up in
// `health` as they join. Each rank's node is then asked for its shard (load_shard_atom): at once
// for the shards a node loaded at start, a load for a spare taking over.
JoinedCluster join_cluster(caf::actor_system& sys, const ClusterConfig& config, const Placement& placement,
                           const ClusterIdentity& identity, const std::string& head, const caf::actor& self_node,
                           ClusterHealth& health, std::optional<std::chrono::milliseconds> join_timeout = {});

// A recovery's launch after node `lost` was lost. Without a free spare for it: join_cluster, the
// lost node's process coming back within join_timeout_s. With one: the lost node gets
// cluster.spare_after_s to come back; if it (or another node) does not, each missing node's ranks
// move to a spare (placement.h: move_to_spare), which loads them, and `placement` becomes that
// placement for later recoveries; the missing node is marked replaced in `health`.
JoinedCluster rejoin_cluster(caf::actor_system& sys, const ClusterConfig& config, Placement& placement,
                             const ClusterIdentity& identity, const std::string& head, const caf::actor& self_node,
                             ClusterHealth& health, const std::string& lost);

}  // namespace troupe
