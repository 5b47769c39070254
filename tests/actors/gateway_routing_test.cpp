// The gateway's side of data parallel, message by message on CAF's deterministic coordinator: two
// stand-in schedulers record what the gateway asks of them, and the test plays their answers.
// A replica that pauses (its cluster nodes recovering) has its requests aborted there and handed
// to the other with the tokens already streamed and their place in the queue; what it still sends
// is dropped; nothing new is routed to it until it is back; with every replica paused, requests
// wait on one rather than fail; an aborted request is not moved. And cache_aware: one question to
// the kv_manager per request, its answer weighed; no answer in time (or a dead kv_manager) routes
// least_loaded and is counted.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <vector>

#include <caf/all.hpp>

#include "actors/gateway_actor.h"
#include "tests/actors/deterministic_system.h"
#include "tests/actors/gateway_test_support.h"

namespace troupe {
namespace {

using namespace test::gateway;

// What the gateway asked of one stand-in scheduler.
struct SchedulerLog {
  std::vector<GenerationRequest> submitted;
  std::vector<SeqId> aborted;
  std::vector<SeqId> submitted_ids() const {
    std::vector<SeqId> ids;
    for (const auto& g : submitted) ids.push_back(g.id);
    return ids;
  }
};

caf::behavior stand_in_scheduler(caf::event_based_actor*, std::shared_ptr<SchedulerLog> log) {
  return {
      [=](submit_atom, GenerationRequest& g) {
        log->submitted.push_back(std::move(g));
        return true;
      },
      [=](abort_atom, SeqId id) { log->aborted.push_back(id); },
  };
}

GenerationRequest request(SeqId id) {
  GenerationRequest g;
  g.id = id;
  g.prompt_token_ids = {5, 6, 7};
  g.sampling_params.max_tokens = 8;
  return g;
}

TokenDeltas deltas(std::vector<SeqId> ids, std::vector<int32_t> tokens) {
  TokenDeltas d;
  d.seq_ids = std::move(ids);
  d.tokens = std::move(tokens);
  return d;
}

FinishedBatch finished(SeqId id, SequenceFinishReason reason) {
  return FinishedBatch{{FinishedSequence{id, {}, reason}}};
}

// A kv_manager that answers every cache question with `report` (or, without one, never answers).
caf::behavior stand_in_kv_manager(caf::event_based_actor* self, std::optional<ReplicaCacheReport> report,
                                  std::shared_ptr<int> questions) {
  return {
      [=](ReplicaCacheQuery&) -> caf::result<ReplicaCacheReport> {
        ++*questions;
        if (report) return *report;
        return self->make_response_promise<ReplicaCacheReport>();  // kept by no one: never delivered
      },
  };
}

struct TwoReplicas : test::DeterministicSystem {
  std::shared_ptr<SchedulerLog> log[2] = {std::make_shared<SchedulerLog>(), std::make_shared<SchedulerLog>()};
  caf::actor scheduler[2];
  caf::actor gateway;
  std::shared_ptr<Clients> clients = std::make_shared<Clients>();
  std::shared_ptr<ServerMetrics> metrics = std::make_shared<ServerMetrics>(2);

  caf::actor kv_manager;
  std::shared_ptr<int> questions = std::make_shared<int>(0);  // cache questions the kv_manager got

  // Round robin with no kv_manager; or cache_aware with a stand-in kv_manager answering `report`
  // (never, without one).
  TwoReplicas() : TwoReplicas(RoutingPolicy::RoundRobin, false, std::nullopt) {}
  explicit TwoReplicas(std::optional<ReplicaCacheReport> report) : TwoReplicas(RoutingPolicy::CacheAware, true, report) {}
  TwoReplicas(RoutingPolicy policy, bool with_kv_manager, std::optional<ReplicaCacheReport> report) {
    for (int i = 0; i < 2; ++i) scheduler[i] = sys.spawn(stand_in_scheduler, log[i]);
    if (with_kv_manager) kv_manager = sys.spawn(stand_in_kv_manager, std::move(report), questions);
    gateway = sys.spawn(gateway_actor, std::make_shared<const Tokenizer>(demo_tokenizer()),
                        std::vector<caf::actor>{scheduler[0], scheduler[1]}, kv_manager,
                        GatewayOptions{metrics, std::chrono::seconds(0), policy});
  }
  ~TwoReplicas() {
    for (const caf::actor& a : {gateway, scheduler[0], scheduler[1], kv_manager})
      if (a) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
  void submit_request(SeqId id) {
    submit(gateway, clients, request(id));
    run();
  }
  void pause(int32_t replica, bool paused) {
    caf::anon_send(gateway, replica_paused_atom::value, replica, paused);
    run();
  }
  template <class Message>
  void from_scheduler(int32_t replica, Message m) {
    caf::send_as(scheduler[replica], gateway, std::move(m));
    run();
  }
  ClientView view(SeqId id) {
    std::lock_guard lock(clients->mutex);
    return clients->views[id];
  }
};

TEST(GatewayRouting, APausedReplicasRequestsMoveToTheOtherWithTheirTokensAndItsLateResultsAreDropped) {
  TwoReplicas dp;
  for (SeqId id = 1; id <= 4; ++id) dp.submit_request(id);
  ASSERT_EQ(dp.log[0]->submitted_ids(), (std::vector<SeqId>{1, 3}));  // round robin
  ASSERT_EQ(dp.log[1]->submitted_ids(), (std::vector<SeqId>{2, 4}));
  dp.from_scheduler(1, deltas({2, 4}, {70, 90}));
  EXPECT_EQ(dp.view(2).tokens, (std::vector<int32_t>{70}));

  dp.pause(1, true);
  EXPECT_EQ(dp.log[1]->aborted, (std::vector<SeqId>{2, 4})) << "its blocks are freed where it was";
  ASSERT_EQ(dp.log[0]->submitted_ids(), (std::vector<SeqId>{1, 3, 2, 4}));
  const GenerationRequest& moved = dp.log[0]->submitted[2];
  EXPECT_EQ(moved.output_token_ids, (std::vector<int32_t>{70})) << "recomputed from what its client has";
  EXPECT_EQ(moved.arrival, 1u) << "its place in the queue (the second arrival) kept";
  EXPECT_EQ(moved.prompt_token_ids, request(2).prompt_token_ids);

  // The paused replica's late output (a step that was running, its abort's FinishedBatch) is
  // dropped: the request is replica 0's now.
  dp.from_scheduler(1, deltas({2}, {71}));
  dp.from_scheduler(1, finished(2, SequenceFinishReason::Abort));
  EXPECT_EQ(dp.view(2).tokens, (std::vector<int32_t>{70}));
  EXPECT_EQ(dp.view(2).endings, 0);

  // Nothing new goes to a paused replica, though round robin's turn is its.
  dp.submit_request(5);
  dp.submit_request(6);
  EXPECT_EQ(dp.log[1]->submitted.size(), 2u);
  EXPECT_EQ(dp.log[0]->submitted_ids(), (std::vector<SeqId>{1, 3, 2, 4, 5, 6}));

  // The moved request goes on where it is now, and ends once.
  dp.from_scheduler(0, deltas({2}, {72}));
  dp.from_scheduler(0, finished(2, SequenceFinishReason::Length));
  EXPECT_EQ(dp.view(2).tokens, (std::vector<int32_t>{70, 72}));
  EXPECT_EQ(dp.view(2).endings, 1);
  EXPECT_EQ(dp.view(2).completion_tokens, 2);

  // Back: it takes turns again.
  dp.pause(1, false);
  dp.submit_request(7);
  dp.submit_request(8);
  EXPECT_EQ(dp.log[1]->submitted.size(), 3u);
  EXPECT_EQ(dp.log[0]->submitted.size(), 7u);
}

TEST(GatewayRouting, WithEveryReplicaPausedRequestsStayAndWaitOnOne) {
  TwoReplicas dp;
  dp.submit_request(1);
  dp.submit_request(2);
  dp.pause(1, true);  // 2 moves to replica 0
  dp.pause(0, true);  // nowhere to move 1 and 2: they stay
  EXPECT_TRUE(dp.log[0]->aborted.empty());
  EXPECT_EQ(dp.log[0]->submitted_ids(), (std::vector<SeqId>{1, 2}));
  dp.submit_request(3);  // queued on a paused replica, not refused
  EXPECT_EQ(dp.log[0]->submitted.size() + dp.log[1]->submitted.size(), 4u);
  EXPECT_EQ(dp.view(3).endings, 0);
  EXPECT_EQ(dp.view(3).error, "");
}

TEST(GatewayRouting, ARequestAbortedOnAPausingReplicaIsNotMoved) {
  TwoReplicas dp;
  dp.submit_request(1);
  dp.submit_request(2);
  caf::anon_send(dp.gateway, abort_atom::value, SeqId{2});  // the client hung up
  dp.run();
  dp.pause(1, true);
  EXPECT_EQ(dp.log[1]->aborted, (std::vector<SeqId>{2})) << "aborted once, by the client";
  EXPECT_EQ(dp.log[0]->submitted_ids(), (std::vector<SeqId>{1}));
  dp.from_scheduler(1, finished(2, SequenceFinishReason::Abort));  // its scheduler lives on and ends it
  EXPECT_EQ(dp.view(2).endings, 1);
  EXPECT_EQ(dp.view(2).reason, "abort");
}

TEST(GatewayRouting, CacheAwareAsksTheKvManagerOnceAndTakesTheReplicaHoldingMore) {
  TwoReplicas dp(ReplicaCacheReport{{0, 48}, {10, 10}});
  dp.submit_request(1);
  dp.submit_request(2);
  EXPECT_EQ(*dp.questions, 2);
  EXPECT_EQ(dp.log[1]->submitted_ids(), (std::vector<SeqId>{1, 2})) << "replica 1 holds 48 tokens of it";
  EXPECT_EQ(dp.metrics->router_fallbacks.load(), 0u);
}

TEST(GatewayRouting, CacheAwareWithoutAnAnswerInTimeRoutesLeastLoadedAndCountsIt) {
  TwoReplicas dp(std::nullopt);  // a kv_manager that never answers
  submit(dp.gateway, dp.clients, request(1));
  dp.run();
  EXPECT_TRUE(dp.log[0]->submitted.empty() && dp.log[1]->submitted.empty()) << "routed before its answer was due";
  EXPECT_EQ(dp.sched.trigger_timeouts(), 1u);  // routing_timeout passes
  dp.run();
  EXPECT_EQ(dp.log[0]->submitted.size() + dp.log[1]->submitted.size(), 1u);
  EXPECT_EQ(dp.metrics->router_fallbacks.load(), 1u);
  // A dead kv_manager: the question fails at once, least_loaded takes the other (less loaded) replica.
  caf::anon_send_exit(dp.kv_manager, caf::exit_reason::kill);
  dp.run();
  dp.submit_request(2);
  EXPECT_EQ(dp.log[0]->submitted.size(), 1u);
  EXPECT_EQ(dp.log[1]->submitted.size(), 1u);
  EXPECT_EQ(dp.metrics->router_fallbacks.load(), 2u);
}

}  // namespace
}  // namespace troupe
