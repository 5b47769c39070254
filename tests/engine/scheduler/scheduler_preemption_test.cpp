// Scheduler behaviour, one rule per test: preemption by recompute, abort, prefix-cache hits and resubmission.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "tests/engine/scheduler/scheduler_harness.h"

namespace troupe {
namespace {

using namespace troupe::testing;

TEST(Scheduler, PreemptsTheNewestRunningSequenceWhenBlocksRunOut) {
  Harness h(config(/*num_blocks=*/5, /*budget=*/64));
  h.sched.add_request(request(1, tokens(0, 30), 40));    // 2 blocks, grows to 5
  h.sched.add_request(request(2, tokens(100, 30), 20));  // 2 blocks
  h.step();
  EXPECT_EQ(h.planned_ids(), (std::vector<SeqId>{1, 2}));
  bool saw_preemption = false;
  while (!saw_preemption && h.sched.has_unfinished()) {
    h.step();
    if (!h.plan.preempted_seq_ids.empty()) {
      saw_preemption = true;
      EXPECT_EQ(h.plan.preempted_seq_ids, std::vector<SeqId>{2});
      EXPECT_EQ(h.planned_ids(), std::vector<SeqId>{1});
      const Sequence* two = h.sched.find(2);
      ASSERT_NE(two, nullptr);
      EXPECT_EQ(two->status, SequenceStatus::Waiting);
      EXPECT_EQ(two->num_computed_tokens, 0);
      EXPECT_GT(two->num_output_tokens(), 0);  // kept, to be recomputed
    }
  }
  ASSERT_TRUE(saw_preemption);
  h.run_to_end();
  EXPECT_EQ(h.result(1)->output_token_ids, reference_output(tokens(0, 30), request(1, {}, 40).sampling_params, {}, kVocab));
  EXPECT_EQ(h.result(2)->output_token_ids, reference_output(tokens(100, 30), request(2, {}, 20).sampling_params, {}, kVocab));
  EXPECT_EQ(h.sched.stats().num_preemptions, 1);
  EXPECT_EQ(h.sched.block_pool().num_free_blocks(), 5);
}

TEST(Scheduler, PreemptedSequenceResumesAheadOfLaterArrivalsAsNew) {
  SchedulerConfig c = config(/*num_blocks=*/5, /*budget=*/64);
  c.enable_prefix_caching = false;  // so the resume recomputes everything
  Harness h(c);
  h.sched.add_request(request(1, tokens(0, 30), 40));
  h.sched.add_request(request(2, tokens(100, 30), 20));
  while (h.plan.preempted_seq_ids.empty()) h.step();
  h.sched.add_request(request(3, tokens(200, 4), 2));
  const int32_t outputs_of_2 = h.sched.find(2)->num_output_tokens();
  while (true) {
    h.step();
    const auto ids = h.planned_ids();
    if (std::find(ids.begin(), ids.end(), 2) != ids.end()) break;
    EXPECT_EQ(std::find(ids.begin(), ids.end(), 3), ids.end()) << "3 overtook the preempted 2";
  }
  const ScheduledSequence& resumed = *std::find_if(h.plan.sequences.begin(), h.plan.sequences.end(),
                                                   [](const ScheduledSequence& e) { return e.seq_id == 2; });
  EXPECT_TRUE(resumed.is_new);
  EXPECT_EQ(resumed.num_computed_tokens, 0);
  EXPECT_EQ(static_cast<int32_t>(resumed.output_token_ids.size()), outputs_of_2);
  EXPECT_EQ(resumed.num_new_tokens(), 30 + outputs_of_2);  // prompt and outputs, recomputed
  EXPECT_EQ(resumed.num_output_tokens, outputs_of_2);
  h.run_to_end();
  EXPECT_EQ(h.result(2)->output_token_ids, reference_output(tokens(100, 30), request(2, {}, 20).sampling_params, {}, kVocab));
}

TEST(Scheduler, AStepThatPreemptsAdmitsNothing) {
  SchedulerConfig c = config(/*num_blocks=*/8, /*budget=*/128);
  c.enable_prefix_caching = false;
  Harness h(c);
  h.sched.add_request(request(1, tokens(0, 32), 40));   // 2 blocks, a 3rd at its first decode
  h.sched.add_request(request(2, tokens(100, 80), 10)); // 5 blocks, a 6th at its first decode
  h.step();
  EXPECT_EQ(h.sched.block_pool().num_free_blocks(), 1);
  h.sched.add_request(request(3, tokens(200, 2), 1));   // needs one block
  h.step();  // 1 takes the last block, 2 finds none and is preempted (it is the newest running)
  EXPECT_EQ(h.plan.preempted_seq_ids, std::vector<SeqId>{2});
  EXPECT_EQ(h.planned_ids(), std::vector<SeqId>{1});  // 3 would fit now, but waits a step
  EXPECT_EQ(h.sched.block_pool().num_free_blocks(), 5);
  h.run_to_end();
  EXPECT_EQ(h.finished.size(), 3u);
}

TEST(Scheduler, APreemptedVictimGivesItsTokensBackToTheStep) {
  SchedulerConfig c;
  c.block_size = 4;
  c.num_blocks = 10;
  c.max_num_batched_tokens = 16;
  c.max_num_seqs = 8;
  c.long_prefill_token_threshold = 6;
  c.enable_prefix_caching = false;
  Harness h(c);
  h.sched.add_request(request(9, tokens(900, 3), 10, /*priority=*/5));  // V: alone, so admitted first
  h.step();
  for (SeqId d = 1; d <= 4; ++d) h.sched.add_request(request(d, {static_cast<int32_t>(d)}, 10));
  h.sched.add_request(request(5, tokens(100, 20), 5));  // A
  h.sched.add_request(request(6, tokens(200, 20), 5));  // C
  h.step();  // V decodes; D1-4, A (6) and C (5, what is left) are admitted: 9 of 10 blocks
  ASSERT_EQ(h.planned_ids(), (std::vector<SeqId>{9, 1, 2, 3, 4, 5, 6}));
  // V's decode takes the last block; A's chunk needs one more and preempts V, the newest by
  // priority, whose token goes back into the budget: C gets 6 tokens, not 5.
  h.step();
  EXPECT_EQ(h.plan.preempted_seq_ids, std::vector<SeqId>{9});
  ASSERT_EQ(h.planned_ids(), (std::vector<SeqId>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(h.plan.sequences[4].num_new_tokens(), 6);
  EXPECT_EQ(h.plan.sequences[5].num_new_tokens(), 6);
  EXPECT_EQ(h.plan.num_batched_tokens, 16);
  h.run_to_end();
  EXPECT_EQ(h.finished.size(), 7u);
}

TEST(Scheduler, AbortFreesBlocksWhereverTheSequenceIs) {
  Harness h(config(8, /*budget=*/16, /*max_seqs=*/1));
  h.sched.add_request(request(1, tokens(0, 40), 5));
  h.sched.add_request(request(2, tokens(100, 4), 5));
  h.step();  // 1 running (chunk of 16), 2 waiting
  EXPECT_LT(h.sched.block_pool().num_free_blocks(), 8);
  const auto waiting = h.sched.abort(2);
  ASSERT_TRUE(waiting.has_value());
  EXPECT_EQ(waiting->reason, SequenceFinishReason::Abort);
  EXPECT_TRUE(waiting->output_token_ids.empty());
  const auto running = h.sched.abort(1);
  ASSERT_TRUE(running.has_value());
  EXPECT_EQ(h.sched.block_pool().num_free_blocks(), 8);
  EXPECT_EQ(h.sched.block_pool().audit(), "");
  EXPECT_FALSE(h.sched.abort(1).has_value());
  EXPECT_FALSE(h.sched.has_unfinished());
  const StepPlan next = h.sched.schedule();
  EXPECT_TRUE(next.empty());
  EXPECT_EQ(std::set<SeqId>(next.finished_seq_ids.begin(), next.finished_seq_ids.end()), (std::set<SeqId>{1, 2}));
}

TEST(Scheduler, AbortBetweenScheduleAndUpdateDropsThatEntry) {
  Harness h(config(8));
  h.sched.add_request(request(1, tokens(0, 10), 5));
  h.sched.add_request(request(2, tokens(100, 10), 5));
  const StepPlan plan = h.schedule();
  const auto sampled = h.model.run(plan);
  ASSERT_TRUE(h.abort(1).has_value());
  h.sched.add_request(request(1, tokens(500, 3), 1));  // the id comes back as a new request
  const auto done = h.deliver(plan, sampled);  // accepts 2's token only (the stream check fails else)
  EXPECT_TRUE(done.empty());
  EXPECT_EQ(h.streamed.count(1), 0u);
  EXPECT_EQ(h.sched.find(1)->num_computed_tokens, 0);
  EXPECT_EQ(h.sched.find(2)->num_output_tokens(), 1);
  h.run_to_end();
  EXPECT_EQ(h.result(1)->output_token_ids.size(), 1u);
  EXPECT_EQ(h.sched.block_pool().num_free_blocks(), 8);
}

TEST(Scheduler, PrefixHitSkipsTheCachedTokens) {
  Harness h(config(16));
  const auto system = tokens(0, 32);
  auto first = system;
  first.insert(first.end(), {900, 901, 902});
  h.sched.add_request(request(1, first, 1));
  h.run_to_end();
  auto second = system;
  second.insert(second.end(), {700, 701});
  h.sched.add_request(request(2, second, 3));
  h.step();
  const ScheduledSequence& s = h.plan.sequences.at(0);
  EXPECT_EQ(s.num_computed_tokens, 32);
  EXPECT_EQ(s.token_ids, (std::vector<int32_t>{700, 701}));
  EXPECT_EQ(s.prompt_token_ids, second);  // the executor still gets the whole prompt
  EXPECT_EQ(h.plan.num_cached_tokens, 32);
  h.run_to_end();
  EXPECT_EQ(h.result(2)->output_token_ids, reference_output(second, request(2, {}, 3).sampling_params, {}, kVocab));
  EXPECT_EQ(h.sched.stats().num_cached_tokens, 32);
}

TEST(Scheduler, FullyCachedPromptRecomputesItsLastBlock) {
  Harness h(config(16));
  h.sched.add_request(request(1, tokens(0, 32), 1));
  h.run_to_end();
  h.sched.add_request(request(2, tokens(0, 32), 1));
  h.step();
  EXPECT_EQ(h.plan.sequences.at(0).num_computed_tokens, 16);
  EXPECT_EQ(h.plan.sequences.at(0).num_new_tokens(), 16);
  EXPECT_TRUE(h.plan.sequences.at(0).wants_logits);
  EXPECT_EQ(h.result(2)->output_token_ids, h.result(1)->output_token_ids);
}

TEST(Scheduler, ResubmittedRequestContinuesAfterItsOutputs) {
  const auto prompt = tokens(0, 20);
  SamplingParams p;
  p.temperature = 0.0f;
  p.max_tokens = 8;
  p.seed = 5;
  const auto expected = reference_output(prompt, p, {}, kVocab);
  Harness h(config(8));
  GenerationRequest r = request(1, prompt, 8);
  r.sampling_params = p;
  r.output_token_ids.assign(expected.begin(), expected.begin() + 3);
  h.sched.add_request(r);
  h.step();
  EXPECT_EQ(h.plan.sequences.at(0).num_output_tokens, 3);
  EXPECT_EQ(h.plan.sequences.at(0).output_token_ids, r.output_token_ids);
  h.run_to_end();
  EXPECT_EQ(h.result(1)->output_token_ids, expected);
}

}  // namespace
}  // namespace troupe
