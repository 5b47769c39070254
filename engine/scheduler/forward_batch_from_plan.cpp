#include "engine/scheduler/forward_batch_from_plan.h"

namespace troupe {

ForwardBatch make_forward_batch(const StepPlan& plan, const SequenceBlockTables& tables) {
  ForwardBatch batch;
  for (const ScheduledSequence& s : plan.sequences)
    batch.add_sequence(s.token_ids.data(), s.num_new_tokens(), s.context_len(), tables.table(s.seq_id),
                       plan.block_size, s.wants_logits);
  return batch;
}

}  // namespace troupe
