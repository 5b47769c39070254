#pragma once
// BenchReport: the numbers a serving benchmark ends with, computed from the request records, as
// a table for people and JSON for scripts. Latencies are in milliseconds. TTFT and E2E summarize
// successful requests; TPOT those with at least two output tokens; ITL pools every gap between
// content chunks of every successful request. Throughputs divide by the measured duration.
// Goodput counts the successful requests that meet every given limit (as in the DistServe paper):
// requests per second that a service-level objective would accept.
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/loadgen/latency_stats.h"
#include "bench/loadgen/request_record.h"

namespace troupe::loadgen {

struct GoodputLimits {
  std::optional<double> ttft_ms;
  std::optional<double> tpot_ms;
  std::optional<double> e2el_ms;
  bool empty() const { return !ttft_ms && !tpot_ms && !e2el_ms; }
  bool met_by(const RequestRecord& r) const;
};

// Which latency metrics the table and the flat JSON keys show, at which percentiles (besides the
// mean and median): vLLM's --percentile-metrics and --metric-percentiles. The default is ours:
// all four metrics at P90, P95, P99.
struct ReportLayout {
  std::vector<std::string> metrics = {"ttft", "tpot", "itl", "e2el"};
  std::vector<double> percentiles = {90, 95, 99};
};
// Parse a comma-separated list into `layout`; return an error message naming the flag, empty when
// it parsed.
std::string parse_percentile_metrics(const std::string& csv, ReportLayout& layout);
std::string parse_metric_percentiles(const std::string& csv, ReportLayout& layout);

// Adds one "metric:milliseconds" (ttft, tpot, e2el; e2e is taken for e2el) to `limits`;
// returns an error message, empty when it parsed.
std::string add_goodput_limit(const std::string& spec, GoodputLimits& limits);

struct BenchReport {
  double duration_s = 0;
  size_t completed = 0;
  size_t failed = 0;
  size_t cancelled = 0;             // in flight at Ctrl-C: neither completed nor failed
  bool interrupted = false;
  int64_t total_input_tokens = 0;   // of completed requests
  int64_t total_output_tokens = 0;  // of completed requests
  double request_throughput = 0;    // completed / s
  double output_throughput = 0;     // output tokens / s
  double total_token_throughput = 0;
  std::optional<double> goodput;    // requests / s meeting the limits; none without limits
  GoodputLimits limits;
  ReportLayout layout;
  LatencySummary ttft_ms, tpot_ms, itl_ms, e2el_ms;
  std::map<std::string, size_t> errors;  // failure message -> how many
};

BenchReport make_report(const std::vector<RequestRecord>& records, double duration_s, const GoodputLimits& limits,
                        bool interrupted = false, const ReportLayout& layout = {});
void print_report(std::ostream& out, const BenchReport& r);
// Our nested summaries, and vLLM's flat keys (`duration`, `mean_ttft_ms`, `p99_ttft_ms`, ...) for the
// layout's metrics, so a script that reads `vllm bench serve --save-result` files reads ours.
nlohmann::ordered_json report_json(const BenchReport& r);

}  // namespace troupe::loadgen
