#pragma once
// The GPU tests' shared check: without a CUDA device they report "skipped", never "passed".
#include <cuda_runtime_api.h>

namespace troupe::test {

inline bool have_cuda_device() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

}  // namespace troupe::test
