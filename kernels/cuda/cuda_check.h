#pragma once
// Every CUDA runtime and cuBLAS call on the GPU path goes through these, so a failure surfaces as
// an exception naming the call and the error (the executor actor turns it into an actor error)
// rather than as a hang or garbage later.
#include <stdexcept>
#include <string>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "kernels/common/device_context_lost.h"

namespace troupe::cuda {

struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The errors that leave the context unusable: every later call fails with them too.
inline bool is_sticky(cudaError_t status) {
  switch (status) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorHardwareStackError:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
      return true;
    default:
      return false;
  }
}

inline void check(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  const std::string what = std::string(call) + " failed: " + cudaGetErrorName(status) + " (" +
                           cudaGetErrorString(status) + ")";
  if (is_sticky(status)) throw DeviceContextLost(what + "; the CUDA context is unusable until the process restarts");
  throw CudaError(what);
}

inline void check(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw CudaError(std::string(call) + " failed: " + cublasLtGetStatusName(status) + " (" +
                    cublasLtGetStatusString(status) + ")");
}

}  // namespace troupe::cuda

// The call's text is the message: "cudaMalloc(&p, bytes) failed: cudaErrorMemoryAllocation ...".
#define TROUPE_CUDA_CHECK(call) ::troupe::cuda::check((call), #call)
