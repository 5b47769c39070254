#include "bench/loadgen/report.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace troupe::loadgen {

bool GoodputLimits::met_by(const RequestRecord& r) const {
  if (!r.ok) return false;
  if (ttft_ms && r.ttft_s * 1e3 > *ttft_ms) return false;
  // A request with one output token has no TPOT; no TPOT limit can reject it.
  if (tpot_ms && r.tpot_s() >= 0 && r.tpot_s() * 1e3 > *tpot_ms) return false;
  if (e2el_ms && r.e2e_s * 1e3 > *e2el_ms) return false;
  return true;
}

std::string add_goodput_limit(const std::string& spec, GoodputLimits& limits) {
  const size_t colon = spec.find(':');
  if (colon == std::string::npos) return "--goodput takes metric:milliseconds, e.g. ttft:200 (got '" + spec + "')";
  const std::string metric = spec.substr(0, colon);
  double ms = 0;
  try {
    size_t used = 0;
    ms = std::stod(spec.substr(colon + 1), &used);
    if (used != spec.size() - colon - 1) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    return "--goodput " + spec + ": '" + spec.substr(colon + 1) + "' is not a number of milliseconds";
  }
  if (!(ms > 0)) return "--goodput " + spec + ": the limit must be > 0 ms";
  if (metric == "ttft") limits.ttft_ms = ms;
  else if (metric == "tpot") limits.tpot_ms = ms;
  else if (metric == "e2el" || metric == "e2e") limits.e2el_ms = ms;
  else return "--goodput " + spec + ": the metric must be ttft, tpot or e2el";
  return "";
}

namespace {

std::vector<std::string> split_csv(const std::string& csv) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= csv.size()) {
    const size_t comma = std::min(csv.find(',', start), csv.size());
    std::string part = csv.substr(start, comma - start);
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    parts.push_back(part);
    start = comma + 1;
  }
  return parts;
}

}  // namespace

std::string parse_percentile_metrics(const std::string& csv, ReportLayout& layout) {
  layout.metrics.clear();
  for (const std::string& m : split_csv(csv)) {
    if (m != "ttft" && m != "tpot" && m != "itl" && m != "e2el")
      return "--percentile-metrics " + csv + ": '" + m + "' is not one of ttft, tpot, itl, e2el";
    if (std::find(layout.metrics.begin(), layout.metrics.end(), m) == layout.metrics.end()) layout.metrics.push_back(m);
  }
  return "";
}

std::string parse_metric_percentiles(const std::string& csv, ReportLayout& layout) {
  layout.percentiles.clear();
  for (const std::string& p : split_csv(csv)) {
    double value = -1;
    try {
      size_t used = 0;
      value = std::stod(p, &used);
      if (used != p.size()) value = -1;
    } catch (const std::exception&) {
    }
    if (!(value > 0 && value < 100))
      return "--metric-percentiles " + csv + ": '" + p + "' is not a percentile in (0, 100)";
    layout.percentiles.push_back(value);
  }
  return "";
}

BenchReport make_report(const std::vector<RequestRecord>& records, double duration_s, const GoodputLimits& limits,
                        bool interrupted, const ReportLayout& layout) {
  BenchReport r;
  r.layout = layout;
  r.duration_s = duration_s;
  r.interrupted = interrupted;
  r.limits = limits;
  std::vector<double> ttft, tpot, itl, e2el;
  size_t good = 0;
  for (const RequestRecord& rec : records) {
    if (rec.cancelled) {
      ++r.cancelled;
      continue;
    }
    if (!rec.ok) {
      ++r.failed;
      ++r.errors[rec.error.substr(0, 160)];
      continue;
    }
    ++r.completed;
    r.total_input_tokens += rec.prompt_tokens;
    r.total_output_tokens += rec.output_tokens;
    ttft.push_back(rec.ttft_s * 1e3);
    e2el.push_back(rec.e2e_s * 1e3);
    if (rec.tpot_s() >= 0) tpot.push_back(rec.tpot_s() * 1e3);
    for (const double gap : rec.itl_s) itl.push_back(gap * 1e3);
    if (limits.met_by(rec)) ++good;
  }
  if (duration_s > 0) {
    r.request_throughput = static_cast<double>(r.completed) / duration_s;
    r.output_throughput = static_cast<double>(r.total_output_tokens) / duration_s;
    r.total_token_throughput = static_cast<double>(r.total_input_tokens + r.total_output_tokens) / duration_s;
    if (!limits.empty()) r.goodput = static_cast<double>(good) / duration_s;
  }
  r.ttft_ms = summarize(std::move(ttft), layout.percentiles);
  r.tpot_ms = summarize(std::move(tpot), layout.percentiles);
  r.itl_ms = summarize(std::move(itl), layout.percentiles);
  r.e2el_ms = summarize(std::move(e2el), layout.percentiles);
  return r;
}

namespace {

void line(std::ostream& out, const char* name, const std::string& value) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%-36s %14s\n", name, value.c_str());
  out << buf;
}

std::string fixed(double v, int digits = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// vLLM's spelling of a percentile: 99 -> "99", 99.9 -> "99.9".
std::string percentile_word(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", p);
  return buf;
}

struct MetricView {
  const char* name;   // ttft, tpot, itl, e2el
  const char* key;    // TTFT, ...
  const char* title;
  const LatencySummary* summary;
};

std::vector<MetricView> metric_views(const BenchReport& r) {
  const MetricView all[] = {{"ttft", "TTFT", "Time to First Token", &r.ttft_ms},
                            {"tpot", "TPOT", "Time per Output Token (excl. 1st token)", &r.tpot_ms},
                            {"itl", "ITL", "Inter-token Latency", &r.itl_ms},
                            {"e2el", "E2EL", "End-to-end Latency", &r.e2el_ms}};
  std::vector<MetricView> views;  // in the order the layout names them, as vLLM prints them
  for (const std::string& name : r.layout.metrics)
    for (const MetricView& v : all)
      if (name == v.name) views.push_back(v);
  return views;
}

void latency_block(std::ostream& out, const MetricView& m) {
  out << "-------------------- " << m.title << " --------------------\n";
  const std::string unit = std::string(" ") + m.key + " (ms):";
  line(out, ("Mean" + unit).c_str(), fixed(m.summary->mean));
  line(out, ("Median" + unit).c_str(), fixed(m.summary->median));
  for (const auto& [p, value] : m.summary->at) line(out, ("P" + percentile_word(p) + unit).c_str(), fixed(value));
}

nlohmann::ordered_json summary_json(const LatencySummary& s) {
  return {{"count", s.count}, {"mean", s.mean}, {"std", s.stddev}, {"median", s.median},
          {"p90", s.p90},     {"p95", s.p95},   {"p99", s.p99}};
}

}  // namespace

void print_report(std::ostream& out, const BenchReport& r) {
  out << "============ Serving Benchmark Result" << (r.interrupted ? " (interrupted)" : "") << " ============\n";
  line(out, "Successful requests:", std::to_string(r.completed));
  line(out, "Failed requests:", std::to_string(r.failed));
  if (r.interrupted) line(out, "Cancelled requests (Ctrl-C):", std::to_string(r.cancelled));
  line(out, "Benchmark duration (s):", fixed(r.duration_s));
  line(out, "Total input tokens:", std::to_string(r.total_input_tokens));
  line(out, "Total generated tokens:", std::to_string(r.total_output_tokens));
  line(out, "Request throughput (req/s):", fixed(r.request_throughput));
  if (r.goodput) line(out, "Request goodput (req/s):", fixed(*r.goodput));
  line(out, "Output token throughput (tok/s):", fixed(r.output_throughput));
  line(out, "Total token throughput (tok/s):", fixed(r.total_token_throughput));
  for (const MetricView& m : metric_views(r)) latency_block(out, m);
  out << "==================================================\n";
}

nlohmann::ordered_json report_json(const BenchReport& r) {
  nlohmann::ordered_json j = {{"duration_s", r.duration_s},
                              {"duration", r.duration_s},  // vLLM's name
                              {"completed", r.completed},
                              {"failed", r.failed},
                              {"cancelled", r.cancelled},
                              {"interrupted", r.interrupted},
                              {"total_input_tokens", r.total_input_tokens},
                              {"total_output_tokens", r.total_output_tokens},
                              {"request_throughput", r.request_throughput},
                              {"output_throughput", r.output_throughput},
                              {"total_token_throughput", r.total_token_throughput},
                              {"request_goodput", r.goodput ? nlohmann::ordered_json(*r.goodput) : nullptr}};
  nlohmann::ordered_json limits = nlohmann::ordered_json::object();
  if (r.limits.ttft_ms) limits["ttft"] = *r.limits.ttft_ms;
  if (r.limits.tpot_ms) limits["tpot"] = *r.limits.tpot_ms;
  if (r.limits.e2el_ms) limits["e2el"] = *r.limits.e2el_ms;
  j["goodput_limits_ms"] = limits;
  j["ttft_ms"] = summary_json(r.ttft_ms);
  j["tpot_ms"] = summary_json(r.tpot_ms);
  j["itl_ms"] = summary_json(r.itl_ms);
  j["e2el_ms"] = summary_json(r.e2el_ms);
  for (const MetricView& m : metric_views(r)) {
    const std::string suffix = std::string("_") + m.name + "_ms";
    j["mean" + suffix] = m.summary->mean;
    j["median" + suffix] = m.summary->median;
    j["std" + suffix] = m.summary->stddev;
    for (const auto& [p, value] : m.summary->at) j["p" + percentile_word(p) + suffix] = value;
  }
  nlohmann::ordered_json errors = nlohmann::ordered_json::object();
  for (const auto& [message, count] : r.errors) errors[message] = count;
  j["errors"] = errors;
  return j;
}

}  // namespace troupe::loadgen
