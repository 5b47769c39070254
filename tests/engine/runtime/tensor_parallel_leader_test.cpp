// TensorParallelLeader, as a cluster runs it but in one process: rank 0 under the scheduler
// (LocalEngine), ranks 1.. on threads that only see the TpRankOps it hands out — through a queue
// here, as actor messages across nodes — and every rank's sums over Gloo (TCP on loopback).
// 30 batched greedy requests (chunked prefills, prefix-cache hits) give the unsharded model's
// tokens, with the vocabulary split (the embedding's sum and the logits' gather cross the ranks
// too) and replicated; a bad token id fails the step on rank 0 and is dropped by the others, and
// the group goes on.
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "../model/fixture_model.h"
#include "comm/gloo/gloo_communicator.h"
#include "comm/gloo/gloo_store.h"
#include "engine/model/tensor_shard.h"
#include "engine/runtime/cpu_backend.h"
#include "engine/runtime/local_engine.h"
#include "engine/runtime/tensor_parallel_leader.h"

namespace troupe {
namespace {

// One rank's inbox: ops in the order rank 0 handed them out; an empty optional ends the rank.
class Inbox {
 public:
  void push(std::optional<TpRankOp> op) {
    std::lock_guard lock(mu_);
    ops_.push_back(std::move(op));
    ready_.notify_one();
  }
  std::optional<TpRankOp> pop() {
    std::unique_lock lock(mu_);
    ready_.wait(lock, [&] { return !ops_.empty(); });
    std::optional<TpRankOp> op = std::move(ops_.front());
    ops_.pop_front();
    return op;
  }

 private:
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::optional<TpRankOp>> ops_;
};

// A group of tp ranks over Gloo: rank 0 a TensorParallelLeader, the others threads applying ops.
struct GlooGroup {
  std::vector<std::unique_ptr<Communicator>> comms;
  std::vector<std::shared_ptr<CpuBackend>> ranks;
  std::vector<Inbox> inboxes;
  std::vector<std::thread> threads;
  std::shared_ptr<TensorParallelLeader> leader;
  std::atomic<int> dropped{0};  // ops a rank refused (bad input), as rank 0 did

  GlooGroup(const std::string& fixture, int32_t tp, VocabSplit vocab) : comms(static_cast<size_t>(tp)), inboxes(static_cast<size_t>(tp)) {
    const auto dir = test::fixture_model_dir(fixture);
    const ModelConfig c = load_model_config(dir / "config.json");
    const Checkpoint checkpoint = Checkpoint::open(dir);
    auto store = make_gloo_hash_store();
    std::vector<std::thread> joining;
    for (int32_t r = 0; r < tp; ++r)
      joining.emplace_back([&, r] { comms[static_cast<size_t>(r)] = connect_gloo(*store, r, tp, {.timeout = std::chrono::seconds(20)}); });
    for (std::thread& t : joining) t.join();
    for (int32_t r = 0; r < tp; ++r)
      ranks.push_back(std::make_shared<CpuBackend>(std::make_shared<CpuModel>(
          c, load_weights(c, checkpoint, all_layers(c), tp_shard(c, tp, r, vocab)), comms[static_cast<size_t>(r)].get()), 1));
    for (int32_t r = 1; r < tp; ++r)
      threads.emplace_back([this, r] {
        while (std::optional<TpRankOp> op = inboxes[static_cast<size_t>(r)].pop()) {
          try {
            apply_tp_rank_op(*ranks[static_cast<size_t>(r)], *op);
          } catch (const std::invalid_argument&) {
            ++dropped;
          }
        }
      });
    leader = std::make_shared<TensorParallelLeader>(ranks[0], [this](const TpRankOp& op) {
      for (size_t r = 1; r < inboxes.size(); ++r) inboxes[r].push(op);
    });
  }
  ~GlooGroup() {
    for (size_t r = 1; r < inboxes.size(); ++r) inboxes[r].push(std::nullopt);
    for (std::thread& t : threads) t.join();
  }
};

std::map<SeqId, std::vector<int32_t>> run_all(ModelBackend& backend, int64_t vocab) {
  LocalEngine engine(backend, {.max_num_seqs = 6, .max_num_batched_tokens = 40, .block_size = 16, .num_blocks = 80,
                               .enable_prefix_caching = true, .long_prefill_token_threshold = 0});
  std::mt19937 rng(11);
  auto token = [&] { return std::uniform_int_distribution<int>(0, static_cast<int>(vocab) - 1)(rng); };
  std::vector<int32_t> shared(20);
  for (int32_t& t : shared) t = token();
  for (SeqId id = 0; id < 30; ++id) {
    GenerationRequest r;
    r.id = id;
    r.prompt_token_ids = id % 3 == 0 ? shared : std::vector<int32_t>{};
    for (int n = std::uniform_int_distribution<int>(1, 40)(rng); n > 0; --n) r.prompt_token_ids.push_back(token());
    r.sampling_params.temperature = 0.0f;
    r.sampling_params.max_tokens = std::uniform_int_distribution<int>(1, 20)(rng);
    r.sampling_params.ignore_eos = true;
    engine.add_request(r);
  }
  std::map<SeqId, std::vector<int32_t>> out;
  for (const FinishedSequence& f : engine.run_to_completion()) out[f.id] = f.output_token_ids;
  return out;
}

class TensorParallelLeaderTest : public ::testing::TestWithParam<VocabSplit> {};

TEST_P(TensorParallelLeaderTest, RanksThatOnlySeeItsOpsGiveTheUnshardedModelsTokens) {
  CpuBackend whole(std::make_shared<CpuModel>(test::load_fixture_model("tiny-llama3")));
  const auto expected = run_all(whole, whole.config().vocab_size);
  ASSERT_EQ(expected.size(), 30u);
  GlooGroup group("tiny-llama3", 2, GetParam());
  EXPECT_EQ(run_all(*group.leader, whole.config().vocab_size), expected);
}

TEST_P(TensorParallelLeaderTest, ABadTokenFailsRankZerosStepAndTheOthersDropIt) {
  GlooGroup group("tiny-qwen2", 2, GetParam());
  group.leader->allocate_kv_cache(4, 16);
  const std::vector<int32_t> table = {0, 1};
  const std::vector<int32_t> tokens = {3, static_cast<int32_t>(group.leader->config().vocab_size), 4};
  ForwardBatch bad;
  bad.add_sequence(tokens.data(), 3, 3, table, 16, true);
  EXPECT_THROW(group.leader->logits(bad), std::invalid_argument);
  ForwardBatch good;
  good.add_sequence(tokens.data(), 1, 1, table, 16, true);
  EXPECT_EQ(static_cast<int64_t>(group.leader->logits(good).size()), group.leader->config().vocab_size);
  EXPECT_EQ(group.dropped.load(), 1);
}

INSTANTIATE_TEST_SUITE_P(Vocabulary, TensorParallelLeaderTest, ::testing::Values(VocabSplit::Parallel, VocabSplit::Replicated),
                         [](const auto& info) { return info.param == VocabSplit::Parallel ? "split" : "replicated"; });

}  // namespace
}  // namespace troupe
