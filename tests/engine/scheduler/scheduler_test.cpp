// Scheduler behaviour, one rule per test: chunking, budgets, ordering, preemption, abort, prefix
// hits, and the StepPlan protocol.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <vector>

#include "engine/scheduler/scheduler.h"
#include "tests/engine/scheduler/fake_paged_model.h"

namespace troupe {
namespace {

using testing::FakePagedModel;
using testing::reference_output;

constexpr int32_t kVocab = 1000;  // no EOS unless a test asks for one

std::vector<int32_t> tokens(int32_t first, int32_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

SchedulerConfig config(int32_t num_blocks, int32_t budget = 64, int32_t max_seqs = 8) {
  SchedulerConfig c;
  c.num_blocks = num_blocks;
  c.block_size = 16;
  c.max_num_batched_tokens = budget;
  c.max_num_seqs = max_seqs;
  return c;
}

GenerationRequest request(SeqId id, std::vector<int32_t> prompt, int32_t max_tokens, int32_t priority = 0) {
  GenerationRequest r;
  r.id = id;
  r.prompt_token_ids = std::move(prompt);
  r.sampling_params.max_tokens = max_tokens;
  r.sampling_params.temperature = 0.0f;
  r.priority = priority;
  return r;
}

// Scheduler + fake model, one step at a time.
struct Harness {
  explicit Harness(SchedulerConfig c) : sched(c), model(sched.block_pool(), kVocab) {}
  StepPlan plan;
  std::vector<FinishedSequence> step() {
    plan = sched.schedule();
    const auto sampled = model.run(plan);
    auto done = sched.update(plan, sampled);
    finished.insert(finished.end(), done.begin(), done.end());
    return done;
  }
  void run_to_end(int max_steps = 10000) {
    for (int i = 0; i < max_steps && sched.has_unfinished(); ++i) step();
    ASSERT_FALSE(sched.has_unfinished());
  }
  const FinishedSequence* result(SeqId id) const {
    for (const auto& f : finished)
      if (f.id == id) return &f;
    return nullptr;
  }
  std::vector<SeqId> planned_ids() const {
    std::vector<SeqId> ids;
    for (const auto& s : plan.sequences) ids.push_back(s.seq_id);
    return ids;
  }
  Scheduler sched;
  FakePagedModel model;
  std::vector<FinishedSequence> finished;
};

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

TEST(Scheduler, ShortPromptIsOnePrefillThenOneTokenPerStep) {
  Harness h(config(8));
  h.sched.add_request(request(1, tokens(0, 10), 3));
  h.step();
  ASSERT_EQ(h.plan.sequences.size(), 1u);
  const ScheduledSequence& first = h.plan.sequences[0];
  EXPECT_TRUE(first.is_new);
  EXPECT_EQ(first.prompt_token_ids, tokens(0, 10));
  EXPECT_EQ(first.token_ids, tokens(0, 10));
  EXPECT_EQ(first.positions, tokens(0, 10));
  EXPECT_TRUE(first.wants_logits);
  EXPECT_EQ(first.num_output_tokens, 0);
  h.step();
  const ScheduledSequence& second = h.plan.sequences[0];
  EXPECT_FALSE(second.is_new);
  EXPECT_TRUE(second.prompt_token_ids.empty());
  EXPECT_EQ(second.positions, std::vector<int32_t>{10});
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
    EXPECT_GE(static_cast<int32_t>(s.block_table.size()) * 16, s.context_len());
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
  const StepPlan plan = h.sched.schedule();
  const auto sampled = h.model.run(plan);
  ASSERT_TRUE(h.sched.abort(1).has_value());
  h.sched.add_request(request(1, tokens(500, 3), 1));  // the id comes back as a new request
  const auto done = h.sched.update(plan, sampled);
  EXPECT_TRUE(done.empty());
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

TEST(Scheduler, ProtocolMisuseThrows) {
  Scheduler s(config(8));
  s.add_request(request(1, tokens(0, 4), 2));
  const StepPlan plan = s.schedule();
  EXPECT_THROW(s.schedule(), std::logic_error);
  const std::vector<int32_t> two = {1, 2};
  EXPECT_THROW(s.update(plan, two), std::invalid_argument);
  const std::vector<int32_t> one = {1};
  s.update(plan, one);
  EXPECT_THROW(s.update(plan, one), std::logic_error);  // already applied
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
