// The weight layout every loader reads: its tensors tile each fused weight exactly (no gap, no
// overlap), and it names exactly the tensors the fixture checkpoints hold.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <utility>

#include "engine/model/checkpoint.h"
#include "engine/model/weight_layout.h"
#include "fixture_model.h"

namespace troupe {
namespace {

void expect_parts_tile_their_weights(const ModelConfig& c) {
  std::map<std::pair<WeightKind, int64_t>, std::vector<std::pair<int64_t, int64_t>>> ranges;
  std::set<std::string> names;
  for (const WeightPart& p : weight_layout(c)) {
    EXPECT_TRUE(names.insert(p.name).second) << "named twice: " << p.name;
    ranges[{p.kind, p.layer}].push_back({p.offset, p.offset + p.numel()});
  }
  for (auto& [key, rs] : ranges) {
    std::sort(rs.begin(), rs.end());
    const auto [rows, cols] = weight_dims(c, key.first);
    int64_t covered = 0;
    for (const auto& [begin, end] : rs) {
      EXPECT_EQ(begin, covered) << "gap or overlap in weight kind " << static_cast<int>(key.first) << " layer " << key.second;
      covered = end;
    }
    EXPECT_EQ(covered, rows * cols) << "weight kind " << static_cast<int>(key.first) << " layer " << key.second;
  }
}

TEST(WeightLayout, PartsTileEveryFusedWeight) {
  for (const char* name : {"tiny-llama3", "tiny-qwen2"}) {
    ModelConfig c = load_model_config(test::fixture_model_dir(name) / "config.json");
    expect_parts_tile_their_weights(c);
    c.o_bias = c.mlp_bias = c.qkv_bias = true;  // every optional bias at once
    c.tie_word_embeddings = false;
    expect_parts_tile_their_weights(c);
  }
}

TEST(WeightLayout, NamesExactlyTheFixtureCheckpointsTensors) {
  for (const char* name : {"tiny-llama3", "tiny-qwen2"}) {
    const auto dir = test::fixture_model_dir(name);
    const ModelConfig c = load_model_config(dir / "config.json");
    const Checkpoint checkpoint = Checkpoint::open(dir);
    const std::vector<WeightPart> parts = weight_layout(c);
    EXPECT_EQ(parts.size(), checkpoint.num_tensors()) << name;
    for (const WeightPart& p : parts) EXPECT_EQ(checked_tensor(checkpoint, p).shape, p.shape) << p.name;
  }
}

}  // namespace
}  // namespace troupe
