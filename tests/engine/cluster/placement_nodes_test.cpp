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

namespace troupe {
namespace {

// n0 and n1 hold the two stages (tp 2 each, GPUs); s2 (one GPU) and s3 (GPUs 5, 7) are spares.
ClusterConfig with_spares() {
  ClusterConfig c = test::cluster_of(2, 2, ClusterDevice::Cuda, {2, 2, 1, 2});
  c.nodes[2].name = "s2";
  c.nodes[3].name = "s3";
  c.nodes[3].gpus = {5, 7};
  for (size_t i : {2u, 3u}) c.nodes[i].roles = {NodeRole::Spare};
  return c;
}

TEST(PlacementSpares, SparesHoldNothingUntilALostNodesRanksMoveToTheFirstThatFits) {
  const ClusterConfig c = with_spares();
  const Placement p = place(c, test::model_named("llama-3-8b"));
  EXPECT_EQ(placed_nodes(p), (std::vector<size_t>{0, 1}));
  const std::optional<SpareMove> m = move_to_spare(c, p, 1);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->spare, 3u);  // s2 has one GPU: too few for n1's two ranks
  EXPECT_EQ(m->placement.at(1, 0).node, "s3");
  EXPECT_EQ(m->placement.at(1, 0).device, 5);
  EXPECT_EQ(m->placement.at(1, 1).node_index, 3u);
  EXPECT_EQ(m->placement.at(1, 1).device, 7);
  EXPECT_EQ(m->placement.at(1, 1).layers.begin, p.at(1, 1).layers.begin);  // the same shard
  EXPECT_EQ(m->placement.at(1, 1).shard.rank, p.at(1, 1).shard.rank);
  EXPECT_EQ(m->placement.at(0, 0).node, "n0");  // the rest stays
  EXPECT_EQ(placed_nodes(m->placement), (std::vector<size_t>{0, 3}));
  // s3 now stands in: when n0 goes too, no spare is big enough.
  EXPECT_FALSE(move_to_spare(c, m->placement, 0).has_value());
}

}  // namespace
}  // namespace troupe
