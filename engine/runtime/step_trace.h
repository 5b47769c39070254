#pragma once
// StepTrace: one CSV line per executed step, written to the file named by TROUPE_STEP_TRACE when
// the step is collected (so lines come in step order). For profiling a serving run: it shows the
// step mix the scheduler produced and whether the executor, or the device behind it, waited. Off
// (and free) when the variable is unset.
//
// Columns:
//   step, seqs, tokens, decodes, logits  what the plan held;
//   run_us      from handing the step to the backend until it was collected. In lock step that is
//               the step's time in the backend; launched ahead it overlaps its neighbours' (their
//               sum exceeds the wall time);
//   idle_us     how long the executor had no step launched and waited for this plan (from the
//               collect that emptied the pipeline to the plan's take-up); 0 when the plan came while
//               a step was still launched, and for the first step;
//   prep_us     host work in launch before the backend is called (batch, placeholders, rows);
//   staging_us, device_us  the backend's own split, -1 where it cannot tell;
//   ahead       1 when the step was launched before the previous one was collected (the device
//               found it queued), 0 when it waited for that collect or nothing was pending;
//   gpu_idle_us the device idle between the step before and this one (CUDA events; 0 when this
//               one was queued behind it), -1 where the backend cannot tell.
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>

#include "engine/runtime/model_backend.h"
#include "engine/scheduler/step_plan.h"

namespace troupe {

class StepTrace {
 public:
  // nullptr when TROUPE_STEP_TRACE is unset or the file cannot be opened (logged).
  static std::unique_ptr<StepTrace> from_env();
  ~StepTrace();

  // Call when the executor takes up a plan, right before the backend launches it, and right after
  // the backend returned its oldest step's results.
  void take_up();
  void launching(const StepPlan& plan);
  void collected(const ModelBackend::StepTiming& timing);

 private:
  using Clock = std::chrono::steady_clock;
  struct Launched {  // a step between launching() and collected()
    uint64_t step_id = 0;
    size_t seqs = 0;
    int32_t tokens = 0, decodes = 0, logits = 0;
    Clock::time_point start;
    long long idle_us = 0, prep_us = 0;
    bool ahead = false;
  };

  explicit StepTrace(std::FILE* file);
  std::FILE* file_;
  std::deque<Launched> launched_;  // oldest first
  Clock::time_point taken_, last_end_;
  long long idle_us_ = 0;  // of the plan taken up last
  bool first_ = true;
};

}  // namespace troupe
