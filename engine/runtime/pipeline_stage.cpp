#include "engine/runtime/pipeline_stage.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/scheduler/forward_batch_from_plan.h"

namespace troupe {

HiddenStates run_stage_step(ModelBackend& stage, SequenceBlockTables& tables, const StepPlan& plan,
                            std::vector<float> input) {
  tables.apply(plan);
  const LayerRange layers = stage.layers();
  HiddenStates out{.step_id = plan.step_id,
                   .next_layer = static_cast<int32_t>(layers.end),
                   .num_tokens = plan.num_batched_tokens,
                   .hidden_size = static_cast<int32_t>(stage.config().hidden_size),
                   .values = {}};
  if (plan.empty()) return out;
  if (is_first_stage(layers)) {
    for (const ScheduledSequence& s : plan.sequences)
      if (std::find(s.token_ids.begin(), s.token_ids.end(), kTokenSampledByExecutor) != s.token_ids.end())
        throw std::logic_error("step " + std::to_string(plan.step_id) + " asks pipeline stage 0 to embed the token " +
                               "its last stage samples for sequence " + std::to_string(s.seq_id) +
                               " (a pipeline needs plans without pending tokens)");
  }
  ForwardBatch batch = make_forward_batch(plan, tables);
  batch.hidden_states = std::move(input);
  out.values = stage.forward_hidden(batch);
  return out;
}

std::vector<float> take_stage_input(const ModelConfig& config, LayerRange layers, const StepPlan& plan,
                                    HiddenStates in) {
  auto wrong = [&](const std::string& what) {
    return std::invalid_argument("pipeline stage from layer " + std::to_string(layers.begin) + ", step " +
                                 std::to_string(plan.step_id) + ": hidden states " + what);
  };
  if (in.step_id != plan.step_id) throw wrong("of step " + std::to_string(in.step_id));
  if (in.next_layer != layers.begin) throw wrong("for layer " + std::to_string(in.next_layer));
  if (in.hidden_size != config.hidden_size) throw wrong("of width " + std::to_string(in.hidden_size));
  const int64_t want = plan.empty() ? 0 : int64_t{plan.num_batched_tokens} * config.hidden_size;
  if (in.num_tokens != plan.num_batched_tokens || static_cast<int64_t>(in.values.size()) != want)
    throw wrong("with " + std::to_string(in.values.size()) + " values for " + std::to_string(in.num_tokens) +
                " tokens, expected " + std::to_string(want));
  return std::move(in.values);
}

}  // namespace troupe
