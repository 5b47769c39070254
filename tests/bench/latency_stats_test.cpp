// Percentiles interpolate between ranks like numpy.percentile; the values below are worked by hand.
#include <gtest/gtest.h>

#include <vector>

#include "bench/loadgen/latency_stats.h"

namespace troupe::loadgen {
namespace {

TEST(LatencyStats, PercentileInterpolatesBetweenNearestRanks) {
  const std::vector<double> v = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 2.5);   // rank 1.5
  EXPECT_DOUBLE_EQ(percentile(v, 90), 3.7);   // rank 2.7
  EXPECT_DOUBLE_EQ(percentile(v, 99), 3.97);  // rank 2.97
  EXPECT_DOUBLE_EQ(percentile(v, 100), 4);
}

TEST(LatencyStats, PercentileOfOneValueIsThatValue) {
  const std::vector<double> v = {42};
  EXPECT_DOUBLE_EQ(percentile(v, 0), 42);
  EXPECT_DOUBLE_EQ(percentile(v, 99), 42);
}

TEST(LatencyStats, SummarizeSortsAndComputesEveryField) {
  const LatencySummary s = summarize({10, 3, 7, 1, 5, 9, 2, 8, 4, 6});  // 1..10 shuffled
  EXPECT_EQ(s.count, 10u);
  EXPECT_DOUBLE_EQ(s.mean, 5.5);
  EXPECT_NEAR(s.stddev, 2.8722813232690143, 1e-12);  // sqrt(8.25)
  EXPECT_DOUBLE_EQ(s.median, 5.5);
  EXPECT_NEAR(s.p90, 9.1, 1e-12);   // rank 8.1
  EXPECT_NEAR(s.p95, 9.55, 1e-12);  // rank 8.55
  EXPECT_NEAR(s.p99, 9.91, 1e-12);  // rank 8.91
}

TEST(LatencyStats, SummaryOfNothingIsAllZero) {
  const LatencySummary s = summarize({});
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.mean, 0);
  EXPECT_EQ(s.p99, 0);
}

}  // namespace
}  // namespace troupe::loadgen
