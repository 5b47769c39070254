// Placement over tables of shapes: Llama-3-8B, Qwen2.5-0.5B and the fixture models at every
// pp in {1..4} and tp in {1, 2, 4, 8}. Totals are checked against byte counts computed here from
// config.json by hand (not through weight_layout), and against published parameter counts.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "cluster_test_util.h"
#include "engine/cluster/model_fit.h"
#include "engine/cluster/placement.h"

namespace troupe {
namespace {

using test::cluster_of;
using test::model_named;

std::vector<int64_t> sizes(const std::vector<IndexRange>& ranges) {
  std::vector<int64_t> out;
  for (const IndexRange& r : ranges) out.push_back(r.size());
  return out;
}

TEST(Placement, SplitsLayersAsVllmDoes) {
  // vllm.distributed.utils.get_pp_indices: the remainder goes to the stages before the last,
  // from the second-to-last backwards.
  EXPECT_EQ(sizes(split_layers(32, 4)), (std::vector<int64_t>{8, 8, 8, 8}));
  EXPECT_EQ(sizes(split_layers(22, 4)), (std::vector<int64_t>{5, 6, 6, 5}));
  EXPECT_EQ(sizes(split_layers(32, 3)), (std::vector<int64_t>{11, 11, 10}));
  EXPECT_EQ(sizes(split_layers(5, 3)), (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(sizes(split_layers(4, 3)), (std::vector<int64_t>{1, 2, 1}));
  EXPECT_EQ(sizes(split_layers(3, 2)), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(sizes(split_layers(3, 3)), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(sizes(split_layers(24, 1)), (std::vector<int64_t>{24}));
  const std::vector<IndexRange> r = split_layers(22, 4);
  EXPECT_EQ(r.front(), (IndexRange{0, 5}));
  EXPECT_EQ(r.back(), (IndexRange{17, 22}));
}

TEST(Placement, Llama3_8BOnOneGpuHoldsItsPublishedSize) {
  const ModelConfig m = model_named("llama-3-8b");
  const Placement p = place(cluster_of(1, 1, ClusterDevice::Cuda, {1}), m);
  ASSERT_EQ(p.ranks.size(), 1u);
  EXPECT_EQ(p.ranks[0].weight_bytes, int64_t{8'030'261'248} * 2);  // 8.03 B parameters in bf16
  EXPECT_EQ(p.ranks[0].kv_bytes_per_token, 2 * 32 * 8 * 128 * 2);   // K+V, 32 layers, 8 heads of 128
  EXPECT_EQ(p.ranks[0].kv_bytes_per_block, 2 * 32 * 8 * 128 * 2 * 16);
  EXPECT_TRUE(p.notes.empty());
}

TEST(Placement, KvBlocksWithinAnExecutorsBudgetGrowWithTensorParallel) {
  const ModelConfig m = model_named("llama-3-8b");
  const double gib = 1024.0 * 1024 * 1024;
  // One GPU: 128 KiB per token, 2 MiB per block of 16: 512 blocks in a GiB.
  EXPECT_EQ(place(cluster_of(1, 1, ClusterDevice::Cuda, {1}), m).kv_blocks_within(gib), 512);
  // tp 2: each rank holds 4 of the 8 KV heads, so the group holds twice the blocks in a GiB each.
  EXPECT_EQ(place(cluster_of(2, 1, ClusterDevice::Cuda, {2}), m).kv_blocks_within(gib), 1024);
  // pp 3 of 32 layers (11, 11, 10): the stages of 11 layers decide.
  EXPECT_EQ(place(cluster_of(1, 3, ClusterDevice::Cuda, {1, 1, 1}), m).kv_blocks_within(gib),
            static_cast<int32_t>(gib / (2.0 * 11 * 8 * 128 * 2 * 16)));
}

TEST(Placement, Qwen25_05BOnOneCpuHoldsItsPublishedSizeInFp32) {
  const ModelConfig m = model_named("qwen2.5-0.5b");
  const Placement p = place(cluster_of(1, 1, ClusterDevice::Cpu, {1}), m);
  EXPECT_EQ(p.ranks[0].weight_bytes, int64_t{494'032'768} * 4);  // tied: the embedding counted once
  EXPECT_TRUE(p.ranks[0].lm_head_is_embedding);
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_NE(p.notes[0].find("embedding matrix is also the lm_head"), std::string::npos);
}

TEST(Placement, Llama3_8BTp2Pp2HoldsTheseBytesPerRank) {
  const ModelConfig m = model_named("llama-3-8b");
  const Placement p = place(cluster_of(2, 2, ClusterDevice::Cuda, {2, 2}), m);
  const int64_t layer = 2 * 4096 + (4096 * 4096 + 2 * 1024 * 4096 + 4096 * 4096 + 3 * 14336 * 4096) / 2;
  const int64_t vocab_half = 128256 / 2 * 4096;
  for (int32_t rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(p.at(0, rank).weight_bytes, (16 * layer + vocab_half) * 2);
    EXPECT_EQ(p.at(1, rank).weight_bytes, (16 * layer + 4096 + vocab_half) * 2);
    EXPECT_EQ(p.at(0, rank).kv_bytes_per_token, 2 * 16 * 4 * 128 * 2);
    EXPECT_EQ(p.at(1, rank).shard.kv_heads, (IndexRange{4 * rank, 4 * rank + 4}));
    EXPECT_EQ(p.at(1, rank).shard.q_heads, (IndexRange{16 * rank, 16 * rank + 16}));
    EXPECT_EQ(p.at(1, rank).shard.vocab, (IndexRange{64128 * rank, 64128 * (rank + 1)}));
  }
  EXPECT_EQ(p.at(0, 0).node, "n0");
  EXPECT_EQ(p.at(0, 1).node, "n0");
  EXPECT_EQ(p.at(1, 0).node, "n1");
  EXPECT_EQ(p.at(1, 1).device, 1);
  EXPECT_TRUE(p.at(0, 0).embedding);
  EXPECT_FALSE(p.at(0, 0).lm_head);
  EXPECT_TRUE(p.at(1, 1).lm_head);
  EXPECT_TRUE(p.at(1, 1).final_norm);
  EXPECT_FALSE(p.at(1, 1).lm_head_is_embedding);
}

// What every rank of the whole cluster holds together, from config.json alone: split tensors
// once, KV projections once per replica, norms and row-parallel biases on every TP rank, the
// embedding on stage 0 and again as lm_head on the last stage (tied with pp > 1, or untied).
int64_t expected_cluster_elements(const ModelConfig& m, int64_t tp, int64_t pp) {
  const int64_t h = m.hidden_size, q = m.q_size(), kv = m.kv_size(), inter = m.intermediate_size;
  const int64_t replicas = std::max<int64_t>(1, tp / m.num_kv_heads);
  int64_t layer = q * h + h * q + 3 * inter * h + replicas * 2 * kv * h;
  if (m.qkv_bias) layer += q + replicas * 2 * kv;
  if (m.mlp_bias) layer += 2 * inter;
  layer += tp * (2 * h + (m.o_bias ? h : 0) + (m.mlp_bias ? h : 0));
  int64_t total = m.num_layers * layer + m.vocab_size * h + tp * h;
  if (!m.tie_word_embeddings || pp > 1) total += m.vocab_size * h;
  return total;
}

bool fits(const ModelConfig& m, int64_t tp, int64_t pp) {
  const int64_t k = m.num_kv_heads;
  return pp <= m.num_layers && m.num_heads % tp == 0 && m.intermediate_size % tp == 0 &&
         (k >= tp ? k % tp == 0 : tp % k == 0);
}

void expect_consistent(const ModelConfig& m, const Placement& p, int32_t tp, int32_t pp, const std::string& where) {
  ASSERT_EQ(p.ranks.size(), static_cast<size_t>(tp * pp)) << where;
  int64_t next_layer = 0, max_stage = 0, min_stage = m.num_layers;
  for (int32_t s = 0; s < pp; ++s) {
    const IndexRange layers = p.at(s, 0).layers;
    EXPECT_EQ(layers.begin, next_layer) << where << " stage " << s;
    next_layer = layers.end;
    max_stage = std::max(max_stage, layers.size());
    min_stage = std::min(min_stage, layers.size());
    std::map<int64_t, int> kv_holders;
    int64_t next_q = 0;
    for (int32_t r = 0; r < tp; ++r) {
      const RankPlacement& rp = p.at(s, r);
      EXPECT_EQ(rp.global_rank, s * tp + r) << where;
      EXPECT_EQ(rp.layers, layers) << where << ": one stage, one layer range";
      EXPECT_EQ(rp.shard.q_heads.begin, next_q) << where;
      EXPECT_EQ(rp.shard.q_heads.size(), m.num_heads / tp) << where;
      next_q = rp.shard.q_heads.end;
      // The KV heads a rank holds are the ones its query heads read.
      const int64_t group = m.num_heads / m.num_kv_heads;
      EXPECT_EQ(rp.shard.kv_heads.begin, rp.shard.q_heads.begin / group) << where;
      EXPECT_EQ(rp.shard.kv_heads.end, (rp.shard.q_heads.end + group - 1) / group) << where;
      for (int64_t k = rp.shard.kv_heads.begin; k < rp.shard.kv_heads.end; ++k) ++kv_holders[k];
      EXPECT_EQ(rp.weight_bytes, p.at(s, 0).weight_bytes) << where << ": TP ranks of a stage hold equal shares";
      EXPECT_EQ(rp.kv_bytes_per_token, 2 * layers.size() * rp.shard.kv_heads.size() * m.head_dim * p.bytes_per_element);
    }
    EXPECT_EQ(next_q, m.num_heads) << where;
    const int expected_holders = static_cast<int>(std::max<int64_t>(1, tp / m.num_kv_heads));
    EXPECT_EQ(kv_holders.size(), static_cast<size_t>(m.num_kv_heads)) << where;
    for (const auto& [head, holders] : kv_holders) EXPECT_EQ(holders, expected_holders) << where << " kv head " << head;
  }
  EXPECT_EQ(next_layer, m.num_layers) << where;
  EXPECT_LE(max_stage - min_stage, 1) << where;
  EXPECT_LE(p.at(pp - 1, 0).layers.size(), p.at(0, 0).layers.size()) << where << ": the last stage gets no extra";
  EXPECT_EQ(p.total_weight_bytes(), expected_cluster_elements(m, tp, pp) * p.bytes_per_element) << where;
  const int64_t replicas = std::max<int64_t>(1, tp / m.num_kv_heads);
  EXPECT_EQ(p.total_kv_bytes_per_token(), 2 * m.num_layers * m.kv_size() * replicas * p.bytes_per_element) << where;
}

TEST(Placement, EveryShapeTableEntryFitsOrIsRefused) {
  int placed = 0, refused = 0, replicated = 0;
  for (const char* name : {"llama-3-8b", "qwen2.5-0.5b", "tiny-llama3", "tiny-qwen2", "demo-qwen2"}) {
    const ModelConfig m = model_named(name);
    for (int32_t pp : {1, 2, 3, 4})
      for (int32_t tp : {1, 2, 4, 8})
        for (ClusterDevice device : {ClusterDevice::Cpu, ClusterDevice::Cuda}) {
          const std::string where = std::string(name) + " tp" + std::to_string(tp) + " pp" + std::to_string(pp);
          // One node per stage, each offering tp executors.
          const ClusterConfig c = cluster_of(tp, pp, device, std::vector<int32_t>(static_cast<size_t>(pp), tp));
          if (!fits(m, tp, pp)) {
            EXPECT_THROW(place(c, m), ConfigError) << where;
            ++refused;
            continue;
          }
          const Placement p = place(c, m);
          expect_consistent(m, p, tp, pp, where);
          for (int32_t s = 0; s < pp; ++s) EXPECT_EQ(p.at(s, 0).node, "n" + std::to_string(s)) << where;
          if (tp > m.num_kv_heads) {
            ++replicated;
            bool said = false;
            for (const std::string& note : p.notes) said = said || note.find("KV heads replicated") != std::string::npos;
            EXPECT_TRUE(said) << where;
          }
          ++placed;
        }
  }
  // The table covers all three outcomes, so none of the branches above is dead.
  EXPECT_GT(placed, 40);
  EXPECT_GT(refused, 20);
  EXPECT_GT(replicated, 4);
}

TEST(Placement, ReplicatesKvHeadsOverTheRanksThatReadThem) {
  const ModelConfig m = model_named("tiny-llama3");  // 4 query heads, 2 KV heads
  const Placement p = place(cluster_of(4, 1, ClusterDevice::Cpu, {4}), m);
  const std::vector<IndexRange> kv = {{0, 1}, {0, 1}, {1, 2}, {1, 2}};
  for (int32_t r = 0; r < 4; ++r) {
    EXPECT_EQ(p.at(0, r).shard.q_heads, (IndexRange{r, r + 1}));
    EXPECT_EQ(p.at(0, r).shard.kv_heads, kv[static_cast<size_t>(r)]);
  }
  ASSERT_FALSE(p.notes.empty());
  EXPECT_NE(p.notes[0].find("each KV head (and its cache) is held by 2 ranks"), std::string::npos) << p.notes[0];
  // Llama-3-8B at tp 16: 8 KV heads, each on two ranks.
  const Placement wide = place(cluster_of(16, 1, ClusterDevice::Cuda, {16}), model_named("llama-3-8b"));
  EXPECT_EQ(wide.at(0, 15).shard.kv_heads, (IndexRange{7, 8}));
  EXPECT_EQ(wide.at(0, 14).shard.kv_heads, (IndexRange{7, 8}));
  EXPECT_EQ(wide.at(0, 13).shard.kv_heads, (IndexRange{6, 7}));
}

TEST(Placement, TiedEmbeddingsAreCopiedToTheLastStage) {
  const ModelConfig m = model_named("tiny-qwen2");  // tied, 2 layers
  const Placement p = place(cluster_of(1, 2, ClusterDevice::Cpu, {1, 1}), m);
  const int64_t embed = m.vocab_size * m.hidden_size * 4;
  EXPECT_TRUE(p.at(0, 0).embedding);
  EXPECT_TRUE(p.at(1, 0).lm_head_is_embedding);
  EXPECT_FALSE(p.at(1, 0).embedding);
  EXPECT_GT(p.at(1, 0).weight_bytes, embed);  // the copy and a layer and the final norm
  bool said = false;
  for (const std::string& note : p.notes) said = said || note.find("its own copy of the embedding") != std::string::npos;
  EXPECT_TRUE(said);
}

}  // namespace
}  // namespace troupe
