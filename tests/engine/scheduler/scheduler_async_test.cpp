// Planning ahead (SchedulerConfig::async_scheduling): plan N+1 is made while plan N is
// outstanding, with kTokenSampledByExecutor for the token N samples. One rule per test: the
// placeholder, chunks ahead, voided work of sequences that finish or leave in N, max_tokens,
// aborts and id reuse, preemption of a sequence with a pending token, executor loss, result order.
#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "tests/engine/scheduler/scheduler_harness.h"

namespace troupe {
namespace {

using namespace troupe::testing;

std::vector<int32_t> alone(const std::vector<int32_t>& prompt, int32_t max_tokens, std::vector<int32_t> eos = {}) {
  return reference_output(prompt, request(0, {}, max_tokens).sampling_params, eos, kVocab);
}

const ScheduledSequence* entry(const StepPlan& plan, SeqId id) {
  for (const ScheduledSequence& s : plan.sequences)
    if (s.seq_id == id) return &s;
  return nullptr;
}

TEST(SchedulerAsync, TheNextDecodeIsPlannedWithAPlaceholderWhileThePrefillRuns) {
  Harness h(config(8));
  h.sched.add_request(request(1, tokens(0, 10), 4));
  const StepPlan prefill = h.schedule();
  const StepPlan decode = h.schedule();  // step 1 is still outstanding
  const ScheduledSequence* d = entry(decode, 1);
  ASSERT_NE(d, nullptr);
  EXPECT_FALSE(d->is_new);
  EXPECT_EQ(d->token_ids, std::vector<int32_t>{kTokenSampledByExecutor});
  EXPECT_EQ(d->num_computed_tokens, 10);
  EXPECT_TRUE(d->new_block_ids.empty());  // position 10 is in the block the prefill was sent
  EXPECT_EQ(d->num_output_tokens, 1);  // it samples the second output
  EXPECT_TRUE(d->wants_logits);
  EXPECT_EQ(h.sched.num_outstanding_plans(), 2);
  EXPECT_THROW(h.sched.schedule(), std::logic_error);  // two at most

  h.complete(prefill);
  const StepPlan third = h.schedule();  // planned while `decode` runs
  EXPECT_EQ(entry(third, 1)->token_ids, std::vector<int32_t>{kTokenSampledByExecutor});
  EXPECT_EQ(entry(third, 1)->num_computed_tokens, 11);
  h.complete(decode);
  h.complete(third);
  h.run_to_end();
  EXPECT_EQ(h.result(1)->output_token_ids, alone(tokens(0, 10), 4));
  EXPECT_EQ(h.sched.stats().num_steps, 4);  // one token per step, as in lock step
}

TEST(SchedulerAsync, PrefillChunksArePlannedAheadWithKnownTokens) {
  Harness h(config(16, /*budget=*/16));
  h.sched.add_request(request(1, tokens(0, 40), 2));
  const StepPlan a = h.schedule();
  const StepPlan b = h.schedule();
  EXPECT_EQ(entry(b, 1)->num_computed_tokens, 16);
  EXPECT_EQ(entry(b, 1)->token_ids, tokens(16, 16));
  EXPECT_FALSE(entry(b, 1)->wants_logits);
  h.complete(a);
  const StepPlan c = h.schedule();
  EXPECT_EQ(entry(c, 1)->token_ids, tokens(32, 8));
  EXPECT_TRUE(entry(c, 1)->wants_logits);
  h.complete(b);
  const StepPlan d = h.schedule();  // the last chunk ends the prompt in c: d decodes already
  EXPECT_EQ(entry(d, 1)->token_ids, std::vector<int32_t>{kTokenSampledByExecutor});
  h.complete(c);
  h.complete(d);
  EXPECT_FALSE(h.sched.has_unfinished());
  EXPECT_EQ(h.result(1)->output_token_ids, alone(tokens(0, 40), 2));
}

TEST(SchedulerAsync, ASequenceThatStopsInStepNHasItsWorkInNPlusOneVoided) {
  const auto prompt = tokens(0, 6);
  const auto expected = alone(prompt, 10);
  const int32_t eos = expected[2];  // its third token
  ASSERT_EQ(std::count(expected.begin(), expected.begin() + 2, eos), 0);
  Harness h(config(8));
  GenerationRequest r = request(1, prompt, 10);
  r.eos_token_ids = {eos};
  h.sched.add_request(r);
  h.sched.add_request(request(2, tokens(100, 5), 6));
  StepPlan running = h.schedule();
  std::vector<StepPlan> after_stop;
  for (int i = 0; i < 20 && h.sched.has_unfinished(); ++i) {
    const StepPlan ahead = h.schedule();
    const auto done = h.complete(running);
    const auto one = std::find_if(done.begin(), done.end(), [](const FinishedSequence& f) { return f.id == 1; });
    if (one != done.end()) {
      EXPECT_EQ(one->reason, SequenceFinishReason::Stop);
      ASSERT_NE(entry(ahead, 1), nullptr) << "1 was planned ahead before its EOS was known";
      EXPECT_FALSE(h.sched.block_pool().holds_blocks(1)) << "blocks are freed with the step ahead outstanding";
      const StepPlan next = h.schedule();
      EXPECT_EQ(next.finished_seq_ids, std::vector<SeqId>{1});
      EXPECT_EQ(entry(next, 1), nullptr);
      h.complete(ahead);  // samples a token for 1 that is never streamed (deliver() checks)
      running = next;
      continue;
    }
    running = ahead;
  }
  h.complete(running);
  h.run_to_end();
  EXPECT_EQ(h.result(1)->output_token_ids, std::vector<int32_t>(expected.begin(), expected.begin() + 3));
  EXPECT_EQ(h.result(2)->output_token_ids, alone(tokens(100, 5), 6));
  EXPECT_EQ(h.sched.block_pool().num_free_blocks(), 8);
  h.model.run(h.sched.schedule());
  EXPECT_EQ(h.model.num_records(), 0u);
}

TEST(SchedulerAsync, NothingIsPlannedPastMaxTokens) {
  Harness h(config(8));
  h.sched.add_request(request(1, tokens(0, 10), 1));
  const StepPlan prefill = h.schedule();
  EXPECT_TRUE(h.schedule().empty());  // its only token is pending: nothing left to plan
  EXPECT_EQ(h.sched.num_outstanding_plans(), 1);
  h.complete(prefill);
  EXPECT_FALSE(h.sched.has_unfinished());

  h.sched.add_request(request(2, tokens(0, 10), 2));
  const StepPlan a = h.schedule();
  const StepPlan b = h.schedule();
  ASSERT_NE(entry(b, 2), nullptr);
  h.complete(a);
  EXPECT_EQ(entry(h.schedule(), 2), nullptr);  // b samples its last token
  h.complete(b);
  EXPECT_EQ(h.result(2)->output_token_ids, alone(tokens(0, 10), 2));
}

TEST(SchedulerAsync, AnAbortVoidsBothOutstandingPlansAndTheIdMayComeBackAtOnce) {
  Harness h(config(8));
  h.sched.add_request(request(1, tokens(0, 10), 8));
  h.sched.add_request(request(2, tokens(100, 10), 8));
  h.step();
  const StepPlan n = h.schedule();
  const StepPlan n1 = h.schedule();
  ASSERT_NE(entry(n1, 1), nullptr);
  ASSERT_TRUE(h.abort(1).has_value());
  EXPECT_EQ(h.sched.block_pool().audit(), "");
  h.sched.add_request(request(1, tokens(500, 3), 2));  // a new request under the same id
  h.complete(n);  // 1's token is dropped: the stream check in deliver() would fail otherwise
  const StepPlan n2 = h.schedule();
  EXPECT_EQ(n2.finished_seq_ids, std::vector<SeqId>{1});
  ASSERT_NE(entry(n2, 1), nullptr);
  EXPECT_TRUE(entry(n2, 1)->is_new);  // admitted while n1 still holds an entry for the old 1
  h.complete(n1);  // the old 1's token must not reach the new one
  h.complete(n2);
  h.run_to_end();
  EXPECT_EQ(h.result(1)->output_token_ids, alone(tokens(500, 3), 2));
  EXPECT_EQ(h.result(2)->output_token_ids, alone(tokens(100, 10), 8));
  EXPECT_EQ(h.sched.block_pool().num_free_blocks(), 8);
}

TEST(SchedulerAsync, APreemptedSequenceKeepsTheTokenItsOutstandingPlanSamples) {
  SchedulerConfig c = config(/*num_blocks=*/5, /*budget=*/64);
  c.enable_prefix_caching = false;
  Harness h(c);
  h.sched.add_request(request(1, tokens(0, 30), 40));
  h.sched.add_request(request(2, tokens(100, 30), 20));
  StepPlan running = h.schedule();
  bool preempted_with_pending = false;
  for (int i = 0; i < 200 && h.sched.has_unfinished(); ++i) {
    const StepPlan ahead = h.schedule();
    for (SeqId v : ahead.preempted_seq_ids) {
      const Sequence* s = h.sched.find(v);
      if (s->num_pending_outputs == 0) continue;
      preempted_with_pending = true;
      const int32_t known = s->num_output_tokens();
      h.complete(running);  // the token `running` sampled for v is kept
      s = h.sched.find(v);
      ASSERT_NE(s, nullptr);
      EXPECT_EQ(s->num_output_tokens(), known + 1);
      EXPECT_EQ(s->num_pending_outputs, 0);
      EXPECT_EQ(s->status, SequenceStatus::Waiting);
      // Once resumed, it recomputes that token too (Harness::schedule checks its outputs).
      running = ahead;
      break;
    }
    if (preempted_with_pending) break;
    h.complete(running);
    running = ahead;
  }
  ASSERT_TRUE(preempted_with_pending);
  h.complete(running);
  h.run_to_end();
  EXPECT_EQ(h.result(1)->output_token_ids, alone(tokens(0, 30), 40));
  EXPECT_EQ(h.result(2)->output_token_ids, alone(tokens(100, 30), 20));
  EXPECT_EQ(h.sched.block_pool().num_free_blocks(), 5);
}

TEST(SchedulerAsync, ExecutorLossDiscardsBothPlans) {
  Harness h(config(16));
  h.sched.add_request(request(1, tokens(0, 20), 10));
  h.sched.add_request(request(2, tokens(100, 7), 6));
  h.step();
  h.step();
  const StepPlan n = h.schedule();
  const StepPlan n1 = h.schedule();
  const auto lost = h.model.run(n);
  h.executor_dies();
  EXPECT_EQ(h.sched.num_outstanding_plans(), 0);
  EXPECT_THROW(h.sched.update(n, lost), std::logic_error);
  EXPECT_THROW(h.sched.update(n1, {}), std::logic_error);
  for (SeqId id : {1, 2}) {
    EXPECT_EQ(h.sched.find(id)->num_pending_outputs, 0);
    EXPECT_EQ(h.sched.find(id)->num_output_tokens(), 2);
  }
  const StepPlan fresh = h.schedule();
  for (const ScheduledSequence& s : fresh.sequences) {
    EXPECT_TRUE(s.is_new);
    EXPECT_EQ(s.num_output_tokens, 2);
  }
  const StepPlan ahead = h.schedule();
  h.complete(fresh);
  h.complete(ahead);
  h.run_to_end();
  EXPECT_EQ(h.result(1)->output_token_ids, alone(tokens(0, 20), 10));
  EXPECT_EQ(h.result(2)->output_token_ids, alone(tokens(100, 7), 6));
  EXPECT_EQ(h.sched.block_pool().num_free_blocks(), 16);
  EXPECT_EQ(h.sched.block_pool().audit(), "");
}

TEST(SchedulerAsync, ResultsMustComeInPlanOrder) {
  Harness h(config(8));
  h.sched.add_request(request(1, tokens(0, 10), 5));
  const StepPlan a = h.schedule();
  const StepPlan b = h.schedule();
  const auto ra = h.model.run(a);
  const auto rb = h.model.run(b);
  EXPECT_THROW(h.sched.update(b, rb), std::logic_error);
  h.deliver(a, ra);
  h.deliver(b, rb);
  const std::vector<int32_t> none;
  EXPECT_THROW(h.sched.update(b, none), std::logic_error);  // already applied
}

}  // namespace
}  // namespace troupe
