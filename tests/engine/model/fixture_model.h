#pragma once
// Loads a committed fixture model (tests/fixtures/models/<name>) and its transformers reference.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model/checkpoint.h"
#include "engine/model/cpu_model.h"
#include "engine/model/layer_split.h"
#include "engine/model/model_config.h"
#include "engine/model/model_weights.h"
#include "engine/runtime/cpu_backend.h"

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

// The fixture split into `num_stages` pipeline stages (split_layers), each a CpuBackend over only
// its own tensors, read from the same checkpoint as load_fixture_model's.
inline std::vector<std::shared_ptr<ModelBackend>> fixture_stage_backends(const std::string& name, int32_t num_stages) {
  const auto dir = fixture_model_dir(name);
  const ModelConfig config = load_model_config(dir / "config.json");
  const Checkpoint checkpoint = Checkpoint::open(dir);
  std::vector<std::shared_ptr<ModelBackend>> out;
  for (LayerRange r : split_layers(config.num_layers, num_stages))
    out.push_back(std::make_shared<CpuBackend>(std::make_shared<CpuModel>(config, load_weights(config, checkpoint, r))));
  return out;
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
