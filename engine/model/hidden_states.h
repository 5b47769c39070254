#pragma once
// HiddenStates: what one pipeline stage hands the next for one step — the residual stream after
// its last layer, for every token of the step in the plan's order. In one process it moves
// between stage executors in a message; across processes it travels in the wire schema
// (wire/troupe.capnp, HiddenStates).
#include <cstdint>
#include <vector>

namespace troupe {

struct HiddenStates {
  uint64_t step_id = 0;       // the StepPlan these belong to
  int32_t next_layer = 0;     // the first decoder layer that reads them: the receiving stage's start
  int32_t num_tokens = 0;     // the step's tokens (StepPlan::num_batched_tokens)
  int32_t hidden_size = 0;
  std::vector<float> values;  // [num_tokens, hidden_size] fp32
};

}  // namespace troupe
