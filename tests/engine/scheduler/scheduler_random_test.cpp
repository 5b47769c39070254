// Randomized invariants: thousands of requests with random arrivals, prompt lengths (many sharing
// prefixes), max_tokens, priorities, aborts and (in some scenarios) executor deaths, under tight
// memory, through the scheduler and the fake paged model, in lock step or with two plans in
// flight (the executor sometimes running both before the scheduler hears of the first). Every
// plan keeps the budget and the cap, serves every ready decode, preempts only the newest, writes
// only private blocks; the pool never leaks; every finished output equals what the request
// produces alone; and the tokens update() accepts concatenate to exactly that output, across
// preemptions, aborts and executor restarts, none streamed twice or lost.
#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/engine/scheduler/random_run.h"

namespace troupe {
namespace {

using testing::FakePagedModel;
using testing::RandomRun;
using testing::Scenario;
using testing::kEos;
using testing::kRandomVocab;
using testing::random_request;
using testing::reference_output;

const Scenario kScenarios[] = {
    // name                 seed bs blocks seqs budget cache thr   prio  reqs   abort death
    {"tight_cached",          1, 4,   24,   8,   32,   true,  0,   false, 2000, 0.02, 0},
    {"tight_uncached",        2, 4,   24,   8,   32,   false, 0,   false, 2000, 0.02, 0},
    {"tight_priorities",      3, 4,   26,   6,   24,   true,  0,   true, 2000, 0.02, 0},
    {"threshold_chunks",      4, 4,   30,  16,   48,   true,  8,   false, 2000, 0.02, 0},
    {"one_seq_at_a_time",     5, 4,   24,   1,    8,   true,  0,   false, 1000, 0.02, 0},
    {"big_blocks",            6, 16,   8,   8,   64,   true,  0,   true, 2000, 0.02, 0},
    {"roomy_many_aborts",     7, 8,  200,  32,  256,   true,  0,   false, 2000, 0.20, 0},
    {"budget_equals_cap",     8, 4,   40,  12,   12,   true,  0,   true, 2000, 0.05, 0},
    {"deaths_tight_cached",   9, 4,   24,   8,   32,   true,  0,   false, 2000, 0.02, 0.03},
    {"deaths_chunks_prio",   10, 4,   30,  12,   24,   true,  8,   true, 2000, 0.05, 0.05},
    {"deaths_roomy",         11, 8,  200,  32,  256,   true,  0,   false, 2000, 0.10, 0.06},
    // Two plans in flight.                                                              async
    {"async_tight_cached",   21, 4,   24,   8,   32,   true,  0,   false, 2000, 0.02, 0,    true},
    {"async_tight_uncached", 22, 4,   24,   8,   32,   false, 0,   false, 2000, 0.02, 0,    true},
    {"async_chunks_prio",    23, 4,   30,  12,   24,   true,  8,   true, 2000, 0.05, 0,    true},
    {"async_one_at_a_time",  24, 4,   24,   1,    8,   true,  0,   false, 1000, 0.02, 0,    true},
    {"async_big_blocks",     25, 16,   8,   8,   64,   true,  0,   true, 2000, 0.02, 0,    true},
    {"async_many_aborts",    26, 8,  200,  32,  256,   true,  0,   false, 2000, 0.20, 0,    true},
    {"async_budget_is_cap",  27, 4,   40,  12,   12,   true,  0,   true, 2000, 0.05, 0,    true},
    {"async_deaths_tight",   28, 4,   24,   8,   32,   true,  0,   false, 2000, 0.02, 0.03, true},
    {"async_deaths_roomy",   29, 8,  200,  32,  256,   true,  0,   false, 2000, 0.10, 0.06, true},
    // Pipeline parallel: as many plans in flight as stages, disjoint batches.           async stages
    {"pp2_tight_cached",     41, 4,   24,   8,   32,   true,  0,   false, 2000, 0.02, 0,    true, 2},
    {"pp3_tight_cached",     42, 4,   24,   8,   32,   true,  0,   false, 2000, 0.02, 0,    true, 3},
    {"pp3_chunks_prio",      43, 4,   30,  12,   24,   true,  8,   true, 2000, 0.05, 0,    true, 3},
    {"pp4_roomy_aborts",     44, 8,  200,  32,  256,   true,  0,   false, 2000, 0.20, 0,    true, 4},
    {"pp3_one_at_a_time",    45, 4,   24,   1,    8,   true,  0,   false, 1000, 0.02, 0,    true, 3},
    {"pp2_deaths_tight",     46, 4,   24,   8,   32,   true,  0,   false, 2000, 0.02, 0.03, true, 2},
    {"pp3_deaths_roomy",     47, 8,  200,  32,  256,   true,  0,   false, 2000, 0.10, 0.06, true, 3},
    {"pp3_lock_step",        48, 4,   30,  12,   24,   true,  8,   true, 1000, 0.05, 0.03, false, 3},
};

class SchedulerRandom : public ::testing::TestWithParam<Scenario> {};

TEST_P(SchedulerRandom, EverythingFinishesNothingLeaksOutputsMatchRunningAlone) {
  RandomRun run(GetParam());
  run.go();
}

INSTANTIATE_TEST_SUITE_P(Scenarios, SchedulerRandom, ::testing::ValuesIn(kScenarios),
                         [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });

// Tight memory must actually preempt and prefixes must actually hit, or the test above proves
// little.
TEST(SchedulerRandomCoverage, TightMemoryPreemptsAndSharedPrefixesHit) {
  RandomRun run(kScenarios[0]);
  run.go();
  EXPECT_GT(run.stats().num_preemptions, 50);
  EXPECT_GT(run.stats().num_cached_tokens, 1000);
}

// Deaths must strike sequences mid-generation, with the executor's answer in flight too, and the
// cache must be refilled and hit between deaths.
TEST(SchedulerRandomCoverage, ExecutorDeathsLoseGeneratedTokensInFlightAndTheCacheRefills) {
  RandomRun run(kScenarios[8]);
  run.go();
  EXPECT_GT(run.stats().num_executor_resets, 100);
  EXPECT_GT(run.deaths_with_lost_tokens(), 50);
  EXPECT_GT(run.resumed_with_outputs(), 200);
  EXPECT_GT(run.stats().num_preemptions, 50);
  EXPECT_GT(run.stats().num_cached_tokens, 1000);
}

// Planning ahead must actually use placeholders, void the work of sequences that finished or left
// meanwhile, preempt sequences with a token pending, and lose answers in flight to deaths.
TEST(SchedulerRandomCoverage, TwoPlansInFlightExerciseEveryAsyncPath) {
  RandomRun tight(kScenarios[11]);
  tight.go();
  EXPECT_GT(tight.placeholders(), 5000);
  EXPECT_GT(tight.voided_tokens(), 100);
  EXPECT_GT(tight.preempted_with_pending(), 50);
  EXPECT_GT(tight.stats().num_cached_tokens, 1000);
  RandomRun deaths(kScenarios[18]);
  deaths.go();
  EXPECT_GT(deaths.stats().num_executor_resets, 100);
  EXPECT_GT(deaths.deaths_with_lost_tokens(), 50);
  EXPECT_GT(deaths.placeholders(), 5000);
}

// A pipeline must actually fill up: plans made while the others are in flight, each with work,
// preemptions and the cache still working, and never a placeholder (stage 0 could not embed it).
const Scenario& scenario(const std::string& name) {
  for (const Scenario& sc : kScenarios)
    if (sc.name == name) return sc;
  throw std::invalid_argument("no scenario " + name);
}

TEST(SchedulerRandomCoverage, PipelineStagesGetDisjointBatchesInFlightAtOnce) {
  for (const char* name : {"pp2_tight_cached", "pp3_tight_cached", "pp3_deaths_roomy"}) {
    RandomRun run(scenario(name));
    run.go();
    EXPECT_EQ(run.placeholders(), 0) << name;
    EXPECT_GT(run.plans_filling_pipeline(), 2000) << name;
    EXPECT_GT(run.stats().num_cached_tokens, 1000) << name;
    if (std::string(name) == "pp3_tight_cached") {
      EXPECT_GT(run.stats().num_preemptions, 50);
      EXPECT_GT(run.preempted_with_pending(), 10);
    }
  }
}

// The oracle above is the fake model's closed form; check that it is what a request produces
// through the scheduler alone, with all the memory it could want.
TEST(SchedulerRandomOracle, ReferenceOutputIsWhatARequestProducesAlone) {
  std::mt19937_64 rng(99);
  std::vector<std::vector<int32_t>> families = {{}};
  for (int i = 0; i < 50; ++i) {
    SchedulerConfig c;
    c.block_size = 4;
    c.num_blocks = 1000;
    c.max_num_batched_tokens = 1000;
    c.enable_prefix_caching = false;
    Scheduler sched(c);
    FakePagedModel model(sched.block_pool(), kRandomVocab);
    GenerationRequest r = random_request(rng, 1, families, false, 90);
    const auto expected = reference_output(r.prompt_token_ids, r.sampling_params, kEos, kRandomVocab);
    sched.add_request(r);
    std::vector<FinishedSequence> done;
    while (done.empty()) {
      const StepPlan plan = sched.schedule();
      ASSERT_FALSE(plan.empty());
      done = sched.update(plan, model.run(plan));
    }
    EXPECT_EQ(done[0].output_token_ids, expected);
  }
}

}  // namespace
}  // namespace troupe
