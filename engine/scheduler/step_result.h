#pragma once
// What travels back and forth with a StepPlan between scheduler and executor, besides the plan.
#include <cstdint>
#include <vector>

#include "engine/sampling/logprobs.h"

namespace troupe {

// Executor -> scheduler: the answer to one StepPlan.
struct StepResult {
  uint64_t step_id = 0;
  std::vector<int32_t> sampled;  // one token per plan entry with wants_logits, in plan order
  std::vector<SampleLogprobs> logprobs;  // parallel to sampled when any of the plan's sequences
                                         // asked for logprobs (others' entries empty), else empty
  std::vector<PromptLogprobs> prompt_logprobs;  // parallel to the plan's sequences when any entry
                                                // has num_prompt_logprobs > 0 (others' empty), else
                                                // empty; also empty from an executor whose backend
                                                // cannot score prompts, or one older than the field
};

// Scheduler -> executor, once before the first step: the KV pool to allocate.
struct KvPoolShape {
  int32_t num_blocks = 0;
  int32_t block_size = 16;
};

}  // namespace troupe
