#pragma once
// Sampling on the GPU: one token per row of fp32 logits, with the semantics, order and seeded draw
// of engine/sampling's sample_token, so a seeded request picks the same token on either side
// unless a cumulative probability sits within fp64 rounding of the uniform (see sampling.cu).
//   logit_bias added to the raw logits, then banned ids (min_tokens' stop ids) set to -inf
//   -> penalties (repetition over prompt + output, presence / frequency over output)
//   -> greedy (temperature <= 0: argmax, lowest index on ties)
//   -> or z = logit / temperature, top-k, top-p, min-p, then one draw u = SamplerRng(seed, k)
// Log-probabilities are of the RAW logits (log_softmax before any of that), as vLLM
// reports them by default. Everything is enqueued on `stream`; nothing waits on the host.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>  // cudaStream_t, cudaError_t

#include "kernels/common/row_sampling_params.h"

namespace troupe::cuda {

// The tokens penalties look at, every row packed into one array:
//   row r's prompt ids are ids[row_begin[r] .. output_begin[r])
//   row r's output ids are ids[output_begin[r] .. row_begin[r + 1])
// Ids outside [0, vocab) are ignored, as on the CPU. Rows whose penalties are all off skip their
// lists, so a batch may pass empty ranges (or ids == nullptr and num_ids == 0) for them.
struct PenaltyTokens {
  const int32_t* ids = nullptr;           // [num_ids]
  const int32_t* row_begin = nullptr;     // [num_rows + 1]; row_begin[num_rows] == num_ids
  const int32_t* output_begin = nullptr;  // [num_rows]
  int64_t num_ids = 0;                    // host copy of row_begin[num_rows]
};

// Each row's logit_bias and banned ids, packed the same way (kernels/common/sampler_lists.h):
//   row r's biased ids are ids[row_begin[r] .. ban_begin[r]), bias[j] added to ids[j]'s logit
//   row r's banned ids are ids[ban_begin[r] .. row_begin[r + 1]), set to -inf after the biases
// A row's biased ids are unique (they are added in parallel). Ids outside [0, vocab) are ignored.
struct LogitAdjustments {
  const int32_t* ids = nullptr;        // [num_entries]
  const float* bias = nullptr;         // [num_entries]; banned entries' slots unread
  const int32_t* row_begin = nullptr;  // [num_rows + 1]; row_begin[num_rows] == num_entries
  const int32_t* ban_begin = nullptr;  // [num_rows]
  int64_t num_entries = 0;             // host copy of row_begin[num_rows]
};

inline constexpr int kMaxTopLogprobs = 20;

// Scratch `sample_tokens` needs: the raw logit under every adjusted id and every penalized id
// (for chosen_logprob), a copy of the output ids sorted per row (to count repeats), and the sort's
// own space. Zero when both counts are 0. Size it once for the largest batch; it is valid for any
// smaller one.
size_t sampling_workspace_bytes(int64_t max_rows, int64_t max_penalty_ids, int64_t max_adjust_entries);

// logits is modified in place: adjusted and penalized entries keep their new value (the CPU
// sampler does the same to its span). Any of chosen_logprob / top_ids / top_logprobs may be nullptr; top_ids
// and top_logprobs are written only when both are given and num_top_logprobs > 0, best first,
// lowest index first among equal logits.
cudaError_t sample_tokens(int32_t* tokens,                  // [num_rows]
                          float* logits,                    // [num_rows, vocab]
                          const RowSamplingParams* params,  // [num_rows]
                          const PenaltyTokens& penalties, const LogitAdjustments& adjustments,
                          float* chosen_logprob,            // [num_rows] or nullptr
                          int32_t* top_ids,                 // [num_rows, num_top_logprobs] or nullptr
                          float* top_logprobs,              // [num_rows, num_top_logprobs] or nullptr
                          int num_top_logprobs,             // 0..kMaxTopLogprobs
                          void* workspace, size_t workspace_bytes, int64_t num_rows, int64_t vocab,
                          cudaStream_t stream);

}  // namespace troupe::cuda
