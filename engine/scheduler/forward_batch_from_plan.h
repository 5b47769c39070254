#pragma once
// The one place where a StepPlan meets the model's types: the plan's sequences, in order, as a
// ForwardBatch (engine/model). Logits rows come back in the order of the plan's wants_logits
// entries, which is the order Scheduler::update() expects the sampled tokens in. The plan sends
// only new blocks, so each sequence's table comes from `tables`, which must have applied this
// plan already; positions and slot mapping follow from num_computed_tokens and that table
// (ForwardBatch::add_sequence).
#include "engine/model/forward_batch.h"
#include "engine/scheduler/sequence_block_tables.h"
#include "engine/scheduler/step_plan.h"

namespace troupe {

// Throws std::logic_error for an entry whose table `tables` does not hold.
ForwardBatch make_forward_batch(const StepPlan& plan, const SequenceBlockTables& tables);

}  // namespace troupe
