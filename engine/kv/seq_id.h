#pragma once
// SeqId: names one sequence (one request's generation) across the block pool, the scheduler and
// the executors. The gateway picks it; it is never reused while the sequence is alive.
#include <cstdint>

namespace troupe {

using SeqId = uint64_t;

}  // namespace troupe
