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
  explicit ClusterLaunchError(std::vector<std::string> lines);
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::vector<std::string> lines_;
};

struct JoinedCluster {
  std::vector<caf::actor> nodes;   // [config.nodes]: each node's node actor (the head's own too)
  std::vector<caf::actor> stages;  // [pipeline stages]: the stage executors, in order
  caf::actor rendezvous;           // tensor_parallel > 1: the board the TP groups met on (rendezvous_actor.h)
};

// `self_node` is this process's node actor (node_actor.h), already serving the head's own shards;
// `head` names this node in the file. Marks nodes up in `health` as they join.
JoinedCluster join_cluster(caf::actor_system& sys, const ClusterConfig& config, const Placement& placement,
                           const ClusterIdentity& identity, const std::string& head, const caf::actor& self_node,
                           ClusterHealth& health);

}  // namespace troupe
