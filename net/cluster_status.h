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
// `prefix` and `model_name` as ServerMetrics has them (troupe or vllm; the model_name label on
// every series, none when empty).
// Nodes by state, each stage's steps and busy time, node losses and recoveries.
std::string cluster_prometheus_text(const ClusterHealth& health, const std::string& prefix = "troupe",
                                    const std::string& model_name = "");

}  // namespace troupe::net
