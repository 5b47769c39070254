#include "engine/routing/replica_router.h"

#include <algorithm>
#include <array>
#include <limits>

namespace troupe {
namespace {

constexpr std::array<std::pair<std::string_view, RoutingPolicy>, 3> kPolicies = {{
    {"cache_aware", RoutingPolicy::CacheAware},
    {"least_loaded", RoutingPolicy::LeastLoaded},
    {"round_robin", RoutingPolicy::RoundRobin},
}};

// Strictly better than `best` under the policy's order (ties keep the one scanned first).
bool better(RoutingPolicy policy, const ReplicaLoad& r, const ReplicaLoad& best) {
  if (policy == RoutingPolicy::CacheAware && r.cached_tokens != best.cached_tokens)
    return r.cached_tokens > best.cached_tokens;
  if (r.in_flight != best.in_flight) return r.in_flight < best.in_flight;
  // Unknown room (a replica whose mirror has not heard from it yet: it has run nothing) decides
  // nothing, or an idle replica would lose every tie to one that has worked.
  return r.free_blocks >= 0 && best.free_blocks >= 0 && r.free_blocks > best.free_blocks;
}

}  // namespace

std::optional<RoutingPolicy> parse_routing_policy(std::string_view name) {
  for (const auto& [n, p] : kPolicies)
    if (n == name) return p;
  return std::nullopt;
}

std::string_view routing_policy_name(RoutingPolicy p) {
  for (const auto& [n, q] : kPolicies)
    if (q == p) return n;
  return "?";
}

std::string routing_policy_names() {
  std::string out;
  for (const auto& [n, p] : kPolicies) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

int32_t pick_replica(RoutingPolicy policy, std::span<const ReplicaLoad> replicas, uint64_t& cursor) {
  const auto n = static_cast<uint64_t>(replicas.size());
  const bool any_serving = std::any_of(replicas.begin(), replicas.end(), [](const ReplicaLoad& r) { return r.live && !r.paused; });
  auto eligible = [&](const ReplicaLoad& r) { return r.live && (!any_serving || !r.paused); };
  int32_t least = std::numeric_limits<int32_t>::max();
  for (const ReplicaLoad& r : replicas)
    if (eligible(r)) least = std::min(least, r.in_flight);
  if (least == std::numeric_limits<int32_t>::max()) return -1;  // none live
  const int32_t slack = std::max(kCacheAwareMinSlack, least * kCacheAwareSlackPercent / 100);
  int32_t pick = -1;
  for (uint64_t k = 0; k < n; ++k) {
    const auto i = static_cast<int32_t>((cursor + k) % n);
    const ReplicaLoad& r = replicas[static_cast<size_t>(i)];
    if (!eligible(r)) continue;
    if (policy == RoutingPolicy::RoundRobin) {
      pick = i;
      break;
    }
    if (policy == RoutingPolicy::CacheAware && r.in_flight > least + slack) continue;  // the overload guard
    if (pick < 0 || better(policy, r, replicas[static_cast<size_t>(pick)])) pick = i;
  }
  // Round robin moves past its pick; the others move one on, so the next tie starts elsewhere.
  cursor = policy == RoutingPolicy::RoundRobin ? static_cast<uint64_t>(pick) + 1 : cursor + 1;
  return pick;
}

}  // namespace troupe
