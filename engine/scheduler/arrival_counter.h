#pragma once
// ArrivalCounter: numbers requests in the order the scheduler serves equal priorities. A request
// that comes with an arrival keeps it — a resubmission after a scheduler restart, whose place in
// the queue must survive — and any other comes after every arrival seen so far. The scheduler
// numbers what it is given this way, and so do its clients (the gateway, the batch client), so
// that what they resubmit carries the number it first had.
#include <algorithm>
#include <cstdint>
#include <optional>

namespace troupe {

class ArrivalCounter {
 public:
  uint64_t number(std::optional<uint64_t> given) {
    const uint64_t arrival = given.value_or(next_);
    next_ = std::max(next_, arrival + 1);  // a given arrival past the count moves it on: no two share one
    return arrival;
  }

 private:
  uint64_t next_ = 0;
};

}  // namespace troupe
