// Pipeline parallel through the actors: a model cut into 2 or 3 stage executors, driven by the
// scheduler as one executor, gives every request exactly what the whole model gives it alone
// (greedy and seeded, chunked prefills, EOS, planning ahead and in lock step); the stages work on
// different plans at once; a killed or failing stage ends its group, the supervisor restarts the
// group and every request still finishes as it would alone; and a stage in another actor system
// (hidden states serialized through the wire schema) gives the same outputs.
#include <gtest/gtest.h>

#include <map>
#include <ostream>
#include <random>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "../engine/model/fixture_model.h"
#include "actors/actor_system_config.h"
#include "actors/batch_client.h"
#include "actors/engine_topology.h"
#include "actors/pipeline_stage_actor.h"
#include "actors/scheduler_actor.h"
#include "engine/runtime/cpu_backend.h"
#include "restart_test_support.h"
#include "stage_probe_backend.h"

namespace troupe {
namespace {

using test::alone;

// Greedy and seeded requests, 1-70 prompt tokens, some ending at an EOS their output reaches.
std::vector<GenerationRequest> mixed_requests(CpuModel& whole, int n) {
  std::mt19937 rng(11);
  std::vector<GenerationRequest> out;
  for (int i = 0; i < n; ++i) {
    GenerationRequest r;
    r.id = static_cast<SeqId>(i);
    for (int t = std::uniform_int_distribution<int>(1, 70)(rng); t > 0; --t)
      r.prompt_token_ids.push_back(std::uniform_int_distribution<int>(3, static_cast<int>(whole.config().vocab_size) - 1)(rng));
    r.sampling_params.max_tokens = std::uniform_int_distribution<int>(1, 24)(rng);
    if (i % 2 == 1) {
      r.sampling_params.temperature = 0.8f;
      r.sampling_params.seed = 1000 + i;
    } else {
      r.sampling_params.temperature = 0.0f;
    }
    out.push_back(r);
  }
  for (size_t i = 0; i < out.size(); i += 5) {
    const auto alone_out = alone(whole, out[i]);
    if (alone_out.size() > 2) out[i].eos_token_ids = {alone_out[alone_out.size() / 2]};
  }
  return out;
}

SchedulerConfig small_engine(bool async) {
  return {.max_num_seqs = 8, .max_num_batched_tokens = 32, .block_size = 16, .num_blocks = 64,
          .enable_prefix_caching = true, .long_prefill_token_threshold = 0, .async_scheduling = async};
}

std::map<SeqId, FinishedSequence> run_all(caf::actor_system& sys, const EngineActors& engine,
                                          const std::vector<GenerationRequest>& requests) {
  std::map<SeqId, FinishedSequence> out;
  run_batch(sys, engine, requests, [&](const FinishedSequence& f) { out[f.id] = f; },
            [](SeqId id, const std::string& why) { ADD_FAILURE() << "request " << id << " rejected: " << why; });
  return out;
}

struct PipelineCase {
  int32_t stages;
  bool async;
};

void PrintTo(const PipelineCase& c, std::ostream* os) {
  *os << c.stages << " stages, " << (c.async ? "planning ahead" : "lock step");
}

class PipelineEngine : public ::testing::TestWithParam<PipelineCase> {};

TEST_P(PipelineEngine, EveryRequestGetsWhatTheWholeModelGivesItAlone) {
  CpuModel whole = test::load_fixture_model("tiny-llama3");
  const auto requests = mixed_requests(whole, 40);
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const auto engine = start_pipeline_engine(sys, test::fixture_stage_backends("tiny-llama3", GetParam().stages), small_engine(GetParam().async));
  const auto out = run_all(sys, engine, requests);
  ASSERT_EQ(out.size(), requests.size());
  for (const auto& r : requests) {
    EXPECT_NE(out.at(r.id).reason, SequenceFinishReason::Abort);
    EXPECT_EQ(out.at(r.id).output_token_ids, alone(whole, r)) << "request " << r.id;
  }
  stop_engine(engine);
}

INSTANTIATE_TEST_SUITE_P(Stages, PipelineEngine,
                         ::testing::Values(PipelineCase{2, true}, PipelineCase{3, true}, PipelineCase{3, false}),
                         [](const ::testing::TestParamInfo<PipelineCase>& info) {
                           return "pp" + std::to_string(info.param.stages) + (info.param.async ? "Ahead" : "LockStep");
                         });

// Each stage holds its step for 3 ms: with plans for different batches in flight, two or three
// stages must be seen computing at the same moment. In lock step never more than one.
TEST(PipelineEngineOverlap, StagesComputeDifferentPlansAtOnce) {
  CpuModel whole = test::load_fixture_model("tiny-llama3");
  const auto requests = mixed_requests(whole, 24);
  for (bool async : {true, false}) {
    auto concurrency = std::make_shared<test::StageConcurrency>();
    std::vector<std::shared_ptr<ModelBackend>> stages;
    for (auto& s : test::fixture_stage_backends("tiny-llama3", 3))
      stages.push_back(std::make_shared<test::StageProbeBackend>(s, concurrency, std::chrono::milliseconds(3)));
    TroupeActorSystemConfig cfg;
    caf::actor_system sys{cfg};
    const auto engine = start_pipeline_engine(sys, stages, small_engine(async));
    const auto out = run_all(sys, engine, requests);
    for (const auto& r : requests) EXPECT_EQ(out.at(r.id).output_token_ids, alone(whole, r)) << "request " << r.id;
    if (async) {
      EXPECT_GE(concurrency->most.load(), 2) << "no two stages ever computed at once";
    } else {
      EXPECT_EQ(concurrency->most.load(), 1) << "lock step ran two plans at once";
    }
    stop_engine(engine);
  }
}

// Kills a stage (not the head the scheduler watches) each time `kill_every` more tokens were
// streamed. The requests are greedy: test::make_restart_requests.
TEST(PipelineEngineRestart, AKilledStageTakesItsGroupDownAndEveryRequestStillFinishesAsAlone) {
  CpuModel whole = test::load_fixture_model("tiny-llama3");
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const auto engine = start_pipeline_engine(sys, test::fixture_stage_backends("tiny-llama3", 3), test::restart_engine_config(true),
                                            /*max_restarts=*/5);
  const auto requests = test::make_restart_requests(24, whole.config().vocab_size);
  caf::scoped_actor self{sys};
  for (const auto& r : requests)
    self->request(engine.scheduler, caf::infinite, submit_atom::value, r).receive([](bool) {}, [](caf::error&) { FAIL(); });
  std::map<SeqId, std::vector<int32_t>> streamed;
  std::map<SeqId, FinishedSequence> finished;
  int tokens = 0, kills = 0;
  caf::actor last_head;
  while (finished.size() < requests.size()) {
    self->receive(
        [&](const TokenDeltas& d) {
          for (size_t i = 0; i < d.seq_ids.size(); ++i) streamed[d.seq_ids[i]].push_back(d.tokens[i]);
          tokens += static_cast<int>(d.seq_ids.size());
          if (kills >= 2 || tokens < 40 * (kills + 1)) return;
          // The group's head as its supervisor knows it now, and from it the stage to kill: the
          // middle one first, then the last.
          const caf::actor head = current_engine(sys, engine).executor;
          if (!head || head == last_head) return;  // the dead group's replacement is not up yet
          caf::actor victim = head;
          for (int hop = 0; hop <= kills; ++hop) {
            self->request(victim, caf::infinite, next_stage_atom::value)
                .receive([&](const caf::actor& next) { victim = next; }, [&](caf::error&) { victim = caf::actor{}; });
            if (!victim) return;
          }
          caf::anon_send_exit(victim, caf::exit_reason::kill);
          last_head = head;
          ++kills;
        },
        [&](const FinishedBatch& b) {
          for (const auto& f : b.sequences) finished[f.id] = f;
        },
        caf::after(std::chrono::seconds(60)) >> [&] { FAIL() << "no progress for 60 s: the scheduler hangs"; });
    if (::testing::Test::HasFatalFailure()) break;
  }
  EXPECT_EQ(kills, 2);
  for (const auto& r : requests) {
    const FinishedSequence& f = finished.at(r.id);
    EXPECT_NE(f.reason, SequenceFinishReason::Abort) << "request " << r.id;
    EXPECT_EQ(f.output_token_ids, alone(whole, r)) << "request " << r.id;
    EXPECT_EQ(streamed[r.id], f.output_token_ids) << "request " << r.id << ": streamed tokens lost or repeated";
  }
  self->request(engine.scheduler, caf::infinite, snapshot_atom::value)
      .receive([](const SchedulerSnapshot& s) {
                 EXPECT_EQ(s.num_executor_resets, 2);
                 EXPECT_EQ(s.num_free_blocks, s.num_blocks);
               },
               [](caf::error&) { FAIL(); });
  stop_engine(engine);
}

// A stage whose step throws answers the scheduler with the error: the executor is lost, the group
// restarted, the work recomputed.
TEST(PipelineEngineRestart, AFailingStageStepIsRecomputedOnANewGroup) {
  CpuModel whole = test::load_fixture_model("tiny-llama3");
  auto concurrency = std::make_shared<test::StageConcurrency>();
  auto stages = test::fixture_stage_backends("tiny-llama3", 3);
  stages[1] = std::make_shared<test::StageProbeBackend>(stages[1], concurrency, std::chrono::microseconds(0),
                                                        /*fail_at_step=*/15);
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const auto engine = start_pipeline_engine(sys, stages, small_engine(true), /*max_restarts=*/2);
  const auto requests = mixed_requests(whole, 24);
  const auto out = run_all(sys, engine, requests);
  for (const auto& r : requests) EXPECT_EQ(out.at(r.id).output_token_ids, alone(whole, r)) << "request " << r.id;
  caf::scoped_actor self{sys};
  self->request(engine.scheduler, caf::infinite, snapshot_atom::value)
      .receive([](const SchedulerSnapshot& s) { EXPECT_EQ(s.num_executor_resets, 1); }, [](caf::error&) { FAIL(); });
  stop_engine(engine);
}

// The last stage in a second actor system, reached over loopback: every HiddenStates (and the plan
// beside it) is serialized through the wire schema, and the last stage answers the scheduler in
// the first system directly.
TEST(PipelineEngineRemote, ALastStageInAnotherActorSystemGivesTheSameOutputs) {
  CpuModel whole = test::load_fixture_model("tiny-llama3");
  auto stages = test::fixture_stage_backends("tiny-llama3", 2);
  TroupeActorSystemConfig node_cfg;
  caf::actor_system node{node_cfg};
  // Not detached: CAF 0.17 now and then hangs destroying an actor system whose detached actor has
  // ended (actor-framework#1196).
  auto last = node.spawn(pipeline_stage_actor, stages[1], caf::actor{}, std::shared_ptr<StageClock>{});
  auto port = node.middleman().publish(last, 0, "127.0.0.1");
  ASSERT_TRUE(port) << node.render(port.error());
  TroupeActorSystemConfig head_cfg;
  caf::actor_system head{head_cfg};
  auto remote_last = head.middleman().remote_actor("127.0.0.1", *port);
  ASSERT_TRUE(remote_last) << head.render(remote_last.error());
  auto first = head.spawn(pipeline_stage_actor, stages[0], *remote_last, std::shared_ptr<StageClock>{});
  SchedulerConfig config = small_engine(true);
  config.pipeline_stages = 2;
  auto scheduler = head.spawn(scheduler_actor, config, first, false, std::shared_ptr<ServerMetrics>{});
  const auto requests = mixed_requests(whole, 16);
  std::map<SeqId, std::vector<int32_t>> out;
  run_batch(head, scheduler, requests, [&](const FinishedSequence& f) { out[f.id] = f.output_token_ids; },
            [](SeqId id, const std::string& why) { ADD_FAILURE() << "request " << id << " rejected: " << why; });
  for (const auto& r : requests) EXPECT_EQ(out.at(r.id), alone(whole, r)) << "request " << r.id;
  caf::anon_send_exit(scheduler, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(first, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(last, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace troupe
