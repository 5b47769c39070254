#include "engine/metrics/server_metrics.h"

#include <cstdio>

namespace troupe {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void gauge(std::string& out, const std::string& name, const std::string& help, double value, const char* type = "gauge") {
  out += "# HELP troupe:" + name + " " + help + "\n# TYPE troupe:" + name + " " + type + "\n";
  out += "troupe:" + name + " " + number(value) + "\n";
}

const std::vector<double> kLatencyBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
                                             0.75,  1.0,   2.5,  5.0,  7.5,  10.0, 20.0, 40.0, 80.0};
const std::vector<double> kTokenGapBuckets = {0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04,
                                              0.05,  0.075,  0.1,   0.15,   0.2,  0.3,   0.4,  0.5,   0.75, 1.0, 2.5};

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

void Histogram::write(std::string& out, const std::string& name, const std::string& help) const {
  const std::string full = "troupe:" + name;
  out += "# HELP " + full + " " + help + "\n# TYPE " + full + " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
    out += full + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += full + "_sum " + number(sum_.load(std::memory_order_relaxed)) + "\n";
  out += full + "_count " + std::to_string(count_.load(std::memory_order_relaxed)) + "\n";
}

ServerMetrics::ServerMetrics()
    : time_to_first_token(kLatencyBuckets),
      time_per_output_token(kTokenGapBuckets),
      e2e_request_latency(kLatencyBuckets),
      request_queue_time(kLatencyBuckets) {}

std::string ServerMetrics::prometheus_text() const {
  std::string out;
  gauge(out, "engine_alive", "1 while the engine serves; 0 once a restart budget is spent (/health answers 503).",
        engine_alive.load() ? 1.0 : 0.0);
  gauge(out, "num_requests_running", "Requests in the running batch.", num_requests_running.load());
  gauge(out, "num_requests_waiting", "Requests waiting to be scheduled.", num_requests_waiting.load());
  const int64_t total = kv_blocks_total.load();
  gauge(out, "kv_cache_usage_perc", "Fraction of KV blocks referenced by live sequences (1 = full).",
        total > 0 ? static_cast<double>(kv_blocks_used.load()) / static_cast<double>(total) : 0.0);
  gauge(out, "prefix_cache_hits_total", "Prompt tokens served from the prefix cache.",
        static_cast<double>(prefix_cache_hit_tokens.load()), "counter");
  gauge(out, "prompt_tokens_total", "Prompt tokens of requests that started generating.",
        static_cast<double>(prompt_tokens.load()), "counter");
  gauge(out, "generation_tokens_total", "Tokens generated.", static_cast<double>(generation_tokens.load()), "counter");
  gauge(out, "requests_rejected_total", "Requests refused with 429 (queue full).",
        static_cast<double>(requests_rejected.load()), "counter");
  out += "# HELP troupe:request_success_total Finished requests by finish reason.\n"
         "# TYPE troupe:request_success_total counter\n";
  const char* reasons[] = {"stop", "length", "abort"};
  for (size_t i = 0; i < 3; ++i)
    out += std::string("troupe:request_success_total{finished_reason=\"") + reasons[i] + "\"} " +
           std::to_string(requests_finished[i].load()) + "\n";
  time_to_first_token.write(out, "time_to_first_token_seconds", "Time from arrival to the first token.");
  time_per_output_token.write(out, "time_per_output_token_seconds", "Mean time between output tokens of a request.");
  e2e_request_latency.write(out, "e2e_request_latency_seconds", "Time from arrival to the last token.");
  request_queue_time.write(out, "request_queue_time_seconds", "Time from submission to first being scheduled.");
  return out;
}

}  // namespace troupe
