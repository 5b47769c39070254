#pragma once
// The head's engine over a joined cluster: one cluster supervisor (cluster_supervisor_actor.h) per
// data-parallel replica, each running that replica's scheduler over that replica's stages and
// recovering that replica alone (its relaunch joins and starts only its ranks:
// Placement::replica), and with several replicas ONE kv_manager mirroring them all, started as one
// process's data parallel starts it (start_replicas, engine_topology.h). One replica is the
// cluster as before: one supervisor with its own kv_manager.
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/cluster_launch.h"
#include "actors/engine_topology.h"
#include "engine/cluster/cluster_config.h"
#include "engine/cluster/cluster_health.h"
#include "engine/cluster/cluster_identity.h"
#include "engine/cluster/placement.h"
#include "engine/metrics/server_metrics.h"
#include "engine/scheduler/scheduler_config.h"

namespace troupe {

struct ClusterEngineSetup {
  const ClusterConfig* config = nullptr;  // outlives the engine (a recovery reads it)
  Placement placement;                    // every replica's, as at start
  ClusterIdentity identity;
  std::string head;     // this node's name in the file
  caf::actor self_node; // this process's node actor
  std::shared_ptr<ClusterHealth> health;
  SchedulerConfig scheduler;  // every replica's; each gets its own `replica`
  std::shared_ptr<ServerMetrics> metrics;  // counting placement.data_parallel replicas
  bool recover = true;  // a lost node is relaunched (rejoin_cluster) within [scheduler] max_restarts
};

// `joined`: join_cluster over the whole placement. Returns the engine (EngineActors:
// replica_supervisors and the shared kv_manager with several replicas) for spawn_gateway and
// stop_engine.
EngineActors start_cluster_engine(caf::actor_system& sys, ClusterEngineSetup setup, const JoinedCluster& joined);

}  // namespace troupe
