// An executor that dies mid-generation is restarted by the supervisor, and every accepted request
// still finishes with exactly the tokens it produces alone: none lost, none streamed twice.
#include <gtest/gtest.h>

#include <map>

#include <caf/all.hpp>

#include "../engine/model/fixture_model.h"
#include "actors/actor_system_config.h"
#include "engine/runtime/cpu_backend.h"
#include "restart_test_support.h"

namespace troupe {
namespace {

struct Outcome {
  std::map<SeqId, std::vector<int32_t>> streamed;  // TokenDeltas, concatenated per sequence
  std::map<SeqId, FinishedSequence> finished;
  int kills = 0;
};

// Submits everything, and kills the current executor each time `kill_every` more tokens have
// been streamed, up to `max_kills` times. Tokens can arrive faster than this thread reads them,
// so a kill waits until the supervisor names a new executor (else the dead one would be "killed"
// again).
Outcome run_with_kills(caf::actor_system& sys, const EngineActors& engine, const std::vector<GenerationRequest>& requests,
                       int kill_every, int max_kills) {
  caf::scoped_actor self{sys};
  Outcome out;
  for (const auto& r : requests)
    self->request(engine.scheduler, caf::infinite, submit_atom::value, r).receive([](bool) {}, [](caf::error&) { FAIL(); });
  int tokens = 0;
  caf::actor last_killed;
  while (out.finished.size() < requests.size()) {
    self->receive(
        [&](const TokenDeltas& d) {
          for (size_t i = 0; i < d.seq_ids.size(); ++i) out.streamed[d.seq_ids[i]].push_back(d.tokens[i]);
          tokens += static_cast<int>(d.seq_ids.size());
          if (out.kills < max_kills && tokens >= kill_every * (out.kills + 1)) {
            if (caf::actor killed = test::kill_current(sys, engine, &EngineActors::executor, last_killed)) {
              last_killed = killed;
              ++out.kills;
            }
          }
        },
        [&](const FinishedBatch& b) {
          for (const auto& f : b.sequences) out.finished[f.id] = f;
        },
        caf::after(std::chrono::seconds(60)) >> [&] { FAIL() << "no progress for 60 s"; });
    if (::testing::Test::HasFatalFailure()) break;
  }
  return out;
}

// Planning ahead (the default) or in lock step: a kill can strike with two plans in flight.
class ExecutorRestart : public ::testing::TestWithParam<bool> {};

TEST_P(ExecutorRestart, KilledExecutorsAreReplacedAndEveryRequestFinishesAsItWouldAlone) {
  auto model = std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"));
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  auto metrics = std::make_shared<ServerMetrics>();
  const auto engine = start_engine(sys, std::make_shared<CpuBackend>(model), "",
                                   test::restart_engine_config(GetParam()), /*max_restarts=*/5, metrics);
  const auto requests = test::make_restart_requests(24, model->config().vocab_size);
  const Outcome out = run_with_kills(sys, engine, requests, /*kill_every=*/40, /*max_kills=*/3);
  EXPECT_EQ(out.kills, 3);
  ASSERT_EQ(out.finished.size(), requests.size());
  for (const auto& r : requests) {
    const auto alone = test::alone(*model, r);
    const FinishedSequence& f = out.finished.at(r.id);
    EXPECT_NE(f.reason, SequenceFinishReason::Abort) << "request " << r.id;
    EXPECT_EQ(f.output_token_ids, alone) << "request " << r.id;
    EXPECT_EQ(out.streamed.count(r.id) ? out.streamed.at(r.id) : std::vector<int32_t>{}, f.output_token_ids)
        << "request " << r.id << ": streamed tokens lost or repeated";
  }
  caf::scoped_actor self{sys};
  self->request(engine.scheduler, caf::infinite, snapshot_atom::value)
      .receive([](const SchedulerSnapshot& s) {
                 EXPECT_EQ(s.num_executor_resets, 3);
                 EXPECT_EQ(s.num_free_blocks, s.num_blocks);
               },
               [](caf::error&) { FAIL(); });
  EXPECT_NE(metrics->prometheus_text().find("troupe:actor_restarts_total{actor=\"executor\",node=\"\"} 3\n"),
            std::string::npos)
      << metrics->prometheus_text();
  stop_engine(engine);
}

INSTANTIATE_TEST_SUITE_P(Planning, ExecutorRestart, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "Ahead" : "LockStep"; });

TEST(ExecutorRestart, PastTheRestartBudgetLiveRequestsEndWithAbort) {
  auto model = std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"));
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const auto engine = start_engine(sys, std::make_shared<CpuBackend>(model), "", {.max_num_seqs = 4, .max_num_batched_tokens = 64, .block_size = 16,
                                                     .num_blocks = 64, .enable_prefix_caching = true,
                                                     .long_prefill_token_threshold = 0}, /*max_restarts=*/0);
  auto requests = test::make_restart_requests(8, model->config().vocab_size);
  for (auto& r : requests) {
    r.sampling_params.max_tokens = 400;
    r.sampling_params.ignore_eos = true;
  }
  const Outcome out = run_with_kills(sys, engine, requests, /*kill_every=*/10, /*max_kills=*/1);
  ASSERT_EQ(out.finished.size(), requests.size());
  for (const auto& [id, f] : out.finished) EXPECT_EQ(f.reason, SequenceFinishReason::Abort) << "request " << id;
  stop_engine(engine);
}

}  // namespace
}  // namespace troupe
