#pragma once
// `troupe node --config FILE --name NAME`: one node of a cluster file. Every node loads the
// shards placement gives it, publishes its node actor at its address and waits for the head; the
// node with the scheduler role is the head: it joins the others (cluster_launch.h), starts the
// stages, schedules, and serves HTTP when it has the gateway role.
#include <string>

namespace troupe::cli {

struct ClusterNodeOptions {
  std::string config;       // the cluster file
  std::string name;         // this node's [[node]] name
  int threads = 0;          // CPU threads for this node's executors together (0: every core)
  std::string presets_dir;  // where model.path finds preset names
  std::string fault_plan;   // faults to inject (engine/cluster/fault_plan_file.h); empty: none
  int respawn = 0;          // restarts of the node's process after a crash or a lost device context (node_respawn.h)
};

// Ends the process once its actors are up (see end_process in the .cpp): status 0 after
// SIGINT/SIGTERM, 1 when the cluster could not start (a node missing or refusing, no head within
// cluster.join_timeout_s). Before that, throws ConfigError / LoadError / std::runtime_error.
[[noreturn]] void run_cluster_node(const ClusterNodeOptions& o);

}  // namespace troupe::cli
