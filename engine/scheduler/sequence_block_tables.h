#pragma once
// SequenceBlockTables: the executor's side of StepPlan's block-table diff. A plan carries, per
// entry, only the KV blocks appended to that sequence since its previous entry (its whole table
// when is_new), as vLLM v1's SchedulerOutput does; whoever runs plans keeps each sequence's table
// here from its is_new entry until its id comes in finished_seq_ids or preempted_seq_ids. Every
// consumer that turns a plan into a ForwardBatch (the StepRunner, each pipeline stage before the
// last) holds one, fed every plan it is sent, in step order.
//
// Why this is safe: the scheduler's tables only ever grow while a sequence runs (a preemption
// frees them all and the sequence comes back is_new), every plan it makes reaches the executor in
// order, and any executor it was not sure of (dead, failed a step, replaced) is re-initialized and
// gets a plan that is all is_new (Scheduler::reset_executor_state). A fresh holder therefore never
// needs a table it was not sent; if it is asked for one anyway, apply() throws instead of letting
// the model read blocks it does not know.
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "engine/kv/seq_id.h"
#include "engine/scheduler/step_plan.h"

namespace troupe {

class SequenceBlockTables {
 public:
  // Applies one plan: drops its finished and preempted ids, then starts each is_new entry's table
  // from its new_block_ids and appends the others' (drops first: an aborted id may come back as a
  // new request in the same plan). Throws std::logic_error when an entry continues a sequence not
  // held here, or when a table does not cover its entry's context_len() tokens: a plan was lost
  // on the way, and computing with what is held would read other sequences' KV. After a throw the
  // tables are not to be trusted: the holder must be initialized again (the scheduler treats a
  // failed step as a lost executor, and a new one starts empty).
  void apply(const StepPlan& plan);

  // The physical block of each logical block of `id`, [blocks]. Throws std::logic_error if `id`
  // is not held.
  const std::vector<int32_t>& table(SeqId id) const;
  bool holds(SeqId id) const { return tables_.count(id) != 0; }
  size_t size() const { return tables_.size(); }
  void clear() { tables_.clear(); }

 private:
  std::unordered_map<SeqId, std::vector<int32_t>> tables_;  // seq_id -> [blocks]
};

}  // namespace troupe
