#include "bench/loadgen/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace troupe::loadgen {

double percentile(std::span<const double> sorted, double p) {
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - static_cast<double>(lo));
}

LatencySummary summarize(std::vector<double> values, std::span<const double> percentiles) {
  LatencySummary s;
  if (values.empty()) {
    for (const double p : percentiles) s.at.emplace_back(p, 0.0);
    return s;
  }
  std::sort(values.begin(), values.end());
  const double n = static_cast<double>(values.size());
  s.count = values.size();
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  double sq = 0;
  for (const double v : values) sq += (v - s.mean) * (v - s.mean);
  s.stddev = std::sqrt(sq / n);
  s.median = percentile(values, 50);
  s.p90 = percentile(values, 90);
  s.p95 = percentile(values, 95);
  s.p99 = percentile(values, 99);
  for (const double p : percentiles) s.at.emplace_back(p, percentile(values, p));
  return s;
}

}  // namespace troupe::loadgen
