#pragma once
// SequenceGenerator: runs one request to completion on a CpuModel, alone, with its own KV blocks.
// It is the offline path of `troupe generate` and the oracle that batched serving must equal.
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/model/cpu_model.h"
#include "engine/sampling/sampling_params.h"

namespace troupe {

enum class FinishReason { Stop, Length };
const char* finish_reason_name(FinishReason r);

struct GenerationResult {
  std::vector<int32_t> ids;
  FinishReason finish_reason = FinishReason::Length;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;  // all steps after the first token
};

struct GeneratorOptions {
  int32_t block_size = 16;
  int32_t prefill_chunk = 0;  // tokens per prefill step; 0 = the whole prompt in one step
  std::vector<int32_t> eos_token_ids;
};

class SequenceGenerator {
 public:
  SequenceGenerator(CpuModel& model, GeneratorOptions options);

  // on_token is called with each new token as soon as it is sampled.
  GenerationResult generate(std::span<const int32_t> prompt, const SamplingParams& params,
                            const std::function<void(int32_t)>& on_token = {});

  // Logits after the prompt (last position), for comparison against a reference.
  std::vector<float> prompt_logits(std::span<const int32_t> prompt);

 private:
  CpuModel& model_;
  GeneratorOptions options_;
};

}  // namespace troupe
