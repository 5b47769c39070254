#include "kernels/cuda/device_sampler.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/sampling.h"

namespace troupe::cuda {

// Host side pinned, device side plain, both grown geometrically when a batch needs more.
struct DeviceSampler::Buffers {
  int64_t vocab = 0, max_rows = 0;
  RowSamplingParams* host_params = nullptr;
  RowSamplingParams* dev_params = nullptr;
  int32_t* host_ints = nullptr;  // row_begin [R + 1] | output_begin [R] | ids [...]
  int32_t* dev_ints = nullptr;
  int64_t ints_capacity = 0;
  int32_t* host_tokens = nullptr;
  int32_t* dev_tokens = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  int64_t workspace_ids = -1;  // penalty ids the workspace was sized for
  float* host_logprob = nullptr;   // [max_rows]
  float* dev_logprob = nullptr;
  int32_t* host_top_ids = nullptr;  // [max_rows, kMaxTopLogprobs]
  int32_t* dev_top_ids = nullptr;
  float* host_top_lp = nullptr;
  float* dev_top_lp = nullptr;
  SamplerOutput out;

  void reserve_ints(int64_t n) {
    if (n <= ints_capacity) return;
    const int64_t cap = std::max(n, 2 * ints_capacity);
    cudaFreeHost(host_ints);
    cudaFree(dev_ints);
    host_ints = nullptr;
    dev_ints = nullptr;
    TROUPE_CUDA_CHECK(cudaMallocHost(&host_ints, cap * sizeof(int32_t)));
    TROUPE_CUDA_CHECK(cudaMalloc(&dev_ints, cap * sizeof(int32_t)));
    ints_capacity = cap;
  }
  void reserve_workspace(int64_t ids) {
    if (ids <= workspace_ids) return;
    const int64_t want = std::max(ids, 2 * std::max<int64_t>(workspace_ids, 0));
    const size_t bytes = sampling_workspace_bytes(max_rows, want);
    cudaFree(workspace);
    workspace = nullptr;
    if (bytes) TROUPE_CUDA_CHECK(cudaMalloc(&workspace, bytes));
    workspace_bytes = bytes;
    workspace_ids = want;
  }
};

DeviceSampler::DeviceSampler(int64_t vocab, int64_t max_rows) : b_(std::make_unique<Buffers>()) {
  b_->vocab = vocab;
  b_->max_rows = max_rows;
  TROUPE_CUDA_CHECK(cudaMallocHost(&b_->host_params, max_rows * sizeof(RowSamplingParams)));
  TROUPE_CUDA_CHECK(cudaMalloc(&b_->dev_params, max_rows * sizeof(RowSamplingParams)));
  TROUPE_CUDA_CHECK(cudaMallocHost(&b_->host_tokens, max_rows * sizeof(int32_t)));
  TROUPE_CUDA_CHECK(cudaMalloc(&b_->dev_tokens, max_rows * sizeof(int32_t)));
  const int64_t top = max_rows * kMaxTopLogprobs;
  TROUPE_CUDA_CHECK(cudaMallocHost(&b_->host_logprob, max_rows * sizeof(float)));
  TROUPE_CUDA_CHECK(cudaMalloc(&b_->dev_logprob, max_rows * sizeof(float)));
  TROUPE_CUDA_CHECK(cudaMallocHost(&b_->host_top_ids, top * sizeof(int32_t)));
  TROUPE_CUDA_CHECK(cudaMalloc(&b_->dev_top_ids, top * sizeof(int32_t)));
  TROUPE_CUDA_CHECK(cudaMallocHost(&b_->host_top_lp, top * sizeof(float)));
  TROUPE_CUDA_CHECK(cudaMalloc(&b_->dev_top_lp, top * sizeof(float)));
  b_->reserve_ints(2 * max_rows + 1 + 4096);
  b_->reserve_workspace(0);
}

DeviceSampler::~DeviceSampler() {
  cudaFreeHost(b_->host_params);
  cudaFree(b_->dev_params);
  cudaFreeHost(b_->host_ints);
  cudaFree(b_->dev_ints);
  cudaFreeHost(b_->host_tokens);
  cudaFree(b_->dev_tokens);
  cudaFree(b_->workspace);
  cudaFreeHost(b_->host_logprob);
  cudaFree(b_->dev_logprob);
  cudaFreeHost(b_->host_top_ids);
  cudaFree(b_->dev_top_ids);
  cudaFreeHost(b_->host_top_lp);
  cudaFree(b_->dev_top_lp);
}

const SamplerOutput& DeviceSampler::sample(float* logits, std::span<const SamplerRow> rows, int32_t num_top,
                                           void* stream_ptr) {
  Buffers& b = *b_;
  const auto R = static_cast<int64_t>(rows.size());
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  SamplerOutput& out = b.out;
  out.tokens.clear();
  out.logprob.clear();
  out.top_ids.clear();
  out.top_logprobs.clear();
  out.num_top = num_top;
  if (R == 0) return out;
  if (num_top > kMaxTopLogprobs) throw std::invalid_argument("at most 20 top logprobs");
  if (R > b.max_rows) throw std::invalid_argument("more sampling rows than the sampler was made for");
  // Penalty lists only for rows that use them: greedy serving without penalties copies none.
  int64_t num_ids = 0;
  auto penalized = [](const RowSamplingParams& p) {
    return p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
  };
  for (const SamplerRow& r : rows)
    if (penalized(r.params)) num_ids += static_cast<int64_t>(r.prompt.size() + r.output.size());
  b.reserve_ints(2 * R + 1 + num_ids);
  b.reserve_workspace(num_ids);
  int32_t* row_begin = b.host_ints;
  int32_t* output_begin = row_begin + R + 1;
  int32_t* ids = output_begin + R;
  int64_t at = 0;
  for (int64_t i = 0; i < R; ++i) {
    const SamplerRow& r = rows[i];
    b.host_params[i] = r.params;
    row_begin[i] = static_cast<int32_t>(at);
    if (penalized(r.params)) {
      std::memcpy(ids + at, r.prompt.data(), r.prompt.size() * sizeof(int32_t));
      at += static_cast<int64_t>(r.prompt.size());
      output_begin[i] = static_cast<int32_t>(at);
      std::memcpy(ids + at, r.output.data(), r.output.size() * sizeof(int32_t));
      at += static_cast<int64_t>(r.output.size());
    } else {
      output_begin[i] = static_cast<int32_t>(at);
    }
  }
  row_begin[R] = static_cast<int32_t>(at);
  TROUPE_CUDA_CHECK(cudaMemcpyAsync(b.dev_params, b.host_params, R * sizeof(RowSamplingParams),
                                    cudaMemcpyHostToDevice, stream));
  TROUPE_CUDA_CHECK(cudaMemcpyAsync(b.dev_ints, b.host_ints, (2 * R + 1 + at) * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, stream));
  const PenaltyTokens penalties{b.dev_ints + 2 * R + 1, b.dev_ints, b.dev_ints + R + 1, at};
  const bool lp = num_top >= 0, top = num_top > 0;
  TROUPE_CUDA_CHECK(sample_tokens(b.dev_tokens, logits, b.dev_params, penalties, lp ? b.dev_logprob : nullptr,
                                  top ? b.dev_top_ids : nullptr, top ? b.dev_top_lp : nullptr, top ? num_top : 0,
                                  b.workspace, b.workspace_bytes, R, b.vocab, stream));
  TROUPE_CUDA_CHECK(cudaMemcpyAsync(b.host_tokens, b.dev_tokens, R * sizeof(int32_t), cudaMemcpyDeviceToHost, stream));
  if (lp)
    TROUPE_CUDA_CHECK(cudaMemcpyAsync(b.host_logprob, b.dev_logprob, R * sizeof(float), cudaMemcpyDeviceToHost, stream));
  if (top) {
    TROUPE_CUDA_CHECK(cudaMemcpyAsync(b.host_top_ids, b.dev_top_ids, R * num_top * sizeof(int32_t),
                                      cudaMemcpyDeviceToHost, stream));
    TROUPE_CUDA_CHECK(cudaMemcpyAsync(b.host_top_lp, b.dev_top_lp, R * num_top * sizeof(float),
                                      cudaMemcpyDeviceToHost, stream));
  }
  TROUPE_CUDA_CHECK(cudaStreamSynchronize(stream));
  out.tokens.assign(b.host_tokens, b.host_tokens + R);
  if (lp) out.logprob.assign(b.host_logprob, b.host_logprob + R);
  if (top) {
    out.top_ids.assign(b.host_top_ids, b.host_top_ids + R * num_top);
    out.top_logprobs.assign(b.host_top_lp, b.host_top_lp + R * num_top);
  }
  return out;
}

}  // namespace troupe::cuda
