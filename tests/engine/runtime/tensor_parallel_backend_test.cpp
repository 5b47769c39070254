// TensorParallelBackend under the scheduler (LocalEngine): tp = 2 and 4 ranks as threads (embedding
// and LM head replicated, or split by vocabulary rows) give the
// transformers references' greedy tokens, and in a batch of 30 greedy requests with chunked
// prefills, queueing and prefix-cache hits the tokens of the unsharded CpuBackend. A bad token id
// fails the step on every rank and leaves the group usable; a tp the shapes refuse is named.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "../model/fixture_model.h"
#include "../model/tp_test_param.h"
#include "engine/runtime/cpu_backend.h"
#include "engine/runtime/local_engine.h"
#include "engine/runtime/tensor_parallel_backend.h"

namespace troupe {
namespace {

SchedulerConfig small_pool() {
  return {.max_num_seqs = 6, .max_num_batched_tokens = 40, .block_size = 16, .num_blocks = 80,
          .enable_prefix_caching = true, .long_prefill_token_threshold = 0};
}

GenerationRequest greedy_request(SeqId id, std::vector<int32_t> prompt, int32_t max_tokens) {
  GenerationRequest r{.id = id, .prompt_token_ids = std::move(prompt), .sampling_params = {}, .eos_token_ids = {},
                      .priority = 0, .arrival = {}, .output_token_ids = {}};
  r.sampling_params.temperature = 0.0f;
  r.sampling_params.max_tokens = max_tokens;
  r.sampling_params.ignore_eos = true;
  return r;
}

std::map<SeqId, std::vector<int32_t>> run_all(ModelBackend& backend, const std::vector<GenerationRequest>& requests) {
  LocalEngine engine(backend, small_pool());
  for (const GenerationRequest& r : requests) engine.add_request(r);
  std::map<SeqId, std::vector<int32_t>> out;
  for (const FinishedSequence& f : engine.run_to_completion()) out[f.id] = f.output_token_ids;
  return out;
}

// 30 prompts, some sharing a 20-token prefix (prefix-cache hits), up to 60 tokens (chunked at 40).
std::vector<GenerationRequest> mixed_requests(int64_t vocab) {
  std::mt19937 rng(5);
  auto token = [&] { return std::uniform_int_distribution<int>(0, static_cast<int>(vocab) - 1)(rng); };
  std::vector<int32_t> shared(20);
  for (int32_t& t : shared) t = token();
  std::vector<GenerationRequest> out;
  for (SeqId id = 0; id < 30; ++id) {
    std::vector<int32_t> prompt = id % 3 == 0 ? shared : std::vector<int32_t>{};
    for (int n = std::uniform_int_distribution<int>(1, 40)(rng); n > 0; --n) prompt.push_back(token());
    out.push_back(greedy_request(id, std::move(prompt), std::uniform_int_distribution<int>(1, 20)(rng)));
  }
  return out;
}

// (model, tp, whether embedding and LM head are split by vocabulary rows)
class TensorParallelBackendTest : public ::testing::TestWithParam<test::TpParam> {
 protected:
  std::string name() const { return std::get<0>(GetParam()); }
  int32_t tp() const { return std::get<1>(GetParam()); }
  std::shared_ptr<TensorParallelBackend> sharded() const {
    const auto dir = test::fixture_model_dir(name());
    const Checkpoint checkpoint = Checkpoint::open(dir);
    return make_cpu_tensor_parallel_backend(load_model_config(dir / "config.json"), &checkpoint, 0, tp(), 1, {},
                                            test::vocab_split_of(GetParam()));
  }
};

TEST_P(TensorParallelBackendTest, GreedyTokensEqualTransformers) {
  auto backend = sharded();
  std::vector<GenerationRequest> requests;
  const auto refs = test::load_reference(name());
  for (size_t i = 0; i < refs.size(); ++i)
    requests.push_back(greedy_request(static_cast<SeqId>(i), refs[i].ids, static_cast<int32_t>(refs[i].greedy.size())));
  const auto got = run_all(*backend, requests);
  for (size_t i = 0; i < refs.size(); ++i)
    EXPECT_EQ(got.at(static_cast<SeqId>(i)), refs[i].greedy) << "prompt of " << refs[i].ids.size() << " tokens";
}

TEST_P(TensorParallelBackendTest, BatchedRequestsGetTheUnshardedModelsTokens) {
  auto backend = sharded();
  CpuBackend whole(std::make_shared<CpuModel>(test::load_fixture_model(name())));
  const auto requests = mixed_requests(whole.config().vocab_size);
  const auto expected = run_all(whole, requests);
  ASSERT_EQ(expected.size(), 30u);
  EXPECT_EQ(run_all(*backend, requests), expected);
}

TEST_P(TensorParallelBackendTest, ABadTokenFailsTheStepOnEveryRankAndTheGroupGoesOn) {
  auto backend = sharded();
  backend->allocate_kv_cache(4, 16);
  const std::vector<int32_t> table = {0, 1};
  ForwardBatch bad;
  const std::vector<int32_t> tokens = {3, static_cast<int32_t>(backend->config().vocab_size), 4};
  bad.add_sequence(tokens.data(), 3, 3, table, 16, true);
  EXPECT_THROW(backend->logits(bad), std::invalid_argument);
  ForwardBatch good;
  good.add_sequence(tokens.data(), 1, 1, table, 16, true);
  EXPECT_EQ(static_cast<int64_t>(backend->logits(good).size()), backend->config().vocab_size);
}

INSTANTIATE_TEST_SUITE_P(FixtureModels, TensorParallelBackendTest,
                         ::testing::Combine(::testing::Values("tiny-llama3", "tiny-qwen2"), ::testing::Values(2, 4),
                                            ::testing::Bool()),
                         test::tp_param_name);

TEST(TensorParallelBackendShapes, ATpTheHeadsRefuseIsNamed) {
  const ModelConfig c = load_model_config(test::fixture_model_dir("tiny-qwen2") / "config.json");
  try {
    make_cpu_tensor_parallel_backend(c, nullptr, 1, 3, 1);
    FAIL() << "tp 3 over 4 heads accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "tensor_parallel 3 does not divide the model's 4 attention heads");
  }
}

}  // namespace
}  // namespace troupe
