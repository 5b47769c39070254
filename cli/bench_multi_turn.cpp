#include "cli/bench_multi_turn.h"

#include <chrono>
#include <cstdio>
#include <iostream>

#include "bench/loadgen/conversation.h"
#include "bench/loadgen/conversation_runner.h"

namespace troupe::cli {
namespace {

using namespace troupe::loadgen;

std::optional<PrefixCacheCounters> read_counters(const HttpTarget& target) {
  std::string err;
  const auto text = http_get(target, "/metrics", std::chrono::seconds(10), err);
  if (!text) {
    std::cerr << "warning: GET /metrics: " << err << "; no prefix-cache hit rate\n";
    return std::nullopt;
  }
  return parse_prefix_cache_counters(*text);
}

}  // namespace

MultiTurnResult run_multi_turn(const BenchOptions& o, const HttpTarget& target, const Tokenizer& tokenizer,
                               const nlohmann::json& extra) {
  std::vector<ConversationPlan> plans = plan_conversations(o.conversations, o.turns, o.workload.input_len,
                                                           o.system_prompt_len, o.seed, tokenizer);
  ConversationRunOptions run{.target = target,
                             .path = o.endpoint,
                             .model = o.model,
                             .extra = extra,
                             .output_len = o.workload.output_len,
                             .concurrency = o.concurrency,
                             .request_timeout = std::chrono::milliseconds(static_cast<int64_t>(o.request_timeout_s * 1e3))};
  std::cerr << "bench: " << o.conversations << " conversations x " << o.turns << " turns to http://"
            << target.host_header() << target.path_of(o.endpoint) << ", model '" << o.model << "', user messages of "
            << o.workload.input_len << " tokens, answers of " << o.workload.output_len << ", system prompt of "
            << o.system_prompt_len << ", " << (o.concurrency > 0 ? std::to_string(o.concurrency) : std::string("all"))
            << " conversations at once\n";
  MultiTurnResult r;
  const auto before = read_counters(target);
  ConversationRunResult run_result = run_conversations(run, std::move(plans));
  const auto after = read_counters(target);
  r.records = std::move(run_result.records);
  r.duration_s = run_result.duration_s;
  if (before && after) {
    r.before = *before;
    r.after = *after;
    r.hit_rate = hit_rate_between(*before, *after);
  }
  return r;
}

std::string multi_turn_summary(const BenchOptions& o, const MultiTurnResult& r) {
  std::string out = "multi-turn: " + std::to_string(o.conversations) + " conversations x " + std::to_string(o.turns) +
                    " turns, system prompt " + std::to_string(o.system_prompt_len) + " tokens\n";
  if (!r.hit_rate) return out + "prefix cache hit rate: not reported by the server\n";
  char line[160];
  std::snprintf(line, sizeof line, "prefix cache hit rate: %.4f (%.0f of %.0f tokens looked up, server counters)\n",
                *r.hit_rate, r.after.hits - r.before.hits, r.after.queries - r.before.queries);
  return out + line;
}

nlohmann::ordered_json multi_turn_json(const BenchOptions& o, const MultiTurnResult& r) {
  nlohmann::ordered_json j = {{"conversations", o.conversations},
                              {"turns", o.turns},
                              {"system_prompt_len", o.system_prompt_len}};
  j["prefix_cache_hit_rate"] = r.hit_rate ? nlohmann::ordered_json(*r.hit_rate) : nullptr;
  j["prefix_cache_hit_tokens"] = r.after.hits - r.before.hits;
  j["prefix_cache_query_tokens"] = r.after.queries - r.before.queries;
  return j;
}

}  // namespace troupe::cli
