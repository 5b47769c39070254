#pragma once
// When each request of an open-loop benchmark is sent: a Poisson process at `rate` requests per
// second, i.e. independent exponential gaps of mean 1/rate. The first request goes at 0; the same
// seed gives the same schedule, so runs compare request for request.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace troupe::loadgen {

// [n] offsets in seconds from the start, non-decreasing. An infinite rate sends all at once.
std::vector<double> poisson_arrival_offsets(size_t n, double rate, uint64_t seed);

}  // namespace troupe::loadgen
