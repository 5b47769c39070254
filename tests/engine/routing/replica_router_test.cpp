// pick_replica: each policy's choice, its ties (taking turns through the cursor), cache_aware's
// overload guard, replicas past their restart budget never picked, paused ones only when all are.
#include <gtest/gtest.h>

#include <vector>

#include "engine/routing/replica_router.h"

namespace troupe {
namespace {

ReplicaLoad replica(int32_t in_flight, int32_t cached = 0, int32_t free_blocks = -1, bool live = true) {
  return ReplicaLoad{live, in_flight, cached, free_blocks};
}

int32_t pick(RoutingPolicy p, const std::vector<ReplicaLoad>& r, uint64_t cursor = 0) {
  return pick_replica(p, r, cursor);
}

TEST(ReplicaRouter, PolicyNamesRoundTrip) {
  for (auto p : {RoutingPolicy::CacheAware, RoutingPolicy::LeastLoaded, RoutingPolicy::RoundRobin})
    EXPECT_EQ(parse_routing_policy(routing_policy_name(p)), p);
  EXPECT_EQ(parse_routing_policy("cache-aware"), std::nullopt);
  EXPECT_EQ(routing_policy_names(), "cache_aware, least_loaded, round_robin");
}

TEST(ReplicaRouter, CacheAwareTakesTheLongestCachedPrefix) {
  EXPECT_EQ(pick(RoutingPolicy::CacheAware, {replica(1, 32), replica(0, 0), replica(2, 96)}), 2);
  // The other policies ignore the cache.
  EXPECT_EQ(pick(RoutingPolicy::LeastLoaded, {replica(1, 32), replica(0, 0), replica(2, 96)}), 1);
}

TEST(ReplicaRouter, CacheAwareTiesGoToTheLessLoadedThenTheFreer) {
  EXPECT_EQ(pick(RoutingPolicy::CacheAware, {replica(3, 64), replica(1, 64)}), 1);
  EXPECT_EQ(pick(RoutingPolicy::CacheAware, {replica(1, 64, 10), replica(1, 64, 90)}), 1);
  EXPECT_EQ(pick(RoutingPolicy::LeastLoaded, {replica(2, 0, 10), replica(2, 0, 90)}), 1);
  // Unknown room (-1: no mirror yet) decides nothing: the tie takes turns.
  EXPECT_EQ(pick(RoutingPolicy::CacheAware, {replica(0, 0, 64), replica(0, 0, -1)}, 1), 1);
  EXPECT_EQ(pick(RoutingPolicy::CacheAware, {replica(0, 0, 64), replica(0, 0, -1)}, 0), 0);
}

TEST(ReplicaRouter, FullTiesTakeTurns) {
  const std::vector<ReplicaLoad> equal = {replica(0), replica(0), replica(0)};
  for (auto p : {RoutingPolicy::CacheAware, RoutingPolicy::LeastLoaded, RoutingPolicy::RoundRobin}) {
    uint64_t cursor = 0;
    std::vector<int32_t> picks;
    for (int i = 0; i < 6; ++i) picks.push_back(pick_replica(p, equal, cursor));
    EXPECT_EQ(picks, (std::vector<int32_t>{0, 1, 2, 0, 1, 2})) << routing_policy_name(p);
  }
}

TEST(ReplicaRouter, RoundRobinIgnoresLoadAndCache) {
  uint64_t cursor = 0;
  const std::vector<ReplicaLoad> r = {replica(50, 0), replica(0, 500)};
  EXPECT_EQ(pick_replica(RoutingPolicy::RoundRobin, r, cursor), 0);
  EXPECT_EQ(pick_replica(RoutingPolicy::RoundRobin, r, cursor), 1);
  EXPECT_EQ(pick_replica(RoutingPolicy::RoundRobin, r, cursor), 0);
}

TEST(ReplicaRouter, OverloadGuardSendsCacheHitsElsewhereWhenTheHolderIsBusy) {
  // Within the slack (8 over the least loaded at low load) the cache wins...
  EXPECT_EQ(pick(RoutingPolicy::CacheAware, {replica(8, 512), replica(0, 0)}), 0);
  // ...one more and the request goes to the idle replica, however long the cached prefix.
  EXPECT_EQ(pick(RoutingPolicy::CacheAware, {replica(9, 512), replica(0, 0)}), 1);
  // The slack is half the least load once that is above 16: 45 vs 30 is within it...
  EXPECT_EQ(pick(RoutingPolicy::CacheAware, {replica(45, 512), replica(30, 0)}), 0);
  // ...46 vs 30 is not.
  EXPECT_EQ(pick(RoutingPolicy::CacheAware, {replica(46, 512), replica(30, 0)}), 1);
  // Among the eligible, the cache still decides.
  EXPECT_EQ(pick(RoutingPolicy::CacheAware, {replica(46, 512), replica(30, 16), replica(31, 64)}), 2);
}

TEST(ReplicaRouter, OverloadGuardSpreadsOnePopularPrefix) {
  // Every request finds the same cached prefix on replica 0 (one system prompt): the guard keeps
  // the others from idling while 0 takes everything.
  std::vector<ReplicaLoad> r = {replica(0), replica(0)};
  uint64_t cursor = 0;
  for (int i = 0; i < 40; ++i) {
    r[0].cached_tokens = 256;
    const int32_t p = pick_replica(RoutingPolicy::CacheAware, r, cursor);
    ASSERT_GE(p, 0);
    ++r[static_cast<size_t>(p)].in_flight;
    EXPECT_LE(r[0].in_flight - r[1].in_flight, kCacheAwareMinSlack + 1 + r[1].in_flight / 2);
  }
  EXPECT_GE(r[1].in_flight, 12);
}

TEST(ReplicaRouter, DeadReplicasAreNeverPicked) {
  for (auto p : {RoutingPolicy::CacheAware, RoutingPolicy::LeastLoaded, RoutingPolicy::RoundRobin}) {
    uint64_t cursor = 0;
    const std::vector<ReplicaLoad> r = {replica(0, 900, 100, false), replica(9, 0), replica(0, 0, -1, false)};
    for (int i = 0; i < 4; ++i) EXPECT_EQ(pick_replica(p, r, cursor), 1) << routing_policy_name(p);
    EXPECT_EQ(pick(p, {replica(0, 0, -1, false)}), -1);
    EXPECT_EQ(pick(p, {}), -1);
  }
}

TEST(ReplicaRouter, PausedReplicasAreSkippedWhileAnotherServesAndTakeRequestsWhenAllArePaused) {
  for (auto p : {RoutingPolicy::CacheAware, RoutingPolicy::LeastLoaded, RoutingPolicy::RoundRobin}) {
    uint64_t cursor = 0;
    // Replica 0 holds the whole prompt and is idle, but it is recovering: the busy one takes it.
    std::vector<ReplicaLoad> r = {replica(0, 900, 100), replica(30, 0, 5), replica(0, 0, -1, false)};
    r[0].paused = true;
    for (int i = 0; i < 4; ++i) EXPECT_EQ(pick_replica(p, r, cursor), 1) << routing_policy_name(p);
    // Every live replica paused: the request waits on one of them rather than failing.
    r[1].paused = true;
    const int32_t waiting_on = pick_replica(p, r, cursor);
    EXPECT_TRUE(waiting_on == 0 || waiting_on == 1) << routing_policy_name(p) << " picked " << waiting_on;
    if (p == RoutingPolicy::CacheAware) EXPECT_EQ(waiting_on, 0) << "among paused ones, the usual order holds";
  }
}

}  // namespace
}  // namespace troupe
