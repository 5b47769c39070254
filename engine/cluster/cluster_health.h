#pragma once
// ClusterHealth: the head's view of its nodes while the cluster serves — each node's state, its
// last heartbeat and, per pipeline stage it runs, the steps done and the time spent in them. The
// cluster supervisor writes it (from its actor thread); /health and /metrics read it (from HTTP
// threads), hence the lock. Plain data out: readers get a copy.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "engine/cluster/cluster_config.h"
#include "engine/metrics/server_metrics.h"  // Histogram

namespace troupe {

// Spare: a spare node holding nothing yet (it joins when a recovery gives it a lost node's
// shards); Replaced: a lost node whose shards a spare took — neither is needed to serve.
enum class NodeState { Joining, Up, Lost, Spare, Replaced };
const char* node_state_name(NodeState s);  // "joining", "up", "lost", "spare", "replaced"

struct StageTimes {
  int32_t stage = 0;
  int64_t steps = 0;       // steps this stage ran
  int64_t busy_us = 0;     // wall time inside them
};

struct NodeHealth {
  std::string name;
  std::string address;
  NodeState state = NodeState::Joining;
  std::chrono::steady_clock::time_point last_heartbeat{};  // never: the epoch
  std::string lost_because;        // set once Lost
  std::vector<StageTimes> stages;  // as of the last heartbeat
};

// The table a cluster starts from: every node of the file joining, its spares spare.
std::vector<NodeHealth> initial_health(const ClusterConfig& config);

class ClusterHealth {
 public:
  explicit ClusterHealth(std::vector<NodeHealth> nodes) : nodes_(std::move(nodes)) {}

  std::vector<NodeHealth> nodes() const;
  bool all_up() const;
  // The node joined (again, after a loss: the cause is cleared).
  void set_up(const std::string& name);
  void heartbeat(const std::string& name, std::vector<StageTimes> stages);
  // The first loss of a node is kept (a later, consequential error does not overwrite the cause)
  // until it joins again; each loss is counted.
  void set_lost(const std::string& name, const std::string& why);
  // A spare took the lost node's shards: it is no longer awaited (lost_because keeps why).
  void set_replaced(const std::string& name, const std::string& by);

  // Recoveries: the whole group of stages started again after a loss, `seconds` from the loss
  // to every stage back (the scheduler then recomputes what was running).
  void recovered(double seconds);
  struct Counts {
    int64_t node_losses = 0;
    double last_recovery_seconds = 0;
  };
  Counts counts() const;
  // Every recovery's time, for /metrics (its count is the number of recoveries).
  const Histogram& recovery_seconds() const { return recovery_seconds_; }

 private:
  mutable std::mutex mu_;
  std::vector<NodeHealth> nodes_;
  Counts counts_;
  Histogram recovery_seconds_{{0.5, 1, 2, 5, 10, 15, 30, 60, 120}};
};

}  // namespace troupe
