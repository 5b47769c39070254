// Prompt logprobs through the scheduler and a CPU executor (StepRunner over CpuBackend) equal the
// model's own log-softmax at every prompt position, the reference being CpuModel's forward over
// each prefix of the prompt alone: a prompt longer than a step's budget is scored chunk by chunk,
// a request that asked takes no prefix-cache hit while the one beside it does, and the top
// alternatives are the k most likely, best first.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "../model/fixture_model.h"
#include "engine/runtime/cpu_backend.h"
#include "engine/runtime/sequential_pipeline_backend.h"
#include "engine/runtime/tensor_parallel_backend.h"
#include "engine/runtime/step_runner.h"
#include "engine/scheduler/scheduler.h"
#include "tests/engine/reference_logprobs.h"

namespace troupe {
namespace {

// fp32 logits of GEMMs of other heights round differently in the last bits.
constexpr double kTolerance = 1e-4;

std::vector<std::vector<double>> reference_logprobs(const CpuModel& fixture, const std::vector<int32_t>& prompt) {
  CpuModel model = fixture;
  return testing::prefix_logprobs(model, prompt);
}

std::vector<int32_t> random_prompt(int32_t n, int32_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (int32_t& t : p) t = std::uniform_int_distribution<int32_t>(3, vocab - 1)(rng);
  return p;
}

// The scheduler and one CPU executor in lock step, gathering every scored prompt token by
// sequence and position as the scheduler actor hands them on (entry i of StepResult::prompt_logprobs
// belongs to the plan's entry i).
struct Engine {
  Engine(const CpuModel& model, SchedulerConfig c)
      : config(c), backend(std::make_shared<CpuModel>(model)), scheduler(c), runner(backend, c.num_blocks, c.block_size) {}

  void run_to_end() {
    for (int i = 0; i < 1000 && scheduler.has_unfinished(); ++i) {
      const StepPlan plan = scheduler.schedule();
      plans.push_back(plan);
      StepResult r = step_result(plan.step_id, runner.run(plan));
      bool any = false;
      for (size_t e = 0; e < plan.sequences.size(); ++e) {
        const ScheduledSequence& s = plan.sequences[e];
        if (s.num_prompt_logprobs == 0) continue;
        any = true;
        ASSERT_EQ(r.prompt_logprobs.size(), plan.sequences.size());
        PromptLogprobs& lp = r.prompt_logprobs[e];
        EXPECT_EQ(lp.first_position, s.num_computed_tokens + 1);
        ASSERT_EQ(static_cast<int32_t>(lp.tokens.size()), s.num_prompt_logprobs);
        ++chunks[s.seq_id];
        for (size_t k = 0; k < lp.tokens.size(); ++k)
          scored[s.seq_id][lp.first_position + static_cast<int32_t>(k)] = std::move(lp.tokens[k]);
      }
      if (!any) {
        EXPECT_TRUE(r.prompt_logprobs.empty());
      }
      scheduler.update(plan, r.sampled);
    }
    ASSERT_FALSE(scheduler.has_unfinished());
  }

  SchedulerConfig config;
  CpuBackend backend;
  Scheduler scheduler;
  StepRunner runner;
  std::vector<StepPlan> plans;
  std::map<SeqId, std::map<int32_t, PromptTokenLogprobs>> scored;  // seq -> position -> scores
  std::map<SeqId, int> chunks;                                     // steps that scored some of it
};

GenerationRequest make_request(SeqId id, std::vector<int32_t> prompt, int32_t prompt_logprobs) {
  GenerationRequest r;
  r.id = id;
  r.prompt_token_ids = std::move(prompt);
  r.sampling_params.temperature = 0.0f;
  r.sampling_params.max_tokens = 3;
  r.sampling_params.ignore_eos = true;
  r.sampling_params.prompt_logprobs = prompt_logprobs;
  return r;
}

SchedulerConfig lock_step(int32_t budget) {
  return SchedulerConfig{.max_num_seqs = 8, .max_num_batched_tokens = budget, .block_size = 16, .num_blocks = 64,
                         .enable_prefix_caching = true, .long_prefill_token_threshold = 0, .async_scheduling = false,
                         .pipeline_stages = 1, .replica = 0};
}

// Every position 1.. of `prompt` scored as the reference says: the prompt token's logprob and rank,
// and the top_n most likely tokens, best first.
void expect_matches_reference(const std::map<int32_t, PromptTokenLogprobs>& got, const std::vector<int32_t>& prompt,
                              const std::vector<std::vector<double>>& ref, int32_t top_n) {
  ASSERT_EQ(got.size(), prompt.size() - 1);
  for (const auto& [pos, lp] : got) {
    SCOPED_TRACE("position " + std::to_string(pos));
    ASSERT_GE(pos, 1);
    ASSERT_LT(pos, static_cast<int32_t>(prompt.size()));
    const std::vector<double>& row = ref[static_cast<size_t>(pos - 1)];  // the logits before it
    EXPECT_EQ(lp.token, prompt[static_cast<size_t>(pos)]);
    const double want = row[static_cast<size_t>(lp.token)];
    EXPECT_NEAR(lp.logprob, want, kTolerance);
    // Its rank, up to tokens within rounding of it.
    const auto above = std::count_if(row.begin(), row.end(), [&](double v) { return v > want + kTolerance; });
    const auto not_below = std::count_if(row.begin(), row.end(), [&](double v) { return v >= want - kTolerance; });
    EXPECT_GE(lp.rank, above + 1);
    EXPECT_LE(lp.rank, not_below);
    ASSERT_EQ(static_cast<int32_t>(lp.top.size()), top_n);
    const double best = *std::max_element(row.begin(), row.end());
    for (size_t k = 0; k < lp.top.size(); ++k) {
      EXPECT_NEAR(lp.top[k].logprob, row[static_cast<size_t>(lp.top[k].token)], kTolerance) << k;
      if (k > 0) {
        EXPECT_LE(lp.top[k].logprob, lp.top[k - 1].logprob) << k;
      }
    }
    if (!lp.top.empty()) {
      EXPECT_NEAR(lp.top[0].logprob, best, kTolerance);
    }
    // Ranked as listed: a prompt token among the alternatives sits at index rank - 1.
    for (size_t k = 0; k < lp.top.size(); ++k)
      if (lp.top[k].token == lp.token) {
        EXPECT_EQ(lp.rank, static_cast<int32_t>(k) + 1);
      }
  }
}

TEST(PromptLogprobs, ChunkedPromptIsScoredAtEveryPositionAsTheModelsLogSoftmax) {
  const CpuModel model = test::load_fixture_model("tiny-llama3");
  const std::vector<int32_t> prompt = random_prompt(100, model.config().vocab_size, 5);
  Engine e(model, lock_step(/*budget=*/32));
  e.scheduler.add_request(make_request(1, prompt, /*prompt_logprobs=*/3));
  e.scheduler.add_request(make_request(2, random_prompt(20, model.config().vocab_size, 6), -1));  // asks for none
  e.run_to_end();
  EXPECT_GE(e.chunks[1], 4);  // 100 tokens through a 32-token budget
  EXPECT_EQ(e.scored.count(2), 0u);
  expect_matches_reference(e.scored[1], prompt, reference_logprobs(model, prompt), 3);
}

TEST(PromptLogprobs, ARequestThatAsksTakesNoPrefixCacheHitAndIsScoredWhole) {
  const CpuModel model = test::load_fixture_model("tiny-qwen2");
  const int32_t vocab = model.config().vocab_size;
  const std::vector<int32_t> prefix = random_prompt(48, vocab, 7);
  auto with_tail = [&](uint32_t seed) {
    std::vector<int32_t> p = prefix;
    for (int32_t t : random_prompt(9, vocab, seed)) p.push_back(t);
    return p;
  };
  Engine e(model, lock_step(/*budget=*/256));
  e.scheduler.add_request(make_request(1, with_tail(8), -1));
  e.run_to_end();  // the prefix's three blocks are cached now
  const std::vector<int32_t> asks = with_tail(9);
  e.scheduler.add_request(make_request(2, asks, /*prompt_logprobs=*/0));
  e.scheduler.add_request(make_request(3, with_tail(10), -1));
  e.run_to_end();
  EXPECT_EQ(e.scheduler.stats().num_cached_tokens, 48);  // request 3's hit; request 2 took none
  for (const StepPlan& p : e.plans)
    for (const ScheduledSequence& s : p.sequences)
      if (s.seq_id == 2 && s.is_new) {
        EXPECT_EQ(s.num_computed_tokens, 0);
      }
  expect_matches_reference(e.scored[2], asks, reference_logprobs(model, asks), 0);
}

TEST(PromptLogprobs, OnlyABackendHoldingTheWholeLmHeadScoresPrompts) {
  // What the HTTP layer checks before it accepts the field.
  const CpuModel model = test::load_fixture_model("tiny-llama3");
  EXPECT_TRUE(CpuBackend(std::make_shared<CpuModel>(model)).computes_prompt_logprobs());
  const auto stages = test::fixture_stage_backends("tiny-llama3", 2);
  EXPECT_FALSE(stages.front()->computes_prompt_logprobs());  // no LM head
  EXPECT_TRUE(stages.back()->computes_prompt_logprobs());
  EXPECT_TRUE(SequentialPipelineBackend(stages).computes_prompt_logprobs());
  // Tensor parallel: rank 0 of a replicated head has it all; a vocabulary split would need every rank.
  for (VocabSplit split : {VocabSplit::Replicated, VocabSplit::Parallel})
    EXPECT_EQ(make_cpu_tensor_parallel_backend(model.config(), nullptr, 1, 2, 1, {}, split)->computes_prompt_logprobs(),
              split == VocabSplit::Replicated);
}

}  // namespace
}  // namespace troupe
