#pragma once
// DeviceSampler: turns a step's fp32 logits, already on the GPU, into one token per row with
// kernels/cuda/sampling's kernel, so only the chosen ids (4 bytes a row) cross to the host instead
// of the whole [rows, vocab] logits. It owns the pinned staging buffers and the kernel's scratch,
// grown as batches need. Plain C++ header: engine code holds one.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kernels/common/row_sampling_params.h"

namespace troupe::cuda {

struct SamplerRow {
  RowSamplingParams params;
  std::span<const int32_t> prompt;  // read only when a penalty is on
  std::span<const int32_t> output;
};

class DeviceSampler {
 public:
  DeviceSampler(int64_t vocab, int64_t max_rows);
  ~DeviceSampler();

  // logits: device [rows.size(), vocab], modified in place; stream: the cudaStream_t the logits
  // were written on. Waits for the tokens; throws CudaError naming a failed call.
  const std::vector<int32_t>& sample(float* logits, std::span<const SamplerRow> rows, void* stream);

 private:
  struct Buffers;
  std::unique_ptr<Buffers> b_;
};

}  // namespace troupe::cuda
