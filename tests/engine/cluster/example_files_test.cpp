// Every file in config/examples parses, finds its model (a preset, or the demo folder) and places as
// its comment says.
// A new example must be added to the table here, so none goes untested.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "cluster_test_util.h"
#include "engine/cluster/cluster_model.h"
#include "engine/cluster/placement.h"
#include "engine/cluster/placement_report.h"

namespace troupe {
namespace {

struct Example {
  const char* file;
  ClusterDevice device;
  int32_t ranks;
  std::vector<int64_t> stage_layers;
  std::vector<std::string> stage_nodes;  // node of each stage's rank 0
  bool kv_replicated;
};

const std::vector<Example> kExamples = {
    {"single-node.toml", ClusterDevice::Cpu, 1, {4}, {"local"}, false},
    {"dp2-two-nodes.toml", ClusterDevice::Cpu, 2, {4}, {"head"}, false},  // replica 0's stage; replica 1 on worker-1
    {"pp2-two-nodes.toml", ClusterDevice::Cpu, 2, {2, 2}, {"head", "worker-1"}, false},
    {"pp3-three-nodes.toml", ClusterDevice::Cpu, 3, {1, 2, 1}, {"head", "worker-1", "worker-2"}, false},
    {"tp2-pp2-gpu.toml", ClusterDevice::Cuda, 4, {16, 16}, {"head", "worker-1"}, false},
    {"tp4-one-node-cpu.toml", ClusterDevice::Cpu, 4, {4}, {"local"}, true},
};

TEST(ExampleFiles, EachParsesAndPlacesAsItsCommentSays) {
  const auto dir = test::config_dir() / "examples";
  std::set<std::string> on_disk, in_table;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".toml") on_disk.insert(entry.path().filename().string());
  for (const Example& e : kExamples) {
    in_table.insert(e.file);
    SCOPED_TRACE(e.file);
    const ClusterConfig c = load_cluster_config(dir / e.file);
    const ClusterModel model = load_cluster_model(c, test::config_dir() / "presets");
    // A preset gives the shape for `troupe plan`; an example meant to be launched names the demo
    // model folder, whose tokenizer lets its head serve.
    if (!model.preset) EXPECT_TRUE(std::filesystem::exists(model.dir / "tokenizer.json")) << model.dir;
    const Placement p = place(c, model.config);
    EXPECT_EQ(p.device, e.device);
    ASSERT_EQ(p.ranks.size(), static_cast<size_t>(e.ranks));
    ASSERT_EQ(p.stage_layers.size(), e.stage_layers.size());
    for (size_t s = 0; s < e.stage_layers.size(); ++s) {
      EXPECT_EQ(p.stage_layers[s].size(), e.stage_layers[s]);
      EXPECT_EQ(p.at(static_cast<int32_t>(s), 0).node, e.stage_nodes[s]);
    }
    bool replicated = false;
    for (const std::string& note : p.notes) replicated = replicated || note.find("KV heads replicated") != std::string::npos;
    EXPECT_EQ(replicated, e.kv_replicated);
    const std::string table = placement_table(c, model, p);
    for (const NodeConfig& n : c.nodes) EXPECT_NE(table.find(n.name), std::string::npos);
    const nlohmann::ordered_json j = placement_json(c, model, p);
    EXPECT_EQ(j["ranks"].size(), static_cast<size_t>(e.ranks));
    EXPECT_EQ(j["totals"]["weight_bytes"].get<int64_t>(), p.total_weight_bytes());
    EXPECT_EQ(j["model"]["path"], c.model.path);
    EXPECT_EQ(j["ranks"].back()["layers"][1].get<int64_t>(), model.config.num_layers);
  }
  EXPECT_EQ(on_disk, in_table) << "every example file needs an entry in kExamples";
}

}  // namespace
}  // namespace troupe
