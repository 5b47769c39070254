// A TP rank's weights, read straight from the checkpoint, are exactly its slices of the whole
// model's (tensor_shard.h): q/k/v and gate/up rows of its heads and intermediate slice, the matching
// columns of o and down, KV heads replicated when tp exceeds them, the rest whole. Its KV cache
// holds its KV heads only. Embedding and LM head: every row, or the rank's vocabulary block. Dummy
// weights slice the same way.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "engine/model/tensor_shard.h"
#include "fixture_model.h"

namespace troupe {
namespace {

// rows [r0, r0 + n) of `whole` (or, with cols, columns [c0, c0 + n) of every row) equal `part`'s
// rows [p0, p0 + n) / columns [0, n).
bool rows_equal(const Matrix& whole, int64_t r0, const Matrix& part, int64_t p0, int64_t n) {
  return whole.cols == part.cols &&
         std::memcmp(whole.data.data() + r0 * whole.cols, part.data.data() + p0 * part.cols,
                     static_cast<size_t>(n * part.cols) * sizeof(float)) == 0;
}
bool cols_equal(const Matrix& whole, int64_t c0, const Matrix& part) {
  if (whole.rows != part.rows) return false;
  for (int64_t r = 0; r < whole.rows; ++r)
    if (std::memcmp(whole.data.data() + r * whole.cols + c0, part.data.data() + r * part.cols,
                    static_cast<size_t>(part.cols) * sizeof(float)) != 0)
      return false;
  return true;
}
// A bias [1, n] seen as n rows of one column, so rows_equal can slice it.
Matrix as_column(const Matrix& m) { return Matrix{m.data, m.cols, 1}; }

void expect_rank_holds_its_slices(const ModelConfig& c, const ModelWeights& whole, const ModelWeights& w, const std::string& where) {
  const TpShard& s = w.shard;
  const int64_t d = c.head_dim, q = c.q_size(), kv = c.kv_size(), I = c.intermediate_size;
  const int64_t ql = s.q_heads.size() * d, kvl = s.kv_heads.size() * d, il = s.intermediate.size();
  // The embedding and LM head: the shard's vocabulary rows (all of them when replicated).
  ASSERT_EQ(w.embed.rows, s.vocab.size()) << where;
  EXPECT_TRUE(rows_equal(whole.embed, s.vocab.begin, w.embed, 0, s.vocab.size())) << where << ": embedding rows";
  if (!c.tie_word_embeddings)
    EXPECT_TRUE(rows_equal(whole.lm_head, s.vocab.begin, w.lm_head, 0, s.vocab.size())) << where << ": LM head rows";
  EXPECT_EQ(w.final_norm.data, whole.final_norm.data) << where;
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const LayerWeights &a = whole.layer(i), &b = w.layer(i);
    const std::string at = where + " layer " + std::to_string(i);
    ASSERT_EQ(b.qkv.rows, ql + 2 * kvl) << at;
    EXPECT_TRUE(rows_equal(a.qkv, s.q_heads.begin * d, b.qkv, 0, ql)) << at << ": q rows";
    EXPECT_TRUE(rows_equal(a.qkv, q + s.kv_heads.begin * d, b.qkv, ql, kvl)) << at << ": k rows";
    EXPECT_TRUE(rows_equal(a.qkv, q + kv + s.kv_heads.begin * d, b.qkv, ql + kvl, kvl)) << at << ": v rows";
    if (c.qkv_bias) {
      const Matrix wa = as_column(a.qkv_bias), wb = as_column(b.qkv_bias);
      EXPECT_TRUE(rows_equal(wa, s.q_heads.begin * d, wb, 0, ql)) << at << ": q bias";
      EXPECT_TRUE(rows_equal(wa, q + s.kv_heads.begin * d, wb, ql, kvl)) << at << ": k bias";
      EXPECT_TRUE(rows_equal(wa, q + kv + s.kv_heads.begin * d, wb, ql + kvl, kvl)) << at << ": v bias";
    }
    ASSERT_EQ(b.o.cols, ql) << at;
    EXPECT_TRUE(cols_equal(a.o, s.q_heads.begin * d, b.o)) << at << ": o columns";
    ASSERT_EQ(b.gate_up.rows, 2 * il) << at;
    EXPECT_TRUE(rows_equal(a.gate_up, s.intermediate.begin, b.gate_up, 0, il)) << at << ": gate rows";
    EXPECT_TRUE(rows_equal(a.gate_up, I + s.intermediate.begin, b.gate_up, il, il)) << at << ": up rows";
    ASSERT_EQ(b.down.cols, il) << at;
    EXPECT_TRUE(cols_equal(a.down, s.intermediate.begin, b.down)) << at << ": down columns";
    EXPECT_EQ(b.input_norm.data, a.input_norm.data) << at;
    EXPECT_EQ(b.post_norm.data, a.post_norm.data) << at;
  }
}

TEST(TensorParallelWeights, EachRankReadsItsSlicesOfTheCheckpoint) {
  for (const char* name : {"tiny-llama3", "tiny-qwen2"}) {
    const auto dir = test::fixture_model_dir(name);
    const ModelConfig c = load_model_config(dir / "config.json");
    const Checkpoint checkpoint = Checkpoint::open(dir);
    const ModelWeights whole = load_weights(c, checkpoint);
    for (int32_t tp : {2, 4}) {
      for (int32_t r = 0; r < tp; ++r) {
        for (VocabSplit vocab : {VocabSplit::Replicated, VocabSplit::Parallel}) {
          const TpShard shard = tp_shard(c, tp, r, vocab);
          expect_rank_holds_its_slices(c, whole, load_weights(c, checkpoint, all_layers(c), shard),
                                       std::string(name) + " tp" + std::to_string(tp) + " rank " + std::to_string(r));
        }
      }
    }
  }
}

TEST(TensorParallelWeights, DummyShardsAreSlicesOfTheWholeDummyModel) {
  ModelConfig c = load_model_config(test::fixture_model_dir("tiny-llama3") / "config.json");
  c.qkv_bias = c.o_bias = c.mlp_bias = true;
  const ModelWeights whole = dummy_weights(c, 7);
  for (int32_t r = 0; r < 4; ++r)
    expect_rank_holds_its_slices(c, whole, dummy_weights(c, 7, all_layers(c), tp_shard(c, 4, r, VocabSplit::Replicated)),
                                 "dummy tp4 rank " + std::to_string(r));
}

// 2 KV heads: tp 2 gives each rank one of them, tp 4 one per rank as well (each head on two ranks):
// a rank's pool holds half the whole model's bytes per block either way.
TEST(TensorParallelWeights, EachRanksKvCacheHoldsItsKvHeadsOnly) {
  const ModelConfig c = load_model_config(test::fixture_model_dir("tiny-llama3") / "config.json");
  ASSERT_EQ(c.num_kv_heads, 2);
  const int64_t whole = KvCacheStorage::bytes_per_block(c, 16);
  for (int32_t tp : {2, 4}) {
    for (int32_t r = 0; r < tp; ++r) {
      const TpShard s = tp_shard(c, tp, r, VocabSplit::Replicated);
      EXPECT_EQ(s.kv_heads, (IndexRange{r * 2 / tp, r * 2 / tp + 1})) << "tp" << tp << " rank " << r;
      EXPECT_EQ(KvCacheStorage::bytes_per_block(c, s, 16), whole / 2);
      KvCacheStorage cache(c, all_layers(c), s, 3, 16);
      EXPECT_EQ(cache.layer(0).n_kv_heads, 1);
    }
  }
}

}  // namespace
}  // namespace troupe
