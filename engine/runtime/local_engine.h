#pragma once
// LocalEngine: the scheduler and one executor in a single loop on the caller's thread, no actors.
// schedule -> run -> update, as nano-vllm's engine step. It is the oracle for the actor path
// and the simplest way to run many requests offline.
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/runtime/step_runner.h"
#include "engine/scheduler/scheduler.h"

namespace troupe {

// A token one sequence produced in a step.
struct TokenEvent {
  SeqId seq_id;
  int32_t token;
};

class LocalEngine {
 public:
  LocalEngine(ModelBackend& backend, SchedulerConfig config);

  void add_request(GenerationRequest request) { scheduler_.add_request(std::move(request)); }
  std::optional<FinishedSequence> abort(SeqId id) { return scheduler_.abort(id); }
  bool has_unfinished() const { return scheduler_.has_unfinished(); }

  // One iteration; `on_token` hears every new token, then the finished sequences are returned.
  std::vector<FinishedSequence> step(const std::function<void(const TokenEvent&)>& on_token = {});
  // Steps until every request has finished.
  std::vector<FinishedSequence> run_to_completion();

  const Scheduler& scheduler() const { return scheduler_; }
  const StepRunner& runner() const { return runner_; }

 private:
  Scheduler scheduler_;
  StepRunner runner_;
};

}  // namespace troupe
