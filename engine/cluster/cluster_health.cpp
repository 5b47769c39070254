#include "engine/cluster/cluster_health.h"

#include <algorithm>

namespace troupe {

const char* node_state_name(NodeState s) {
  switch (s) {
    case NodeState::Joining: return "joining";
    case NodeState::Up: return "up";
    case NodeState::Lost: return "lost";
    case NodeState::Spare: return "spare";
    case NodeState::Replaced: return "replaced";
  }
  return "?";
}

std::vector<NodeHealth> initial_health(const ClusterConfig& config) {
  std::vector<NodeHealth> nodes;
  for (const NodeConfig& n : config.nodes) {
    NodeHealth h;
    h.name = n.name;
    h.address = n.address();
    if (n.has(NodeRole::Spare)) h.state = NodeState::Spare;
    nodes.push_back(std::move(h));
  }
  return nodes;
}

std::vector<NodeHealth> ClusterHealth::nodes() const {
  std::lock_guard lock(mu_);
  return nodes_;
}

bool ClusterHealth::all_up() const {
  std::lock_guard lock(mu_);
  return std::all_of(nodes_.begin(), nodes_.end(), [](const NodeHealth& n) {
    return n.state == NodeState::Up || n.state == NodeState::Spare || n.state == NodeState::Replaced;
  });
}

void ClusterHealth::set_replaced(const std::string& name, const std::string& by) {
  std::lock_guard lock(mu_);
  for (NodeHealth& n : nodes_)
    if (n.name == name) {
      n.state = NodeState::Replaced;
      n.lost_because += (n.lost_because.empty() ? "" : "; ") + std::string("its shards moved to spare ") + by;
    }
}

void ClusterHealth::set_up(const std::string& name) {
  std::lock_guard lock(mu_);
  for (NodeHealth& n : nodes_)
    if (n.name == name) {
      n.state = NodeState::Up;
      n.lost_because.clear();
      n.last_heartbeat = std::chrono::steady_clock::now();
    }
}

void ClusterHealth::heartbeat(const std::string& name, std::vector<StageTimes> stages) {
  std::lock_guard lock(mu_);
  for (NodeHealth& n : nodes_)
    if (n.name == name) {
      n.last_heartbeat = std::chrono::steady_clock::now();
      n.stages = std::move(stages);
    }
}

void ClusterHealth::set_lost(const std::string& name, const std::string& why) {
  std::lock_guard lock(mu_);
  for (NodeHealth& n : nodes_)
    if (n.name == name && n.state != NodeState::Lost) {
      n.state = NodeState::Lost;
      n.lost_because = why;
      ++counts_.node_losses;
    }
}

void ClusterHealth::recovered(double seconds) {
  recovery_seconds_.observe(seconds);  // lock-free
  std::lock_guard lock(mu_);
  counts_.last_recovery_seconds = seconds;
}

ClusterHealth::Counts ClusterHealth::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

}  // namespace troupe
