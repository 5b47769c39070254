// StepRunner over a backend that pipelines: step N+1 is launched before step N is collected when
// nothing in it needs N's token on the host, and after when a penalty row does; the tokens a
// pending step samples go to the sequences that were in it, never to a later request reusing an
// id. Plans come from the real Scheduler planning ahead.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "../model/fixture_model.h"
#include "engine/runtime/cpu_backend.h"
#include "engine/runtime/step_runner.h"
#include "engine/scheduler/scheduler.h"
#include "pipelining_fake_backend.h"
#include "tests/engine/token_run.h"

namespace troupe {
namespace {

using Call = test::PipeliningFakeBackend::Call;
constexpr Call launched(int64_t step) { return {true, step}; }
constexpr Call collected(int64_t step) { return {false, step}; }

GenerationRequest request(SeqId id, int32_t first_token, float repetition_penalty = 1.0f) {
  GenerationRequest r{.id = id, .prompt_token_ids = testing::tokens(first_token, 5)};
  r.sampling_params.temperature = 0.0f;
  r.sampling_params.max_tokens = 8;
  r.sampling_params.ignore_eos = true;
  r.sampling_params.repetition_penalty = repetition_penalty;
  return r;
}

struct PipelinedRunner : ::testing::Test {
  std::shared_ptr<CpuBackend> cpu =
      std::make_shared<CpuBackend>(std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2")));
  test::PipeliningFakeBackend backend{cpu};
  Scheduler scheduler{{.max_num_seqs = 4, .max_num_batched_tokens = 64, .block_size = 16, .num_blocks = 32,
                       .enable_prefix_caching = false, .long_prefill_token_threshold = 0}};
  StepRunner runner{backend, 32, 16};
};

TEST_F(PipelinedRunner, LaunchesTheNextStepBeforeCollectingThePendingOne) {
  scheduler.add_request(request(1, 10));
  scheduler.add_request(request(2, 20));
  const StepPlan prefill = scheduler.schedule();
  EXPECT_FALSE(runner.can_launch_ahead(prefill)) << "nothing pending: a plain launch";
  runner.launch(prefill);
  const StepPlan decode = scheduler.schedule();  // both decodes name the token `prefill` samples
  ASSERT_EQ(decode.num_logits(), 2);
  ASSERT_TRUE(runner.can_launch_ahead(decode));
  runner.launch(decode);
  EXPECT_EQ(runner.num_pending(), 2u);
  EXPECT_EQ(backend.calls(), (std::vector<Call>{launched(0), launched(1)}));
  EXPECT_EQ(backend.launches()[1].num_deferred, 2u);
  EXPECT_TRUE(backend.launches()[1].row_outputs[0].empty()) << "the host does not know the first token yet";

  const SampledTokens first = runner.collect();
  scheduler.update(prefill.step_id, first.tokens);
  const SampledTokens second = runner.collect();
  EXPECT_EQ(backend.calls(), (std::vector<Call>{launched(0), launched(1), collected(0), collected(1)}));

  // The deferred tokens were the right ones: lock step over the plain CPU backend samples the same.
  CpuBackend reference_backend(std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2")));
  StepRunner reference(reference_backend, 32, 16);
  EXPECT_EQ(reference.run(prefill).tokens, first.tokens);
  EXPECT_EQ(reference.run(decode).tokens, second.tokens);
}

TEST_F(PipelinedRunner, APenaltyRowWaitsForThePendingTokenOnTheHost) {
  scheduler.add_request(request(1, 10));
  scheduler.add_request(request(2, 20, /*repetition_penalty=*/1.3f));
  const StepPlan prefill = scheduler.schedule();
  runner.launch(prefill);
  scheduler.add_request(request(3, 30, /*repetition_penalty=*/1.3f));  // admitted next: awaits nothing
  const StepPlan decode = scheduler.schedule();
  EXPECT_FALSE(runner.can_launch_ahead(decode)) << "sequence 2's penalties read the token step 0 samples";
  EXPECT_THROW(runner.launch(decode), std::logic_error);

  const SampledTokens first = runner.collect();
  scheduler.update(prefill.step_id, first.tokens);
  runner.launch(decode);
  EXPECT_EQ(backend.calls(), (std::vector<Call>{launched(0), collected(0), launched(1)}));
  EXPECT_EQ(backend.launches()[1].num_deferred, 0u) << "resolved on the host after the collect";
  EXPECT_EQ(backend.launches()[1].row_outputs[1], std::vector<int32_t>{first.tokens[1]});

  // Sequence 3 has penalties but entered in step 1 without a token pending: step 2 goes ahead
  // only once no penalty row awaits step 1 — never here, since 2 and 3 both decode.
  const StepPlan next = scheduler.schedule();
  EXPECT_FALSE(runner.can_launch_ahead(next));
}

TEST_F(PipelinedRunner, APenaltySequenceJoiningNeedsNoPendingToken) {
  scheduler.add_request(request(1, 10));
  runner.launch(scheduler.schedule());
  scheduler.add_request(request(3, 30, /*repetition_penalty=*/1.3f));
  const StepPlan next = scheduler.schedule();  // 1 decodes (deferred), 3 is admitted
  ASSERT_EQ(next.num_logits(), 2);
  EXPECT_TRUE(runner.can_launch_ahead(next));
}

TEST_F(PipelinedRunner, APendingTokenOfAnAbortedSequenceIsNotGivenToTheRequestReusingItsId) {
  scheduler.add_request(request(7, 10));
  const StepPlan first = scheduler.schedule();
  runner.launch(first);
  ASSERT_TRUE(scheduler.abort(7));
  scheduler.add_request(request(7, 40, /*repetition_penalty=*/1.3f));  // same id, a new request
  const StepPlan second = scheduler.schedule();
  ASSERT_EQ(second.finished_seq_ids, std::vector<SeqId>{7});
  ASSERT_TRUE(runner.can_launch_ahead(second)) << "the new 7 waits for nothing of the old one";
  runner.launch(second);
  const SampledTokens old_token = runner.collect();  // the old 7's: to be dropped
  scheduler.update(first.step_id, old_token.tokens);
  const SampledTokens new_token = runner.collect();
  scheduler.update(second.step_id, new_token.tokens);
  runner.launch(scheduler.schedule());
  ASSERT_EQ(backend.launches().size(), 3u);
  EXPECT_EQ(backend.launches()[2].row_outputs.at(0), std::vector<int32_t>{new_token.tokens.at(0)})
      << "the new 7's history holds its own token only";
}

TEST_F(PipelinedRunner, ReadyFollowsTheOldestPendingStep) {
  EXPECT_FALSE(runner.ready()) << "nothing pending";
  scheduler.add_request(request(1, 10));
  backend.hold(true);
  runner.launch(scheduler.schedule());
  EXPECT_FALSE(runner.ready());
  backend.hold(false);
  EXPECT_TRUE(runner.ready());
  EXPECT_EQ(runner.oldest_pending_step(), std::optional<uint64_t>{1});
  runner.collect();
  EXPECT_FALSE(runner.ready());
  EXPECT_EQ(runner.oldest_pending_step(), std::nullopt);
}

TEST(StepRunnerLockStep, ABackendThatDoesNotPipelineNeverLaunchesAhead) {
  CpuBackend backend(std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2")));
  Scheduler scheduler({.max_num_seqs = 4, .max_num_batched_tokens = 64, .block_size = 16, .num_blocks = 32,
                       .enable_prefix_caching = false, .long_prefill_token_threshold = 0});
  StepRunner runner(backend, 32, 16);
  scheduler.add_request(request(1, 10));
  runner.launch(scheduler.schedule());
  const StepPlan decode = scheduler.schedule();
  EXPECT_FALSE(runner.can_launch_ahead(decode));
  EXPECT_THROW(runner.run(decode), std::logic_error) << "run() with a step pending";
  runner.collect();
  EXPECT_EQ(runner.run(decode).tokens.size(), 1u);
}

}  // namespace
}  // namespace troupe
