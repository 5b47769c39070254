#pragma once
// cluster_supervisor: the head's supervisor of a cluster's engine. The nodes started the stage
// executors (cluster_launch.h); this actor runs the scheduler over stage 0 (restarting it, as the
// local supervisor does, when it dies), the kv_manager beside it, and watches every node and
// stage: CAF monitors tell it at once when a node's process or connection goes away, and a
// heartbeat every 5 s (or a third of heartbeat_timeout) asks every node for its stages' step
// times (for /metrics and /health); a node silent past heartbeat_timeout is lost as well.
//
// A lost node or stage (its process ended, or its connection) ends every stage executor, so the
// scheduler recomputes what was running once it has an executor again; then, within the restart
// budget, `relaunch` (cluster_launch.h's rejoin_cluster, run on a thread of its own) joins the
// nodes again — the lost one once its `troupe node` process is back, bounded by join_timeout_s, or
// a spare in its place after spare_after_s — and starts every stage (and TP group) anew; the new
// stage 0 goes to the scheduler. Streams
// pause meanwhile and go on after: no request is lost, none gets a token twice. Without a
// relaunch, past the budget, or when the relaunch fails, every request in flight ends at once
// with an error naming the node, new ones are refused with it, and /health answers 503.
//
// Data parallel: one such supervisor per replica (cluster_engine.h), each over its replica's
// nodes and stages, all sharing one kv_manager. A loss ends and relaunches only the replicas
// with a stage on the lost node; the others serve on. A replica past its budget, or whose
// relaunch failed, is gone: its scheduler stops and the gateway moves its requests to the live
// replicas (scheduler_supervision.h's hand_executor), as in one process.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/cluster_launch.h"
#include "actors/scheduler_supervision.h"
#include "engine/cluster/cluster_health.h"
#include "engine/metrics/server_metrics.h"
#include "engine/scheduler/scheduler_config.h"

namespace troupe {

struct ClusterMember {
  std::string name;  // of its node
  caf::actor actor;
};

// Joins the nodes again and starts every stage after node `lost` was lost (its own process back
// in time, or a spare in its place); throws ClusterLaunchError. Blocking: it runs on a thread of
// its own.
using ClusterRelaunch = std::function<JoinedCluster(const std::string& lost)>;

// How the supervisor keeps the cluster: recoveries allowed, and how long a node may leave the
// heartbeat unanswered before it counts as lost (a cut link keeps TCP connections open, so no
// monitor fires).
struct ClusterSupervision {
  int32_t max_restarts = 3;  // recoveries, and scheduler restarts (counted apart)
  std::chrono::milliseconds heartbeat_timeout{15'000};
  ClusterRelaunch relaunch;  // null: a loss is not recovered
};

struct ClusterSupervisorState {
  std::vector<ClusterMember> nodes;   // node actors (null: a node that holds nothing now)
  std::vector<ClusterMember> stages;  // stage executors in pipeline order, named by their node
  std::shared_ptr<ClusterHealth> health;
  caf::actor executor;  // stage 0; null once something is lost
  SchedulerSupervision scheduling;
  ClusterRelaunch relaunch;  // null: a loss is not recovered
  std::chrono::milliseconds heartbeat_timeout{15'000};
  std::chrono::milliseconds heartbeat_every{5'000};
  std::map<std::string, std::chrono::steady_clock::time_point> answered;  // by node: its last heartbeat answer
  caf::actor rendezvous;     // the TP groups' board of the current launch, kept alive
  int32_t recoveries = 0;    // against scheduling.max_restarts
  bool recovering = false;
  std::chrono::steady_clock::time_point lost_at;
  static inline const char* name = "cluster_supervisor";
};

// Messages: (engine_atom) -> (scheduler, executor); (gateway_atom, actor): tell this gateway of
// every new scheduler, or that the engine is lost (engine_lost_atom); (kv_manager_atom) -> actor.
// `nodes`: every node of the file, null where this supervisor's stages hold nothing. `kv_manager`:
// one shared by every replica's supervisor (config.replica tells them apart); null: one engine,
// which spawns its own.
caf::behavior cluster_supervisor_actor(caf::stateful_actor<ClusterSupervisorState>* self,
                                       std::vector<ClusterMember> nodes, std::vector<ClusterMember> stages,
                                       SchedulerConfig config, ClusterSupervision supervision,
                                       std::shared_ptr<ClusterHealth> health,
                                       std::shared_ptr<ServerMetrics> metrics, caf::actor kv_manager);

}  // namespace troupe
