// Data-parallel replicas behind one gateway: a replica past its restart budget (its executor or
// its scheduler killed with no restart left) hands its requests to the other, which recomputes
// them from the tokens already sent, so every request still gets exactly the tokens it produces
// alone; and cache_aware sends a prompt that extends an earlier one to the replica that holds it.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include <caf/all.hpp>

#include "../engine/model/fixture_model.h"
#include "actors/actor_system_config.h"
#include "actors/engine_topology.h"
#include "engine/runtime/cpu_backend.h"
#include "restart_test_support.h"
#include "tests/actors/gateway_test_support.h"

namespace troupe {
namespace {

using namespace std::chrono_literals;
using namespace test::gateway;

struct Replicas {
  std::shared_ptr<CpuModel> oracle = std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"));
  std::shared_ptr<ServerMetrics> metrics = std::make_shared<ServerMetrics>(2);
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  EngineActors engine;
  caf::actor gateway;

  // Two replicas, each its own model (KV cache and scratch), under budgets of `max_restarts`.
  Replicas(int32_t max_restarts, RoutingPolicy policy) {
    std::vector<std::shared_ptr<ModelBackend>> backends;
    for (int i = 0; i < 2; ++i)
      backends.push_back(std::make_shared<CpuBackend>(std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"))));
    const SchedulerConfig c = test::restart_engine_config(true);
    engine = start_data_parallel_engine(sys, std::move(backends), {c, c}, max_restarts, metrics);
    gateway = spawn_gateway(sys, engine, std::make_shared<const Tokenizer>(demo_tokenizer()),
                            GatewayOptions{metrics, 0s, policy, 50ms});
  }
  ~Replicas() {
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
    stop_engine(engine);
  }
  EngineActors replica(size_t i) {
    EngineActors r;
    r.supervisor = engine.replica_supervisors.at(i);
    return current_engine(sys, r);
  }
  uint64_t routed(int32_t i) const { return metrics->replica(i).routed_requests.load(); }
};

// Waits (bounded) until `n` requests have ended.
bool wait_ended(Clients& c, size_t n, std::chrono::seconds bound) {
  std::unique_lock lock(c.mutex);
  return c.changed.wait_for(lock, bound, [&] { return c.ended >= n; });
}

class DataParallelLoss : public ::testing::TestWithParam<bool> {};  // true: kill the scheduler, false: the executor

TEST_P(DataParallelLoss, AReplicaPastItsBudgetHandsItsRequestsToTheOtherWhichFinishesThemAsAlone) {
  Replicas dp(/*max_restarts=*/0, RoutingPolicy::RoundRobin);
  auto requests = test::make_restart_requests(16, dp.oracle->config().vocab_size, 21);
  for (auto& r : requests) r.sampling_params.max_tokens = 40;
  const auto alone = outputs_alone(*dp.oracle, requests);
  Outcome run;
  for (const auto& r : requests) submit(dp.gateway, run.clients, r);
  {
    // Every request routed (the gateway may stream the first tokens before it has read the last
    // submission) and some tokens out.
    std::unique_lock lock(run.clients->mutex);
    ASSERT_TRUE(run.clients->changed.wait_for(
        lock, 30s, [&] { return run.clients->tokens >= 24 && dp.routed(0) + dp.routed(1) == requests.size(); }));
  }
  EXPECT_EQ(dp.routed(0), 8u);  // round robin: half each
  EXPECT_EQ(dp.routed(1), 8u);
  const EngineActors one = dp.replica(1);
  const caf::actor victim = GetParam() ? one.scheduler : one.executor;
  ASSERT_TRUE(victim);
  caf::anon_send_exit(victim, caf::exit_reason::kill);
  ASSERT_TRUE(wait_ended(*run.clients, requests.size(), 60s)) << "requests still open after 60 s";
  expect_outputs_alone(run, requests, alone);
  // Replica 1 is gone for good; its unfinished requests were routed again, all to replica 0.
  EXPECT_FALSE(dp.replica(1).scheduler);
  EXPECT_GT(dp.routed(0), 8u);
  EXPECT_EQ(dp.routed(1), 8u);
  EXPECT_TRUE(dp.metrics->engine_alive.load()) << "one replica still serves";
  EXPECT_TRUE(dp.metrics->replica(1).gone.load());
  const std::string text = dp.metrics->prometheus_text();
  EXPECT_NE(text.find("troupe:num_requests_waiting{replica=\"1\"} 0\n"), std::string::npos) << "a gone replica's gauges read 0";
  // New requests go to the live one.
  GenerationRequest after = requests[0];
  after.id = 100;
  submit(dp.gateway, run.clients, after);
  ASSERT_TRUE(wait_ended(*run.clients, requests.size() + 1, 30s));
  std::lock_guard lock(run.clients->mutex);
  EXPECT_EQ(run.clients->views[100].tokens, alone.at(requests[0].id));
}

INSTANTIATE_TEST_SUITE_P(Killed, DataParallelLoss, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Scheduler" : "Executor"; });

TEST(DataParallel, CacheAwareSendsAPromptThatExtendsAnEarlierOneToTheReplicaHoldingIt) {
  Replicas dp(/*max_restarts=*/0, RoutingPolicy::CacheAware);
  auto firsts = test::make_restart_requests(6, dp.oracle->config().vocab_size, 33);
  Outcome run;
  std::vector<int32_t> replica_of;
  for (size_t i = 0; i < firsts.size(); ++i) {
    firsts[i].prompt_token_ids.resize(3);
    auto& p = firsts[i].prompt_token_ids;
    while (p.size() < 40) p.push_back(static_cast<int32_t>(10 + i * 40 + p.size()));  // no two share a block
    const uint64_t before0 = dp.routed(0);
    submit(dp.gateway, run.clients, firsts[i]);
    ASSERT_TRUE(wait_ended(*run.clients, i + 1, 30s));
    replica_of.push_back(dp.routed(0) > before0 ? 0 : 1);
  }
  // Idle replicas with nothing cached take turns: both hold some of the prompts.
  EXPECT_NE(std::count(replica_of.begin(), replica_of.end(), 0), 0);
  EXPECT_NE(std::count(replica_of.begin(), replica_of.end(), 1), 0);
  for (size_t i = 0; i < firsts.size(); ++i) {
    GenerationRequest next = firsts[i];
    next.id = static_cast<SeqId>(100 + i);
    next.prompt_token_ids.insert(next.prompt_token_ids.end(), {5, 6, 7, 8});
    const uint64_t before0 = dp.routed(0), before1 = dp.routed(1);
    submit(dp.gateway, run.clients, next);
    ASSERT_TRUE(wait_ended(*run.clients, firsts.size() + i + 1, 30s));
    EXPECT_EQ(dp.routed(replica_of[i]), (replica_of[i] == 0 ? before0 : before1) + 1) << "prompt " << i;
  }
  EXPECT_EQ(dp.metrics->router_fallbacks.load(), 0u);
  // Each replica's scheduler counted its own prefix-cache hits: the extensions hit 32 tokens each.
  EXPECT_EQ(dp.metrics->replica(0).prefix_cache_hit_tokens.load() + dp.metrics->replica(1).prefix_cache_hit_tokens.load(),
            32u * firsts.size());
}

// The router's fallback without a kv_manager answer: gateway_routing_test (deterministic).

}  // namespace
}  // namespace troupe
