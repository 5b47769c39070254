// A scheduler that dies mid-generation is respawned by the supervisor, and the gateway hands the
// new one every in-flight request with the tokens it already received: each request still gets
// exactly the tokens it produces alone (greedy, EOS-stopped and seeded-sampled ones alike), each
// token once. Past the restart budget the live requests end with abort. A batch client (troupe
// generate --prompts-file) follows the supervisor to the new scheduler as a gateway does.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "../engine/model/fixture_model.h"
#include "actors/actor_system_config.h"
#include "actors/batch_client.h"
#include "actors/executor_actor.h"
#include "engine/model_folder.h"
#include "engine/runtime/cpu_backend.h"
#include "restart_test_support.h"
#include "tests/actors/gateway_test_support.h"

namespace troupe {
namespace {

using namespace std::chrono_literals;
using namespace test::gateway;

// Submits `first` through the gateway, then kills the current scheduler each time `kill_every`
// more tokens have reached the clients, up to `max_kills` times; right after each kill it submits
// one request of `late`, which the gateway may still send to the dead scheduler. Returns once
// every request has ended.
Outcome run_with_scheduler_kills(caf::actor_system& sys, const EngineActors& engine, const caf::actor& gateway,
                             const std::vector<GenerationRequest>& first, const std::vector<GenerationRequest>& late,
                             int kill_every, int max_kills) {
  Outcome run;
  for (const auto& r : first) submit(gateway, run.clients, r);
  size_t submitted = first.size();
  caf::actor last_killed;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  std::unique_lock lock(run.clients->mutex);
  while (run.clients->ended < submitted && std::chrono::steady_clock::now() < deadline) {
    // Polled as well as notified: while no scheduler runs, no token comes to wake us.
    run.clients->changed.wait_for(lock, 20ms);
    if (run.kills >= max_kills || run.clients->tokens < kill_every * (run.kills + 1)) continue;
    lock.unlock();
    if (caf::actor killed = test::kill_current(sys, engine, &EngineActors::scheduler, last_killed)) {
      last_killed = killed;
      if (static_cast<size_t>(run.kills) < late.size()) {
        submit(gateway, run.clients, late[static_cast<size_t>(run.kills)]);
        ++submitted;
      }
      ++run.kills;
    }
    lock.lock();
  }
  EXPECT_EQ(run.clients->ended, submitted) << "requests still open after 120 s";
  return run;
}

// Greedy requests, some stopping at an EOS their output reaches, some with penalties (which count
// the tokens a request comes back with), and some sampled with a seed (the new scheduler must
// continue the random stream where the old one was).
std::vector<GenerationRequest> mixed_requests(CpuModel& model, int n, uint32_t seed) {
  auto requests = test::make_restart_requests(n, model.config().vocab_size, seed);
  for (size_t i = 0; i < requests.size(); ++i) {
    GenerationRequest& r = requests[i];
    if (i % 7 == 3) {
      r.sampling_params.temperature = 0.9f;
      r.sampling_params.top_p = 0.95f;
      r.sampling_params.seed = 1000 + i;
    } else if (i % 7 == 5) {  // penalties count the tokens it came back with
      r.sampling_params.repetition_penalty = 1.3f;
      r.sampling_params.frequency_penalty = 0.5f;
    } else if (i % 5 == 1) {
      const auto out = test::alone(model, r);
      r.eos_token_ids = {out[out.size() / 2]};
    }
  }
  return requests;
}

SchedulerSnapshot snapshot(caf::actor_system& sys, const caf::actor& scheduler) {
  caf::scoped_actor self{sys};
  SchedulerSnapshot out;
  self->request(scheduler, caf::infinite, snapshot_atom::value)
      .receive([&](const SchedulerSnapshot& s) { out = s; }, [](caf::error&) { ADD_FAILURE() << "no snapshot"; });
  return out;
}


// Planning ahead (the default) or in lock step.
class SchedulerRestart : public ::testing::TestWithParam<bool> {};

TEST_P(SchedulerRestart, KilledSchedulersAreReplacedAndGatewaysResubmitSoEveryRequestFinishesAsAlone) {
  auto model = std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"));
  auto requests = mixed_requests(*model, 40, 4);
  const auto alone = outputs_alone(*model, requests);
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const auto engine = start_engine(sys, std::make_shared<CpuBackend>(model), "",
                                   test::restart_engine_config(GetParam()), /*max_restarts=*/5);
  auto gateway = spawn_gateway(sys, engine, std::make_shared<const Tokenizer>(demo_tokenizer()));
  std::vector<GenerationRequest> late(requests.end() - 4, requests.end());
  requests.resize(requests.size() - 4);

  const Outcome run = run_with_scheduler_kills(sys, engine, gateway, requests, late, /*kill_every=*/60, /*max_kills=*/4);
  EXPECT_EQ(run.kills, 4);
  requests.insert(requests.end(), late.begin(), late.end());
  expect_outputs_alone(run, requests, alone);
  const EngineActors now = current_engine(sys, engine);
  EXPECT_NE(now.scheduler, engine.scheduler);
  const SchedulerSnapshot s = snapshot(sys, now.scheduler);
  EXPECT_EQ(s.num_running + s.num_waiting, 0);
  EXPECT_EQ(s.num_free_blocks, s.num_blocks);
  caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
  stop_engine(engine);
}

INSTANTIATE_TEST_SUITE_P(Planning, SchedulerRestart, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "Ahead" : "LockStep"; });

TEST(SchedulerRestart, UnderTheRemoteSupervisorTheSchedulerDrivingANodeIsRestartedToo) {
  // The executor in a second actor system, reached over loopback as a `troupe node` is. Not
  // detached, unlike publish_executor's: CAF 0.17 now and then hangs destroying an actor system
  // whose detached actor has ended (actor-framework#1196, fixed in 0.18): with the node's executor
  // detached this test hung in that destructor about once in 30-100 runs, after passing.
  auto model = std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"));
  const auto requests = mixed_requests(*model, 24, 9);
  const auto alone = outputs_alone(*model, requests);
  TroupeActorSystemConfig node_cfg;
  caf::actor_system node{node_cfg};
  auto executor = node.spawn(executor_actor, std::make_shared<CpuBackend>(model));
  auto port = node.middleman().publish(executor, 0, "127.0.0.1", true);
  ASSERT_TRUE(port) << node.render(port.error());
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const auto engine = start_engine(sys, nullptr, "127.0.0.1:" + std::to_string(*port),
                                   test::restart_engine_config(true), /*max_restarts=*/3);
  auto gateway = spawn_gateway(sys, engine, std::make_shared<const Tokenizer>(demo_tokenizer()));
  const Outcome run = run_with_scheduler_kills(sys, engine, gateway, requests, {}, /*kill_every=*/40, /*max_kills=*/2);
  EXPECT_EQ(run.kills, 2);
  expect_outputs_alone(run, requests, alone);
  caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
  stop_engine(engine);
  caf::anon_send_exit(executor, caf::exit_reason::user_shutdown);
}

TEST(SchedulerRestart, ABatchClientFollowsTheSupervisorToTheNewSchedulerAndResubmits) {
  auto model = std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"));
  const auto requests = mixed_requests(*model, 24, 13);
  const auto alone = outputs_alone(*model, requests);
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const auto engine = start_engine(sys, std::make_shared<CpuBackend>(model), "", test::restart_engine_config(true),
                                   /*max_restarts=*/3);
  // run_batch blocks this thread, so another kills each scheduler once it has made 8 steps.
  std::atomic<bool> done{false};
  int kills = 0;
  std::thread killer([&] {
    caf::actor last_killed;
    while (!done && kills < 2) {
      std::this_thread::sleep_for(2ms);
      const caf::actor scheduler = current_engine(sys, engine).scheduler;
      if (!scheduler || scheduler == last_killed || snapshot(sys, scheduler).num_steps < 8) continue;
      caf::anon_send_exit(scheduler, caf::exit_reason::kill);
      last_killed = scheduler;
      ++kills;
    }
  });
  std::map<SeqId, FinishedSequence> finished;
  run_batch(sys, engine, requests, [&](const FinishedSequence& f) { finished[f.id] = f; },
            [](SeqId id, const std::string& why) { ADD_FAILURE() << "request " << id << " rejected: " << why; });
  done = true;
  killer.join();
  EXPECT_EQ(kills, 2);
  ASSERT_EQ(finished.size(), requests.size());
  for (const auto& r : requests) {
    EXPECT_NE(finished[r.id].reason, SequenceFinishReason::Abort) << "request " << r.id;
    EXPECT_EQ(finished[r.id].output_token_ids, alone.at(r.id)) << "request " << r.id;
  }
  stop_engine(engine);
}

TEST(SchedulerRestart, PastTheRestartBudgetLiveRequestsEndWithAbortAndNewOnesAreRefused) {
  auto model = std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"));
  auto requests = test::make_restart_requests(8, model->config().vocab_size);
  for (auto& r : requests) {
    r.sampling_params.max_tokens = 400;
    r.sampling_params.ignore_eos = true;
  }
  const auto alone = outputs_alone(*model, requests);
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const auto engine = start_engine(sys, std::make_shared<CpuBackend>(model), "", test::restart_engine_config(true),
                                   /*max_restarts=*/1);
  auto gateway = spawn_gateway(sys, engine, std::make_shared<const Tokenizer>(demo_tokenizer()));
  // Two kills: the first is restarted, the second spends the budget of one.
  const Outcome run = run_with_scheduler_kills(sys, engine, gateway, requests, {}, /*kill_every=*/20, /*max_kills=*/2);
  EXPECT_EQ(run.kills, 2);
  for_each_client(run, requests, [&](const GenerationRequest& r, const ClientView& v) {
    EXPECT_EQ(v.reason, "abort");
    const std::vector<int32_t>& full = alone.at(r.id);
    ASSERT_LE(v.tokens.size(), full.size());
    EXPECT_EQ(v.tokens, std::vector<int32_t>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(v.tokens.size())))
        << "tokens repeated or different before the abort";
  });
  EXPECT_FALSE(current_engine(sys, engine).scheduler);
  GenerationRequest after = requests[0];
  after.id = 100;
  submit(gateway, run.clients, after);
  std::unique_lock lock(run.clients->mutex);
  ASSERT_TRUE(run.clients->changed.wait_for(lock, 10s, [&] { return run.clients->views[100].endings > 0; }));
  EXPECT_NE(run.clients->views[100].error, "");
  lock.unlock();
  caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
  stop_engine(engine);
}

}  // namespace
}  // namespace troupe
