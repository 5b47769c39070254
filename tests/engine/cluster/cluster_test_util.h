#pragma once
// Shared by the cluster tests: the models of the shape tables and clusters built in code.
#include <filesystem>
#include <string>
#include <vector>

#include "engine/cluster/cluster_config.h"
#include "engine/model/model_config.h"

namespace troupe::test {

inline std::filesystem::path config_dir() { return TROUPE_CONFIG_DIR; }

// A preset (config/presets) or a fixture model (tests/fixtures/models).
inline ModelConfig model_named(const std::string& name) {
  const auto preset = config_dir() / "presets" / name / "config.json";
  if (std::filesystem::exists(preset)) return load_model_config(preset);
  return load_model_config(std::filesystem::path(TROUPE_FIXTURES_DIR) / "models" / name / "config.json");
}

// Nodes n0, n1, ... offering slots[i] executors (CPU executors, or GPUs 0..slots[i]-1); n0 has
// every role.
inline ClusterConfig cluster_of(int32_t tp, int32_t pp, ClusterDevice device, const std::vector<int32_t>& slots) {
  ClusterConfig c;
  c.file = "test.toml";
  c.model.path = "m";
  c.model.device = device;
  c.model.tensor_parallel = tp;
  c.model.pipeline_parallel = pp;
  for (size_t i = 0; i < slots.size(); ++i) {
    NodeConfig n;
    n.name = "n" + std::to_string(i);
    n.host = "127.0.0.1";
    n.port = static_cast<uint16_t>(4300 + i);
    n.roles = {NodeRole::Executor};
    if (i == 0) n.roles = {NodeRole::Gateway, NodeRole::Scheduler, NodeRole::KvManager, NodeRole::Executor};
    if (device == ClusterDevice::Cpu) {
      n.executors = slots[i];
    } else {
      for (int32_t g = 0; g < slots[i]; ++g) n.gpus.push_back(g);
    }
    c.nodes.push_back(n);
  }
  return c;
}

}  // namespace troupe::test
