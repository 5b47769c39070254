#pragma once
// y[m, n] = x[m, k] · w[n, k]^T (+ bias) for a handful of rows (m <= kSkinnyMaxRows): the decode
// GEMMs of small batches. They are pure weight streaming, and cuBLASLt reached only 56-85% of
// the H100's bandwidth on them (bench/gpu/decoder_bench, docs/benchmarks.md), which is most of
// the gap between a batch-1 step and the bandwidth floor. One warp per output row, 16-byte
// loads, several in flight per lane, fp32 accumulation; x is read through L1 (it is tiny).
// Gemm uses it for one row only: at 8 rows it was slower than cuBLASLt (its x reloads per weight
// chunk grow with the rows), and 2 to 7 have not been measured.
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace troupe::cuda {

inline constexpr int64_t kSkinnyMaxRows = 8;

// k must be a multiple of 8 and x, w 16-byte aligned; returns cudaErrorInvalidValue otherwise.
// Exactly one of y_bf16 / y_f32 is non-null; bias (bf16, [n]) only with y_bf16.
cudaError_t skinny_gemm(__nv_bfloat16* y_bf16, float* y_f32, const __nv_bfloat16* x, const __nv_bfloat16* w,
                        const __nv_bfloat16* bias, int64_t m, int64_t n, int64_t k, cudaStream_t stream);

}  // namespace troupe::cuda
