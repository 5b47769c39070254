#pragma once
// Every CUDA runtime and cuBLAS call on the GPU path goes through these, so a failure surfaces as
// an exception naming the call and the error (the executor actor turns it into an actor error)
// rather than as a hang or garbage later.
#include <stdexcept>
#include <string>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

namespace troupe::cuda {

struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline void check(cudaError_t status, const char* call) {
  if (status != cudaSuccess)
    throw CudaError(std::string(call) + " failed: " + cudaGetErrorName(status) + " (" +
                    cudaGetErrorString(status) + ")");
}

inline void check(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw CudaError(std::string(call) + " failed: " + cublasLtGetStatusName(status) + " (" +
                    cublasLtGetStatusString(status) + ")");
}

}  // namespace troupe::cuda

// The call's text is the message: "cudaMalloc(&p, bytes) failed: cudaErrorMemoryAllocation ...".
#define TROUPE_CUDA_CHECK(call) ::troupe::cuda::check((call), #call)
