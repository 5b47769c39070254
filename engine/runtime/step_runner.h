#pragma once
// StepRunner: the executor's side of a step, without the actor around it. It keeps what sampling
// needs per sequence (prompt and output tokens, parameters, seed) from a plan entry marked is_new
// until the sequence shows up as finished or preempted, and has its backend run the plan and
// sample one token for every entry that wants logits.
#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

#include "engine/kv/seq_id.h"
#include "engine/runtime/model_backend.h"
#include "engine/runtime/step_trace.h"
#include "engine/scheduler/step_plan.h"

namespace troupe {

class StepRunner {
 public:
  // Allocates the backend's KV pool (throws std::invalid_argument when it cannot hold it).
  StepRunner(ModelBackend& backend, int32_t num_blocks, int32_t block_size);

  // Sampled tokens (and logprobs where asked), one per entry with wants_logits, in plan order.
  SampledTokens run(const StepPlan& plan);

  size_t num_tracked_sequences() const { return sequences_.size(); }

 private:
  struct SequenceState {
    std::vector<int32_t> prompt;
    std::vector<int32_t> output;
    SamplingParams params;
    uint64_t seed = 0;  // the request's seed, or one drawn when it came without
  };

  // Replaces kTokenSampledByExecutor with this sequence's last sampled token.
  void resolve_placeholders(const StepPlan& plan, ForwardBatch& batch) const;

  ModelBackend& backend_;
  std::unordered_map<SeqId, SequenceState> sequences_;
  std::mt19937_64 seed_source_{std::random_device{}()};
  std::unique_ptr<StepTrace> trace_ = StepTrace::from_env();
};

}  // namespace troupe
