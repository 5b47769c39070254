#include "engine/runtime/fault_plan.h"

#include <algorithm>

namespace troupe {
namespace {

bool strikes(const Fault& f, int32_t stage, int32_t rank) {
  return (!f.stage || *f.stage == stage) && (!f.rank || *f.rank == rank);
}

std::string describe(const Fault& f, int64_t step, int32_t stage, int32_t rank) {
  return "fault plan line " + std::to_string(f.line) + ": " + std::string(fault_action_name(f.action)) +
         " at step " + std::to_string(step) + " of stage " + std::to_string(stage) + " rank " + std::to_string(rank);
}

}  // namespace

std::string_view fault_action_name(Fault::Action action) {
  switch (action) {
    case Fault::Action::Crash: return "crash";
    case Fault::Action::DeviceError: return "device_error";
    case Fault::Action::Delay: return "delay";
    case Fault::Action::DropHeartbeats: return "drop_heartbeats";
  }
  return "?";
}

FaultInjector::FaultInjector(FaultPlan plan) : plan_(std::move(plan)), dropping_since_(plan_.faults.size()) {}

StepFault FaultInjector::before_step(int32_t stage, int32_t rank, Clock::time_point now) {
  std::lock_guard lock(mu_);
  const int64_t n = ++steps_[{stage, rank}];
  if (poisoned_.count({stage, rank}))
    return {StepFault::Kind::ContextLost, {}, "the device context of stage " + std::to_string(stage) + " rank " +
                                                  std::to_string(rank) + " was poisoned by an injected sticky error"};
  StepFault out;
  for (size_t i = 0; i < plan_.faults.size(); ++i) {
    const Fault& f = plan_.faults[i];
    if (!strikes(f, stage, rank)) continue;
    switch (f.action) {
      case Fault::Action::Crash:
        if (n == f.at_step) return {StepFault::Kind::Crash, {}, describe(f, n, stage, rank)};
        break;
      case Fault::Action::DeviceError:
        if (n != f.at_step) break;
        if (f.sticky) poisoned_.insert({stage, rank});
        // The text a CUDA illegal-address failure gives (kernels/cuda/cuda_check.h), marked injected.
        return {f.sticky ? StepFault::Kind::ContextLost : StepFault::Kind::Error, {},
                describe(f, n, stage, rank) + ": cudaErrorIllegalAddress (an illegal memory access was encountered)"};
      case Fault::Action::Delay:
        if (n >= f.at_step && n < f.at_step + f.steps && f.delay > out.delay)
          out = {StepFault::Kind::Delay, f.delay, describe(f, n, stage, rank)};
        break;
      case Fault::Action::DropHeartbeats:
        if (n == f.at_step && !dropping_since_[i]) dropping_since_[i] = now;
        break;
    }
  }
  return out;
}

bool FaultInjector::drops_heartbeats(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < plan_.faults.size(); ++i)
    if (dropping_since_[i] && now < *dropping_since_[i] + plan_.faults[i].duration) return true;
  return false;
}

}  // namespace troupe
