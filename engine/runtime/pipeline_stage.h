#pragma once
// One step on one pipeline stage, as plain functions the stage executors call (and tests call
// without actors). Every stage runs the same StepPlan in the same order, so each writes its own
// layers' K/V into the same blocks; hidden states flow stage to stage; every stage keeps the
// sequences' block tables, only the last stage keeps sampling state (a StepRunner) and samples.
//
// Stage 0 embeds the plan's token ids, so it must know every one of them: a plan may not carry
// kTokenSampledByExecutor (the last stage samples that token, and stage 0 would need it before
// the last stage has it). The scheduler plans disjoint batches when it drives a pipeline
// (SchedulerConfig::pipeline_stages > 1): a sequence whose token is still pending is not planned.
#include <vector>

#include "engine/model/hidden_states.h"
#include "engine/runtime/model_backend.h"
#include "engine/scheduler/sequence_block_tables.h"
#include "engine/scheduler/step_plan.h"

namespace troupe {

// A stage before the last: the plan's forward batch through this stage's layers, starting from
// `input` (the stage before's values; empty on stage 0). `tables` are this stage's kept block
// tables (the plan sends only new blocks): every plan, the empty ones too (only ids to drop), is
// applied to them first, in step order; an empty plan then computes nothing and passes on no
// values. Throws std::logic_error on a placeholder token reaching stage 0 or on a table the stage
// was never sent (SequenceBlockTables::apply), std::invalid_argument on input of the wrong size,
// and what the backend throws.
HiddenStates run_stage_step(ModelBackend& stage, SequenceBlockTables& tables, const StepPlan& plan,
                            std::vector<float> input);

// Checks that `in` is what the stage that starts at `layers.begin` needs for `plan` (its step, its
// layer, its shape) and returns the values. Throws std::invalid_argument naming what differs.
std::vector<float> take_stage_input(const ModelConfig& config, LayerRange layers, const StepPlan& plan,
                                    HiddenStates in);

}  // namespace troupe
