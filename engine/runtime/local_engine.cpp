#include "engine/runtime/local_engine.h"

namespace troupe {

LocalEngine::LocalEngine(ModelBackend& backend, SchedulerConfig config)
    : scheduler_(config), runner_(backend, config.num_blocks, config.block_size) {}

std::vector<FinishedSequence> LocalEngine::step(const std::function<void(const TokenEvent&)>& on_token) {
  const StepPlan plan = scheduler_.schedule();
  const std::vector<int32_t> sampled = runner_.run(plan).tokens;
  if (plan.empty()) return {};
  if (on_token) {
    size_t i = 0;
    for (const ScheduledSequence& s : plan.sequences)
      if (s.wants_logits) on_token({s.seq_id, sampled[i++]});
  }
  return scheduler_.update(plan, sampled);
}

std::vector<FinishedSequence> LocalEngine::run_to_completion() {
  std::vector<FinishedSequence> done;
  while (scheduler_.has_unfinished()) {
    auto finished = step();
    done.insert(done.end(), finished.begin(), finished.end());
  }
  step();  // an empty plan carrying the last finished ids, so the executor drops their state
  return done;
}

}  // namespace troupe
