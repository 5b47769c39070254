// StepRunner keeps each sequence's block table from the plans' diffs. A restarted executor is a
// fresh runner that holds none: a plan that continues a sequence fails loudly there (it would
// otherwise read KV blocks it knows nothing of), and the plan the scheduler makes after
// reset_executor_state() sends every table whole, so the fresh runner carries on and every
// request ends with the tokens it gets without the restart.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

#include "../model/fixture_model.h"
#include "engine/runtime/cpu_backend.h"
#include "engine/runtime/step_runner.h"
#include "engine/scheduler/scheduler.h"

namespace troupe {
namespace {

constexpr int32_t kBlocks = 32, kBlockSize = 4;  // small blocks: decodes cross block boundaries

const SchedulerConfig kConfig{.max_num_seqs = 4, .max_num_batched_tokens = 64, .block_size = kBlockSize,
                              .num_blocks = kBlocks, .enable_prefix_caching = true,
                              .long_prefill_token_threshold = 0, .async_scheduling = false};

void add_requests(Scheduler& s) {
  for (SeqId id = 1; id <= 3; ++id) {
    GenerationRequest r{.id = id};
    for (int32_t t = 0; t < 6 + 3 * static_cast<int32_t>(id); ++t) r.prompt_token_ids.push_back(20 * static_cast<int32_t>(id) + t);
    r.sampling_params.temperature = 0.0f;
    r.sampling_params.max_tokens = 12;
    r.sampling_params.ignore_eos = true;
    s.add_request(std::move(r));
  }
}

// Runs `steps` lock-step iterations (or to the end when negative); collects finished outputs.
void run(Scheduler& sched, StepRunner& runner, int steps, std::map<SeqId, std::vector<int32_t>>& done) {
  for (int i = 0; (steps < 0 || i < steps) && sched.has_unfinished(); ++i) {
    const StepPlan plan = sched.schedule();
    for (const FinishedSequence& f : sched.update(plan, runner.run(plan).tokens)) done[f.id] = f.output_token_ids;
  }
}

TEST(StepRunnerTables, AFreshRunnerRefusesAContinuationAndResumesFromWholeTables) {
  CpuBackend backend(std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2")));
  std::map<SeqId, std::vector<int32_t>> alone, restarted;
  {
    Scheduler sched(kConfig);
    add_requests(sched);
    StepRunner runner(backend, kBlocks, kBlockSize);
    run(sched, runner, -1, alone);
  }
  Scheduler sched(kConfig);
  add_requests(sched);
  {
    StepRunner first(backend, kBlocks, kBlockSize);
    run(sched, first, 5, restarted);
    EXPECT_EQ(first.block_tables().size(), 3u);
  }
  StepRunner fresh(backend, kBlocks, kBlockSize);  // the restarted executor, a new pool
  const StepPlan continuation = sched.schedule();
  ASSERT_FALSE(continuation.empty());
  for (const ScheduledSequence& s : continuation.sequences) ASSERT_FALSE(s.is_new);
  EXPECT_THROW(fresh.run(continuation), std::logic_error);

  sched.reset_executor_state();  // what the scheduler actor does on a lost executor
  const StepPlan resume = sched.schedule();
  ASSERT_FALSE(resume.empty());
  for (const ScheduledSequence& s : resume.sequences) {
    EXPECT_TRUE(s.is_new) << "seq " << s.seq_id;
    EXPECT_EQ(s.new_block_ids.size(), sched.block_pool().block_table(s.seq_id).size()) << "seq " << s.seq_id;
  }
  for (const FinishedSequence& f : sched.update(resume, fresh.run(resume).tokens)) restarted[f.id] = f.output_token_ids;
  run(sched, fresh, -1, restarted);
  EXPECT_EQ(restarted, alone);
  fresh.run(sched.schedule());  // the plan that names the last finished ids
  EXPECT_EQ(fresh.block_tables().size(), 0u) << "finished sequences' tables are dropped";
}

}  // namespace
}  // namespace troupe
