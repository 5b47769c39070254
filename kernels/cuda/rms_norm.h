#pragma once
// Fused residual add + RMSNorm on the GPU, bf16 in and out, fp32 accumulation:
//   residual[t] += x[t];  out[t] = residual[t] / rms(residual[t]) * weight
// One pass over the row does both, so the residual stream is read and written once per layer
// instead of twice (an add kernel then a norm kernel).
#include <cstdint>

#include <cuda_bf16.h>       // __nv_bfloat16
#include <cuda_runtime_api.h> // cudaStream_t, cudaError_t

namespace troupe::cuda {

// x may be nullptr (the first layer has nothing to add). residual is updated in place.
cudaError_t fused_add_rms_norm(__nv_bfloat16* out,            // [n_tokens, dim]
                               __nv_bfloat16* residual,       // [n_tokens, dim]
                               const __nv_bfloat16* x,        // [n_tokens, dim] or nullptr
                               const __nv_bfloat16* weight,   // [dim]
                               int64_t n_tokens, int64_t dim, float eps, cudaStream_t stream);

}  // namespace troupe::cuda
