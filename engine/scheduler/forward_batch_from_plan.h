#pragma once
// The one place where a StepPlan meets the model's types: the plan's sequences, in order, as a
// ForwardBatch (engine/model). Logits rows come back in the order of the plan's wants_logits
// entries, which is the order Scheduler::update() expects the sampled tokens in.
#include "engine/model/forward_batch.h"
#include "engine/scheduler/step_plan.h"

namespace troupe {

ForwardBatch make_forward_batch(const StepPlan& plan);

}  // namespace troupe
