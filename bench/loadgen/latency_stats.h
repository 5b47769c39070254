#pragma once
// Summary statistics of a set of latencies. Percentiles interpolate linearly between the two
// nearest ranks (rank = p/100 * (n-1)), the way numpy.percentile does by default, so numbers
// compare directly with Python benchmark clients.
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

namespace troupe::loadgen {

struct LatencySummary {
  size_t count = 0;  // all fields are 0 when count is 0
  double mean = 0;
  double stddev = 0;  // population standard deviation
  double median = 0;
  double p90 = 0;
  double p95 = 0;
  double p99 = 0;
  std::vector<std::pair<double, double>> at;  // (p, value) for each percentile summarize was asked for
};

// `sorted` ascending and non-empty; p in [0, 100].
double percentile(std::span<const double> sorted, double p);
// Any order; the values keep their unit. `percentiles` (each in [0, 100]) fill `at`, in order.
LatencySummary summarize(std::vector<double> values, std::span<const double> percentiles = {});

}  // namespace troupe::loadgen
