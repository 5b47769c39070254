// The kv_manager actor follows the scheduler's block pool through one journal per step: after a
// real batch on the CPU backend (shared prompt prefixes, preemption in a small pool, the engine
// started by the supervisor as `troupe serve` starts it) its mirror reports what the scheduler's
// pool holds, answers prefix lookups as the scheduler's next admission will hit, got exactly one
// journal per step, and its audit found nothing. A corrupt journal is reported, not swallowed;
// so is an executor restart's cache reset, followed.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>
#include <thread>

#include <caf/all.hpp>

#include "../engine/model/fixture_model.h"
#include "actors/actor_system_config.h"
#include "actors/batch_client.h"
#include "actors/engine_topology.h"
#include "actors/kv_manager_actor.h"
#include "actors/message_inspect.h"
#include "engine/runtime/cpu_backend.h"
#include "tests/actors/actor_test_support.h"

namespace troupe {
namespace {

// Half the prompts start with one of two 40-token prefixes (two full blocks to share).
std::vector<GenerationRequest> make_requests(int n, int64_t vocab) {
  std::mt19937 rng(5);
  auto token = [&] { return std::uniform_int_distribution<int32_t>(3, static_cast<int32_t>(vocab) - 1)(rng); };
  std::vector<std::vector<int32_t>> families(2);
  for (auto& f : families)
    for (int t = 0; t < 40; ++t) f.push_back(token());
  std::vector<GenerationRequest> out;
  for (int i = 0; i < n; ++i) {
    GenerationRequest r;
    r.id = static_cast<SeqId>(i);
    if (i % 2 == 0) r.prompt_token_ids = families[static_cast<size_t>(i / 2) % families.size()];
    for (int t = std::uniform_int_distribution<int>(1, 30)(rng); t > 0; --t) r.prompt_token_ids.push_back(token());
    r.sampling_params.temperature = 0.0f;
    r.sampling_params.max_tokens = std::uniform_int_distribution<int>(4, 24)(rng);
    out.push_back(r);
  }
  return out;
}

template <class T>
T ask(caf::actor_system& sys, const caf::actor& whom, caf::message question) {
  caf::scoped_actor self{sys};
  T answer{};
  self->request(whom, caf::infinite, std::move(question))
      .receive([&](T& a) { answer = std::move(a); }, [&](caf::error& e) { ADD_FAILURE() << sys.render(e); });
  return answer;
}

// The scheduler sends a step's journal at the end of the handler that applied the step, after
// the clients heard of it; any question it answers after that comes behind the journal, so a
// kv_manager asked next has it (one sender's messages arrive in order, and this is causal).
SchedulerSnapshot settle(caf::actor_system& sys, const EngineActors& engine) {
  return ask<SchedulerSnapshot>(sys, engine.scheduler, caf::make_message(snapshot_atom::value));
}

caf::actor kv_manager_of(caf::actor_system& sys, const EngineActors& engine) {
  return ask<caf::actor>(sys, engine.supervisor, caf::make_message(kv_manager_atom::value));
}

// The mirror holds what the scheduler's pool holds: the same counts, nothing referenced.
void expect_mirror_equals_pool(const KvUsage& kv, const SchedulerSnapshot& s) {
  EXPECT_EQ(kv.num_audit_failures, 0) << kv.last_failure;
  EXPECT_EQ(kv.pool_audit, "");
  EXPECT_EQ(kv.num_blocks, s.num_blocks);
  EXPECT_EQ(kv.num_free_blocks, s.num_free_blocks);
  EXPECT_EQ(kv.num_free_blocks, kv.num_blocks) << "blocks still referenced";
  EXPECT_EQ(kv.num_used_blocks, 0);
  EXPECT_EQ(kv.num_cached_blocks, s.num_cached_blocks);
  EXPECT_EQ(kv.num_prefix_hit_tokens, s.num_cached_tokens);
}

// A second batch of 16 (ids from 100) after something happened to the engine: each request
// still gives exactly its output alone.
void expect_second_batch_alone(caf::actor_system& sys, const caf::actor& scheduler, CpuModel& model) {
  auto second = make_requests(16, model.config().vocab_size);
  for (auto& r : second) r.id += 100;
  std::map<SeqId, std::vector<int32_t>> out;
  run_batch(sys, scheduler, second, [&](const FinishedSequence& f) { out[f.id] = f.output_token_ids; },
            [](SeqId, const std::string& why) { ADD_FAILURE() << why; });
  for (const auto& r : second) EXPECT_EQ(out[r.id], test::alone(model, r)) << "request " << r.id;
}

SchedulerConfig small_pool() {
  // 8 sequences of up to 94 tokens want up to 48 blocks: 20 forces preemption.
  return {.max_num_seqs = 8, .max_num_batched_tokens = 48, .block_size = 16, .num_blocks = 20,
          .enable_prefix_caching = true, .long_prefill_token_threshold = 0};
}

TEST(KvManager, AfterABatchTheMirrorEqualsTheSchedulersPoolWithOneJournalPerStep) {
  auto model = std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"));
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const auto engine = start_engine(sys, std::make_shared<CpuBackend>(model), "", small_pool());
  const caf::actor kv = kv_manager_of(sys, engine);
  ASSERT_TRUE(kv);
  const auto requests = make_requests(32, model->config().vocab_size);
  std::map<SeqId, std::vector<int32_t>> out;
  run_batch(sys, engine.scheduler, requests, [&](const FinishedSequence& f) { out[f.id] = f.output_token_ids; },
            [](SeqId id, const std::string& why) { ADD_FAILURE() << "request " << id << " rejected: " << why; });
  ASSERT_EQ(out.size(), requests.size());
  size_t tokens = 0;
  for (const auto& r : requests) {
    EXPECT_EQ(out.at(r.id), test::alone(*model, r)) << "request " << r.id;
    tokens += out.at(r.id).size();
  }

  const auto snap = settle(sys, engine);
  const auto kv_usage = ask<KvUsage>(sys, kv, caf::make_message(snapshot_atom::value));
  EXPECT_GT(snap.num_preemptions, 0) << "the pool was not small enough to preempt";
  EXPECT_GT(snap.num_cached_tokens, 0) << "no prompt shared a cached prefix";
  expect_mirror_equals_pool(kv_usage, snap);
  EXPECT_GT(kv_usage.num_cached_blocks, 0);
  // One message per step, never one per token.
  EXPECT_EQ(kv_usage.num_journals, snap.num_steps);
  EXPECT_GT(tokens, static_cast<size_t>(kv_usage.num_journals));
  EXPECT_GT(kv_usage.num_ops, kv_usage.num_journals);

  // A finished request's prompt is cached: the lookup says how much (whole blocks, not the last
  // token), and the scheduler's next admission of that prompt hits exactly that much.
  GenerationRequest probe;
  probe.id = 1000;
  for (int32_t t = 0; t < 50; ++t) probe.prompt_token_ids.push_back(3 + (t * 7) % 50);
  probe.sampling_params.temperature = 0.0f;
  probe.sampling_params.max_tokens = 4;
  run_batch(sys, engine.scheduler, {probe}, [](const FinishedSequence&) {},
            [](SeqId, const std::string& why) { ADD_FAILURE() << why; });
  const auto before = settle(sys, engine);
  const auto hit = ask<int32_t>(sys, kv, caf::make_message(PrefixQuery{probe.prompt_token_ids}));
  EXPECT_EQ(hit, 48);
  std::vector<int32_t> other = probe.prompt_token_ids;
  other[0] = 60;  // the chain breaks at block 0
  EXPECT_EQ(ask<int32_t>(sys, kv, caf::make_message(PrefixQuery{other})), 0);
  probe.id = 1001;
  run_batch(sys, engine.scheduler, {probe}, [](const FinishedSequence&) {},
            [](SeqId, const std::string& why) { ADD_FAILURE() << why; });
  const auto snap2 = settle(sys, engine);
  EXPECT_EQ(snap2.num_cached_tokens - before.num_cached_tokens, hit);
  const auto kv_usage2 = ask<KvUsage>(sys, kv, caf::make_message(snapshot_atom::value));
  expect_mirror_equals_pool(kv_usage2, snap2);
  EXPECT_EQ(kv_usage2.num_journals, snap2.num_steps);
  stop_engine(engine);
}

TEST(KvManager, AnExecutorRestartsCacheResetReachesTheMirror) {
  auto model = std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"));
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const auto engine = start_engine(sys, std::make_shared<CpuBackend>(model), "", small_pool(), /*max_restarts=*/2);
  const caf::actor kv = kv_manager_of(sys, engine);
  const auto requests = make_requests(16, model->config().vocab_size);
  run_batch(sys, engine.scheduler, requests, [](const FinishedSequence&) {}, [](SeqId, const std::string&) {});
  settle(sys, engine);
  ASSERT_GT(ask<KvUsage>(sys, kv, caf::make_message(snapshot_atom::value)).num_cached_blocks, 0);
  // Kill the executor between batches: the scheduler empties its prefix cache; the next step's
  // journal carries that to the mirror.
  caf::anon_send_exit(engine.executor, caf::exit_reason::kill);
  expect_second_batch_alone(sys, engine.scheduler, *model);
  const auto snap = settle(sys, engine);
  EXPECT_EQ(snap.num_executor_resets, 1);
  expect_mirror_equals_pool(ask<KvUsage>(sys, kv, caf::make_message(snapshot_atom::value)), snap);
  stop_engine(engine);
}

// A restarted scheduler is handed the same kv_manager, and its first journal starts the mirror
// over: afterwards the mirror again equals the (new) scheduler's pool, journal for step.
TEST(KvManager, ARestartedSchedulerStartsTheMirrorOver) {
  auto model = std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"));
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const auto engine = start_engine(sys, std::make_shared<CpuBackend>(model), "", small_pool(), /*max_restarts=*/2);
  const caf::actor kv = kv_manager_of(sys, engine);
  run_batch(sys, engine.scheduler, make_requests(16, model->config().vocab_size), [](const FinishedSequence&) {},
            [](SeqId, const std::string&) {});
  const int64_t first_steps = settle(sys, engine).num_steps;
  ASSERT_EQ(ask<KvUsage>(sys, kv, caf::make_message(snapshot_atom::value)).num_journals, first_steps);
  caf::anon_send_exit(engine.scheduler, caf::exit_reason::kill);
  EngineActors now = current_engine(sys, engine);
  for (int i = 0; i < 500 && (!now.scheduler || now.scheduler == engine.scheduler); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    now = current_engine(sys, engine);
  }
  ASSERT_TRUE(now.scheduler && now.scheduler != engine.scheduler) << "no new scheduler";
  EXPECT_EQ(kv_manager_of(sys, engine), kv);
  expect_second_batch_alone(sys, now.scheduler, *model);
  const auto snap = settle(sys, now);
  const auto usage = ask<KvUsage>(sys, kv, caf::make_message(snapshot_atom::value));
  // The new scheduler's pool starts empty with the same block ids: a mirror that had not started
  // over would refuse its ops (audit failures) and count other blocks.
  expect_mirror_equals_pool(usage, snap);
  EXPECT_EQ(usage.num_journals, first_steps + snap.num_steps);
  stop_engine(engine);
}

TEST(KvManager, ACorruptJournalIsReportedByTheAuditNamingTheOpAndTheStep) {
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  auto kv = sys.spawn(kv_manager_actor);
  BlockPool owner(BlockPoolConfig{8, 16, true});
  owner.start_journal();
  std::vector<int32_t> prompt(40, 9);
  ASSERT_TRUE(owner.allocate(1, 40, owner.match_prefix(prompt)));
  owner.cache_full_blocks(1, prompt, 40);
  caf::anon_send(kv, owner.take_journal());
  owner.free(1);
  PoolJournal corrupt = owner.take_journal();
  corrupt.step_id = 7;
  corrupt.ops.insert(corrupt.ops.begin() + 1, corrupt.ops[0]);  // Release block 2 of seq 1, twice
  caf::anon_send(kv, corrupt);
  const auto u = ask<KvUsage>(sys, kv, caf::make_message(snapshot_atom::value));
  EXPECT_EQ(u.num_journals, 2);
  EXPECT_EQ(u.num_audit_failures, 1);
  EXPECT_NE(u.last_failure.find("journal 2 (step 7): Release block 2 of seq 1: double free"), std::string::npos)
      << u.last_failure;
  EXPECT_EQ(u.pool_audit, "") << "the bad op was skipped";
  EXPECT_EQ(u.num_free_blocks, 8);
  EXPECT_EQ(u.num_cached_blocks, 2);
  EXPECT_EQ(ask<int32_t>(sys, kv, caf::make_message(PrefixQuery{prompt})), 32);
  caf::anon_send_exit(kv, caf::exit_reason::user_shutdown);
}

// Data parallel: one kv_manager, one mirror per replica, each fed only its replica's journals; the
// router's one question gets every replica's cached prefix and free blocks at once.
TEST(KvManager, EachReplicasJournalsFeedItsOwnMirrorAndOneQueryAnswersForAll) {
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  auto kv = sys.spawn(kv_manager_actor);
  std::vector<int32_t> shared(48, 7), only_one(48, 5);
  BlockPool zero(BlockPoolConfig{8, 16, true}), one(BlockPoolConfig{16, 16, true});
  zero.start_journal();
  one.start_journal();
  ASSERT_TRUE(zero.allocate(1, 48, zero.match_prefix(shared)));
  zero.cache_full_blocks(1, shared, 48);  // replica 0 holds `shared` (3 blocks), still referenced
  ASSERT_TRUE(one.allocate(1, 48, one.match_prefix(only_one)));
  one.cache_full_blocks(1, only_one, 48);
  one.free(1);                            // replica 1 holds `only_one`, unreferenced
  caf::anon_send(kv, replica_atom::value, int32_t{1}, one.take_journal());
  caf::anon_send(kv, replica_atom::value, int32_t{0}, zero.take_journal());

  std::vector<int32_t> ask_shared = shared;
  ask_shared.push_back(3);
  const auto r = ask<ReplicaCacheReport>(sys, kv, caf::make_message(ReplicaCacheQuery{ask_shared}));
  EXPECT_EQ(r.cached_tokens, (std::vector<int32_t>{48, 0}));
  EXPECT_EQ(r.free_blocks, (std::vector<int32_t>{5, 16}));
  // Never the whole list: the last token is computed again for its logits (match_prefix's rule).
  const auto whole = ask<ReplicaCacheReport>(sys, kv, caf::make_message(ReplicaCacheQuery{only_one}));
  EXPECT_EQ(whole.cached_tokens, (std::vector<int32_t>{0, 32}));
  // Each replica's usage is its own; a bare query or snapshot is replica 0's.
  const auto u1 = ask<KvUsage>(sys, kv, caf::make_message(snapshot_atom::value, replica_atom::value, int32_t{1}));
  EXPECT_EQ(u1.num_blocks, 16);
  EXPECT_EQ(u1.num_cached_blocks, 3);
  EXPECT_EQ(u1.num_audit_failures, 0) << u1.last_failure;
  const auto u0 = ask<KvUsage>(sys, kv, caf::make_message(snapshot_atom::value));
  EXPECT_EQ(u0.num_blocks, 8);
  EXPECT_EQ(u0.num_used_blocks, 3);
  EXPECT_EQ(ask<int32_t>(sys, kv, caf::make_message(PrefixQuery{ask_shared})), 48);
  // A replica no scheduler can have is refused, not grown into.
  caf::anon_send(kv, replica_atom::value, int32_t{-1}, PoolJournal{});
  EXPECT_EQ(ask<ReplicaCacheReport>(sys, kv, caf::make_message(ReplicaCacheQuery{shared})).cached_tokens.size(), 2u);
  caf::anon_send_exit(kv, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace troupe
