// Scheduler::reset_executor_state: the executor that held the KV cache died and a fresh one took
// its place. Every running sequence is recomputed from scratch, the prefix cache is gone, an
// outstanding plan is forgotten, and no token a caller has streamed is lost or repeated. The fake
// executor's die() wipes its simulated KV, so any block the scheduler still trusted would be read
// back empty and fail.
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <vector>

#include "tests/engine/scheduler/scheduler_harness.h"

namespace troupe {
namespace {

using namespace troupe::testing;

std::vector<int32_t> alone(const std::vector<int32_t>& prompt, int32_t max_tokens) {
  return reference_output(prompt, request(0, {}, max_tokens).sampling_params, {}, kVocab);
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<int32_t> outputs(const Scheduler& s, SeqId id) {
  const auto out = s.find(id)->output_ids();
  return {out.begin(), out.end()};
}

TEST(SchedulerReset, WithAPlanOutstandingEverySequenceComesBackNewWithItsOutputs) {
  Harness h(config(/*num_blocks=*/32, /*budget=*/256));
  const std::map<SeqId, std::pair<std::vector<int32_t>, int32_t>> requests = {
      {1, {tokens(0, 20), 10}}, {2, {tokens(100, 30), 12}}, {3, {tokens(200, 10), 6}}, {4, {tokens(300, 40), 5}}};
  for (SeqId id : {1, 2, 3}) h.sched.add_request(request(id, requests.at(id).first, requests.at(id).second));
  for (int i = 0; i < 3; ++i) h.step();  // 1, 2 and 3 decode, 3 tokens out each
  h.sched.add_request(request(4, requests.at(4).first, requests.at(4).second));
  std::map<SeqId, std::vector<int32_t>> before;
  for (SeqId id : {1, 2, 3, 4}) before[id] = outputs(h.sched, id);
  ASSERT_EQ(before[1].size(), 3u);
  ASSERT_TRUE(before[4].empty());

  // The executor runs the next plan and dies before answering: the caller never sees its tokens.
  const StepPlan lost = h.sched.schedule();
  ASSERT_EQ(lost.sequences.size(), 4u);  // three decodes and 4's admission
  const std::vector<int32_t> lost_tokens = h.model.run(lost);
  h.executor_dies();

  EXPECT_EQ(h.sched.num_running(), 0);
  EXPECT_EQ(h.sched.num_waiting(), 4);
  for (SeqId id : {1, 2, 3, 4}) {
    const Sequence* s = h.sched.find(id);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->status, SequenceStatus::Waiting);
    EXPECT_EQ(s->num_computed_tokens, 0);
    EXPECT_EQ(outputs(h.sched, id), before[id]) << "generated tokens are kept";
    EXPECT_FALSE(h.sched.block_pool().holds_blocks(id));
  }
  const BlockPool& pool = h.sched.block_pool();
  EXPECT_EQ(pool.num_free_blocks(), 32);
  EXPECT_EQ(pool.num_referenced_blocks(), 0);
  EXPECT_EQ(pool.num_cached_blocks(), 0);
  EXPECT_EQ(pool.audit(), "");
  EXPECT_EQ(h.sched.stats().num_executor_resets, 1);
  EXPECT_EQ(h.sched.stats().num_preemptions, 0);
  // The lost plan is no longer outstanding: schedule() needs no update(), and update() refuses it.
  EXPECT_THROW(h.sched.update(lost, lost_tokens), std::logic_error);

  h.step();
  EXPECT_EQ(h.planned_ids(), (std::vector<SeqId>{1, 2, 3, 4}));  // (priority, arrival) order
  EXPECT_TRUE(h.plan.preempted_seq_ids.empty());
  EXPECT_TRUE(h.plan.finished_seq_ids.empty());
  EXPECT_EQ(h.plan.num_cached_tokens, 0);
  for (const ScheduledSequence& s : h.plan.sequences) {
    const auto& prompt = requests.at(s.seq_id).first;
    EXPECT_TRUE(s.is_new) << s.seq_id;
    EXPECT_EQ(s.prompt_token_ids, prompt);
    EXPECT_EQ(s.output_token_ids, before[s.seq_id]);
    EXPECT_EQ(s.num_output_tokens, static_cast<int32_t>(before[s.seq_id].size()));
    EXPECT_EQ(s.num_computed_tokens, 0);
    EXPECT_EQ(s.token_ids, concat(prompt, before[s.seq_id]));  // everything recomputed at once
    EXPECT_TRUE(s.wants_logits);
  }
  h.run_to_end();
  for (const auto& [id, r] : requests) {
    ASSERT_NE(h.result(id), nullptr);
    EXPECT_EQ(h.result(id)->output_token_ids, alone(r.first, r.second)) << "seq " << id;
  }
  EXPECT_TRUE(h.streamed.empty());  // each stream was checked against its output and dropped
  EXPECT_EQ(pool.num_free_blocks(), 32);
  EXPECT_EQ(pool.audit(), "");
  h.model.run(h.sched.schedule());
  EXPECT_EQ(h.model.num_records(), 0u);
}

TEST(SchedulerReset, BetweenStepsAndWithNothingRunning) {
  Harness h(config(/*num_blocks=*/16, /*budget=*/16));
  h.executor_dies();  // nothing to do
  EXPECT_TRUE(h.sched.schedule().empty());
  EXPECT_EQ(h.sched.stats().num_executor_resets, 1);

  h.sched.add_request(request(1, tokens(0, 50), 4));
  h.step();  // the first 16-token chunk
  h.executor_dies();  // no plan outstanding
  h.step();
  ASSERT_EQ(h.plan.sequences.size(), 1u);
  EXPECT_TRUE(h.plan.sequences[0].is_new);
  EXPECT_EQ(h.plan.sequences[0].num_computed_tokens, 0);  // the chunk is recomputed
  EXPECT_EQ(h.plan.sequences[0].num_new_tokens(), 16);
  h.run_to_end();
  EXPECT_EQ(h.result(1)->output_token_ids, alone(tokens(0, 50), 4));
  EXPECT_EQ(h.sched.stats().num_executor_resets, 2);
}

// The executor dies after every step: each restart recomputes prompt and outputs, samples exactly
// one new token, and the output is still the one the request produces alone.
TEST(SchedulerReset, DyingAfterEveryStepLosesAndRepeatsNothing) {
  Harness h(config(/*num_blocks=*/16, /*budget=*/64));
  h.sched.add_request(request(1, tokens(0, 20), 8));
  h.sched.add_request(request(2, tokens(100, 7), 5));
  for (int i = 0; i < 100 && h.sched.has_unfinished(); ++i) {
    h.step();
    for (const ScheduledSequence& s : h.plan.sequences) {
      EXPECT_TRUE(s.is_new);
      EXPECT_EQ(s.num_computed_tokens, 0);
    }
    h.executor_dies();
  }
  ASSERT_FALSE(h.sched.has_unfinished());
  EXPECT_EQ(h.result(1)->output_token_ids, alone(tokens(0, 20), 8));
  EXPECT_EQ(h.result(2)->output_token_ids, alone(tokens(100, 7), 5));
  EXPECT_EQ(h.sched.stats().num_steps, 8);  // one token per step, as without the deaths
  EXPECT_EQ(h.sched.block_pool().num_free_blocks(), 16);
  EXPECT_EQ(h.sched.block_pool().audit(), "");
}

TEST(SchedulerReset, RequeuesInPriorityThenArrivalOrder) {
  Harness h(config(/*num_blocks=*/64, /*budget=*/64, /*max_seqs=*/4));
  h.sched.add_request(request(1, tokens(0, 4), 20, /*priority=*/2));
  h.sched.add_request(request(2, tokens(10, 4), 20, /*priority=*/0));
  h.sched.add_request(request(3, tokens(20, 4), 20, /*priority=*/1));
  h.sched.add_request(request(4, tokens(30, 4), 20, /*priority=*/0));
  h.step();
  ASSERT_EQ(h.planned_ids(), (std::vector<SeqId>{2, 4, 3, 1}));
  h.sched.add_request(request(5, tokens(40, 4), 20, /*priority=*/0));  // waits: 4 running is the cap
  h.step();
  ASSERT_EQ(h.sched.find(5)->status, SequenceStatus::Waiting);
  h.sched.schedule();  // outstanding when the executor dies
  h.executor_dies();
  h.step();
  // Running sequences had no right to their places: 5 outranks 1 now, as under preemption.
  EXPECT_EQ(h.planned_ids(), (std::vector<SeqId>{2, 4, 5, 3}));
  EXPECT_EQ(h.sched.find(1)->status, SequenceStatus::Waiting);
  EXPECT_EQ(h.sched.find(1)->num_output_tokens(), 2);
  h.run_to_end();
  for (SeqId id = 1; id <= 5; ++id)
    EXPECT_EQ(h.result(id)->output_token_ids, alone(tokens(10 * (static_cast<int32_t>(id) - 1), 4), 20));
}

TEST(SchedulerReset, EmptiesThePrefixCache) {
  Harness h(config(/*num_blocks=*/16));
  const auto system = tokens(0, 32);
  h.sched.add_request(request(1, concat(system, {900, 901, 902}), 1));
  h.run_to_end();
  const auto second = concat(system, {700, 701});
  ASSERT_EQ(h.sched.block_pool().match_prefix(second).num_tokens, 32);  // it would hit
  ASSERT_GT(h.sched.block_pool().num_cached_blocks(), 0);
  const int64_t cached_before = h.sched.stats().num_cached_tokens;

  h.executor_dies();
  EXPECT_EQ(h.sched.block_pool().num_cached_blocks(), 0);
  EXPECT_EQ(h.sched.block_pool().match_prefix(second).num_tokens, 0);
  EXPECT_EQ(h.sched.block_pool().num_free_blocks(), 16);
  EXPECT_EQ(h.sched.block_pool().audit(), "");

  h.sched.add_request(request(2, second, 3));
  h.step();
  const ScheduledSequence& s = h.plan.sequences.at(0);
  EXPECT_EQ(s.num_computed_tokens, 0);
  EXPECT_EQ(s.num_new_tokens(), 34);
  EXPECT_EQ(h.plan.num_cached_tokens, 0);
  EXPECT_EQ(h.sched.find(2)->num_cached_tokens, 0);
  EXPECT_EQ(h.sched.stats().num_cached_tokens, cached_before);
  h.run_to_end();
  EXPECT_EQ(h.result(2)->output_token_ids, alone(second, 3));

  // The cache refills from what the new executor computed, and its hits read the right KV.
  const auto third = concat(system, {600});
  h.sched.add_request(request(3, third, 4));
  h.step();
  EXPECT_EQ(h.plan.num_cached_tokens, 32);
  h.run_to_end();
  EXPECT_EQ(h.result(3)->output_token_ids, alone(third, 4));
}

TEST(SchedulerReset, FinishedIdsFromBeforeTheResetAreNotSent) {
  Harness h(config(/*num_blocks=*/16));
  h.sched.add_request(request(1, tokens(0, 10), 5));
  h.sched.add_request(request(2, tokens(100, 10), 5));
  h.step();
  ASSERT_TRUE(h.sched.abort(1).has_value());
  h.executor_dies();  // the new executor never heard of 1
  h.step();
  EXPECT_TRUE(h.plan.finished_seq_ids.empty());
  EXPECT_EQ(h.planned_ids(), std::vector<SeqId>{2});
  h.run_to_end();
  EXPECT_EQ(h.result(2)->output_token_ids, alone(tokens(100, 10), 5));
  h.model.run(h.sched.schedule());  // delivers 2's id
  EXPECT_EQ(h.model.num_records(), 0u);
}

}  // namespace
}  // namespace troupe
