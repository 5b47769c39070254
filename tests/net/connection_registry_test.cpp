// ConnectionRegistry's rules, fed events with no sockets: the per-address cap refuses, the global
// cap evicts the longest-idle connection, and busy connections are never evicted.
#include "net/connection_registry.h"

#include <gtest/gtest.h>

namespace troupe::net {
namespace {

using Clock = ConnectionRegistry::Clock;
using namespace std::chrono_literals;

TEST(ConnectionRegistry, OneAddressGetsOnlyItsShare) {
  ConnectionRegistry r({.max_connections = 10, .max_per_client = 3});
  const auto t = Clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(r.admit("127.0.0.3", t).accepted);
  const auto refused = r.admit("127.0.0.3", t);
  EXPECT_FALSE(refused.accepted);
  EXPECT_NE(refused.reason.find("--max-connections-per-client"), std::string::npos) << refused.reason;
  EXPECT_TRUE(r.admit("127.0.0.2", t).accepted) << "another address is not held back";
  EXPECT_EQ(r.from("127.0.0.3"), 3u);
  EXPECT_EQ(r.size(), 4u);
}

TEST(ConnectionRegistry, ClosingOneFreesItsAddressSlot) {
  ConnectionRegistry r({.max_connections = 10, .max_per_client = 1});
  const auto a = r.admit("10.0.0.1", Clock::now());
  ASSERT_TRUE(a.accepted);
  EXPECT_FALSE(r.admit("10.0.0.1", Clock::now()).accepted);
  r.remove(a.id);
  r.remove(a.id);  // twice (evicted, then closed): ignored
  EXPECT_TRUE(r.admit("10.0.0.1", Clock::now()).accepted);
  EXPECT_EQ(r.size(), 1u);
}

TEST(ConnectionRegistry, AtTheCapTheLongestIdleMakesRoom) {
  ConnectionRegistry r({.max_connections = 3, .max_per_client = 0});
  const auto t = Clock::now();
  const auto a = r.admit("10.0.0.1", t);
  const auto b = r.admit("10.0.0.1", t + 1s);
  const auto c = r.admit("10.0.0.2", t + 2s);
  // a answers a request and is idle again after b and c: b has waited longest now.
  r.set_busy(a.id, true, t + 3s);
  r.set_busy(a.id, false, t + 4s);
  const auto d = r.admit("10.0.0.9", t + 5s);
  ASSERT_TRUE(d.accepted);
  ASSERT_TRUE(d.evicted);
  EXPECT_EQ(*d.evicted, b.id);
  EXPECT_EQ(r.size(), 3u) << "the evicted one is forgotten at once";
  EXPECT_EQ(r.from("10.0.0.1"), 1u);
  (void)c;
}

TEST(ConnectionRegistry, BusyConnectionsAreNeverEvicted) {
  ConnectionRegistry r({.max_connections = 2, .max_per_client = 0});
  const auto t = Clock::now();
  const auto a = r.admit("10.0.0.1", t);
  const auto b = r.admit("10.0.0.2", t + 1s);
  r.set_busy(a.id, true, t + 2s);
  const auto c = r.admit("10.0.0.3", t + 3s);
  ASSERT_TRUE(c.accepted);
  EXPECT_EQ(*c.evicted, b.id) << "the idle one goes although it is younger";
  r.set_busy(c.id, true, t + 4s);
  EXPECT_EQ(r.busy(), 2u);
  const auto refused = r.admit("10.0.0.4", t + 5s);
  EXPECT_FALSE(refused.accepted) << "every connection is answering";
  EXPECT_FALSE(refused.evicted);
  EXPECT_NE(refused.reason.find("--max-connections"), std::string::npos);
  r.remove(a.id);
  EXPECT_EQ(r.busy(), 1u) << "a busy connection that closes stops counting as busy";
  EXPECT_TRUE(r.admit("10.0.0.4", t + 6s).accepted);
}

TEST(ConnectionRegistry, IdleListsOnlyWhatDrainMayCloseNow) {
  ConnectionRegistry r({.max_connections = 8, .max_per_client = 0});
  const auto t = Clock::now();
  const auto a = r.admit("10.0.0.1", t);
  const auto b = r.admit("10.0.0.1", t);
  r.set_busy(b.id, true, t);
  r.set_busy(b.id, true, t);  // repeated: counted once
  EXPECT_EQ(r.busy(), 1u);
  EXPECT_EQ(r.idle_ids(), std::vector<ConnectionRegistry::Id>{a.id});
  EXPECT_EQ(r.all_ids().size(), 2u);
}

}  // namespace
}  // namespace troupe::net
