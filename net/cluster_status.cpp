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
    if (n.state == NodeState::Lost) j["error"] = n.lost_because;
    out.push_back(std::move(j));
  }
  return out;
}

std::string cluster_prometheus_text(const std::vector<NodeHealth>& nodes) {
  std::string out = "# HELP troupe:cluster_nodes Nodes of the cluster by state.\n# TYPE troupe:cluster_nodes gauge\n";
  for (NodeState s : {NodeState::Joining, NodeState::Up, NodeState::Lost}) {
    int count = 0;
    for (const NodeHealth& n : nodes) count += n.state == s;
    out += fmt::format("troupe:cluster_nodes{{state=\"{}\"}} {}\n", node_state_name(s), count);
  }
  out += "# HELP troupe:stage_steps_total Steps each pipeline stage ran.\n# TYPE troupe:stage_steps_total counter\n";
  for (const NodeHealth& n : nodes)
    for (const StageTimes& t : n.stages)
      out += fmt::format("troupe:stage_steps_total{{stage=\"{}\",node=\"{}\"}} {}\n", t.stage, n.name, t.steps);
  out += "# HELP troupe:stage_busy_seconds_total Time each pipeline stage spent computing steps.\n"
         "# TYPE troupe:stage_busy_seconds_total counter\n";
  for (const NodeHealth& n : nodes)
    for (const StageTimes& t : n.stages)
      out += fmt::format("troupe:stage_busy_seconds_total{{stage=\"{}\",node=\"{}\"}} {:.6f}\n", t.stage, n.name,
                         static_cast<double>(t.busy_us) / 1e6);
  return out;
}

}  // namespace troupe::net
