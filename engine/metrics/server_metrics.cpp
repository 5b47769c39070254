#include "engine/metrics/server_metrics.h"

#include <algorithm>
#include <cstdio>
#include <string_view>

namespace troupe {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// A label value as the text format wants it: backslash, quote and newline escaped.
std::string label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// "{a,b}" from the non-empty parts; "" when both are empty.
std::string braces(const std::string& a, const std::string& b) {
  if (a.empty() && b.empty()) return "";
  return "{" + a + (a.empty() || b.empty() ? "" : ",") + b + "}";
}

const std::vector<double> kLatencyBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
                                             0.75,  1.0,   2.5,  5.0,  7.5,  10.0, 20.0, 40.0, 80.0};
const std::vector<double> kTokenGapBuckets = {0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04,
                                              0.05,  0.075,  0.1,   0.15,   0.2,  0.3,   0.4,  0.5,   0.75, 1.0, 2.5};
// vLLM's 1-2-5 series for per-request token counts (it stops at max_model_len; these reach 500k).
const std::vector<double> kRequestTokenBuckets = {1,    2,    5,     10,    20,    50,     100,    200,    500,
                                                  1000, 2000, 5000,  10000, 20000, 50000,  100000, 200000, 500000};
// vLLM's buckets for tokens per engine step.
const std::vector<double> kIterationTokenBuckets = {1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1) {}

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double sum = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(sum, sum + value, std::memory_order_relaxed)) {
  }
}

void Histogram::write(std::string& out, const std::string& full, const std::string& help, const std::string& labels) const {
  out += "# HELP " + full + " " + help + "\n# TYPE " + full + " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
    out += full + "_bucket" + braces(labels, "le=\"" + le + "\"") + " " + std::to_string(cumulative) + "\n";
  }
  out += full + "_sum" + braces(labels, "") + " " + number(sum_.load(std::memory_order_relaxed)) + "\n";
  out += full + "_count" + braces(labels, "") + " " + std::to_string(count_.load(std::memory_order_relaxed)) + "\n";
}

ServerMetrics::ServerMetrics(int32_t num_replicas)
    : time_to_first_token(kLatencyBuckets),
      time_per_output_token(kTokenGapBuckets),
      e2e_request_latency(kLatencyBuckets),
      request_queue_time(kLatencyBuckets),
      request_prompt_tokens(kRequestTokenBuckets),
      request_generation_tokens(kRequestTokenBuckets),
      iteration_tokens(kIterationTokenBuckets) {
  for (int32_t i = 0; i < std::max(1, num_replicas); ++i) replicas_.push_back(std::make_unique<ReplicaMetrics>());
}

void ServerMetrics::sum_replica_gauges() {
  int64_t running = 0, waiting = 0, used = 0, total = 0;
  for (const auto& r : replicas_) {
    if (r->gone.load()) continue;
    running += r->num_requests_running.load();
    waiting += r->num_requests_waiting.load();
    used += r->kv_blocks_used.load();
    total += r->kv_blocks_total.load();
  }
  num_requests_running.store(running);
  num_requests_waiting.store(waiting);
  kv_blocks_used.store(used);
  kv_blocks_total.store(total);
}

void ServerMetrics::mark_replica_gone(int32_t i) {
  replica(i).gone.store(true);
  sum_replica_gauges();
}

std::string ServerMetrics::prometheus_text() const {
  std::string out;
  const std::string labels = model_name.empty() ? "" : "model_name=\"" + label_value(model_name) + "\"";
  auto series = [&](const char* name, const char* help, double value, const char* type = "gauge") {
    const std::string full = prefix + ":" + name;
    out += "# HELP " + full + " " + help + "\n# TYPE " + full + " " + type + "\n";
    out += full + braces(labels, "") + " " + number(value) + "\n";
  };
  auto counter = [&](const char* name, const char* help, const std::atomic<uint64_t>& v) {
    series(name, help, static_cast<double>(v.load()), "counter");
  };
  // With replicas: one line per replica of what `field` reads, in place of the server's one line.
  const bool per_replica = replicas_.size() > 1;
  auto replica_series = [&](const char* name, const char* help, const char* type, auto field) {
    const std::string full = prefix + ":" + name;
    out += "# HELP " + full + " " + help + "\n# TYPE " + full + " " + type + "\n";
    for (size_t i = 0; i < replicas_.size(); ++i) {
      const bool zero = std::string_view(type) == "gauge" && replicas_[i]->gone.load();
      out += full + braces(labels, "replica=\"" + std::to_string(i) + "\"") + " " +
             number(zero ? 0.0 : static_cast<double>(field(*replicas_[i]).load())) + "\n";
    }
  };
  auto histogram = [&](const Histogram& h, const char* name, const char* help) { h.write(out, prefix + ":" + name, help, labels); };
  series("engine_alive", "1 while the engine serves; 0 once a restart budget is spent (/health answers 503).",
         engine_alive.load() ? 1.0 : 0.0);
  if (per_replica) {
    replica_series("num_requests_running", "Requests in the running batch.", "gauge",
                   [](const ReplicaMetrics& r) -> auto& { return r.num_requests_running; });
    replica_series("num_requests_waiting", "Requests waiting to be scheduled.", "gauge",
                   [](const ReplicaMetrics& r) -> auto& { return r.num_requests_waiting; });
  } else {
    series("num_requests_running", "Requests in the running batch.", static_cast<double>(num_requests_running.load()));
    series("num_requests_waiting", "Requests waiting to be scheduled.", static_cast<double>(num_requests_waiting.load()));
  }
  const int64_t total = kv_blocks_total.load();
  series("kv_cache_usage_perc", "Fraction of KV blocks referenced by live sequences (1 = full).",
         total > 0 ? static_cast<double>(kv_blocks_used.load()) / static_cast<double>(total) : 0.0);
  const char* queries_help = "Prompt tokens looked up in the prefix cache (the hit rate's denominator).";
  const char* hits_help = "Prompt tokens served from the prefix cache.";
  if (per_replica) {
    replica_series("prefix_cache_queries_total", queries_help, "counter",
                   [](const ReplicaMetrics& r) -> auto& { return r.prefix_cache_query_tokens; });
    replica_series("prefix_cache_hits_total", hits_help, "counter",
                   [](const ReplicaMetrics& r) -> auto& { return r.prefix_cache_hit_tokens; });
    replica_series("routed_requests_total", "Requests the gateway's router sent to each replica.", "counter",
                   [](const ReplicaMetrics& r) -> auto& { return r.routed_requests; });
    replica_series("replica_recoveries_total", "Times a replica's nodes were lost and it was relaunched (a cluster).",
                   "counter", [](const ReplicaMetrics& r) -> auto& { return r.recoveries; });
    replica_series("replica_paused", "1 while a replica recovers: the router sends it nothing, its requests moved.",
                   "gauge", [](const ReplicaMetrics& r) -> auto& { return r.paused; });
    counter("router_fallbacks_total",
            "Requests routed least_loaded because the kv_manager did not answer the router in time.", router_fallbacks);
  } else {
    counter("prefix_cache_queries_total", queries_help, prefix_cache_query_tokens);
    counter("prefix_cache_hits_total", hits_help, prefix_cache_hit_tokens);
  }
  counter("num_preemptions_total", "Sequences preempted (KV blocks freed, recomputed later).", preemptions);
  counter("prompt_tokens_total", "Prompt tokens of requests that started generating.", prompt_tokens);
  counter("generation_tokens_total", "Tokens generated.", generation_tokens);
  counter("requests_rejected_total", "Requests refused with 429 (queue full).", requests_rejected);
  const std::string success = prefix + ":request_success_total";
  out += "# HELP " + success + " Finished requests by finish reason.\n# TYPE " + success + " counter\n";
  const char* reasons[] = {"stop", "length", "abort"};
  for (size_t i = 0; i < 3; ++i)
    out += success + braces(labels, std::string("finished_reason=\"") + reasons[i] + "\"") + " " +
           std::to_string(requests_finished[i].load()) + "\n";
  histogram(time_to_first_token, "time_to_first_token_seconds", "Time from arrival to the first token.");
  histogram(time_per_output_token, "time_per_output_token_seconds", "Mean time between output tokens of a request.");
  histogram(e2e_request_latency, "e2e_request_latency_seconds", "Time from arrival to the last token.");
  histogram(request_queue_time, "request_queue_time_seconds", "Time from submission to first being scheduled.");
  histogram(request_prompt_tokens, "request_prompt_tokens", "Prompt tokens of each finished request.");
  histogram(request_generation_tokens, "request_generation_tokens", "Tokens generated for each finished request.");
  histogram(iteration_tokens, "iteration_tokens_total", "Tokens computed per engine step (prefill and decode).");
  const std::string restarts = prefix + ":actor_restarts_total";
  out += "# HELP " + restarts + " Supervised actors started again after dying, by kind and node.\n# TYPE " + restarts +
         " counter\n";
  std::lock_guard lock(restarts_mu_);
  for (const auto& [key, n] : restarts_)
    out += restarts + braces(labels, "actor=\"" + label_value(key.first) + "\",node=\"" + label_value(key.second) + "\"") +
           " " + std::to_string(n) + "\n";
  return out;
}

void ServerMetrics::count_restart(const std::string& actor, const std::string& node) {
  std::lock_guard lock(restarts_mu_);
  ++restarts_[{actor, node}];
}

}  // namespace troupe
