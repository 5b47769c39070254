#pragma once
// StepTrace: one line per executed step (sequences, tokens, decodes, time in the backend, time
// idle before it), written to the file named by TROUPE_STEP_TRACE. For profiling a serving run:
// it shows the step mix the scheduler produced and whether the executor waited for plans. Off
// (and free) when the variable is unset.
#include <chrono>
#include <cstdio>
#include <memory>

#include "engine/scheduler/step_plan.h"

namespace troupe {

class StepTrace {
 public:
  // nullptr when TROUPE_STEP_TRACE is unset or the file cannot be opened (logged).
  static std::unique_ptr<StepTrace> from_env();
  ~StepTrace();

  // Call right before the backend runs `plan` and right after it returns.
  void begin();
  void end(const StepPlan& plan);

 private:
  explicit StepTrace(std::FILE* file);
  using Clock = std::chrono::steady_clock;
  std::FILE* file_;
  Clock::time_point start_, last_end_;
  bool first_ = true;
};

}  // namespace troupe
