#pragma once
// Loads a committed fixture model (tests/fixtures/models/<name>) and its transformers reference.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model/checkpoint.h"
#include "engine/model/cpu_model.h"
#include "engine/model/model_config.h"
#include "engine/model/model_weights.h"

namespace troupe::test {

inline std::filesystem::path fixture_model_dir(const std::string& name) {
  return std::filesystem::path(TROUPE_FIXTURES_DIR) / "models" / name;
}

inline CpuModel load_fixture_model(const std::string& name) {
  const auto dir = fixture_model_dir(name);
  ModelConfig config = load_model_config(dir / "config.json");
  ModelWeights weights = load_weights(config, Checkpoint::open(dir));
  return CpuModel(std::move(config), std::move(weights));
}

struct ReferencePrompt {
  std::vector<int32_t> ids;
  std::vector<float> last_logits;
  std::vector<int32_t> greedy;
};

inline std::vector<ReferencePrompt> load_reference(const std::string& name) {
  std::ifstream in(fixture_model_dir(name) / "expected.json");
  const auto j = nlohmann::json::parse(in);
  std::vector<ReferencePrompt> out;
  for (const auto& p : j.at("prompts"))
    out.push_back({p.at("ids").get<std::vector<int32_t>>(), p.at("last_logits").get<std::vector<float>>(),
                   p.at("greedy").get<std::vector<int32_t>>()});
  return out;
}

}  // namespace troupe::test
