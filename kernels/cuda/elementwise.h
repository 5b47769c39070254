#pragma once
// Small memory-bound kernels of the GPU forward pass: embedding lookup, SiLU-and-multiply, row
// gathers, and the weight conversions done once at load. bf16 activations, fp32 arithmetic.
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

namespace troupe::cuda {

// out[t] = table[ids[t]]; ids outside [0, vocab) give a zero row (the caller validated them).
cudaError_t embedding_gather(__nv_bfloat16* out,          // [n, dim]
                             const __nv_bfloat16* table,  // [vocab, dim]
                             const int32_t* ids, int64_t n, int64_t dim, int64_t vocab,
                             cudaStream_t stream);

// out[t, i] = silu(gate_up[t, i]) * gate_up[t, inter + i]: gate and up come from one fused GEMM.
cudaError_t silu_mul(__nv_bfloat16* out,            // [n, inter]
                     const __nv_bfloat16* gate_up,  // [n, 2 * inter]
                     int64_t n, int64_t inter, cudaStream_t stream);

// out[r] = in[rows[r]]: the last token of each sequence before the LM head.
cudaError_t gather_rows(__nv_bfloat16* out, const __nv_bfloat16* in, const int32_t* rows,
                        int64_t n_rows, int64_t dim, cudaStream_t stream);

// tokens[index[i]] = source[row[i]] for i < n: a pipelined step's input tokens that the step
// before it samples (source: that step's sampled tokens, still on the device).
cudaError_t fill_deferred_tokens(int32_t* tokens, const int32_t* index, const int32_t* row, const int32_t* source,
                                 int64_t n, cudaStream_t stream);

// fp32 or fp16 values rounded to bf16 (weights from checkpoints stored that way).
cudaError_t convert_to_bf16(__nv_bfloat16* out, const float* in, int64_t n, cudaStream_t stream);
cudaError_t convert_to_bf16(__nv_bfloat16* out, const __half* in, int64_t n, cudaStream_t stream);

// out[i] = residual[i] + delta[i] rounded to bf16, as fp32: a pipeline stage's output, the residual
// stream exactly as the next layer's fused add + RMSNorm would store it, so a stage boundary
// changes no bits (bf16 to fp32 and back is exact).
cudaError_t residual_sum_to_f32(float* out,                    // [n]
                                const __nv_bfloat16* residual,  // [n]
                                const __nv_bfloat16* delta,     // [n]
                                int64_t n, cudaStream_t stream);

// Seeded uniform values center + scale * U(-1, 1) made on the device (--load-format dummy at
// 8B scale: no host copy of 16 GB of noise). Same (seed, n) gives the same values.
cudaError_t fill_uniform(__nv_bfloat16* out, int64_t n, uint64_t seed, float center, float scale,
                         cudaStream_t stream);
// A slice of the same stream: out[r * cols + c] is element first + r * stride + c of the values
// fill_uniform(seed) makes for the whole tensor. A tensor-parallel rank's rows (stride = cols)
// or columns (stride = the whole row) of a dummy model, equal to the unsharded model's.
cudaError_t fill_uniform_slice(__nv_bfloat16* out,  // [rows, cols]
                               int64_t rows, int64_t cols, int64_t first, int64_t stride, uint64_t seed,
                               float center, float scale, cudaStream_t stream);

}  // namespace troupe::cuda
