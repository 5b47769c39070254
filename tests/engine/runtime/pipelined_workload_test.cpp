// A mixed workload run pipelined (step N+1 launched before step N is collected wherever the
// runner allows it) samples exactly what the same plans sampled in lock step: greedy and seeded
// requests, penalties that force a step to wait for the host, EOS, an abort whose id a new
// request reuses at once, and preemption under a small KV pool. Both runs drive the real
// Scheduler planning ahead through the same sequence of calls, as the executor actor does.
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <random>
#include <vector>

#include "../model/fixture_model.h"
#include "engine/runtime/cpu_backend.h"
#include "engine/runtime/step_runner.h"
#include "engine/scheduler/scheduler.h"
#include "pipelining_fake_backend.h"

namespace troupe {
namespace {

constexpr SeqId kReusedId = 1;    // aborted after the 6th step and resubmitted with the same id
constexpr SeqId kAbortedId = 5;   // aborted after the 12th step

std::vector<GenerationRequest> mixed_requests(int n, int64_t vocab) {
  std::mt19937 rng(11);
  const auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<GenerationRequest> out;
  for (int i = 0; i < n; ++i) {
    GenerationRequest r{.id = static_cast<SeqId>(i)};
    for (int t = uniform(3, 40); t > 0; --t) r.prompt_token_ids.push_back(uniform(3, static_cast<int>(vocab) - 1));
    SamplingParams& p = r.sampling_params;
    p.max_tokens = uniform(6, 30);
    switch (i % 4) {
      case 0: p.temperature = 0.0f; break;
      case 1: p.temperature = 0.8f; p.top_k = 20; p.seed = 100 + i; break;
      case 2: p.temperature = 1.0f; p.top_p = 0.9f; p.seed = 200 + i; p.logprobs = 2; break;
      case 3: p.temperature = 0.7f; p.seed = 300 + i; break;
    }
    // One short request with penalties: while it decodes, each step waits for the host's collect
    // (any penalty row in a step does that to the whole step).
    if (i == 11) {
      p.repetition_penalty = 1.3f;
      p.presence_penalty = 0.4f;
      p.max_tokens = 6;
    }
    if (i % 2 == 0) r.eos_token_ids = {uniform(3, static_cast<int>(vocab) - 1)};
    out.push_back(std::move(r));
  }
  return out;
}

struct Outcome {
  std::vector<std::vector<int32_t>> step_tokens;  // per non-empty step, in order
  std::vector<FinishedSequence> finished;         // as the scheduler reported them (aborts included)
  int64_t launched_ahead = 0, waited_for_collect = 0, preemptions = 0;
};

// The executor actor's step handling and the scheduler actor's planning, on one thread.
class Driver {
 public:
  Driver(ModelBackend& backend, const SchedulerConfig& config, std::vector<GenerationRequest> requests)
      : scheduler_(config), runner_(backend, config.num_blocks, config.block_size), requests_(std::move(requests)) {
    for (const auto& r : requests_) scheduler_.add_request(r);
  }

  Outcome run() {
    while (scheduler_.has_unfinished() || runner_.num_pending() > 0) {
      if (scheduler_.num_outstanding_plans() < scheduler_.max_outstanding_plans()) {
        StepPlan plan = scheduler_.schedule();
        if (!plan.empty() || !plan.finished_seq_ids.empty() || !plan.preempted_seq_ids.empty()) {
          step(plan);
          continue;
        }
      }
      if (runner_.num_pending() == 0) throw std::logic_error("nothing to plan and nothing pending");
      collect_oldest();
    }
    out_.preemptions = scheduler_.stats().num_preemptions;
    return std::move(out_);
  }

 private:
  void step(const StepPlan& plan) {
    if (runner_.num_pending() == 0) {
      launch(plan);
    } else if (runner_.can_launch_ahead(plan)) {
      launch(plan);
      ++out_.launched_ahead;
      collect_oldest();
    } else {
      ++out_.waited_for_collect;
      collect_oldest();
      launch(plan);
    }
  }

  void launch(const StepPlan& plan) {
    runner_.launch(plan);
    pending_non_empty_.push_back(!plan.empty());
  }

  void collect_oldest() {
    const uint64_t step_id = *runner_.oldest_pending_step();
    const SampledTokens sampled = runner_.collect();
    const bool non_empty = pending_non_empty_.front();
    pending_non_empty_.pop_front();
    if (!non_empty) return;
    for (auto& f : scheduler_.update(step_id, sampled.tokens)) out_.finished.push_back(std::move(f));
    out_.step_tokens.push_back(sampled.tokens);
    const size_t steps = out_.step_tokens.size();
    if (steps == 6) abort(kReusedId, /*reuse=*/true);
    if (steps == 12) abort(kAbortedId, /*reuse=*/false);
  }

  void abort(SeqId id, bool reuse) {
    if (auto f = scheduler_.abort(id)) out_.finished.push_back(std::move(*f));
    if (!reuse) return;
    GenerationRequest again = requests_.at(id);
    again.prompt_token_ids.push_back(3);  // a different request under the same id
    scheduler_.add_request(std::move(again));
  }

  Scheduler scheduler_;
  StepRunner runner_;
  std::vector<GenerationRequest> requests_;
  std::deque<bool> pending_non_empty_;  // parallel to the runner's pending steps
  Outcome out_;
};

TEST(PipelinedWorkload, SamplesExactlyWhatLockStepSamplesOverTheSamePlans) {
  auto model = std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"));
  const SchedulerConfig config{.max_num_seqs = 8, .max_num_batched_tokens = 64, .block_size = 16, .num_blocks = 12,
                               .enable_prefix_caching = true, .long_prefill_token_threshold = 0};
  const auto requests = mixed_requests(16, model->config().vocab_size);

  auto cpu = std::make_shared<CpuBackend>(model);
  test::PipeliningFakeBackend pipelined_backend(cpu);
  const Outcome pipelined = Driver(pipelined_backend, config, requests).run();
  CpuBackend lock_step_backend(model);
  const Outcome lock_step = Driver(lock_step_backend, config, requests).run();

  EXPECT_EQ(lock_step.launched_ahead, 0);
  EXPECT_GT(pipelined.launched_ahead, 2 * pipelined.waited_for_collect) << "most steps go ahead";
  EXPECT_EQ(pipelined.launched_ahead, pipelined_backend.launches_ahead());
  EXPECT_GT(pipelined.waited_for_collect, 0) << "penalty rows made some steps wait";
  EXPECT_GT(pipelined.preemptions, 0) << "the pool is small enough to preempt";
  EXPECT_EQ(pipelined.preemptions, lock_step.preemptions);

  ASSERT_EQ(pipelined.step_tokens.size(), lock_step.step_tokens.size());
  for (size_t i = 0; i < pipelined.step_tokens.size(); ++i)
    EXPECT_EQ(pipelined.step_tokens[i], lock_step.step_tokens[i]) << "step " << i;
  ASSERT_EQ(pipelined.finished.size(), lock_step.finished.size());
  ASSERT_EQ(pipelined.finished.size(), requests.size() + 1) << "every request, and the resubmitted id once more";
  int aborts = 0;
  for (size_t i = 0; i < pipelined.finished.size(); ++i) {
    const FinishedSequence &a = pipelined.finished[i], &b = lock_step.finished[i];
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.reason, b.reason) << "sequence " << a.id;
    EXPECT_EQ(a.output_token_ids, b.output_token_ids) << "sequence " << a.id;
    aborts += a.reason == SequenceFinishReason::Abort;
  }
  EXPECT_EQ(aborts, 2);
}

}  // namespace
}  // namespace troupe
