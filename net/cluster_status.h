#pragma once
// A cluster's health as the HTTP routes show it: /health's "nodes" (name, address, state, seconds
// since the last heartbeat, why a lost node was lost) and the /metrics series
// troupe:cluster_nodes{state}, troupe:stage_steps_total{stage,node} and
// troupe:stage_busy_seconds_total{stage,node} (a stage's utilization is the rate of the second
// over wall time).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/cluster/cluster_health.h"

namespace troupe::net {

nlohmann::ordered_json cluster_nodes_json(const std::vector<NodeHealth>& nodes);
std::string cluster_prometheus_text(const std::vector<NodeHealth>& nodes);

}  // namespace troupe::net
