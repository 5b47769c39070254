#pragma once
// cluster_supervisor: the head's supervisor of a cluster's engine. The nodes started the stage
// executors (cluster_launch.h); this actor runs the scheduler over stage 0 (restarting it, as the
// local supervisor does, when it dies), the kv_manager beside it, and watches every node and
// stage: CAF monitors tell it at once when a node's process or connection goes away, and a
// heartbeat every 5 s asks every node for its stages' step times (for /metrics and /health).
//
// A lost node or stage is not recovered here (issue "fault tolerance" builds on this): every
// request in flight ends at once with an error naming the node, new ones are refused with it, and
// /health answers 503 naming it. Nothing waits on the lost node.
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/scheduler_supervision.h"
#include "engine/cluster/cluster_health.h"
#include "engine/metrics/server_metrics.h"
#include "engine/scheduler/scheduler_config.h"

namespace troupe {

struct ClusterMember {
  std::string name;  // of its node
  caf::actor actor;
};

struct ClusterSupervisorState {
  std::vector<ClusterMember> nodes;   // node actors
  std::vector<ClusterMember> stages;  // stage executors in pipeline order, named by their node
  std::shared_ptr<ClusterHealth> health;
  caf::actor executor;  // stage 0; null once something is lost
  SchedulerSupervision scheduling;
  static inline const char* name = "cluster_supervisor";
};

// Messages: (engine_atom) -> (scheduler, executor); (gateway_atom, actor): tell this gateway of
// every new scheduler, or that the engine is lost (engine_lost_atom); (kv_manager_atom) -> actor.
caf::behavior cluster_supervisor_actor(caf::stateful_actor<ClusterSupervisorState>* self,
                                       std::vector<ClusterMember> nodes, std::vector<ClusterMember> stages,
                                       SchedulerConfig config, int32_t max_restarts,
                                       std::shared_ptr<ClusterHealth> health,
                                       std::shared_ptr<ServerMetrics> metrics);

}  // namespace troupe
