#pragma once
// A Placement for people (an aligned table with totals and notes) and for scripts (JSON), shared
// by `troupe plan` and whatever prints the plan when a cluster starts.
#include <string>

#include <nlohmann/json.hpp>

#include "engine/cluster/cluster_config.h"
#include "engine/cluster/cluster_model.h"
#include "engine/cluster/placement.h"

namespace troupe {

std::string placement_table(const ClusterConfig& config, const ClusterModel& model, const Placement& placement);

// One object (keys in this order): model, device, dtype, sizes, "ranks" (one entry per executor in global-rank order;
// ranges as [begin, end)), "nodes", "totals", "notes". Byte counts are exact integers.
nlohmann::ordered_json placement_json(const ClusterConfig& config, const ClusterModel& model,
                                      const Placement& placement);

}  // namespace troupe
