#pragma once
// DeviceSampler: turns a step's fp32 logits, already on the GPU, into one token per row with
// kernels/cuda/sampling's kernel, so only the chosen ids (4 bytes a row) cross to the host instead
// of the whole [rows, vocab] logits. It owns the pinned staging buffers and the kernel's scratch,
// grown as batches need. Plain C++ header: engine code holds one.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kernels/common/sampler_lists.h"  // SamplerRow and how its lists are packed

namespace troupe::cuda {

// Tokens, one per row; with logprobs asked (num_top >= 0), each row's sampled-token log-probability
// and its num_top best alternatives [rows, num_top], from the raw logits.
struct SamplerOutput {
  std::vector<int32_t> tokens;
  int32_t num_top = -1;
  std::vector<float> logprob;
  std::vector<int32_t> top_ids;
  std::vector<float> top_logprobs;
};

class DeviceSampler {
 public:
  DeviceSampler(int64_t vocab, int64_t max_rows);
  ~DeviceSampler();

  // logits: device [rows.size(), vocab], modified in place; stream: the cudaStream_t the logits
  // were written on; num_top: -1 for no logprobs, else 0..20. Waits for the results; throws
  // CudaError naming a failed call, std::length_error past the lists' bound (sampler_lists.h).
  // The same as launch() then collect().
  const SamplerOutput& sample(float* logits, std::span<const SamplerRow> rows, int32_t num_top, void* stream);

  // Pipelined use: launch() queues the sampling and the copy back on the stream and returns; rows
  // are read during the call only. Up to two launches may be outstanding: collect() waits for the
  // oldest and returns its output (valid until the next collect()); ready() tells whether that
  // would not wait.
  void launch(float* logits, std::span<const SamplerRow> rows, int32_t num_top, void* stream);
  bool ready() const;
  const SamplerOutput& collect();
  // The last launch's sampled tokens on the device, [rows]: what the next step's deferred tokens
  // are filled from (in stream order, before that step's own sampling overwrites nothing: each
  // launch alternates between two buffers).
  const int32_t* device_tokens() const;

 private:
  struct Buffers;
  std::unique_ptr<Buffers> b_;
};

}  // namespace troupe::cuda
