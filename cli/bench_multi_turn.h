#pragma once
// `troupe bench --multi-turn`: --conversations C x --turns T, each turn's prompt the history so far
// (shared system prompt, earlier user messages and answers) plus a new user message of --input-len
// tokens; answers of --output-len. The server's own prefix-cache counters (its /metrics, read
// before and after) give the hit rate it saw, which is what a cache-aware router is for.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "bench/loadgen/http_target.h"
#include "bench/loadgen/prefix_cache_counters.h"
#include "bench/loadgen/request_record.h"
#include "cli/bench_options.h"
#include "engine/tokenizer/tokenizer.h"

namespace troupe::cli {

struct MultiTurnResult {
  std::vector<loadgen::RequestRecord> records;
  double duration_s = 0;
  std::optional<double> hit_rate;  // nullopt: the server does not count prefix-cache hits
  loadgen::PrefixCacheCounters before, after;
};

// Runs the conversations (--concurrency of them at once; all without it) and reads /metrics
// around them. Throws std::runtime_error if the host does not resolve.
MultiTurnResult run_multi_turn(const BenchOptions& o, const loadgen::HttpTarget& target, const Tokenizer& tokenizer,
                               const nlohmann::json& extra);

// Two lines for stdout: the workload, and the hit rate (or that the server does not say).
std::string multi_turn_summary(const BenchOptions& o, const MultiTurnResult& r);
// The same for --result-json.
nlohmann::ordered_json multi_turn_json(const BenchOptions& o, const MultiTurnResult& r);

}  // namespace troupe::cli
