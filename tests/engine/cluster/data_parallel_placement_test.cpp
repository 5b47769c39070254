// Data parallel in a cluster file: `[model] data_parallel = N` is N whole replicas, each its own
// tp x pp group placed after the one before it, the stages and ranks of every replica numbered
// together (global stage = replica * pp + stage, global rank = global stage * tp + rank), which is
// how nodes key what they hold; Placement::replica(i) is one replica's part, what its launch and
// recovery act on. The routing policy is read from data_parallel_policy.
#include <gtest/gtest.h>

#include "cluster_test_util.h"
#include "engine/cluster/placement.h"
#include "engine/cluster/placement_report.h"

namespace troupe {
namespace {

using test::cluster_of;
using test::model_named;

constexpr const char* kTwoReplicas = R"([model]
path = "demo-qwen2"
data_parallel = 2
data_parallel_policy = "round_robin"

[[node]]
name = "head"
address = "127.0.0.1:4300"
roles = ["gateway", "scheduler", "kv_manager", "executor"]

[[node]]
name = "worker-1"
address = "127.0.0.1:4301"
roles = ["executor"]
)";

TEST(DataParallelConfig, ReplicasAndPolicyAreRead) {
  const ClusterConfig c = parse_cluster_config(kTwoReplicas, "dp.toml");
  EXPECT_EQ(c.model.data_parallel, 2);
  EXPECT_EQ(c.model.data_parallel_policy, RoutingPolicy::RoundRobin);
  EXPECT_EQ(c.world_size(), 1);
  EXPECT_EQ(c.executors_needed(), 2);
  const ClusterConfig defaulted =
      parse_cluster_config(std::string(kTwoReplicas).replace(std::string(kTwoReplicas).find("data_parallel_policy"),
                                                             std::string("data_parallel_policy = \"round_robin\"").size(),
                                                             ""),
                           "dp.toml");
  EXPECT_EQ(defaulted.model.data_parallel_policy, RoutingPolicy::CacheAware);  // serve's default too
}

ClusterConfig replicas_of(int32_t dp, int32_t tp, int32_t pp, const std::vector<int32_t>& slots) {
  ClusterConfig c = cluster_of(tp, pp, ClusterDevice::Cpu, slots);
  c.model.data_parallel = dp;
  return c;
}

TEST(DataParallelPlacement, ReplicasAreNumberedTogetherAndPlacedOneAfterAnother) {
  // dp 2 x tp 2 x pp 2 over four nodes of two executors: each stage's TP group on one node,
  // replica 0 on n0 and n1, replica 1 on n2 and n3.
  const Placement p = place(replicas_of(2, 2, 2, {2, 2, 2, 2}), model_named("tiny-llama3"));
  EXPECT_EQ(p.data_parallel, 2);
  ASSERT_EQ(p.ranks.size(), 8u);
  for (size_t g = 0; g < p.ranks.size(); ++g) {
    const RankPlacement& r = p.ranks[g];
    EXPECT_EQ(r.global_rank, static_cast<int32_t>(g));
    EXPECT_EQ(r.replica, static_cast<int32_t>(g / 4));
    EXPECT_EQ(r.stage, static_cast<int32_t>(g / 2 % 2));
    EXPECT_EQ(r.rank, static_cast<int32_t>(g % 2));
    EXPECT_EQ(r.global_stage, r.replica * 2 + r.stage);
    EXPECT_EQ(r.node_index, g / 2);
    EXPECT_EQ(r.layers, p.stage_layers[static_cast<size_t>(r.stage)]);  // every replica split alike
    EXPECT_EQ(r.embedding, r.stage == 0);
    EXPECT_EQ(r.lm_head, r.stage == 1);
  }
  // Every replica holds the whole model: twice one replica's bytes.
  const Placement one = place(cluster_of(2, 2, ClusterDevice::Cpu, {2, 2}), model_named("tiny-llama3"));
  EXPECT_EQ(p.total_weight_bytes(), 2 * one.total_weight_bytes());
  EXPECT_EQ(p.kv_blocks_within(1 << 20), one.kv_blocks_within(1 << 20));  // each executor's pool is the same
}

TEST(DataParallelPlacement, OneReplicaIsItsRanksOnlyWithTheirGlobalNumbers) {
  const Placement p = place(replicas_of(2, 1, 2, {1, 1, 1, 1}), model_named("tiny-llama3"));
  const Placement r1 = p.replica(1);
  ASSERT_EQ(r1.ranks.size(), 2u);
  EXPECT_EQ(r1.at(0, 0).global_stage, 2);
  EXPECT_EQ(r1.at(1, 0).global_rank, 3);
  EXPECT_EQ(r1.at(1, 0).node, "n3");
  EXPECT_EQ(placed_nodes(r1), (std::vector<size_t>{2, 3}));
  EXPECT_EQ(placed_nodes(p.replica(0)), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(p.replica(0).at(1, 0).global_rank, 1);
}

TEST(DataParallelPlacement, ReplicasShareANodeWithRoomForBoth) {
  // One node with two executors holds both replicas (its executors 0 and 1).
  const Placement p = place(replicas_of(2, 1, 1, {2}), model_named("tiny-llama3"));
  ASSERT_EQ(p.ranks.size(), 2u);
  EXPECT_EQ(p.ranks[0].node_index, 0u);
  EXPECT_EQ(p.ranks[0].device, 0);
  EXPECT_EQ(p.ranks[1].node_index, 0u);
  EXPECT_EQ(p.ranks[1].device, 1);
  EXPECT_EQ(p.ranks[1].global_stage, 1);
}

TEST(DataParallelPlacement, TheReportShowsEachReplica) {
  const ClusterConfig c = replicas_of(2, 1, 1, {1, 1});
  ClusterModel model;
  model.config = model_named("tiny-llama3");
  model.dir = "m";
  const Placement p = place(c, model.config);
  const std::string table = placement_table(c, model, p);
  EXPECT_NE(table.find("data_parallel 2 x tensor_parallel 1 x pipeline_parallel 1 = 2 executors"), std::string::npos)
      << table;
  EXPECT_NE(table.find("\nnode   replica  device"), std::string::npos) << table;
  EXPECT_NE(table.find("\nn1     1        cpu:0"), std::string::npos) << table;
  EXPECT_NE(table.find("2 schedulers (one per replica), one kv_manager and cache_aware routing on n0"), std::string::npos)
      << table;
  const auto json = placement_json(c, model, p);
  EXPECT_EQ(json["data_parallel"], 2);
  EXPECT_EQ(json["data_parallel_policy"], "cache_aware");
  EXPECT_EQ(json["ranks"][1]["replica"], 1);
  EXPECT_EQ(json["ranks"][1]["node"], "n1");
  // One replica: the table as before, no replica column.
  const ClusterConfig single = cluster_of(1, 1, ClusterDevice::Cpu, {1});
  EXPECT_EQ(placement_table(single, model, place(single, model.config)).find("replica"), std::string::npos);
}

}  // namespace
}  // namespace troupe
