// Which node and device each rank lands on: a stage's TP group on one node when one has room,
// in config order, executors taken in the order the node lists them.
#include <gtest/gtest.h>

#include "cluster_test_util.h"
#include "engine/cluster/placement.h"

namespace troupe {
namespace {

using test::cluster_of;
using test::model_named;

bool has_note(const Placement& p, const std::string& part) {
  for (const std::string& note : p.notes)
    if (note.find(part) != std::string::npos) return true;
  return false;
}

TEST(PlacementNodes, AStageStaysOnOneNodeWhenOneHasRoom) {
  // n0 has one executor, n1 two, n2 one: stage 0 (tp 2) fits only on n1; stage 1 must span.
  const Placement p = place(cluster_of(2, 2, ClusterDevice::Cpu, {1, 2, 1}), model_named("tiny-llama3"));
  EXPECT_EQ(p.at(0, 0).node, "n1");
  EXPECT_EQ(p.at(0, 0).device, 0);
  EXPECT_EQ(p.at(0, 1).node, "n1");
  EXPECT_EQ(p.at(0, 1).device, 1);
  EXPECT_EQ(p.at(1, 0).node, "n0");
  EXPECT_EQ(p.at(1, 1).node, "n2");
  EXPECT_EQ(p.at(1, 1).node_index, 2u);
  EXPECT_TRUE(has_note(p, "stage 1's tensor-parallel group spans nodes n0, n2: no node has 2 free executors"));
  EXPECT_FALSE(has_note(p, "stage 0's"));
}

TEST(PlacementNodes, StagesFillNodesInConfigOrder) {
  // One node with four executors holds both stages: ranks 0-1 stage 0, 2-3 stage 1.
  const Placement p = place(cluster_of(2, 2, ClusterDevice::Cpu, {4}), model_named("tiny-llama3"));
  for (int32_t g = 0; g < 4; ++g) {
    EXPECT_EQ(p.ranks[static_cast<size_t>(g)].node, "n0");
    EXPECT_EQ(p.ranks[static_cast<size_t>(g)].device, g);
  }
  EXPECT_FALSE(has_note(p, "spans"));
  EXPECT_TRUE(has_note(p, "layers per stage 2, 1"));  // tiny-llama3 has 3 layers
}

TEST(PlacementNodes, GpusAreTakenInTheOrderListedAndNodesWithoutExecutorsAreSkipped) {
  ClusterConfig c = cluster_of(2, 2, ClusterDevice::Cuda, {0, 2, 2});
  c.nodes[0].roles = {NodeRole::Gateway, NodeRole::Scheduler, NodeRole::KvManager};  // no executor
  c.nodes[1].gpus = {3, 1};
  const Placement p = place(c, model_named("llama-3-8b"));
  EXPECT_EQ(p.at(0, 0).node, "n1");
  EXPECT_EQ(p.at(0, 0).device, 3);
  EXPECT_EQ(p.at(0, 1).device, 1);
  EXPECT_EQ(p.at(1, 0).node, "n2");
  EXPECT_EQ(p.at(1, 0).device, 0);
  EXPECT_EQ(p.bytes_per_element, 2);
}

TEST(PlacementNodes, AMisfitNamesTheKeyToChange) {
  ClusterConfig c = cluster_of(1, 4, ClusterDevice::Cpu, {4});
  c.lines["model.pipeline_parallel"] = 5;
  try {
    place(c, model_named("tiny-llama3"));  // 3 layers
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "test.toml:5: model.pipeline_parallel: pipeline_parallel 4 is deeper than the model's 3 "
                           "layers (every stage needs at least one layer)");
  }
}

}  // namespace
}  // namespace troupe
