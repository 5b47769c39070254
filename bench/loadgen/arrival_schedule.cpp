#include "bench/loadgen/arrival_schedule.h"

#include <cmath>
#include <random>

namespace troupe::loadgen {

std::vector<double> poisson_arrival_offsets(size_t n, double rate, uint64_t seed) {
  std::vector<double> offsets(n, 0.0);
  if (std::isinf(rate) || n == 0) return offsets;
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(rate);
  for (size_t i = 1; i < n; ++i) offsets[i] = offsets[i - 1] + gap(rng);
  return offsets;
}

}  // namespace troupe::loadgen
