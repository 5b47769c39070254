// Poisson arrivals: exponential gaps of mean 1/rate, reproducible from the seed.
#include <gtest/gtest.h>

#include <cmath>

#include "bench/loadgen/arrival_schedule.h"

namespace troupe::loadgen {
namespace {

TEST(ArrivalSchedule, GapsHaveMeanOneOverRateAndExponentialSpread) {
  const size_t n = 200001;
  const double rate = 8.0;
  const std::vector<double> t = poisson_arrival_offsets(n, rate, 1234);
  ASSERT_EQ(t.size(), n);
  EXPECT_EQ(t[0], 0.0);
  double sum = 0, sum_sq = 0;
  for (size_t i = 1; i < n; ++i) {
    const double gap = t[i] - t[i - 1];
    ASSERT_GE(gap, 0.0);
    sum += gap;
    sum_sq += gap * gap;
  }
  const double gaps = static_cast<double>(n - 1);
  const double mean = sum / gaps;
  const double stddev = std::sqrt(sum_sq / gaps - mean * mean);
  // 200k gaps: the standard error of the mean is 1/rate/sqrt(2e5) ~ 0.22%, so 1% is > 4 sigma.
  EXPECT_NEAR(mean, 1.0 / rate, 0.01 / rate);
  EXPECT_NEAR(stddev / mean, 1.0, 0.02);  // an exponential's coefficient of variation is 1
}

TEST(ArrivalSchedule, SameSeedSameScheduleOtherSeedOther) {
  EXPECT_EQ(poisson_arrival_offsets(100, 3.0, 7), poisson_arrival_offsets(100, 3.0, 7));
  EXPECT_NE(poisson_arrival_offsets(100, 3.0, 7), poisson_arrival_offsets(100, 3.0, 8));
}

TEST(ArrivalSchedule, InfiniteRateSendsEverythingAtOnce) {
  EXPECT_EQ(poisson_arrival_offsets(5, INFINITY, 1), std::vector<double>(5, 0.0));
}

}  // namespace
}  // namespace troupe::loadgen
