#pragma once
// Whether a model's shapes admit a cluster's split — the checks that need config.json, made once
// the model is known. Each refusal is a ConfigError pointing at model.tensor_parallel or
// model.pipeline_parallel in the cluster file:
//   pipeline_parallel > layers            (every stage needs at least one layer)
//   tensor_parallel not dividing the query heads or intermediate_size
//   KV heads: tp must divide them (K >= tp), or they must divide tp (K < tp: each KV head is then
//   replicated on tp/K ranks, as vLLM does — accepted, and said in the returned notes).
#include <string>
#include <vector>

#include "engine/cluster/cluster_config.h"
#include "engine/model/model_config.h"

namespace troupe {

// Returns notes a plan should show (e.g. KV-head replication); throws ConfigError on a misfit.
std::vector<std::string> validate_model_fit(const ClusterConfig& config, const ModelConfig& model);

}  // namespace troupe
