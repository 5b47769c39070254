#pragma once
// Which data-parallel replica a new request goes to: a pure function of what the gateway knows
// (its own in-flight requests per replica) and what the kv_manager's mirrors answered (how many
// leading tokens of this prompt each replica's prefix cache holds, its free KV blocks). No I/O,
// no clock: the gateway asks, this decides, a test feeds it numbers and reads the pick back.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace troupe {

enum class RoutingPolicy {
  CacheAware,   // the replica holding the longest cached prefix, unless it is overloaded (below)
  LeastLoaded,  // the replica with the fewest in-flight requests
  RoundRobin,   // each live replica in turn, whatever it holds
};

// "cache_aware", "least_loaded", "round_robin"; nullopt for anything else.
std::optional<RoutingPolicy> parse_routing_policy(std::string_view name);
std::string_view routing_policy_name(RoutingPolicy p);
// The names, for --help and errors: "cache_aware, least_loaded, round_robin".
std::string routing_policy_names();

// One replica as the router sees it at the moment of the pick.
struct ReplicaLoad {
  bool live = true;            // false: past its restart budget (never picked)
  int32_t in_flight = 0;       // the gateway's requests on it, running or waiting
  int32_t cached_tokens = 0;   // leading tokens of this request its prefix cache holds (0: unknown)
  int32_t free_blocks = -1;    // KV blocks free (cached-unreferenced ones count as free); -1: unknown
  bool paused = false;         // recovering (its nodes join again): picked only while every live
                               // replica is, so a request waits where it would have waited anyway
};

// The overload guard of cache_aware: a replica may take a request for its cache only while its
// in-flight count exceeds the least-loaded live replica's by at most
//     max(kCacheAwareMinSlack, least * kCacheAwareSlackPercent / 100),
// i.e. it is skipped once it is ahead by more than 8 requests AND by more than half again.
// Why both: a hit saves the prefill of the cached tokens, while requests ahead of it on a busy
// replica cost it their share of every step; a popular prefix (one system prompt for everyone)
// would otherwise pull every request onto the replica that saw it first. The absolute floor keeps
// light loads (where a few requests more cost little in a continuous batch) from scattering
// conversations whenever the counts wobble; the relative part lets heavy loads differ more, for
// the same reason. A conversation moved off its replica loses its cache there, so the guard errs
// on the side of staying.
inline constexpr int32_t kCacheAwareMinSlack = 8;
inline constexpr int32_t kCacheAwareSlackPercent = 50;

// The replica to use, or -1 when none is live. Paused replicas count as not live while any live
// replica is not paused. `cursor` is the router's own counter (start it at 0 and keep it):
// round_robin takes the next live replica after it, and every policy breaks ties by scanning from
// it, so equal replicas take turns instead of the first one taking everything.
// Ties: cache_aware prefers, among the eligible, more cached tokens, then fewer in flight, then
// more free blocks; least_loaded fewer in flight, then more free blocks (only when both are known).
int32_t pick_replica(RoutingPolicy policy, std::span<const ReplicaLoad> replicas, uint64_t& cursor);

}  // namespace troupe
