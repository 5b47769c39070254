// Scheduler behaviour, one rule per test: request checks, chunking, budgets, ordering, EOS and the plan protocol.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "tests/engine/scheduler/scheduler_harness.h"

namespace troupe {
namespace {

using namespace troupe::testing;

TEST(SchedulerConfig, BudgetMustCoverEveryDecode) {
  EXPECT_THROW(Scheduler(config(8, /*budget=*/4, /*max_seqs=*/8)), std::invalid_argument);
  EXPECT_THROW(Scheduler(config(0)), std::invalid_argument);
}

TEST(Scheduler, RejectsRequestsItCannotServe) {
  Scheduler s(config(4));  // 64 token slots
  EXPECT_NE(s.check_request(request(1, {}, 4)), "");
  EXPECT_NE(s.check_request(request(1, tokens(0, 60), 6)), "");  // 65 slots needed
  EXPECT_EQ(s.check_request(request(1, tokens(0, 60), 5)), "");  // 64: the last token needs none
  GenerationRequest bad = request(1, tokens(0, 4), 4);
  bad.sampling_params.top_p = 0.0f;
  EXPECT_NE(s.check_request(bad), "");
  s.add_request(request(1, tokens(0, 4), 4));
  EXPECT_THROW(s.add_request(request(1, tokens(0, 4), 4)), std::invalid_argument);
}

TEST(Scheduler, OutputStopReasonIsTheOneStopRuleAndRefusesAFinishedResubmission) {
  SamplingParams p;
  p.max_tokens = 3;
  const std::vector<int32_t> eos = {7};
  EXPECT_EQ(output_stop_reason({}, p, eos), std::nullopt);
  EXPECT_EQ(output_stop_reason(std::vector<int32_t>{1, 2}, p, eos), std::nullopt);
  EXPECT_EQ(output_stop_reason(std::vector<int32_t>{1, 7}, p, eos), SequenceFinishReason::Stop);
  EXPECT_EQ(output_stop_reason(std::vector<int32_t>{1, 2, 3}, p, eos), SequenceFinishReason::Length);
  EXPECT_EQ(output_stop_reason(std::vector<int32_t>{1, 2, 7}, p, eos), SequenceFinishReason::Stop);
  p.ignore_eos = true;
  EXPECT_EQ(output_stop_reason(std::vector<int32_t>{1, 7}, p, eos), std::nullopt);
  // A gateway resubmitting to a restarted scheduler finishes such a request itself; the scheduler
  // refuses one, since it would have nothing to generate.
  Scheduler s(config(8));
  GenerationRequest done = request(1, tokens(0, 4), 3);
  done.output_token_ids = {1, 2, 3};
  EXPECT_NE(s.check_request(done), "");
  done.output_token_ids = {1, 2};
  EXPECT_EQ(s.check_request(done), "");
}

TEST(Scheduler, StopTokenIdsStopDespiteIgnoreEosAndMinTokensHoldsEveryStopOff) {
  SamplingParams p;
  p.max_tokens = 6;
  p.stop_token_ids = {9};
  const std::vector<int32_t> eos = {7};
  EXPECT_EQ(output_stop_reason(std::vector<int32_t>{1, 9}, p, eos), SequenceFinishReason::Stop);
  p.ignore_eos = true;  // vLLM: ignore_eos is about EOS only
  EXPECT_EQ(output_stop_reason(std::vector<int32_t>{1, 9}, p, eos), SequenceFinishReason::Stop);
  EXPECT_EQ(output_stop_reason(std::vector<int32_t>{1, 7}, p, eos), std::nullopt);
  p.ignore_eos = false;
  p.min_tokens = 3;
  EXPECT_EQ(output_stop_reason(std::vector<int32_t>{1, 9}, p, eos), std::nullopt);
  EXPECT_EQ(output_stop_reason(std::vector<int32_t>{1, 7}, p, eos), std::nullopt);
  EXPECT_EQ(output_stop_reason(std::vector<int32_t>{1, 2, 7}, p, eos), SequenceFinishReason::Stop);
  EXPECT_EQ(output_stop_reason(std::vector<int32_t>{1, 2, 9}, p, eos), SequenceFinishReason::Stop);
}

TEST(Scheduler, ShortPromptIsOnePrefillThenOneTokenPerStep) {
  Harness h(config(8));
  h.sched.add_request(request(1, tokens(0, 10), 3));
  h.step();
  ASSERT_EQ(h.plan.sequences.size(), 1u);
  const ScheduledSequence& first = h.plan.sequences[0];
  EXPECT_TRUE(first.is_new);
  EXPECT_EQ(first.prompt_token_ids, tokens(0, 10));
  EXPECT_EQ(first.token_ids, tokens(0, 10));
  EXPECT_EQ(first.num_computed_tokens, 0);
  EXPECT_EQ(first.new_block_ids.size(), 1u);  // its whole table: 10 tokens in one 16-token block
  EXPECT_TRUE(first.wants_logits);
  EXPECT_EQ(first.num_output_tokens, 0);
  h.step();
  const ScheduledSequence& second = h.plan.sequences[0];
  EXPECT_FALSE(second.is_new);
  EXPECT_TRUE(second.prompt_token_ids.empty());
  EXPECT_EQ(second.num_computed_tokens, 10);
  EXPECT_TRUE(second.new_block_ids.empty());  // position 10 is in the block the executor holds
  EXPECT_EQ(second.num_output_tokens, 1);
  const auto done = h.step();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reason, SequenceFinishReason::Length);
  EXPECT_EQ(done[0].output_token_ids, reference_output(tokens(0, 10), request(1, {}, 3).sampling_params, {}, kVocab));
  EXPECT_FALSE(h.sched.has_unfinished());
  EXPECT_EQ(h.sched.block_pool().num_free_blocks(), 8);
  EXPECT_EQ(h.sched.schedule().finished_seq_ids, std::vector<SeqId>{1});
}

TEST(Scheduler, LongPromptIsChunkedAcrossSteps) {
  Harness h(config(16, /*budget=*/32));
  h.sched.add_request(request(1, tokens(0, 100), 2));
  std::vector<int32_t> chunks;
  for (int i = 0; i < 4; ++i) {
    h.step();
    const auto& s = h.plan.sequences.at(0);
    chunks.push_back(s.num_new_tokens());
    EXPECT_EQ(s.num_computed_tokens, 32 * i);
    EXPECT_EQ(s.wants_logits, i == 3);
    EXPECT_EQ(s.is_new, i == 0);
    EXPECT_EQ(s.new_block_ids.size(), i < 3 ? 2u : 1u);  // only the chunk's own blocks
    EXPECT_GE(static_cast<int32_t>(h.model.block_tables().table(1).size()) * 16, s.context_len());
  }
  EXPECT_EQ(chunks, (std::vector<int32_t>{32, 32, 32, 4}));
  h.run_to_end();
  EXPECT_EQ(h.result(1)->output_token_ids, reference_output(tokens(0, 100), request(1, {}, 2).sampling_params, {}, kVocab));
}

TEST(Scheduler, LongPrefillThresholdCapsOneSequencesChunk) {
  SchedulerConfig c = config(16, 64);
  c.long_prefill_token_threshold = 8;
  Harness h(c);
  h.sched.add_request(request(1, tokens(0, 20), 1));
  h.sched.add_request(request(2, tokens(100, 20), 1));
  h.step();
  ASSERT_EQ(h.plan.sequences.size(), 2u);
  EXPECT_EQ(h.plan.sequences[0].num_new_tokens(), 8);
  EXPECT_EQ(h.plan.sequences[1].num_new_tokens(), 8);
}

TEST(Scheduler, BudgetAndSequenceCapHoldInEveryPlan) {
  Harness h(config(64, /*budget=*/40, /*max_seqs=*/3));
  for (SeqId id = 1; id <= 10; ++id) h.sched.add_request(request(id, tokens(static_cast<int32_t>(id) * 50, 7 * static_cast<int32_t>(id)), 5));
  for (int i = 0; i < 1000 && h.sched.has_unfinished(); ++i) {
    h.step();
    EXPECT_LE(h.plan.num_batched_tokens, 40);
    EXPECT_LE(h.plan.sequences.size(), 3u);
    EXPECT_LE(h.sched.num_running(), 3);
  }
  EXPECT_EQ(h.finished.size(), 10u);
}

TEST(Scheduler, RunningDecodeIsServedEveryStepWhileALongPromptPrefills) {
  Harness h(config(64, /*budget=*/32));
  h.sched.add_request(request(1, tokens(0, 5), 20));
  h.step();  // 1 prefilled; decoding from now on
  h.sched.add_request(request(2, tokens(100, 500), 1));
  for (int i = 0; i < 10; ++i) {
    h.step();
    ASSERT_EQ(h.planned_ids(), (std::vector<SeqId>{1, 2}));
    EXPECT_EQ(h.plan.sequences[0].num_new_tokens(), 1);
    EXPECT_EQ(h.plan.sequences[1].num_new_tokens(), 31);  // the rest of the budget
  }
}

TEST(Scheduler, DecodesGoBeforeAnOlderSequencesPrefillChunk) {
  SchedulerConfig c = config(64, /*budget=*/16);
  c.long_prefill_token_threshold = 8;  // leaves room to admit 2 while 1 still prefills
  Harness h(c);
  h.sched.add_request(request(1, tokens(0, 300), 1));  // older, prefills for many steps
  h.sched.add_request(request(2, tokens(500, 3), 30));
  h.step();
  EXPECT_EQ(h.planned_ids(), (std::vector<SeqId>{1, 2}));
  for (int i = 0; i < 5; ++i) {
    h.step();
    ASSERT_EQ(h.planned_ids(), (std::vector<SeqId>{2, 1}));  // 2's decode, then 1's chunk
    EXPECT_EQ(h.plan.sequences[0].num_new_tokens(), 1);
    EXPECT_EQ(h.plan.sequences[1].num_new_tokens(), 8);
  }
}

TEST(Scheduler, AdmitsInArrivalOrder) {
  Harness h(config(64, /*budget=*/8, /*max_seqs=*/1));
  for (SeqId id : {5, 3, 9, 1}) h.sched.add_request(request(id, tokens(static_cast<int32_t>(id) * 10, 4), 1));
  std::vector<SeqId> order;
  for (int i = 0; i < 4; ++i) {
    h.step();
    order.push_back(h.plan.sequences.at(0).seq_id);
  }
  EXPECT_EQ(order, (std::vector<SeqId>{5, 3, 9, 1}));
}

TEST(Scheduler, LowerPriorityValueIsAdmittedFirstThenArrivalOrder) {
  Harness h(config(64, /*budget=*/8, /*max_seqs=*/1));
  h.sched.add_request(request(1, tokens(0, 4), 1, /*priority=*/2));
  h.sched.add_request(request(2, tokens(10, 4), 1, /*priority=*/0));
  h.sched.add_request(request(3, tokens(20, 4), 1, /*priority=*/1));
  h.sched.add_request(request(4, tokens(30, 4), 1, /*priority=*/0));
  std::vector<SeqId> order;
  for (int i = 0; i < 4; ++i) {
    h.step();
    order.push_back(h.plan.sequences.at(0).seq_id);
  }
  EXPECT_EQ(order, (std::vector<SeqId>{2, 4, 3, 1}));
}

TEST(Scheduler, ResubmissionKeepsItsOriginalArrival) {
  Harness h(config(64, /*budget=*/8, /*max_seqs=*/1));
  GenerationRequest first = request(1, tokens(0, 4), 1);
  first.arrival = 100;
  h.sched.add_request(first);
  h.sched.add_request(request(2, tokens(10, 4), 1));  // arrival 101
  GenerationRequest resubmitted = request(3, tokens(20, 4), 1);
  resubmitted.arrival = 50;  // it was accepted before the scheduler restarted
  h.sched.add_request(resubmitted);
  std::vector<SeqId> order;
  for (int i = 0; i < 3; ++i) {
    h.step();
    order.push_back(h.plan.sequences.at(0).seq_id);
  }
  EXPECT_EQ(order, (std::vector<SeqId>{3, 1, 2}));
}

TEST(Scheduler, EosStopsUnlessIgnored) {
  const auto prompt = tokens(0, 6);
  SamplingParams p;
  p.temperature = 0.0f;
  p.max_tokens = 10;
  const auto expected = reference_output(prompt, p, {}, kVocab);
  // Make the first token that does not occur earlier (from the third on) an EOS.
  size_t k = 2;
  while (std::find(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(k), expected[k]) !=
         expected.begin() + static_cast<std::ptrdiff_t>(k))
    ++k;
  const int32_t eos = expected[k];
  for (bool ignore : {false, true}) {
    Harness h(config(8));
    GenerationRequest r = request(1, prompt, 10);
    r.eos_token_ids = {eos};
    r.sampling_params.ignore_eos = ignore;
    h.sched.add_request(r);
    h.run_to_end();
    ASSERT_EQ(h.finished.size(), 1u);
    if (ignore) {
      EXPECT_EQ(h.finished[0].reason, SequenceFinishReason::Length);
      EXPECT_EQ(h.finished[0].output_token_ids.size(), 10u);
    } else {
      EXPECT_EQ(h.finished[0].reason, SequenceFinishReason::Stop);
      EXPECT_EQ(h.finished[0].output_token_ids,
                std::vector<int32_t>(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(k) + 1));
    }
  }
}

TEST(Scheduler, ProtocolMisuseThrowsInLockStep) {
  SchedulerConfig c = config(8);
  c.async_scheduling = false;
  Scheduler s(c);
  s.add_request(request(1, tokens(0, 4), 2));
  const StepPlan plan = s.schedule();
  EXPECT_THROW(s.schedule(), std::logic_error);
  const std::vector<int32_t> two = {1, 2};
  EXPECT_THROW(s.update(plan, two), std::invalid_argument);
  const std::vector<int32_t> one = {1};
  s.update(plan, one);
  EXPECT_THROW(s.update(plan, one), std::logic_error);  // already applied
}

}  // namespace
}  // namespace troupe
