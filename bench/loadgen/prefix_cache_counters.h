#pragma once
// The server's own prefix-cache counters, read from its Prometheus /metrics text before and after
// a run: hits / queries over the run is the hit rate the server saw (the tokens admissions looked
// up, and those found cached). Any prefix (troupe:, vllm:) and any labels: a server that labels
// its data-parallel replicas (replica="i") writes one line each, and the sum is the server's.
#include <optional>
#include <string_view>

namespace troupe::loadgen {

struct PrefixCacheCounters {
  double hits = 0;     // *:prefix_cache_hits_total, summed over its lines
  double queries = 0;  // *:prefix_cache_queries_total, likewise
};

// nullopt when the text has no queries series (the server does not count them).
std::optional<PrefixCacheCounters> parse_prefix_cache_counters(std::string_view prometheus_text);

// (after - before) hits over queries; nullopt when nothing was queried in between.
std::optional<double> hit_rate_between(const PrefixCacheCounters& before, const PrefixCacheCounters& after);

}  // namespace troupe::loadgen
