#include "actors/cluster_engine.h"

#include <algorithm>
#include <stdexcept>

#include <caf/all.hpp>

#include "actors/cluster_supervisor_actor.h"

namespace troupe {
namespace {

// Replica `replica`'s supervisor: its nodes (the others null: not watched), its stages in order,
// and a relaunch that joins and starts its ranks only.
caf::actor spawn_replica_supervisor(caf::actor_system& sys, const std::shared_ptr<const ClusterEngineSetup>& setup,
                                    const JoinedCluster& joined, int32_t replica, const caf::actor& kv_manager) {
  const ClusterConfig& config = *setup->config;
  auto current = std::make_shared<Placement>(setup->placement.replica(replica));  // a spare's takeover changes it
  const std::vector<size_t> placed = placed_nodes(*current);
  std::vector<ClusterMember> nodes, stages;
  for (size_t i = 0; i < config.nodes.size(); ++i) {
    const bool watched = config.nodes[i].name == setup->head || std::find(placed.begin(), placed.end(), i) != placed.end();
    nodes.push_back({config.nodes[i].name, watched ? joined.nodes[i] : caf::actor{}});
  }
  const int32_t pp = current->pipeline_parallel;
  for (int32_t s = 0; s < pp; ++s)
    stages.push_back({current->at(s, 0).node, joined.stages.at(static_cast<size_t>(replica * pp + s))});
  ClusterSupervision supervision;
  supervision.max_restarts = config.scheduler.max_restarts;
  supervision.heartbeat_timeout = seconds_as_duration(config.cluster.heartbeat_timeout_s);
  // After a loss: the same launch again (the nodes that stayed answer at once and keep their
  // shards; the lost one joins once its process is back).
  if (setup->recover)
    supervision.relaunch = [&sys, setup, current](const std::string& lost) {
      return rejoin_cluster(sys, *setup->config, *current, setup->identity, setup->head, setup->self_node,
                            *setup->health, lost);
    };
  SchedulerConfig scheduler = setup->scheduler;
  scheduler.replica = replica;
  return sys.spawn(cluster_supervisor_actor, std::move(nodes), std::move(stages), scheduler, std::move(supervision),
                   setup->health, setup->metrics, kv_manager);
}

}  // namespace

EngineActors start_cluster_engine(caf::actor_system& sys, ClusterEngineSetup setup, const JoinedCluster& joined) {
  const int32_t replicas = setup.placement.data_parallel;
  if (joined.stages.size() != static_cast<size_t>(replicas * setup.placement.pipeline_parallel))
    throw std::invalid_argument("cluster engine: the joined stages are not every replica's");
  auto shared = std::make_shared<const ClusterEngineSetup>(std::move(setup));
  if (replicas == 1) {
    EngineActors engine;
    engine.supervisor = spawn_replica_supervisor(sys, shared, joined, 0, caf::actor{});
    return current_engine(sys, engine);
  }
  return start_replicas(sys, replicas, [&](int32_t i, const caf::actor& kv) {
    return spawn_replica_supervisor(sys, shared, joined, i, kv);
  });
}

}  // namespace troupe
