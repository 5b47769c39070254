#pragma once
// Programmatic dependent launch (Hopper): a kernel launched with launch_pdl may be scheduled
// while the kernel before it in the stream still runs, once every block of that one has called
// pdl_launch_dependents (or exited), so a batch-1 step's ~300 short kernels need not each wait
// for the previous one to drain before launching. Measured on an H100 (docs/benchmarks.md, A/B
// with TROUPE_PDL=0 in one call): within noise at batch 1 once the RMSNorm was vectorized; kept
// because it costs nothing and takes the launch off the critical path.
//
// The contract, which every kernel launched through launch_pdl keeps: call pdl_wait() in every
// block before touching memory an earlier kernel writes or reads (weights, which nothing writes,
// may be read or prefetched before it), and never leave a block without calling it. pdl_wait()
// returns once the previous kernel has completed and its writes are visible; because that kernel
// waited on its own predecessor before completing, the order is transitive down the stream.
// Kernels launched the ordinary way (cuBLASLt's) simply wait for the previous kernel to finish.
#include <cstdlib>
#include <cstring>
#include <utility>

#include <cuda_runtime_api.h>

namespace troupe::cuda {

__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;\n" ::: "memory"); }

// Lets the next kernel be scheduled now; it still waits (pdl_wait) for this grid's completion.
__device__ __forceinline__ void pdl_launch_dependents() {
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
}

// TROUPE_PDL=0 launches every kernel the ordinary way (pdl_wait then returns at once): for
// measuring what the overlap buys, and a way out should a driver mishandle it.
inline bool pdl_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("TROUPE_PDL");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return enabled;
}

template <typename... Params, typename... Args>
cudaError_t launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
                       Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attr;
  config.numAttrs = pdl_enabled() ? 1 : 0;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

}  // namespace troupe::cuda
