// The executor actor over a backend that pipelines (tests/engine/runtime/pipelining_fake_backend.h):
// driven by the real scheduler actor, planning ahead or in lock step, every request finishes with
// what it gives alone — the step that no next plan follows is answered by polling the backend, so
// nothing waits forever — and steps were launched before their predecessors were collected only
// when plans came ahead. A failed step still surfaces as an error: a failed launch of step N+1
// leaves step N's answer intact, and a failure mid-pipeline restarts the executor as before.
#include <gtest/gtest.h>

#include <map>

#include <caf/all.hpp>

#include "../engine/model/fixture_model.h"
#include "../engine/runtime/pipelining_fake_backend.h"
#include "actors/actor_system_config.h"
#include "actors/executor_actor.h"
#include "actors/message_inspect.h"
#include "actors/scheduler_actor.h"
#include "engine/runtime/cpu_backend.h"
#include "engine/scheduler/scheduler.h"
#include "restart_test_support.h"

namespace troupe {
namespace {

using test::PipeliningFakeBackend;

// Greedy requests (outputs independent of batching), one with a repetition penalty: while it
// decodes, the executor collects the pending step before launching the next.
std::vector<GenerationRequest> make_requests(int64_t vocab) {
  auto requests = test::make_restart_requests(24, vocab, /*seed=*/9);
  requests[7].sampling_params.repetition_penalty = 1.3f;
  requests[7].sampling_params.max_tokens = 8;
  return requests;
}

// Submits everything to `scheduler` and waits for every sequence to finish; a minute without a
// message fails (a step nobody answers would stall the engine).
std::map<SeqId, FinishedSequence> finish_all(caf::actor_system& sys, const caf::actor& scheduler,
                                             const std::vector<GenerationRequest>& requests) {
  caf::scoped_actor self{sys};
  for (const auto& r : requests)
    self->request(scheduler, caf::infinite, submit_atom::value, r).receive([](bool) {}, [](caf::error&) { FAIL(); });
  std::map<SeqId, FinishedSequence> finished;
  while (finished.size() < requests.size() && !::testing::Test::HasFailure()) {
    self->receive([](const TokenDeltas&) {},
                  [&](const FinishedBatch& b) {
                    for (const auto& f : b.sequences) finished[f.id] = f;
                  },
                  caf::after(std::chrono::seconds(60)) >> [] { FAIL() << "no progress for 60 s: a step went unanswered"; });
  }
  return finished;
}

void expect_alone(CpuModel& model, const std::vector<GenerationRequest>& requests,
                  const std::map<SeqId, FinishedSequence>& finished) {
  ASSERT_EQ(finished.size(), requests.size());
  for (const auto& r : requests) {
    EXPECT_NE(finished.at(r.id).reason, SequenceFinishReason::Abort) << "request " << r.id;
    EXPECT_EQ(finished.at(r.id).output_token_ids, test::alone(model, r)) << "request " << r.id;
  }
}

class PipelinedExecutor : public ::testing::TestWithParam<bool> {};

TEST_P(PipelinedExecutor, ABatchThroughTheSchedulerFinishesAsEachRequestAlone) {
  const bool ahead = GetParam();
  auto model = std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"));
  // A device step of 300 µs: the poll finds some steps unfinished and comes back.
  auto backend = std::make_shared<PipeliningFakeBackend>(std::make_shared<CpuBackend>(model),
                                                         std::chrono::microseconds(300));
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  auto executor = sys.spawn<caf::detached>(executor_actor, backend);
  auto scheduler = sys.spawn(scheduler_actor, test::restart_engine_config(ahead), executor, false,
                             std::shared_ptr<ServerMetrics>{});
  const auto requests = make_requests(model->config().vocab_size);
  expect_alone(*model, requests, finish_all(sys, scheduler, requests));
  EXPECT_GT(backend->ready_calls(), 0) << "no step was polled";
  if (ahead) {
    EXPECT_GT(backend->launches_ahead(), 20) << "plans that came ahead were launched ahead";
  } else {
    EXPECT_EQ(backend->launches_ahead(), 0) << "in lock step the next plan comes only after the answer";
  }
  caf::anon_send_exit(scheduler, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(executor, caf::exit_reason::user_shutdown);
}

INSTANTIATE_TEST_SUITE_P(Planning, PipelinedExecutor, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "Ahead" : "LockStep"; });

TEST(PipelinedExecutorFailure, AFailedLaunchAheadLeavesThePendingStepsAnswerIntact) {
  auto model = std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"));
  auto backend = std::make_shared<PipeliningFakeBackend>(std::make_shared<CpuBackend>(model));
  backend->fail_launch_at(1);
  Scheduler scheduler(test::restart_engine_config(true));
  // No penalties: the second step may go ahead of the first (else the executor would wait for
  // the held first step before launching it).
  for (const auto& r : test::make_restart_requests(24, model->config().vocab_size)) scheduler.add_request(r);
  const StepPlan first = scheduler.schedule(), second = scheduler.schedule();
  ASSERT_FALSE(second.empty());
  // Before the executor runs: the model's scratch buffers are not for two threads at once.
  CpuBackend reference_backend(model);
  const std::vector<int32_t> expected = StepRunner(reference_backend, 64, 16).run(first).tokens;
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  auto executor = sys.spawn<caf::detached>(executor_actor, backend);
  caf::scoped_actor self{sys};
  self->request(executor, caf::infinite, init_atom::value, KvPoolShape{64, 16}).receive([](bool) {}, [](caf::error&) { FAIL(); });
  backend->hold(true);  // the first step stays pending until the second has come and failed
  auto first_answer = self->request(executor, caf::infinite, step_atom::value, first);
  auto second_answer = self->request(executor, caf::infinite, step_atom::value, second);
  second_answer.receive([](const StepResult&) { ADD_FAILURE() << "the second launch was to fail"; },
                        [&](caf::error& err) { EXPECT_NE(sys.render(err).find("executor step failed: injected launch failure"), std::string::npos) << sys.render(err); });
  backend->hold(false);
  first_answer.receive([&](const StepResult& r) { EXPECT_EQ(r.sampled, expected); },
                       [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
  EXPECT_EQ(backend->calls(), (std::vector<PipeliningFakeBackend::Call>{{true, 0}, {false, 0}}))
      << "the second step never reached the device queue";
  caf::anon_send_exit(executor, caf::exit_reason::user_shutdown);
}

// A device fault at a collect, or a launch that fails, partway through: the scheduler sees the
// step fail, the supervisor restarts the executor, and everything running is recomputed.
class PipelinedExecutorFault : public ::testing::TestWithParam<bool> {};

TEST_P(PipelinedExecutorFault, RestartsTheExecutorAndEveryRequestFinishesAsAlone) {
  auto model = std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"));
  auto backend = std::make_shared<PipeliningFakeBackend>(std::make_shared<CpuBackend>(model));
  if (GetParam()) backend->fail_collect_at(12);
  else backend->fail_launch_at(12);
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const auto engine = start_engine(sys, backend, "", test::restart_engine_config(true), /*max_restarts=*/2);
  const auto requests = make_requests(model->config().vocab_size);
  expect_alone(*model, requests, finish_all(sys, engine.scheduler, requests));
  caf::scoped_actor self{sys};
  self->request(engine.scheduler, caf::infinite, snapshot_atom::value)
      .receive([](const SchedulerSnapshot& s) { EXPECT_EQ(s.num_executor_resets, 1); }, [](caf::error&) { FAIL(); });
  stop_engine(engine);
}

INSTANTIATE_TEST_SUITE_P(Where, PipelinedExecutorFault, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "Collect" : "Launch"; });

}  // namespace
}  // namespace troupe
