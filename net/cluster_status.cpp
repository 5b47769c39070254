#include "net/cluster_status.h"

#include <chrono>

#include <cmath>

#include <fmt/format.h>

namespace troupe::net {

nlohmann::ordered_json cluster_nodes_json(const std::vector<NodeHealth>& nodes) {
  const auto now = std::chrono::steady_clock::now();
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const NodeHealth& n : nodes) {
    nlohmann::ordered_json j{{"name", n.name}, {"address", n.address}, {"state", node_state_name(n.state)}};
    if (n.last_heartbeat.time_since_epoch().count() == 0) j["last_heartbeat_s_ago"] = nullptr;
    else j["last_heartbeat_s_ago"] = std::round(std::chrono::duration<double>(now - n.last_heartbeat).count() * 10) / 10;
    if (n.state == NodeState::Lost || n.state == NodeState::Replaced) j["error"] = n.lost_because;
    out.push_back(std::move(j));
  }
  return out;
}

std::string cluster_prometheus_text(const ClusterHealth& health, const std::string& prefix,
                                    const std::string& model_name) {
  const std::vector<NodeHealth> nodes = health.nodes();
  const ClusterHealth::Counts counts = health.counts();
  const std::string model = model_name.empty() ? "" : fmt::format(",model_name=\"{}\"", model_name);
  auto head = [&](const char* name, const char* type, const char* help) {
    return fmt::format("# HELP {0}:{1} {3}\n# TYPE {0}:{1} {2}\n", prefix, name, type, help);
  };
  std::string out = head("cluster_nodes", "gauge", "Nodes of the cluster by state.");
  for (NodeState s : {NodeState::Joining, NodeState::Up, NodeState::Lost, NodeState::Spare, NodeState::Replaced}) {
    int count = 0;
    for (const NodeHealth& n : nodes) count += n.state == s;
    out += fmt::format("{}:cluster_nodes{{state=\"{}\"{}}} {}\n", prefix, node_state_name(s), model, count);
  }
  out += head("stage_steps_total", "counter", "Steps each pipeline stage ran.");
  for (const NodeHealth& n : nodes)
    for (const StageTimes& t : n.stages)
      out += fmt::format("{}:stage_steps_total{{stage=\"{}\",node=\"{}\"{}}} {}\n", prefix, t.stage, n.name, model, t.steps);
  out += head("stage_busy_seconds_total", "counter", "Time each pipeline stage spent computing steps.");
  for (const NodeHealth& n : nodes)
    for (const StageTimes& t : n.stages)
      out += fmt::format("{}:stage_busy_seconds_total{{stage=\"{}\",node=\"{}\"{}}} {:.6f}\n", prefix, t.stage, n.name,
                         model, static_cast<double>(t.busy_us) / 1e6);
  const std::string only_model = model.empty() ? "" : "{" + model.substr(1) + "}";
  out += head("node_losses_total", "counter", "Nodes (or their stages) the cluster lost while serving.");
  out += fmt::format("{}:node_losses_total{} {}\n", prefix, only_model, counts.node_losses);
  health.recovery_seconds().write(out, prefix + ":cluster_recovery_seconds",
                                  "Time from a loss to every stage running again, per recovery.", model.empty() ? "" : model.substr(1));
  out += head("cluster_last_recovery_seconds", "gauge", "Time from the last loss to every stage back.");
  out += fmt::format("{}:cluster_last_recovery_seconds{} {:.3f}\n", prefix, only_model, counts.last_recovery_seconds);
  return out;
}

}  // namespace troupe::net
