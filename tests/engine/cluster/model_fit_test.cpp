// The splits a model's shapes refuse, each pointing at the key to change; the one it accepts with
// a note (KV heads replicated).
#include <gtest/gtest.h>

#include "cluster_test_util.h"
#include "engine/cluster/model_fit.h"

namespace troupe {
namespace {

ModelConfig shape(int64_t layers, int64_t heads, int64_t kv_heads, int64_t intermediate = 64) {
  ModelConfig m;
  m.num_layers = layers;
  m.num_heads = heads;
  m.num_kv_heads = kv_heads;
  m.intermediate_size = intermediate;
  m.head_dim = 8;
  m.hidden_size = heads * 8;
  m.vocab_size = 100;
  return m;
}

std::string refusal(const ModelConfig& m, int32_t tp, int32_t pp) {
  const ClusterConfig c = test::cluster_of(tp, pp, ClusterDevice::Cpu, {tp * pp});
  try {
    validate_model_fit(c, m);
  } catch (const ConfigError& e) {
    return e.key() + ": " + e.reason();
  }
  return "accepted";
}

TEST(ModelFit, RefusesWhatCannotBeSplit) {
  EXPECT_EQ(refusal(shape(3, 4, 2), 1, 4),
            "model.pipeline_parallel: pipeline_parallel 4 is deeper than the model's 3 layers (every stage needs at "
            "least one layer)");
  EXPECT_EQ(refusal(shape(4, 14, 2), 4, 1),
            "model.tensor_parallel: tensor_parallel 4 does not divide the model's 14 attention heads");
  EXPECT_EQ(refusal(shape(4, 12, 6), 4, 1),
            "model.tensor_parallel: tensor_parallel 4 does not divide the model's 6 KV heads");
  EXPECT_EQ(refusal(shape(4, 6, 2), 3, 1),
            "model.tensor_parallel: the model's 2 KV heads cannot be replicated evenly over 3 ranks (tensor_parallel "
            "must be a multiple of them)");
  EXPECT_EQ(refusal(shape(4, 8, 8, 60), 8, 1),
            "model.tensor_parallel: tensor_parallel 8 does not divide the model's intermediate_size 60");
}

TEST(ModelFit, AcceptsReplicatedKvHeadsWithANote) {
  const ClusterConfig c = test::cluster_of(8, 1, ClusterDevice::Cpu, {8});
  const std::vector<std::string> notes = validate_model_fit(c, shape(4, 8, 2));
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("the model has 2 KV heads for 8 tensor-parallel ranks"), std::string::npos) << notes[0];
  EXPECT_NE(notes[0].find("held by 4 ranks"), std::string::npos) << notes[0];
  EXPECT_TRUE(validate_model_fit(test::cluster_of(2, 2, ClusterDevice::Cpu, {4}), shape(4, 8, 2)).empty());
}

}  // namespace
}  // namespace troupe
