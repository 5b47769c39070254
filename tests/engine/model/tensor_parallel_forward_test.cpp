// Tensor parallel on the CPU, every rank a thread of this process talking through the one-process
// communicator: tp = 2 and tp = 4 give the transformers references' logits (1e-4 relative) and
// greedy tokens, and the unsharded model's logits at every step of prefill, decode and a mixed
// batch with a chunked prompt; with embedding and LM head replicated on every rank and split by
// vocabulary rows (the embedding summed, the logits gathered). Both fixtures have 4 query heads
// and 2 KV heads, so tp = 4 runs with each KV head replicated on two ranks (fewer KV heads than
// ranks). A model with every bias
// (dummy weights) checks that o_proj's and down_proj's biases are added once, after the sum. The
// ranks also run over Gloo on loopback TCP, the transport of ranks in separate processes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "comm/gloo/gloo_communicator.h"
#include "comm/gloo/gloo_store.h"
#include "comm/in_process_communicator.h"
#include "engine/model/tensor_shard.h"
#include "fixture_model.h"
#include "tp_test_param.h"

namespace troupe {
namespace {

using WeightsOf = std::function<ModelWeights(const TpShard&)>;

// The ranks of one TP group: each a CpuModel over its shard with a KV cache of its own heads.
class TpGroup {
 public:
  // Over the one-process group.
  TpGroup(const ModelConfig& c, int32_t tp, const WeightsOf& weights, int32_t num_blocks, int32_t block_size,
          VocabSplit vocab = VocabSplit::Replicated)
      : TpGroup(c, make_in_process_group(tp), weights, num_blocks, block_size, vocab) {}
  // Over any group, comms[r] being rank r.
  TpGroup(const ModelConfig& c, std::vector<std::unique_ptr<Communicator>> comms, const WeightsOf& weights,
          int32_t num_blocks, int32_t block_size, VocabSplit vocab = VocabSplit::Replicated)
      : comms_(std::move(comms)) {
    const auto tp = static_cast<int32_t>(comms_.size());
    for (int32_t r = 0; r < tp; ++r) {
      const TpShard shard = tp_shard(c, tp, r, vocab);
      models_.push_back(std::make_unique<CpuModel>(c, weights(shard), comms_[static_cast<size_t>(r)].get()));
      caches_.emplace_back(c, all_layers(c), shard, num_blocks, block_size);
    }
  }

  // Every rank runs the batch on its own thread; rank 0's logits, [sequences with logits, vocab].
  std::vector<float> forward(const ForwardBatch& batch) {
    std::vector<std::vector<float>> out(models_.size());
    std::vector<std::thread> threads;
    for (size_t r = 0; r < models_.size(); ++r)
      threads.emplace_back([&, r] { out[r] = models_[r]->forward(batch, caches_[r]); });
    for (std::thread& t : threads) t.join();
    for (size_t r = 1; r < out.size(); ++r) EXPECT_TRUE(out[r].empty()) << "rank " << r << " ran the LM head";
    return out[0];
  }

 private:
  std::vector<std::unique_ptr<Communicator>> comms_;
  std::vector<std::unique_ptr<CpuModel>> models_;
  std::vector<KvCacheStorage> caches_;
};

int32_t argmax(const float* row, int64_t n) { return static_cast<int32_t>(std::max_element(row, row + n) - row); }

// Within 1e-4 of each value, floored at 1e-5 of the row's largest (values crossing zero).
void expect_close_rows(const std::vector<float>& got, const std::vector<float>& want, const std::string& where) {
  ASSERT_EQ(got.size(), want.size()) << where;
  float scale = 0.0f;
  for (float v : want) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-4f * std::max(std::abs(want[i]), 1e-1f * scale)) << where << ", index " << i;
}

struct Greedy {
  std::vector<std::vector<float>> logits;  // [steps][vocab]: the prompt's last position, then each decode
  std::vector<int32_t> tokens;             // [steps]
};

// The prompt, then `steps - 1` greedy decodes, through `forward` over a cache of blocks 0, 1, ...
Greedy run_greedy(const std::function<std::vector<float>(const ForwardBatch&)>& forward, const std::vector<int32_t>& prompt,
                  int32_t steps, int32_t block_size, int64_t vocab) {
  std::vector<int32_t> table(64);
  for (int32_t i = 0; i < 64; ++i) table[static_cast<size_t>(i)] = i;
  Greedy g;
  ForwardBatch batch;
  const auto n = static_cast<int32_t>(prompt.size());
  batch.add_sequence(prompt.data(), n, n, table, block_size, true);
  for (int32_t step = 0; step < steps; ++step) {
    g.logits.push_back(forward(batch));
    g.tokens.push_back(argmax(g.logits.back().data(), vocab));
    batch = ForwardBatch();
    batch.add_sequence(&g.tokens.back(), 1, n + step + 1, table, block_size, true);
  }
  return g;
}

// (model, tp, whether embedding and LM head are split by vocabulary rows)
class TensorParallelForward : public ::testing::TestWithParam<test::TpParam> {
 protected:
  std::string name() const { return std::get<0>(GetParam()); }
  int32_t tp() const { return std::get<1>(GetParam()); }
  VocabSplit vocab() const { return test::vocab_split_of(GetParam()); }
};

TEST_P(TensorParallelForward, GreedyTokensAndLogitsEqualTransformersAndTheWholeModel) {
  const auto dir = test::fixture_model_dir(name());
  const ModelConfig c = load_model_config(dir / "config.json");
  const Checkpoint checkpoint = Checkpoint::open(dir);
  const int32_t block_size = 4;  // contexts of up to 132 tokens span many blocks
  CpuModel whole(c, load_weights(c, checkpoint));
  KvCacheStorage whole_cache(c, 64, block_size);
  TpGroup group(c, tp(), [&](const TpShard& s) { return load_weights(c, checkpoint, all_layers(c), s); }, 64, block_size,
                vocab());
  for (const test::ReferencePrompt& ref : test::load_reference(name())) {
    const std::string where = name() + " tp" + std::to_string(tp()) + ", prompt of " + std::to_string(ref.ids.size());
    const auto steps = static_cast<int32_t>(ref.greedy.size());
    const Greedy sharded = run_greedy([&](const ForwardBatch& b) { return group.forward(b); }, ref.ids, steps, block_size, c.vocab_size);
    const Greedy one = run_greedy([&](const ForwardBatch& b) { return whole.forward(b, whole_cache); }, ref.ids, steps, block_size, c.vocab_size);
    EXPECT_EQ(sharded.tokens, ref.greedy) << where;
    EXPECT_EQ(one.tokens, ref.greedy) << where;
    expect_close_rows(sharded.logits[0], ref.last_logits, where + " vs transformers");
    for (size_t s = 0; s < sharded.logits.size(); ++s)
      expect_close_rows(sharded.logits[s], one.logits[s], where + " vs tp1, step " + std::to_string(s));
  }
}

// One pool, two sequences: A's prompt in two chunks, B's whole beside A's first; then a decode of
// each. Blocks are interleaved so a rank that wrote another's heads or slots would show.
TEST_P(TensorParallelForward, MixedBatchWithAChunkedPromptEqualsTheWholeModel) {
  const auto dir = test::fixture_model_dir(name());
  const ModelConfig c = load_model_config(dir / "config.json");
  const Checkpoint checkpoint = Checkpoint::open(dir);
  const int32_t bs = 4;
  const std::vector<int32_t> a = {5, 17, 42, 9, 100, 3, 77, 12, 8, 61, 200, 31, 7};
  const std::vector<int32_t> b = {11, 2, 250, 64, 9, 1};
  const std::vector<int32_t> table_a = {6, 0, 4, 2, 8}, table_b = {1, 7, 3};
  std::vector<ForwardBatch> steps(3);
  steps[0].add_sequence(a.data(), 8, 8, table_a, bs, false);
  steps[0].add_sequence(b.data(), 6, 6, table_b, bs, true);
  steps[1].add_sequence(a.data() + 8, 5, 13, table_a, bs, true);
  const int32_t next_b = 33, next_a = 44;
  steps[1].add_sequence(&next_b, 1, 7, table_b, bs, true);
  steps[2].add_sequence(&next_a, 1, 14, table_a, bs, true);
  steps[2].add_sequence(&next_b, 1, 8, table_b, bs, true);

  CpuModel whole(c, load_weights(c, checkpoint));
  KvCacheStorage whole_cache(c, 9, bs);
  TpGroup group(c, tp(), [&](const TpShard& s) { return load_weights(c, checkpoint, all_layers(c), s); }, 9, bs, vocab());
  for (size_t s = 0; s < steps.size(); ++s)
    expect_close_rows(group.forward(steps[s]), whole.forward(steps[s], whole_cache),
                      name() + " tp" + std::to_string(tp()) + " step " + std::to_string(s));
}

INSTANTIATE_TEST_SUITE_P(FixtureModels, TensorParallelForward,
                         ::testing::Combine(::testing::Values("tiny-llama3", "tiny-qwen2"), ::testing::Values(1, 2, 4),
                                            ::testing::Bool()),
                         test::tp_param_name);

// Ranks connected through Gloo over loopback TCP (each rank connects on its own thread, since
// joining waits for the whole group).
std::vector<std::unique_ptr<Communicator>> gloo_group(int32_t n) {
  auto store = make_gloo_hash_store();
  std::vector<std::unique_ptr<Communicator>> out(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int32_t r = 0; r < n; ++r)
    threads.emplace_back([&, r] { out[static_cast<size_t>(r)] = connect_gloo(*store, r, n, {}); });
  for (std::thread& t : threads) t.join();
  return out;
}

// The same arithmetic through the transport separate processes will use: Gloo's ring all-reduce.
TEST(TensorParallelOverGloo, GreedyTokensEqualTransformers) {
  const std::vector<std::tuple<std::string, int32_t, VocabSplit>> cases = {
      {"tiny-llama3", 2, VocabSplit::Replicated}, {"tiny-qwen2", 4, VocabSplit::Parallel}};
  for (const auto& [name, tp, vocab] : cases) {
    const auto dir = test::fixture_model_dir(name);
    const ModelConfig c = load_model_config(dir / "config.json");
    const Checkpoint checkpoint = Checkpoint::open(dir);
    TpGroup group(c, gloo_group(tp), [&](const TpShard& s) { return load_weights(c, checkpoint, all_layers(c), s); }, 64, 4,
                  vocab);
    for (const test::ReferencePrompt& ref : test::load_reference(name)) {
      const Greedy g = run_greedy([&](const ForwardBatch& b) { return group.forward(b); }, ref.ids,
                                  static_cast<int32_t>(ref.greedy.size()), 4, c.vocab_size);
      const std::string where = name + " tp" + std::to_string(tp) + " over Gloo, prompt of " + std::to_string(ref.ids.size());
      EXPECT_EQ(g.tokens, ref.greedy) << where;
      expect_close_rows(g.logits[0], ref.last_logits, where);
    }
  }
}

// q/k/v, o, gate/up and down biases: a row-parallel bias added on every rank before the sum would
// count tp times; the logits show it.
TEST(TensorParallelForwardBiases, EveryBiasCountsOnce) {
  ModelConfig c = load_model_config(test::fixture_model_dir("tiny-llama3") / "config.json");
  c.qkv_bias = c.o_bias = c.mlp_bias = true;
  const uint64_t seed = 99;
  CpuModel whole(c, dummy_weights(c, seed));
  KvCacheStorage whole_cache(c, 16, 4);
  const std::vector<int32_t> prompt = {1, 50, 300, 7, 22, 480, 13};
  const std::vector<int32_t> table = {3, 0, 1, 2};
  ForwardBatch batch;
  batch.add_sequence(prompt.data(), 7, 7, table, 4, true);
  const std::vector<float> want = whole.forward(batch, whole_cache);
  for (int32_t tp : {2, 4}) {
    TpGroup group(c, tp, [&](const TpShard& s) { return dummy_weights(c, seed, all_layers(c), s); }, 16, 4);
    expect_close_rows(group.forward(batch), want, "tp" + std::to_string(tp));
  }
}

TEST(TensorParallelForwardRefusals, ShardWithoutItsGroup) {
  const ModelConfig c = load_model_config(test::fixture_model_dir("tiny-qwen2") / "config.json");
  auto group = make_in_process_group(2);
  const TpShard rank1 = tp_shard(c, 2, 1, VocabSplit::Replicated);
  EXPECT_THROW(CpuModel(c, dummy_weights(c, 1, all_layers(c), rank1), group[0].get()), std::invalid_argument)
      << "rank 1's weights with rank 0's communicator";
  // A cluster node loads its shard before its group exists: that is allowed, a step before the
  // group is joined is not (its sums would be partial), and a group of the wrong rank is refused.
  CpuModel late(c, dummy_weights(c, 1, all_layers(c), rank1));
  KvCacheStorage cache(c, all_layers(c), rank1, 4, 4);
  const std::vector<int32_t> prompt{1, 2, 3};
  ForwardBatch batch;
  batch.add_sequence(prompt.data(), 3, 3, {0}, 4, true);
  EXPECT_THROW(late.forward(batch, cache), std::logic_error);
  EXPECT_THROW(late.join_group(group[0].get()), std::invalid_argument);
  EXPECT_NO_THROW(late.join_group(group[1].get()));
}

}  // namespace
}  // namespace troupe
