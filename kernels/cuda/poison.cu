#include "kernels/cuda/poison.h"

#include <cstdint>
#include <stdexcept>

#include "kernels/cuda/cuda_check.h"

namespace troupe::cuda {
namespace {

// One thread stores to the last page of the address space: never mapped, so the store faults.
__global__ void store_out_of_bounds(int* where) { *where = 1; }

}  // namespace

void poison_context(int device) {
  TROUPE_CUDA_CHECK(cudaSetDevice(device));
  store_out_of_bounds<<<1, 1>>>(reinterpret_cast<int*>(~uintptr_t{0} - 4095));
  TROUPE_CUDA_CHECK(cudaGetLastError());
  TROUPE_CUDA_CHECK(cudaDeviceSynchronize());  // throws DeviceContextLost: the fault is sticky
  throw std::logic_error("a store to an unmapped address did not fault");
}

}  // namespace troupe::cuda
