#pragma once
// A Placement for people (an aligned table with totals and notes) and for scripts (JSON), shared
// by `troupe plan` and whatever prints the plan when a cluster starts.
#include <string>

#include <nlohmann/json.hpp>

#include "engine/cluster/cluster_config.h"
#include "engine/cluster/placement.h"
#include "engine/model/model_config.h"

namespace troupe {

// `model_label` names the model (its folder or preset) in the heading.
std::string placement_table(const ClusterConfig& config, const ModelConfig& model, const Placement& placement,
                            const std::string& model_label);

// One object: model, device, dtype, sizes, "ranks" (one entry per executor in global-rank order;
// ranges as [begin, end)), "nodes", "totals", "notes". Byte counts are exact integers.
nlohmann::json placement_json(const ClusterConfig& config, const ModelConfig& model, const Placement& placement,
                              const std::string& model_label);

}  // namespace troupe
