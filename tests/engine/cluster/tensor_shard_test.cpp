// The TP slices of every checkpoint tensor: over the ranks of a group, a split tensor is covered
// exactly once (KV projections once per replica), a replicated one is whole on every rank.
#include <gtest/gtest.h>

#include <map>

#include "cluster_test_util.h"
#include "engine/model/tensor_shard.h"

namespace troupe {
namespace {

bool replicated_kind(WeightKind k) {
  return k == WeightKind::InputNorm || k == WeightKind::PostNorm || k == WeightKind::FinalNorm ||
         k == WeightKind::OBias || k == WeightKind::DownBias;
}

TEST(TensorShard, SlicesCoverEveryTensorOncePerReplica) {
  for (const char* name : {"llama-3-8b", "qwen2.5-0.5b", "tiny-llama3", "tiny-qwen2"}) {
    ModelConfig m = test::model_named(name);
    m.o_bias = m.mlp_bias = m.qkv_bias = true;  // every optional tensor too
    for (int32_t tp : {1, 2, 4, 8}) {
      if (m.num_heads % tp != 0 || m.intermediate_size % tp != 0) continue;
      if (m.num_kv_heads >= tp ? m.num_kv_heads % tp != 0 : tp % m.num_kv_heads != 0) continue;
      const int64_t kv_replicas = std::max<int64_t>(1, tp / m.num_kv_heads);
      for (const WeightPart& part : weight_layout(m)) {
        if (part.layer > 0) continue;  // every layer is sliced alike
        const std::string where = std::string(name) + " tp" + std::to_string(tp) + " " + part.name;
        const bool kv = (part.kind == WeightKind::Qkv || part.kind == WeightKind::QkvBias) && part.offset != 0;
        int64_t held = 0;
        std::map<int64_t, std::pair<int64_t, int64_t>> cover;  // slice begin -> (end, times held)
        int64_t dim_size = 0;
        for (int32_t r = 0; r < tp; ++r) {
          const TensorSlice s = shard_slice(m, tp_shard(m, tp, r), part);
          held += slice_numel(part, s);
          if (replicated_kind(part.kind)) {
            EXPECT_EQ(s.dim, -1) << where;
            continue;
          }
          ASSERT_GE(s.dim, 0) << where;
          EXPECT_LE(s.end, part.shape[static_cast<size_t>(s.dim)]) << where;
          EXPECT_LE(s.begin, s.end) << where;
          dim_size = part.shape[static_cast<size_t>(s.dim)];
          cover[s.begin].first = s.end;
          cover[s.begin].second += 1;
        }
        if (replicated_kind(part.kind)) {
          EXPECT_EQ(held, tp * part.numel()) << where;
        } else {
          EXPECT_EQ(held, (kv ? kv_replicas : 1) * part.numel()) << where;
          int64_t next = 0;  // the distinct slices tile the split dimension
          for (const auto& [begin, end_times] : cover) {
            EXPECT_EQ(begin, next) << where;
            EXPECT_EQ(end_times.second, kv ? kv_replicas : 1) << where << " at " << begin;
            next = end_times.first;
          }
          EXPECT_EQ(next, dim_size) << where;
        }
      }
    }
  }
}

TEST(TensorShard, RowParallelWeightsAreSplitByColumn) {
  const ModelConfig m = test::model_named("llama-3-8b");
  const TpShard s = tp_shard(m, 4, 1);
  for (const WeightPart& part : weight_layout(m)) {
    if (part.layer != 0) continue;
    const TensorSlice slice = shard_slice(m, s, part);
    if (part.name.ends_with("o_proj.weight")) {
      EXPECT_EQ(slice.dim, 1);
      EXPECT_EQ(slice.begin, 8 * 128);  // query heads 8..15
      EXPECT_EQ(slice.end, 16 * 128);
    }
    if (part.name.ends_with("down_proj.weight")) {
      EXPECT_EQ(slice.dim, 1);
      EXPECT_EQ(slice.begin, 3584);
      EXPECT_EQ(slice.end, 7168);
    }
    if (part.name.ends_with("k_proj.weight")) {
      EXPECT_EQ(slice.dim, 0);
      EXPECT_EQ(slice.begin, 2 * 128);  // KV heads 2..3
      EXPECT_EQ(slice.end, 4 * 128);
    }
  }
}

}  // namespace
}  // namespace troupe
