#pragma once
// The tests' stock prompt: n consecutive token ids from `first`.
#include <cstdint>
#include <numeric>
#include <vector>

namespace troupe::testing {

inline std::vector<int32_t> tokens(int32_t first, int32_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

}  // namespace troupe::testing
