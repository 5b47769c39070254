#pragma once
// DeviceContextLost: a device failure that poisons the process's device context (CUDA's "sticky"
// errors: an illegal address, a kernel trap), after which every later call on that device fails
// too. Restarting an executor in the same process cannot help; only a fresh process (a fresh
// context) can, so a node that catches this ends its process for its parent to start again
// (`troupe node --respawn`). Plain C++: thrown by kernels/cuda's checks, caught by the CLI.
#include <stdexcept>

namespace troupe {

struct DeviceContextLost : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace troupe
