// Continuous batching changes nothing a request sees: batched, chunked, queued, preempted or
// prefix-cached, every request produces exactly the tokens it produces alone (and, for the
// fixture prompts, the tokens transformers produced).
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "../model/fixture_model.h"
#include "engine/model/sequence_generator.h"
#include "engine/runtime/cpu_backend.h"
#include "engine/runtime/local_engine.h"

namespace troupe {
namespace {

struct Job {
  std::vector<int32_t> prompt;
  SamplingParams params;
};

// 64+ requests: the fixture prompts (greedy, 32 tokens) and random ones of mixed lengths, some
// greedy, some seeded with temperature and penalties.
std::vector<Job> make_jobs(const std::vector<test::ReferencePrompt>& refs, int64_t vocab, int n_random) {
  std::vector<Job> jobs;
  for (const auto& r : refs) {
    Job j{r.ids, {}};
    j.params.temperature = 0.0f;
    j.params.max_tokens = 32;
    j.params.ignore_eos = true;
    jobs.push_back(j);
  }
  std::mt19937 rng(11);
  for (int i = 0; i < n_random; ++i) {
    Job j;
    const int len = std::uniform_int_distribution<int>(1, 90)(rng);
    for (int t = 0; t < len; ++t) j.prompt.push_back(std::uniform_int_distribution<int>(3, vocab - 1)(rng));
    j.params.max_tokens = std::uniform_int_distribution<int>(1, 24)(rng);
    if (i % 2 == 1) {
      j.params.temperature = 0.8f;
      j.params.top_p = 0.9f;
      j.params.seed = 1000 + i;
      j.params.frequency_penalty = 0.3f;
    } else {
      j.params.temperature = 0.0f;
    }
    jobs.push_back(j);
  }
  return jobs;
}

std::map<SeqId, std::vector<int32_t>> run_batched(CpuModel& model, const std::vector<Job>& jobs,
                                                  SchedulerConfig config, SchedulerStats* stats = nullptr) {
  CpuBackend backend(std::make_shared<CpuModel>(model));
  LocalEngine engine(backend, config);
  for (size_t i = 0; i < jobs.size(); ++i)
    engine.add_request({.id = i, .prompt_token_ids = jobs[i].prompt, .sampling_params = jobs[i].params,
                        .eos_token_ids = model.config().eos_token_ids, .priority = 0, .arrival = {}, .output_token_ids = {}});
  std::map<SeqId, std::vector<int32_t>> out;
  for (auto& f : engine.run_to_completion()) {
    EXPECT_NE(f.reason, SequenceFinishReason::Abort);
    out[f.id] = f.output_token_ids;
  }
  EXPECT_EQ(engine.runner().num_tracked_sequences(), 0u);
  EXPECT_EQ(engine.scheduler().block_pool().num_free_blocks(), config.num_blocks) << "blocks leaked";
  if (stats) *stats = engine.scheduler().stats();
  return out;
}

std::vector<int32_t> run_alone(CpuModel& model, const Job& job) {
  return SequenceGenerator(model, {.block_size = 16, .prefill_chunk = 0, .eos_token_ids = model.config().eos_token_ids})
      .generate(job.prompt, job.params)
      .ids;
}

TEST(LocalEngine, SixtyFourMixedRequestsEqualThemselvesAloneAndTransformers) {
  CpuModel model = test::load_fixture_model("tiny-llama3");
  const auto refs = test::load_reference("tiny-llama3");
  const auto jobs = make_jobs(refs, model.config().vocab_size, 64);
  // Few sequences and a small token budget: chunked prefill and a queue on every step.
  const auto batched = run_batched(model, jobs, {.max_num_seqs = 6, .max_num_batched_tokens = 24,
                                                 .block_size = 16, .num_blocks = 512});
  ASSERT_EQ(batched.size(), jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    EXPECT_EQ(batched.at(i), run_alone(model, jobs[i])) << "request " << i;
    if (i < refs.size()) {
      EXPECT_EQ(batched.at(i), refs[i].greedy) << "fixture prompt " << i;
    }
  }
}

TEST(LocalEngine, PreemptionUnderATinyPoolKeepsOutputsIdentical) {
  CpuModel model = test::load_fixture_model("tiny-qwen2");
  const auto refs = test::load_reference("tiny-qwen2");
  const auto jobs = make_jobs(refs, model.config().vocab_size, 40);
  SchedulerStats stats;
  // 12 blocks of 16 tokens: the longest request (100 + 32 tokens) fits alone, few fit together.
  const auto batched = run_batched(model, jobs, {.max_num_seqs = 16, .max_num_batched_tokens = 64,
                                                 .block_size = 16, .num_blocks = 12}, &stats);
  EXPECT_GT(stats.num_preemptions, 0) << "the pool was meant to be too small";
  ASSERT_EQ(batched.size(), jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    EXPECT_EQ(batched.at(i), run_alone(model, jobs[i])) << "request " << i;
    if (i < refs.size()) {
      EXPECT_EQ(batched.at(i), refs[i].greedy) << "fixture prompt " << i;
    }
  }
}

TEST(LocalEngine, SharedPrefixOf512TokensIsComputedOnce) {
  CpuModel model = test::load_fixture_model("tiny-llama3");
  std::mt19937 rng(5);
  std::vector<int32_t> prefix(512);
  for (auto& t : prefix) t = std::uniform_int_distribution<int>(3, 511)(rng);
  Job a{prefix, {}}, b{prefix, {}};
  a.prompt.insert(a.prompt.end(), {7, 8, 9});
  b.prompt.insert(b.prompt.end(), {10, 11, 12, 13, 14});
  a.params.temperature = b.params.temperature = 0.0f;
  a.params.max_tokens = b.params.max_tokens = 8;

  CpuBackend backend(std::make_shared<CpuModel>(model));
  LocalEngine engine(backend, {.max_num_seqs = 4, .max_num_batched_tokens = 256, .block_size = 16, .num_blocks = 128});
  engine.add_request({.id = 1, .prompt_token_ids = a.prompt, .sampling_params = a.params, .eos_token_ids = {}, .priority = 0, .arrival = {}, .output_token_ids = {}});
  const auto first = engine.run_to_completion();
  const int64_t cached_before = engine.scheduler().stats().num_cached_tokens;
  EXPECT_EQ(cached_before, 0);
  engine.add_request({.id = 2, .prompt_token_ids = b.prompt, .sampling_params = b.params, .eos_token_ids = {}, .priority = 0, .arrival = {}, .output_token_ids = {}});
  const auto second = engine.run_to_completion();
  EXPECT_EQ(engine.scheduler().stats().num_cached_tokens - cached_before, 512) << "B should reuse all 32 prefix blocks";
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].output_token_ids, run_alone(model, b));
  EXPECT_EQ(first[0].output_token_ids, run_alone(model, a));
}

}  // namespace
}  // namespace troupe
