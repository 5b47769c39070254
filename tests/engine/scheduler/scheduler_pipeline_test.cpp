// Planning for a pipeline (SchedulerConfig::pipeline_stages > 1): as many plans in flight as
// stages, each over a different share of the sequences, never a placeholder; a prefill's chunks
// follow each other without waiting; one stage changes nothing.
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <vector>

#include "tests/engine/scheduler/scheduler_harness.h"

namespace troupe {
namespace {

using namespace troupe::testing;

SchedulerConfig pipeline_config(int32_t stages, int32_t budget = 64, int32_t max_seqs = 8) {
  SchedulerConfig c = config(64, budget, max_seqs);
  c.pipeline_stages = stages;
  return c;
}

std::set<SeqId> ids_of(const StepPlan& plan) {
  std::set<SeqId> ids;
  for (const ScheduledSequence& s : plan.sequences) ids.insert(s.seq_id);
  return ids;
}

bool has_placeholder(const StepPlan& plan) {
  for (const ScheduledSequence& s : plan.sequences)
    for (int32_t t : s.token_ids)
      if (t == kTokenSampledByExecutor) return true;
  return false;
}

TEST(SchedulerPipeline, AsManyPlansInFlightAsStagesEachOverItsOwnSequences) {
  Harness h(pipeline_config(3));
  for (SeqId id = 1; id <= 6; ++id) h.sched.add_request(request(id, tokens(static_cast<int32_t>(id) * 10, 5), 12));
  EXPECT_EQ(h.sched.max_outstanding_plans(), 3);
  EXPECT_EQ(h.sched.max_sequences_per_plan(), 2);
  std::vector<StepPlan> in_flight = {h.schedule(), h.schedule(), h.schedule()};
  EXPECT_THROW(h.sched.schedule(), std::logic_error);  // three at most
  std::set<SeqId> seen;
  for (const StepPlan& p : in_flight) {
    EXPECT_EQ(p.sequences.size(), 2u);
    for (SeqId id : ids_of(p)) EXPECT_TRUE(seen.insert(id).second) << "seq " << id << " in two plans in flight";
  }
  // From then on each answer frees its sequences for the next plan, and only them.
  for (int round = 0; round < 20 && h.sched.has_unfinished(); ++round) {
    const std::set<SeqId> returning = ids_of(in_flight.front());
    h.complete(in_flight.front());
    in_flight.erase(in_flight.begin());
    const StepPlan next = h.schedule();
    EXPECT_FALSE(has_placeholder(next));
    for (SeqId id : ids_of(next)) EXPECT_TRUE(returning.count(id)) << "seq " << id << " planned with a token pending";
    if (!next.empty()) in_flight.push_back(next);
  }
  for (const StepPlan& p : in_flight) h.complete(p);
  h.run_to_end();
  for (SeqId id = 1; id <= 6; ++id)
    EXPECT_EQ(h.result(id)->output_token_ids,
              reference_output(tokens(static_cast<int32_t>(id) * 10, 5), request(id, {}, 12).sampling_params, {}, kVocab));
}

TEST(SchedulerPipeline, APrefillsNextChunkGoesInTheNextPlanWithoutWaiting) {
  SchedulerConfig c = pipeline_config(2, /*budget=*/16);
  Harness h(c);
  h.sched.add_request(request(1, tokens(0, 40), 2));
  const StepPlan a = h.schedule(), b = h.schedule();
  ASSERT_EQ(a.sequences.size(), 1u);
  ASSERT_EQ(b.sequences.size(), 1u);
  EXPECT_EQ(b.sequences[0].num_computed_tokens, 16);  // every stage runs a before b
  EXPECT_FALSE(b.sequences[0].wants_logits);
  h.complete(a);
  const StepPlan last_chunk = h.schedule();
  EXPECT_TRUE(last_chunk.sequences[0].wants_logits);
  h.complete(b);
  // Its first token is pending: no decode is planned until it is back.
  EXPECT_TRUE(h.schedule().empty());
  h.complete(last_chunk);
  const StepPlan decode = h.schedule();
  ASSERT_EQ(decode.sequences.size(), 1u);
  EXPECT_EQ(decode.sequences[0].token_ids, std::vector<int32_t>{h.sched.find(1)->token_ids.back()});
  h.complete(decode);
  h.run_to_end();
  EXPECT_EQ(h.result(1)->output_token_ids, reference_output(tokens(0, 40), request(1, {}, 2).sampling_params, {}, kVocab));
}

TEST(SchedulerPipeline, WaitingRequestsAreAdmittedIntoThePlansWithRoom) {
  Harness h(pipeline_config(2, 64, /*max_seqs=*/5));
  for (SeqId id = 1; id <= 4; ++id) h.sched.add_request(request(id, tokens(static_cast<int32_t>(id), 3), 30));
  EXPECT_EQ(h.sched.max_sequences_per_plan(), 2);
  StepPlan a = h.schedule(), b = h.schedule();
  EXPECT_EQ(ids_of(a), (std::set<SeqId>{1, 2}));
  EXPECT_EQ(ids_of(b), (std::set<SeqId>{3, 4}));
  h.sched.add_request(request(5, tokens(50, 3), 30));
  h.sched.add_request(request(6, tokens(60, 3), 30));
  EXPECT_EQ(h.sched.max_sequences_per_plan(), 3);  // five may run (max_num_seqs), over two plans
  h.complete(a);
  const StepPlan c = h.schedule();
  EXPECT_EQ(ids_of(c), (std::set<SeqId>{1, 2, 5}));  // 6 would exceed max_num_seqs
  h.complete(b);
  h.complete(c);
  h.run_to_end();
  EXPECT_EQ(h.finished.size(), 6u);
}

TEST(SchedulerPipeline, OneStageKeepsPlanningAheadWithPlaceholders) {
  Harness h(pipeline_config(1));
  EXPECT_EQ(h.sched.max_outstanding_plans(), 2);
  EXPECT_EQ(h.sched.max_sequences_per_plan(), 8);
  h.sched.add_request(request(1, tokens(0, 5), 4));
  h.schedule();
  EXPECT_TRUE(has_placeholder(h.schedule()));
}

TEST(SchedulerPipeline, LockStepPipelineHasOnePlanInFlight) {
  SchedulerConfig c = pipeline_config(3);
  c.async_scheduling = false;
  Harness h(c);
  EXPECT_EQ(h.sched.max_outstanding_plans(), 1);
  for (SeqId id = 1; id <= 4; ++id) h.sched.add_request(request(id, tokens(static_cast<int32_t>(id), 3), 5));
  EXPECT_EQ(h.schedule().sequences.size(), 4u);
  EXPECT_THROW(h.sched.schedule(), std::logic_error);
}

TEST(SchedulerPipeline, ZeroStagesIsNotAConfig) {
  SchedulerConfig c = pipeline_config(0);
  EXPECT_NE(c.validate(), "");
  EXPECT_THROW(Scheduler{c}, std::invalid_argument);
}

}  // namespace
}  // namespace troupe
