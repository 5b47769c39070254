#include "engine/scheduler/sequence_block_tables.h"

#include <stdexcept>
#include <string>

namespace troupe {

void SequenceBlockTables::apply(const StepPlan& plan) {
  for (SeqId id : plan.finished_seq_ids) tables_.erase(id);
  for (SeqId id : plan.preempted_seq_ids) tables_.erase(id);
  for (const ScheduledSequence& s : plan.sequences) {
    std::vector<int32_t>* table = nullptr;
    if (s.is_new) {
      table = &tables_[s.seq_id];
      table->assign(s.new_block_ids.begin(), s.new_block_ids.end());
    } else {
      const auto it = tables_.find(s.seq_id);
      if (it == tables_.end())
        throw std::logic_error("step " + std::to_string(plan.step_id) + " continues sequence " +
                               std::to_string(s.seq_id) + ", whose block table this executor was never sent");
      table = &it->second;
      table->insert(table->end(), s.new_block_ids.begin(), s.new_block_ids.end());
    }
    const int64_t covered = static_cast<int64_t>(table->size()) * plan.block_size;
    if (covered < s.context_len())
      throw std::logic_error("step " + std::to_string(plan.step_id) + ": sequence " + std::to_string(s.seq_id) +
                             " reaches " + std::to_string(s.context_len()) + " tokens but its blocks hold " +
                             std::to_string(covered) + " (a plan's new blocks never reached this executor)");
  }
}

const std::vector<int32_t>& SequenceBlockTables::table(SeqId id) const {
  const auto it = tables_.find(id);
  if (it == tables_.end())
    throw std::logic_error("no block table is held for sequence " + std::to_string(id));
  return it->second;
}

}  // namespace troupe
