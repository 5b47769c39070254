#pragma once
// StepTrace: one line per executed step (sequences, tokens, decodes, time in the backend and, where
// the backend can tell, how much of it was host staging and device work; time idle before it), written to the file named by TROUPE_STEP_TRACE. For profiling a serving run:
// it shows the step mix the scheduler produced and whether the executor waited for plans. Off
// (and free) when the variable is unset.
#include <chrono>
#include <cstdio>
#include <memory>

#include "engine/runtime/model_backend.h"
#include "engine/scheduler/step_plan.h"

namespace troupe {

class StepTrace {
 public:
  // nullptr when TROUPE_STEP_TRACE is unset or the file cannot be opened (logged).
  static std::unique_ptr<StepTrace> from_env();
  ~StepTrace();

  // Call when the executor takes up a plan, right before the backend runs it, and right after.
  void take_up();
  void begin();
  void end(const StepPlan& plan, const ModelBackend::StepTiming& timing);

 private:
  explicit StepTrace(std::FILE* file);
  using Clock = std::chrono::steady_clock;
  std::FILE* file_;
  Clock::time_point taken_, start_, last_end_;
  bool first_ = true;
};

}  // namespace troupe
