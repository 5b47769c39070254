// What a scheduler's client hands a restarted scheduler (InFlight, ArrivalCounter): the request as
// first submitted, its first arrival and the tokens received so far; and a request whose tokens
// already end it is finished by the client instead. Then the scheduler itself: a resubmission
// keeps its place in the queue, and its tokens are not generated again.
#include <gtest/gtest.h>

#include "engine/scheduler/arrival_counter.h"
#include "engine/scheduler/resubmission.h"
#include "engine/scheduler/scheduler.h"

namespace troupe {
namespace {

GenerationRequest request(SeqId id, int32_t max_tokens) {
  GenerationRequest r;
  r.id = id;
  r.prompt_token_ids = {1, 2, 3, 4};
  r.sampling_params.max_tokens = max_tokens;
  r.eos_token_ids = {99};
  r.priority = 2;
  return r;
}

TEST(ArrivalCounter, NumbersInOrderAndAGivenArrivalIsKeptAndNeverShared) {
  ArrivalCounter arrivals;
  EXPECT_EQ(arrivals.number(std::nullopt), 0u);
  EXPECT_EQ(arrivals.number(std::nullopt), 1u);
  EXPECT_EQ(arrivals.number(0), 0u);  // a resubmission keeps its own
  EXPECT_EQ(arrivals.number(std::nullopt), 2u);
  EXPECT_EQ(arrivals.number(10), 10u);  // a given one past the count moves it on
  EXPECT_EQ(arrivals.number(std::nullopt), 11u);
}

TEST(InFlight, AResubmissionIsTheRequestWithItsFirstArrivalAndTheTokensSoFar) {
  const GenerationRequest first = request(7, 16);
  InFlight f{3, {}};
  GenerationRequest g = f.resubmission(first);
  EXPECT_EQ(g.arrival, 3u);
  EXPECT_TRUE(g.output_token_ids.empty());
  f.output_token_ids = {5, 6};
  g = f.resubmission(first);
  EXPECT_EQ(g.id, 7u);
  EXPECT_EQ(g.prompt_token_ids, first.prompt_token_ids);
  EXPECT_EQ(g.priority, 2);
  EXPECT_EQ(g.sampling_params.max_tokens, 16);
  EXPECT_EQ(g.arrival, 3u);
  EXPECT_EQ(g.output_token_ids, (std::vector<int32_t>{5, 6}));
  EXPECT_TRUE(first.output_token_ids.empty());  // the request as first submitted is untouched
}

TEST(InFlight, TokensThatAlreadyEndTheRequestFinishItInsteadOfAResubmission) {
  const GenerationRequest r = request(1, 3);
  EXPECT_EQ(InFlight({0, {5, 6}}).finished_by_output(r), std::nullopt);
  EXPECT_EQ(InFlight({0, {5, 99}}).finished_by_output(r), SequenceFinishReason::Stop);  // an EOS last
  EXPECT_EQ(InFlight({0, {5, 6, 7}}).finished_by_output(r), SequenceFinishReason::Length);
  GenerationRequest ignoring = r;
  ignoring.sampling_params.ignore_eos = true;
  EXPECT_EQ(InFlight({0, {5, 99}}).finished_by_output(ignoring), std::nullopt);
}

TEST(InFlight, ARestartedSchedulerServesResubmissionsInTheirFirstOrderAndContinuesAfterTheirTokens) {
  SchedulerConfig config;
  config.num_blocks = 64;
  config.block_size = 4;
  config.max_num_seqs = 1;  // one at a time: the order of service shows
  config.max_num_batched_tokens = 64;
  Scheduler restarted(config);
  // Resubmitted in the wrong order: the one that arrived first (arrival 0) comes second.
  GenerationRequest a = request(1, 4), b = request(2, 4);
  b.priority = a.priority = 0;
  restarted.add_request(InFlight{1, {}}.resubmission(b));
  restarted.add_request(InFlight{0, {5, 6}}.resubmission(a));
  const StepPlan plan = restarted.schedule();
  ASSERT_EQ(plan.sequences.size(), 1u);
  EXPECT_EQ(plan.sequences[0].seq_id, 1u);
  // Its prompt and the two tokens it had are computed again, not sampled again: the token drawn
  // now is its third output.
  EXPECT_EQ(plan.sequences[0].token_ids, (std::vector<int32_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(plan.sequences[0].output_token_ids, (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(plan.sequences[0].num_output_tokens, 2);
}

}  // namespace
}  // namespace troupe
